"""End-to-end: the local control plane is a real Kubernetes API with TLS, x509 users and RBAC.

Needs the binaries built by ``make control-plane`` and kubectl on PATH; without them the tests fail
(never skip) with a message naming the fix.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dbjobs_testkit import controlplane
from dbjobs_testkit.controlplane import ControlPlane, ControlPlaneError, binaries_dir, missing_binaries_message

pytestmark = pytest.mark.e2e


def _require_tools() -> str:
    missing = missing_binaries_message()
    if missing:
        pytest.fail(missing, pytrace=False)
    # `make control-plane` builds kubectl beside the binaries when the machine has none.
    kubectl = shutil.which("kubectl") or shutil.which("kubectl", path=str(binaries_dir()))
    if kubectl is None:
        pytest.fail(
            "kubectl is required on PATH for the e2e tests (v1.32 matches the server); "
            "`BUILD_KUBECTL=1 make control-plane` builds one",
            pytrace=False,
        )
    return kubectl


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run kubectl against ``kubeconfig``; with ``check`` a non-zero exit fails the test with stderr."""
    # A per-test cache dir keeps discovery caches of short-lived servers out of ~/.kube.
    cache = kubeconfig.parent / "kubectl-cache"
    cmd = [_require_tools(), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
    return proc


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes whose argv contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # exited while we looked
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    _require_tools()
    plane = ControlPlane()
    try:
        plane.start()
    except ControlPlaneError as err:
        pytest.fail(f"control plane did not start: {err}", pytrace=False)
    print(f"control plane started in {plane.start_seconds:.2f}s at {plane.server_url}")
    yield plane
    plane.stop()


def test_admin_lists_default_namespace(cp: ControlPlane) -> None:
    out = kubectl(cp.admin_kubeconfig, "get", "ns", "-o", "name").stdout.split()
    assert "namespace/default" in out
    role = kubectl(cp.admin_kubeconfig, "get", "clusterrole", "cluster-admin", "-o", "name").stdout.strip()
    assert role == "clusterrole.rbac.authorization.k8s.io/cluster-admin"


def test_kubeconfigs_verify_tls_with_the_generated_ca(cp: ControlPlane) -> None:
    for path in (cp.admin_kubeconfig, cp.user_kubeconfig("alice"), cp.user_kubeconfig("dbjobs-controller")):
        (cluster,) = yaml.safe_load(path.read_text())["clusters"]
        assert cluster["cluster"]["server"] == cp.server_url
        assert cluster["cluster"]["certificate-authority-data"]
        assert "insecure-skip-tls-verify" not in cluster["cluster"]


def test_users_have_their_own_identity(cp: ControlPlane) -> None:
    for user in ("alice", "dbjobs-controller"):
        who = kubectl(cp.user_kubeconfig(user), "auth", "whoami", "-o", "yaml").stdout
        info = yaml.safe_load(who)["status"]["userInfo"]
        assert info["username"] == user
        assert "system:masters" not in info.get("groups", [])
    admin = yaml.safe_load(kubectl(cp.admin_kubeconfig, "auth", "whoami", "-o", "yaml").stdout)
    assert "system:masters" in admin["status"]["userInfo"]["groups"]


def test_rbac_forbids_alice_until_bound(cp: ControlPlane) -> None:
    alice = cp.user_kubeconfig("alice")
    denied = kubectl(alice, "get", "secrets", "-n", "default", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower(), denied.stderr

    admin = cp.admin_kubeconfig
    kubectl(admin, "create", "clusterrole", "e2e-secret-reader", "--verb=get,list", "--resource=secrets")
    kubectl(
        admin,
        "create",
        "rolebinding",
        "alice-reads-secrets",
        "-n",
        "default",
        "--clusterrole=e2e-secret-reader",
        "--user=alice",
    )
    # The RBAC authorizer reads bindings through an informer: allow it a moment to observe the write.
    deadline = time.monotonic() + 10
    while (allowed := kubectl(alice, "get", "secrets", "-n", "default", check=False)).returncode != 0:
        assert time.monotonic() < deadline, f"alice still refused after the binding: {allowed.stderr}"
        time.sleep(0.2)
    # The binding is namespaced: other namespaces and other users stay forbidden.
    assert kubectl(alice, "get", "secrets", "-n", "kube-system", check=False).returncode != 0
    assert kubectl(cp.user_kubeconfig("dbjobs-controller"), "get", "secrets", check=False).returncode != 0


def test_anonymous_request_is_refused(cp: ControlPlane) -> None:
    ctx = ssl.create_default_context(cafile=str(cp.ca_cert))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{cp.server_url}/api/v1/namespaces", context=ctx, timeout=10)
    assert err.value.code == 401


def test_stop_leaves_no_process_and_removes_temp_dir() -> None:
    _require_tools()
    plane = ControlPlane()
    plane.start()
    workdir, pids = str(plane.workdir), plane.pids()
    assert len(pids) == 2
    assert processes_mentioning(workdir), "etcd/kube-apiserver should run with our workdir in argv"
    plane.stop()
    assert processes_mentioning(workdir) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not Path(workdir).exists()
    plane.stop()  # idempotent


def test_failed_start_leaves_no_process(tmp_path: Path) -> None:
    _require_tools()
    plane = ControlPlane(workdir=tmp_path / "cp")
    with pytest.raises(ControlPlaneError, match="not ready"):
        plane.start(timeout=1.0)  # the API server needs ~2-3 s: the deadline passes with both running
    assert processes_mentioning(str(tmp_path / "cp")) == []
    assert (tmp_path / "cp" / "etcd.log").exists(), "a given workdir keeps its logs"


def test_crash_during_start_reports_the_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_tools()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        free = controlplane.free_ports(2)
        monkeypatch.setattr(controlplane, "free_ports", lambda n: [*free, busy.getsockname()[1]])
        plane = ControlPlane(workdir=tmp_path / "cp")
        with pytest.raises(ControlPlaneError) as err:
            plane.start(timeout=30)
    message = str(err.value)
    assert "kube-apiserver exited" in message
    assert "kube-apiserver.log" in message and "address already in use" in message
    assert processes_mentioning(str(tmp_path / "cp")) == []


def test_missing_binaries_name_the_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBJOBS_CACHE", str(tmp_path))
    with pytest.raises(ControlPlaneError) as err:
        ControlPlane().start()
    assert "make control-plane" in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_cli_check_reports_binaries(tmp_path: Path) -> None:
    env = {**os.environ, "DBJOBS_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "dbjobs_testkit.controlplane", "--check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "make control-plane" in proc.stdout
