"""Helpers the end-to-end tests and the demo share: kubectl, the controller process, waiting.

Waiting polls an observable condition with a deadline (never a fixed sleep): each helper raises
``TimeoutError`` naming what it waited for, with the last value seen, when the deadline passes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
#: The chart rendered with its defaults (``make manifests``): the controller's ClusterRole comes from here.
INSTALL_FILE = REPO_ROOT / "manifests" / "install.yaml"


class MissingComponentError(RuntimeError):
    """A tool the tests or the demo need is not installed; the message says how to get it."""


def kubectl_path() -> str:
    """The kubectl binary: from PATH, else the one built beside the control plane.

    Raises ``MissingComponentError`` when neither exists.
    """
    found = shutil.which("kubectl")
    if found:
        return found
    cache = Path(os.environ.get("DBJOBS_CACHE", Path.home() / ".cache" / "dbjobs"))
    for candidate in sorted(cache.glob("controlplane/*/bin/kubectl")):
        return str(candidate)
    raise MissingComponentError(
        "kubectl not found on PATH nor in the control-plane cache: run `make control-plane` "
        "(it builds kubectl when the machine has none)"
    )


def wait_for(predicate: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Call ``predicate`` until it returns a truthy value and return it; ``timeout`` in seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")
        time.sleep(interval)


class Kubectl:
    """``kubectl`` bound to one kubeconfig (and optionally one namespace)."""

    def __init__(self, kubeconfig: Path, namespace: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.binary = kubectl_path()

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raises ``subprocess.CalledProcessError`` (with stderr) on failure when ``check``."""
        cmd = [self.binary, "--kubeconfig", str(self.kubeconfig)]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def apply(self, docs: Iterable[Mapping[str, Any]] | Path, *extra: str) -> str:
        """``kubectl apply`` of manifest dicts (as one multi-document YAML) or of a file/directory."""
        if isinstance(docs, Path):
            return self("apply", "-f", str(docs), *extra).stdout
        text = yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)
        return self("apply", "-f", "-", *extra, stdin=text).stdout

    def get(self, kind: str, name: str | None = None) -> Any:
        """``kubectl get -o json``; None when the named object does not exist."""
        args = ["get", kind, "-o", "json"] + ([name] if name else [])
        proc = self(*args, check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return json.loads(proc.stdout)


def condition(obj: Mapping[str, Any] | None, ctype: str) -> Mapping[str, Any] | None:
    """The condition ``ctype`` of a resource dict, or None."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def install_crds_and_rbac(admin: Kubectl, controller_user: str) -> None:
    """Apply our CRDs and the controller's ClusterRole, bind it to ``controller_user``, await the CRDs."""
    admin.apply(CRD_DIR, "--server-side")
    # Not `kubectl wait`: it fails outright while a just-created CRD has no status.conditions yet, which
    # the large generated DatabricksJob CRD makes likely.
    for crd in ("databricksjobs.dbjobs.io", "databricksworkspaces.dbjobs.io", "clusterdatabricksworkspaces.dbjobs.io"):

        def established(name: str = crd) -> bool:
            return (condition(admin.get("crd", name), "Established") or {}).get("status") == "True"

        wait_for(established, timeout=60, what=f"CRD {crd} Established")
    admin.apply([controller_cluster_role()])
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "dbjobs-controller"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dbjobs-controller"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": controller_user}],
    }
    admin.apply([binding])


def controller_cluster_role(name: str = "dbjobs-controller") -> dict[str, Any]:
    """The chart's ClusterRole for the controller (from ``manifests/install.yaml``), renamed ``name``."""
    docs = [d for d in yaml.safe_load_all(INSTALL_FILE.read_text()) if d and d.get("kind") == "ClusterRole"]
    if len(docs) != 1:
        raise RuntimeError(f"{INSTALL_FILE} should hold exactly one ClusterRole, found {len(docs)}")
    role = dict(docs[0])
    role["metadata"] = {"name": name}
    return role


def workspace_manifests(namespace: str, host: str, token: str, name: str = "default") -> list[dict[str, Any]]:
    """A token Secret and a DatabricksWorkspace named ``name`` in ``namespace``."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-token", "namespace": namespace, "labels": {"dbjobs.io/credentials": "true"}},
            "type": "Opaque",
            "stringData": {"token": token},
        },
        {
            "apiVersion": "dbjobs.io/v1alpha1",
            "kind": "DatabricksWorkspace",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"host": host, "tokenSecretRef": {"name": f"{name}-token", "key": "token"}},
        },
    ]


def job_manifest(name: str, settings: Mapping[str, Any], workspace: str = "default", **spec: Any) -> dict[str, Any]:
    """A DatabricksJob manifest named ``name`` using DatabricksWorkspace ``workspace``."""
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": name},
        "spec": {"workspaceRef": {"name": workspace}, "settings": dict(settings), **spec},
    }


class ControllerProcess:
    """The operator (``python -m controller run``) as a separate process, as it runs in a cluster."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        poll_interval: float = 2.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.poll_interval = poll_interval
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the operator; its output is appended to ``log_path``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
        env.update(
            {
                # The emulator listens on loopback over http; a real workspace is https on a cloud domain.
                "DBJOBS_ALLOWED_HOSTS": "https://*.cloud.databricks.com,http://127.0.0.1:*",
                "KUBECONFIG": str(self.kubeconfig),
                "DBJOBS_POLL_INTERVAL_SECONDS": str(self.poll_interval),
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "run", "--verbose"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: the crash case (no clean shutdown, no last status write)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the operator's log (for failure messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
