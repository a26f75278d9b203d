"""A real, local Kubernetes control plane (etcd + kube-apiserver) for end-to-end tests and the demo.

No kubelet, scheduler or controller-manager: the controller only needs CRDs, Secrets, Events,
Namespaces and RBAC, all of which the API server serves by itself. Consequences of that choice:
namespaces that are deleted stay ``Terminating`` (the namespace controller finalizes them),
ownerReference garbage collection does not happen, and pods are never scheduled.

Security is real, so RBAC behaviour in tests is what a cluster would do: TLS with a generated CA,
client-certificate authentication (CN = user, O = group, the Kubernetes x509 convention),
anonymous requests refused (HTTP 401), ``--authorization-mode=RBAC``.

Usage: ``with ControlPlane() as cp: kubectl --kubeconfig cp.admin_kubeconfig ...``. CLI:
``python -m dbjobs_testkit.controlplane --check`` (binaries built?) or ``--serve`` (until Ctrl-C).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TypeVar

from dbjobs_testkit.pki import (
    CertificateAuthority,
    CertPair,
    write_kubeconfig,
    write_service_account_keys,
    write_token_kubeconfig,
)
from dbjobs_testkit.processes import free_ports, tail, terminate

DEFAULT_K8S_VERSION = "v1.32.13"
PRESET_USERS = ("dbjobs-controller", "alice")
"""Non-admin identities that exist from the start, with no RBAC bindings."""
ADMIN_USER = "dbjobs-admin"
BUILD_COMMAND = "`make control-plane` (or `bash hack/build-control-plane.sh`)"

_SERVICE_CIDR = "10.0.0.0/24"
#: Audit policy when ``audit=True``: requests of everyone but the apiserver's own identities, at Metadata
#: level (no bodies, so no Secret data), written once the response is complete.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: None
    userGroups: ["system:masters", "system:nodes"]
  - level: None
    users: ["system:apiserver", "system:kube-controller-manager", "system:kube-scheduler"]
  - level: Metadata
"""
_T = TypeVar("_T")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,252}$")


class ControlPlaneError(RuntimeError):
    """The control plane could not start or is used before ``start()``; the message says why."""


def binaries_dir(k8s_version: str = DEFAULT_K8S_VERSION) -> Path:
    """``$DBJOBS_CACHE/controlplane/<k8s_version>/bin`` (``DBJOBS_CACHE`` defaults to ``~/.cache/dbjobs``).

    The same layout ``hack/build-control-plane.sh`` writes; the directory may not exist.
    """
    cache = os.environ.get("DBJOBS_CACHE") or str(Path.home() / ".cache" / "dbjobs")
    return Path(cache) / "controlplane" / k8s_version / "bin"


def missing_binaries_message(k8s_version: str = DEFAULT_K8S_VERSION) -> str | None:
    """None when etcd and kube-apiserver are built for ``k8s_version``, else a message naming the fix."""
    bin_dir = binaries_dir(k8s_version)
    missing = [b for b in ("etcd", "kube-apiserver") if not os.access(bin_dir / b, os.X_OK)]
    # The build script writes .complete last, so a present but unmarked binary may be half-written.
    if not missing and (bin_dir.parent / ".complete").is_file():
        return None
    what = ", ".join(missing) if missing else "the build marker .complete (a build may be running)"
    return (
        f"the local Kubernetes control plane {k8s_version} is not built: missing {what} in {bin_dir}. "
        f"Build it once with {BUILD_COMMAND}; a cold build takes several minutes."
    )


_live: set[ControlPlane] = set()


@atexit.register
def _stop_all() -> None:
    # Safety net: an interpreter exiting without stop() must not leave etcd/kube-apiserver running.
    for cp in list(_live):
        cp.stop()


class ControlPlane:
    """etcd + kube-apiserver on free loopback ports, with data, PKI, logs and kubeconfigs in ``workdir``.

    ``workdir`` None means a fresh temporary directory, deleted by ``stop()``; a given workdir is
    kept (logs stay for inspection) but its ``etcd-data`` and ``pki`` are recreated on each start.
    """

    def __init__(
        self, workdir: Path | None = None, k8s_version: str = DEFAULT_K8S_VERSION, *, audit: bool = False
    ) -> None:
        self.k8s_version = k8s_version
        self.audit = audit
        """When True, the apiserver writes every request of a non-system identity to ``audit.log``
        (level Metadata, one JSON event per line): who did what to which resource, and the answer."""
        self._workdir_arg = workdir
        self._workdir: Path | None = None
        self._owns_workdir = False
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, list[str]] = {}
        self._ready_checks: dict[str, tuple[str, ssl.SSLContext | None]] = {}
        self._ca: CertificateAuthority | None = None
        self._server_url: str | None = None
        self._kubeconfigs: dict[str, Path] = {}
        self._lock = threading.RLock()
        self.start_seconds: float | None = None
        """Wall-clock seconds the last successful ``start()`` took."""

    @property
    def workdir(self) -> Path:
        """The directory holding etcd data, PKI, ``etcd.log``, ``kube-apiserver.log`` and kubeconfigs."""
        return self._require(self._workdir)

    @property
    def server_url(self) -> str:
        """``https://127.0.0.1:<port>``; raises ControlPlaneError before ``start()``."""
        return self._require(self._server_url)

    @property
    def ca_cert(self) -> Path:
        """PEM file of the CA that signed the serving certificate (and all client certificates)."""
        return self._require(self._ca).cert_path

    @property
    def admin_kubeconfig(self) -> Path:
        """Kubeconfig of user ``dbjobs-admin`` in group ``system:masters`` (cluster-admin)."""
        return self._require(self._kubeconfigs.get(ADMIN_USER))

    def user_kubeconfig(self, name: str) -> Path:
        """Kubeconfig authenticating as user ``name`` (groups: only ``system:authenticated``).

        ``dbjobs-controller`` and ``alice`` are written at start; other names are issued on demand.
        No RBAC binding is created. Raises ControlPlaneError before ``start()`` or for a name that
        is empty, contains ``/``, or starts with ``system:`` (reserved identities).
        """
        with self._lock:
            if name in self._kubeconfigs and name != ADMIN_USER:
                return self._kubeconfigs[name]
            if name == ADMIN_USER or name.startswith("system:") or not _USER_NAME.match(name):
                raise ControlPlaneError(f"invalid non-admin user name {name!r}")
            self._write_kubeconfig(name, ())
            return self._kubeconfigs[name]

    def start(self, timeout: float = 60.0) -> None:
        """Start etcd then kube-apiserver and return once the API is usable (``timeout`` in seconds).

        Usable means ``/readyz`` answers 200 to the admin, and namespace ``default`` and clusterrole
        ``cluster-admin`` exist. Raises ControlPlaneError if the binaries are missing (naming the
        build command), a process exits, or the timeout passes; the error carries the log tails and
        every process is stopped before it is raised.
        """
        with self._lock:
            if self._procs or self._server_url:
                raise ControlPlaneError("control plane already started")
            missing = missing_binaries_message(self.k8s_version)
            if missing:
                raise ControlPlaneError(missing)
            began = time.monotonic()
            deadline = began + timeout
            _live.add(self)
            etcd_client, etcd_peer, api_port = free_ports(3)
            try:
                self._prepare(etcd_client, etcd_peer, api_port, deadline)
            except BaseException:
                self.stop()
                raise
            self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop kube-apiserver then etcd (SIGTERM to each process group, SIGKILL after 5 s), wait.

        Removes the workdir if it was a temporary one. Idempotent; never raises for a process that
        has already gone.
        """
        with self._lock:
            for name in ("kube-apiserver", "etcd"):
                proc = self._procs.pop(name, None)
                if proc is not None:
                    terminate(proc)
            self._server_url = None
            self._kubeconfigs.clear()
            self._ca = None
            if self._owns_workdir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
                self._owns_workdir = False
            _live.discard(self)

    def pids(self) -> list[int]:
        """Process ids of the running etcd and kube-apiserver (empty once stopped)."""
        with self._lock:
            return [p.pid for p in self._procs.values() if p.poll() is None]

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise ControlPlaneError("control plane not started: call start() first")
        return value

    def _prepare(self, etcd_client: int, etcd_peer: int, api_port: int, deadline: float) -> None:
        if self._workdir_arg is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="dbjobs-cp-"))
            self._owns_workdir = True
        else:
            self._workdir = self._workdir_arg.resolve()
            self._workdir.mkdir(parents=True, exist_ok=True)
        work = self._workdir
        for stale in ("etcd-data", "pki"):
            shutil.rmtree(work / stale, ignore_errors=True)
        self._ca = ca = CertificateAuthority(work / "pki")
        serving = ca.issue_server(
            "apiserver",
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ["127.0.0.1", "10.0.0.1"],
        )
        sa = write_service_account_keys(work / "pki")
        self._server_url = f"https://127.0.0.1:{api_port}"
        admin_certs = self._write_kubeconfig(ADMIN_USER, ("system:masters",))
        for user in PRESET_USERS:
            self._write_kubeconfig(user, ())

        bins = binaries_dir(self.k8s_version)
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        peer_url = f"http://127.0.0.1:{etcd_peer}"
        self._spawn(
            "etcd",
            [
                str(bins / "etcd"),
                "--name=dbjobs",
                f"--data-dir={work / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=dbjobs={peer_url}",
                "--initial-cluster-state=new",
                # Test data is disposable: skipping fsync makes writes (and so startup) much faster.
                "--unsafe-no-fsync=true",
            ],
        )
        self._ready_checks["etcd"] = (f"{etcd_url}/health", None)
        self._await("etcd", f"{etcd_url}/health", None, deadline)
        self._spawn(
            "kube-apiserver",
            [
                str(bins / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert_path}",
                "--anonymous-auth=false",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self._server_url}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={_SERVICE_CIDR}",
                # ServiceAccount admission rejects pods whose account the (absent) controller-manager
                # never created; nothing here runs pods, and NamespaceLifecycle stays on.
                "--disable-admission-plugins=ServiceAccount",
                # Loopback addresses are invalid in Endpoints; without this the apiserver logs an error
                # every few seconds trying to publish itself as the `kubernetes` service endpoint.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                *self._audit_args(work),
            ],
        )
        ctx = ssl.create_default_context(cafile=str(ca.cert_path))
        ctx.load_cert_chain(str(admin_certs.cert), str(admin_certs.key))
        api = self._server_url
        self._ready_checks["kube-apiserver"] = (f"{api}/readyz", ctx)
        self._await("kube-apiserver", f"{api}/readyz", ctx, deadline)
        self._await("kube-apiserver", f"{api}/api/v1/namespaces/default", ctx, deadline)
        rbac = f"{api}/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin"
        self._await("kube-apiserver", rbac, ctx, deadline)

    def _audit_args(self, work: Path) -> list[str]:
        if not self.audit:
            return []
        policy = work / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        (work / "audit.log").unlink(missing_ok=True)
        return [f"--audit-policy-file={policy}", f"--audit-log-path={work / 'audit.log'}", "--audit-log-mode=blocking"]

    def audit_events(self, user: str | None = None) -> list[dict[str, Any]]:
        """Audit events written so far (``audit=True`` only), of ``user`` when given (e.g.
        ``system:serviceaccount:NS:NAME``). Each has ``verb``, ``objectRef`` (``resource``,
        ``subresource``, ``namespace``, ``name``, ``apiGroup``) and ``responseStatus.code``."""
        path = self.workdir / "audit.log"
        if not self.audit:
            raise ControlPlaneError("audit events need ControlPlane(audit=True)")
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        return [e for e in events if user is None or e.get("user", {}).get("username") == user]

    def token_kubeconfig(self, name: str, token: str) -> Path:
        """A kubeconfig ``<name>.kubeconfig`` in the workdir that authenticates with bearer ``token``."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return write_token_kubeconfig(
            self.workdir / f"token-{safe}.kubeconfig", self.server_url, self.ca_cert, token, name
        )

    def _write_kubeconfig(self, user: str, groups: tuple[str, ...]) -> CertPair:
        ca = self._require(self._ca)
        stem = "admin" if user == ADMIN_USER else f"user-{re.sub(r'[^A-Za-z0-9._-]', '_', user)}"
        pair = ca.issue_client(stem, user, groups)
        self._kubeconfigs[user] = write_kubeconfig(
            self.workdir / f"{stem}.kubeconfig", self.server_url, ca.cert_path, pair, user
        )
        return pair

    def stop_component(self, name: str) -> None:
        """Stop ``etcd`` or ``kube-apiserver`` alone (SIGTERM, SIGKILL after 5 s), keeping its data, ports and
        certificates, so :meth:`start_component` brings the same cluster back. Raises ControlPlaneError for
        another name or before ``start()``."""
        with self._lock:
            if name not in self._argv:
                raise ControlPlaneError(f"no component {name!r} started (etcd, kube-apiserver)")
            proc = self._procs.pop(name, None)
            if proc is not None:
                terminate(proc)

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        """Start a component :meth:`stop_component` stopped, with its original flags (etcd keeps its data
        directory), and return once it answers its health check (``timeout`` in seconds)."""
        with self._lock:
            if name not in self._argv:
                raise ControlPlaneError(f"no component {name!r} started (etcd, kube-apiserver)")
            if name not in self._procs:
                self._spawn(name, self._argv[name])
            url, ctx = self._ready_checks[name]
            self._await(name, url, ctx, time.monotonic() + timeout)

    def restart_component(self, name: str, down_seconds: float = 0.0, timeout: float = 60.0) -> float:
        """Stop ``name`` (``etcd`` or ``kube-apiserver``), wait ``down_seconds``, start it again and wait until it
        is healthy; returns the seconds from the stop until healthy. The etcd data directory survives."""
        began = time.monotonic()
        self.stop_component(name)
        if down_seconds > 0:
            time.sleep(down_seconds)
        self.start_component(name, timeout)
        return time.monotonic() - began

    def _spawn(self, name: str, argv: list[str]) -> None:
        self._argv[name] = list(argv)
        # etcd reads every ETCD_* variable as a flag; an inherited one must not reconfigure it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # Kill the child if this process dies without running atexit (SIGKILL, os._exit).
            # Only from the main thread: the signal fires when the *forking thread* exits.
            argv = [setpriv, "--pdeathsig", "KILL", *argv]
        with (self.workdir / f"{name}.log").open("ab") as log:
            self._procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )

    def _await(self, name: str, url: str, ctx: ssl.SSLContext | None, deadline: float) -> None:
        last = "no answer yet"
        while True:
            for proc_name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(
                        f"{proc_name} exited with code {proc.returncode} during start\n{self._logs()}"
                    )
            try:
                with urllib.request.urlopen(url, timeout=2.0, context=ctx) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as err:
                body = err.read(4096).decode("utf-8", "replace").splitlines()
                # /readyz lists every check; the failing ones ("[-]...") are the useful part.
                last = f"HTTP {err.code}: {'; '.join([ln for ln in body if ln.startswith('[-]')] or body[:3])}"
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            if time.monotonic() >= deadline:
                raise ControlPlaneError(f"{name} not ready: {url} ({last}) at the timeout\n{self._logs()}")
            time.sleep(0.1)

    def _logs(self) -> str:
        work = self.workdir
        return "\n".join(
            f"--- last lines of {work / (n + '.log')} ---\n{tail(work / (n + '.log'))}"
            for n in ("etcd", "kube-apiserver")
            if (work / f"{n}.log").exists()
        )


def main(argv: list[str] | None = None) -> int:
    """CLI: ``--check`` exits 0 if the binaries are built (1 otherwise); ``--serve`` runs until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m dbjobs_testkit.controlplane")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report whether etcd and kube-apiserver are built")
    mode.add_argument("--serve", action="store_true", help="start the control plane and wait for Ctrl-C")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data, logs and kubeconfigs here")
    parser.add_argument("--k8s-version", default=DEFAULT_K8S_VERSION)
    args = parser.parse_args(argv)
    missing = missing_binaries_message(args.k8s_version)
    if args.check:
        print(
            missing
            or f"control plane {args.k8s_version}: etcd and kube-apiserver present in {binaries_dir(args.k8s_version)}"
        )
        return 1 if missing else 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with ControlPlane(args.workdir, args.k8s_version) as cp:
            print(f"server:  {cp.server_url}  (started in {cp.start_seconds:.1f}s)")
            print(f"admin:   export KUBECONFIG={cp.admin_kubeconfig}")
            for user in PRESET_USERS:
                print(f"{user}: {cp.user_kubeconfig(user)}")
            print("Ctrl-C to stop", flush=True)
            threading.Event().wait()
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
