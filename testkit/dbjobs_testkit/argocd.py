"""Argo CD in core mode on the local control plane: the real application controller, repo-server and Redis.

What runs (all on free loopback ports, logs in ``workdir``): ``redis-server`` (Debian's), and the
``argocd`` multi-call binary of ``hack/build-argocd.sh`` as ``argocd-repo-server`` (with Argo CD's
``git-verify-wrapper.sh`` on its PATH: without it every sync fails with "permission denied") and as
``argocd-application-controller --persist-resource-health`` (per-resource health in the Application's
status). No API server, UI or Dex: Applications are plain objects read with kubectl, as in Argo CD's
core mode. Into the cluster go Argo CD's CRDs, the namespace, ``argocd-cm`` with our DatabricksJob
health check (the shipped ``manifests/argocd/argocd-cm.yaml`` plus test settings), ``argocd-secret``
and the ``default`` AppProject (which argocd-server would otherwise create).

The local control plane has no kube-controller-manager, so no garbage collector: a foreground
deletion (Argo CD's default prune propagation) would wait forever on the ``foregroundDeletion``
finalizer. Applications made here prune with ``PrunePropagationPolicy=background``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dbjobs_testkit.harness import REPO_ROOT, Kubectl, MissingComponentError, condition, wait_for
from dbjobs_testkit.processes import free_ports, tail, terminate

ARGOCD_VERSION = "v3.6.1"
BUILD_COMMAND = "`make argocd` (or `bash hack/build-argocd.sh` and `bash hack/install-redis.sh`)"
NAMESPACE = "argocd"
HEALTH_DIR = REPO_ROOT / "manifests" / "argocd" / "resource_customizations" / "dbjobs.io" / "DatabricksJob"
ARGOCD_CM = REPO_ROOT / "manifests" / "argocd" / "argocd-cm.yaml"
HEALTHCHECK_SRC = REPO_ROOT / "tests" / "argocd" / "healthcheck" / "main.go"
IN_CLUSTER = "https://kubernetes.default.svc"


def cache_dir(version: str = ARGOCD_VERSION) -> Path:
    """``$DBJOBS_CACHE/argocd/<version>`` (``DBJOBS_CACHE`` defaults to ``~/.cache/dbjobs``)."""
    cache = os.environ.get("DBJOBS_CACHE") or str(Path.home() / ".cache" / "dbjobs")
    return Path(cache) / "argocd" / version


def bin_dir(version: str = ARGOCD_VERSION) -> Path:
    """Where ``argocd``, its component names and ``git-verify-wrapper.sh`` are installed."""
    return cache_dir(version) / "bin"


def crds_dir(version: str = ARGOCD_VERSION) -> Path:
    """Argo CD's CRDs, copied from the module's ``manifests/crds``."""
    return cache_dir(version) / "crds"


def argocd_binary(version: str = ARGOCD_VERSION) -> Path:
    """The ``argocd`` multi-call binary; raises ``MissingComponentError`` naming the build when absent."""
    out = cache_dir(version)
    binary = out / "bin" / "argocd"
    if not os.access(binary, os.X_OK) or not (out / ".complete").is_file():
        raise MissingComponentError(
            f"Argo CD {version} is not built: no {binary} (or no build marker {out / '.complete'}). "
            f"Build it once with {BUILD_COMMAND}; a cold build takes about 10-15 minutes on 2 cores."
        )
    return binary


def healthcheck_binary(version: str = ARGOCD_VERSION) -> Path:
    """``argocd-healthcheck`` built from the current ``tests/argocd/healthcheck/main.go``.

    The build directory is keyed by the source's hash (as the build script keys it), so a stale build
    of an older main.go is never used.
    """
    digest = hashlib.sha256(HEALTHCHECK_SRC.read_bytes()).hexdigest()[:16]
    out = cache_dir(version) / f"healthcheck-{digest}"
    binary = out / "bin" / "argocd-healthcheck"
    if not os.access(binary, os.X_OK) or not (out / ".complete").is_file():
        raise MissingComponentError(
            f"argocd-healthcheck for the current {HEALTHCHECK_SRC.relative_to(REPO_ROOT)} is not built "
            f"(no {binary}). Build it with {BUILD_COMMAND}."
        )
    return binary


def redis_server() -> str:
    """``redis-server`` from PATH; raises ``MissingComponentError`` saying how to install it."""
    found = shutil.which("redis-server")
    if not found:
        raise MissingComponentError(
            "redis-server not found on PATH (Argo CD keeps its caches in Redis): install the Debian package "
            f"redis-server; {BUILD_COMMAND} does it with apt-get."
        )
    return found


def evaluate_health(script: Path, *objects: Path, tests: Path | None = None) -> list[dict[str, Any]]:
    """Run ``argocd-healthcheck`` (Argo CD's own Lua VM and ``health.GetResourceHealth``) on ``script``.

    Returns its results: per object, once without and once with the Lua open libraries,
    ``{"inputPath", "useOpenLibs", "configKey", "lua": {...}, "resource": {...}}``.
    """
    args = [str(healthcheck_binary()), "-script", str(script)]
    if tests is not None:
        args += ["-tests", str(tests)]
    proc = subprocess.run([*args, *map(str, objects)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"argocd-healthcheck failed ({proc.returncode}): {proc.stderr.strip()}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    return results


def admin_health(resource: Path, argocd_cm: Path = ARGOCD_CM) -> tuple[str, str]:
    """``argocd admin settings resource-overrides health RESOURCE --argocd-cm-path ARGOCD_CM``: (status, message)."""
    proc = subprocess.run(
        [
            str(argocd_binary()),
            "admin",
            "settings",
            "resource-overrides",
            "health",
            str(resource),
            "--argocd-cm-path",
            str(argocd_cm),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"argocd admin settings resource-overrides health failed: {proc.stderr or proc.stdout}")
    fields = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(": ")
        if key in ("STATUS", "MESSAGE"):
            fields[key] = value
    if "STATUS" not in fields:
        raise RuntimeError(f"unexpected output of argocd admin settings resource-overrides health: {proc.stdout!r}")
    return fields["STATUS"], fields.get("MESSAGE", "")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class AppView:
    """What Argo CD shows for one Application: sync and health, and each resource's health."""

    name: str
    sync: str
    revision: str
    health: str
    health_message: str
    operation: str
    operation_message: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, app: Mapping[str, Any]) -> AppView:
        status = app.get("status") or {}
        sync = status.get("sync") or {}
        health = status.get("health") or {}
        op = status.get("operationState") or {}
        return cls(
            name=str(app["metadata"]["name"]),
            sync=str(sync.get("status", "")),
            revision=str(sync.get("revision", "")),
            health=str(health.get("status", "")),
            health_message=str(health.get("message", "")),
            operation=str(op.get("phase", "")),
            operation_message=str(op.get("message", "")),
            resources=[dict(r) for r in status.get("resources") or []],
            conditions=[dict(c) for c in status.get("conditions") or []],
        )

    def resource(self, kind: str, name: str) -> dict[str, Any] | None:
        """The entry of ``status.resources`` for ``kind``/``name``, or None."""
        for res in self.resources:
            if res.get("kind") == kind and res.get("name") == name:
                return res
        return None

    def resource_health(self, kind: str, name: str) -> tuple[str, str]:
        """(status, message) of one resource's health as Argo CD persisted it; ("", "") when absent."""
        health = (self.resource(kind, name) or {}).get("health") or {}
        return str(health.get("status", "")), str(health.get("message", ""))

    def table(self) -> str:
        """A small table for a person: the Application's sync and health, then each resource."""
        lines = [
            f"Application {self.name}: sync {self.sync or '-'} (revision {self.revision[:8] or '-'}), "
            f"health {self.health or '-'}" + (f" ({self.health_message})" if self.health_message else ""),
        ]
        if self.operation:
            lines.append(f"  last operation: {self.operation}: {self.operation_message}")
        for cond in self.conditions:
            lines.append(f"  condition {cond.get('type')}: {cond.get('message')}")
        rows = [("KIND", "NAME", "SYNC", "HEALTH", "MESSAGE")]
        for res in self.resources:
            health = res.get("health") or {}
            rows.append(
                (
                    str(res.get("kind", "")),
                    str(res.get("name", "")),
                    str(res.get("status", "")),
                    str(health.get("status", "-")),
                    str(health.get("message", "")),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        return "\n".join(lines)


class ArgoCD:
    """Argo CD (application controller, repo-server, Redis) in core mode against one cluster.

    ``admin`` is a cluster-admin kubectl (the application controller deploys with its kubeconfig, as
    the in-cluster destination ``https://kubernetes.default.svc``). ``start()`` installs what Argo CD
    needs in the cluster and starts the processes; ``stop()`` stops them (the cluster objects stay).
    """

    def __init__(
        self,
        admin: Kubectl,
        workdir: Path,
        *,
        app_resync_seconds: int = 10,
        extra_cm: Mapping[str, str] | None = None,
    ) -> None:
        self.admin = admin
        self.kubectl = Kubectl(admin.kubeconfig, namespace=NAMESPACE)
        self.workdir = workdir
        self.app_resync_seconds = app_resync_seconds
        self.extra_cm = dict(extra_cm or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_port = 0
        self.repo_port = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        """Install Argo CD's cluster objects and start Redis, the repo-server and the application controller."""
        argocd_binary()  # fails early, naming the build, when Argo CD is not built
        redis = redis_server()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.install()
        (
            self.redis_port,
            self.repo_port,
            repo_metrics,
            controller_metrics,
        ) = free_ports(4)
        try:
            self._spawn(
                "redis",
                [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                {},
            )
            self._await("redis", lambda: _port_open(self.redis_port), timeout, f"Redis listening on {self.redis_port}")
            tmp = self.workdir / "tmp"
            tmp.mkdir(exist_ok=True)
            common_env = {
                "ARGOCD_GPG_ENABLED": "false",
                "TMPDIR": str(tmp),
                "HOME": str(self.workdir),
                # Argo CD's components are found by argv[0]; git-verify-wrapper.sh must be on PATH.
                "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            self._spawn(
                "argocd-repo-server",
                [
                    str(bin_dir() / "argocd-repo-server"),
                    "--port",
                    str(self.repo_port),
                    "--address",
                    "127.0.0.1",
                    "--metrics-port",
                    str(repo_metrics),
                    "--metrics-address",
                    "127.0.0.1",
                    # Plain gRPC on loopback; the mTLS client CA (a path in Argo CD's image) goes with TLS.
                    "--disable-tls",
                    "--client-ca-path=",
                    "--redis",
                    f"127.0.0.1:{self.redis_port}",
                    # HEAD is resolved again after 1 s, not 3 min: a test's commit is seen at the next refresh.
                    "--revision-cache-expiration",
                    "1s",
                    "--loglevel",
                    "info",
                    "--logformat",
                    "text",
                ],
                common_env,
            )
            self._await(
                "argocd-repo-server", lambda: _port_open(self.repo_port), timeout, "the repo-server's gRPC port"
            )
            self._spawn(
                "argocd-application-controller",
                [
                    str(bin_dir() / "argocd-application-controller"),
                    "--kubeconfig",
                    str(self.admin.kubeconfig),
                    "--namespace",
                    NAMESPACE,
                    "--repo-server",
                    f"127.0.0.1:{self.repo_port}",
                    "--repo-server-plaintext",
                    "--redis",
                    f"127.0.0.1:{self.redis_port}",
                    "--metrics-port",
                    str(controller_metrics),
                    "--persist-resource-health",
                    "--app-resync",
                    str(self.app_resync_seconds),
                    "--self-heal-timeout-seconds",
                    "2",
                    "--loglevel",
                    "info",
                    "--logformat",
                    "text",
                ],
                {
                    **common_env,
                    "ARGOCD_CONTROLLER_REPLICAS": "1",
                    "ARGOCD_CONTROLLER_SHARD": "0",
                    # Outside a pod the in-cluster destination has no service account: Argo CD's own switch
                    # (its local development setup uses it) makes it read KUBECONFIG instead.
                    "ARGOCD_FAKE_IN_CLUSTER": "true",
                    "KUBECONFIG": str(self.admin.kubeconfig),
                },
            )
            self._await(
                "argocd-application-controller",
                lambda: _port_open(controller_metrics),
                timeout,
                "the application controller's metrics port",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the controller, the repo-server and Redis (SIGTERM, then SIGKILL). Idempotent."""
        for name in ("argocd-application-controller", "argocd-repo-server", "redis"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                terminate(proc)

    def __enter__(self) -> ArgoCD:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def install(self) -> None:
        """Argo CD's CRDs, its namespace, argocd-cm (with our health check), argocd-secret, the default project."""
        self.admin.apply(crds_dir(), "--server-side", "--force-conflicts")
        for crd in ("applications.argoproj.io", "appprojects.argoproj.io"):

            def established(name: str = crd) -> bool:
                return (condition(self.admin.get("crd", name), "Established") or {}).get("status") == "True"

            wait_for(established, timeout=60, what=f"CRD {crd} Established")
        if self.admin.get("namespace", NAMESPACE) is None:
            self.admin("create", "namespace", NAMESPACE)
        cm = yaml.safe_load(ARGOCD_CM.read_text())
        cm["metadata"]["namespace"] = NAMESPACE
        cm["data"].update(self.extra_cm)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "argocd-secret",
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/name": "argocd-secret", "app.kubernetes.io/part-of": "argocd"},
            },
            "type": "Opaque",
        }
        project = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        }
        self.admin.apply([cm, secret, project])

    # --- Applications ----------------------------------------------------------------------------
    def apply_application(
        self,
        name: str,
        repo_url: str,
        path: str,
        namespace: str,
        *,
        sync_options: Sequence[str] = (),
        automated: bool = True,
        prune: bool = True,
        self_heal: bool = False,
    ) -> None:
        """Create or update an Application of ``repo_url`` (HEAD) ``path`` into ``namespace`` of this cluster."""
        spec: dict[str, Any] = {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path},
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": {
                # Background: the local control plane has no garbage collector (see the module docstring).
                "syncOptions": ["PrunePropagationPolicy=background", *sync_options],
            },
        }
        if automated:
            spec["syncPolicy"]["automated"] = {"prune": prune, "selfHeal": self_heal}
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }
        self.kubectl.apply([app])

    def application(self, name: str) -> AppView | None:
        """What Argo CD shows now for Application ``name`` (None when it does not exist)."""
        app = self.kubectl.get("application", name)
        return AppView.of(app) if app else None

    def sync(self, name: str, sync_options: Sequence[str] = ()) -> None:
        """Start a sync of ``name`` to HEAD, as ``argocd app sync`` does in core mode: an ``operation`` on the
        Application, with the sync options the API server would copy from its spec."""
        operation = {
            "operation": {
                "initiatedBy": {"username": "dbjobs-testkit"},
                "sync": {"revision": "HEAD", "syncOptions": list(sync_options)},
            }
        }
        self.kubectl("patch", "application", name, "--type", "merge", "-p", json.dumps(operation))

    def refresh(self, name: str, hard: bool = False) -> None:
        """Ask the application controller to compare ``name`` with Git now (the UI's Refresh button)."""
        self.kubectl(
            "annotate",
            "application",
            name,
            f"argocd.argoproj.io/refresh={'hard' if hard else 'normal'}",
            "--overwrite",
        )

    def wait_application(
        self,
        name: str,
        check: Callable[[AppView], Any],
        what: str,
        timeout: float = 120.0,
        on_sample: Callable[[AppView], None] | None = None,
    ) -> AppView:
        """Poll Application ``name`` until ``check(view)`` is truthy; ``on_sample(view)`` sees every sample."""

        def probe() -> AppView | None:
            view = self.application(name)
            if view is None:
                return None
            if on_sample is not None:
                on_sample(view)
            return view if check(view) else None

        try:
            return wait_for(probe, timeout=timeout, what=f"Application {name}: {what}", interval=0.5)
        except TimeoutError as err:
            view = self.application(name)
            shown = view.table() if view else "(no Application)"
            raise AssertionError(f"{err}\n--- Argo CD shows ---\n{shown}\n{self.logs()}") from err

    # --- internals -------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "KUBECONFIG"))}
        full_env.update(env)
        with (self.workdir / f"{name}.log").open("ab") as log:
            self._procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=full_env,
                start_new_session=True,
            )

    def _await(self, name: str, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            proc = self._procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode} during start\n{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout:.0f}s: waiting for {what}\n{self.logs()}")
            time.sleep(0.1)

    def logs(self, lines: int = 30) -> str:
        """The last lines of each component's log."""
        return "\n".join(
            f"--- last lines of {self.workdir / (n + '.log')} ---\n{tail(self.workdir / (n + '.log'), lines)}"
            for n in ("argocd-application-controller", "argocd-repo-server", "redis")
            if (self.workdir / f"{n}.log").exists()
        )
