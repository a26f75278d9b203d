"""The controller can no longer be made to send a Secret to any host (issue 11, found as a new user would).

The attack, repeated on the real apiserver: a tenant who may write DatabricksWorkspaces and DatabricksJobs in a
namespace but may not read its Secrets points a workspace at a server of their own and names a Secret that holds
someone's database password. Then:

* a host outside the platform's allow-list (``DBJOBS_ALLOWED_HOSTS``) gets ``HostNotAllowed`` and the Secret is
  never read: the server receives nothing;
* an allowed host with a Secret that did not opt in (label ``dbjobs.io/credentials: "true"``) gets
  ``SecretNotAllowed``: the server receives nothing;
* the password appears in no status, Event or controller log line;
* a DatabricksWorkspace's host cannot be changed (a changed host would re-create every job elsewhere), nor be
  spelled so that it names one host and reaches another (a backslash: requests reads it as the path);
* a workspace deleted and applied again with another host re-creates nothing there (``WorkspaceChanged``);
* a token with a line break inside it is refused before any request and never printed (it used to be logged in
  full by every cycle's traceback).
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for, workspace_manifests

pytestmark = pytest.mark.e2e
PASSWORD = "db-password-sentinel-7f3a9c"


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # any request at all is the leak
        Recorder.seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture()
def attacker() -> Iterator[int]:
    """The tenant's own server on loopback; returns its port. Records every request it gets."""
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def mallory(control_plane: ControlPlane, admin: Kubectl, ns: Kubectl) -> Kubectl:
    """A tenant of ``ns`` who may write dbjobs resources there and cannot read its Secrets."""
    namespace = str(ns.namespace)
    ns.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "orders-db"},
                "stringData": {"password": PASSWORD},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "dbjobs-tenant"},
                "rules": [
                    {
                        "apiGroups": ["dbjobs.io"],
                        "resources": ["databricksjobs", "databricksworkspaces"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "dbjobs-tenant-mallory"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dbjobs-tenant"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}],
            },
        ]
    )
    tenant = Kubectl(control_plane.user_kubeconfig("mallory"), namespace=namespace)
    denied = tenant("get", "secret", "orders-db", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), "the tenant must not read Secrets"
    return tenant


def workspace(name: str, host: str) -> dict[str, Any]:
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksWorkspace",
        "metadata": {"name": name},
        "spec": {"host": host, "tokenSecretRef": {"name": "orders-db", "key": "password"}},
    }


def job(name: str, ws: str) -> dict[str, Any]:
    return job_manifest(
        name, {"name": name, "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]}, workspace=ws
    )


def reason(kubectl: Kubectl, name: str) -> str | None:
    cond = condition(kubectl.get("databricksjob", name), "Synced")
    return str(cond["reason"]) if cond else None


def test_a_host_outside_the_allow_list_never_gets_the_secret(
    ns: Kubectl, mallory: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, attacker: int
) -> None:
    mallory.apply([workspace("exfil", f"http://localhost:{attacker}"), job("steal", "exfil")])
    wait_for(lambda: reason(mallory, "steal") == "HostNotAllowed", timeout=30, what="Synced=False HostNotAllowed")
    message = condition(mallory.get("databricksjob", "steal"), "Synced")["message"]  # type: ignore[index]
    assert f"localhost:{attacker}" in message and "DBJOBS_ALLOWED_HOSTS" in message
    wait_two_cycles(mallory, emulator)
    assert Recorder.seen == [], Recorder.seen
    assert_no_leak(ns, controller)


def test_an_allowed_host_never_gets_a_secret_that_did_not_opt_in(
    ns: Kubectl, mallory: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, attacker: int
) -> None:
    # http://127.0.0.1:* is on this test controller's allow-list (the emulator lives there).
    mallory.apply([workspace("exfil2", f"http://127.0.0.1:{attacker}"), job("steal2", "exfil2")])
    wait_for(lambda: reason(mallory, "steal2") == "SecretNotAllowed", timeout=30, what="Synced=False SecretNotAllowed")
    message = condition(mallory.get("databricksjob", "steal2"), "Synced")["message"]  # type: ignore[index]
    assert "dbjobs.io/credentials=true" in message
    wait_two_cycles(mallory, emulator)
    assert Recorder.seen == [], Recorder.seen
    assert_no_leak(ns, controller)


def test_a_workspace_host_cannot_be_changed(mallory: Kubectl) -> None:
    mallory.apply([workspace("fixed", "https://dbc-1.cloud.databricks.com")])
    with pytest.raises(subprocess.CalledProcessError) as err:
        mallory.apply([workspace("fixed", "https://dbc-2.cloud.databricks.com")])
    assert "host is immutable" in err.value.stderr


def test_a_host_that_names_one_host_and_reaches_another_is_refused_at_admission(mallory: Kubectl) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        mallory.apply([workspace("tricky", "https://evil.example.com\\.cloud.databricks.com")])
    assert "spec.host" in err.value.stderr


def test_a_workspace_re_created_with_another_host_re_creates_nothing(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job("moving", "default")])
    job_id = wait_for(
        lambda: (ns.get("databricksjob", "moving").get("status") or {}).get("jobId"), timeout=60, what="a job id"
    )
    with EmulatorServer(token="other-workspace-token") as other:
        ns("delete", "databricksworkspace", "default")
        ns.apply(workspace_manifests(str(ns.namespace), other.url, "other-workspace-token"))
        wait_for(lambda: reason(ns, "moving") == "WorkspaceChanged", timeout=60, what="Synced=False WorkspaceChanged")
        wait_for(lambda: other.workspace.request_count("jobs/list", "GET") >= 2, timeout=30, what="2 cycles there")
        assert other.workspace.request_count("jobs/create", "POST") == 0, "a second job in the other workspace"
        assert ns.get("databricksjob", "moving")["status"]["jobId"] == job_id
    assert job_id in emulator.workspace.job_ids()


def test_a_token_with_a_line_break_is_refused_and_never_printed(
    ns: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess
) -> None:
    broken = f"{emulator_token}\nSECRETTAIL-abc123"
    ns.apply([*workspace_manifests(str(ns.namespace), emulator.url, broken, name="broken"), job("nl", "broken")])
    wait_for(lambda: reason(ns, "nl") == "SecretNotAllowed", timeout=60, what="Synced=False SecretNotAllowed")
    message = condition(ns.get("databricksjob", "nl"), "Synced")["message"]  # type: ignore[index]
    assert "line break" in message
    wait_two_cycles(ns, emulator)
    log = controller.log_path.read_text(errors="replace")
    assert "SECRETTAIL-abc123" not in log and emulator_token not in log


def wait_two_cycles(kubectl: Kubectl, emulator: EmulatorServer) -> None:
    """Time for the controller to have tried again: two observer cycles of a working workspace in this namespace
    (the refused one is retried with backoff meanwhile)."""
    kubectl.apply([job("canary", "default")])
    lists = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= lists + 3, timeout=30, what="3 cycles")


def assert_no_leak(kubectl: Kubectl, controller: ControllerProcess) -> None:
    statuses = str([o.get("status") for o in kubectl.get("databricksjobs")["items"]])
    events = str(kubectl.get("events")["items"])
    assert PASSWORD not in statuses and PASSWORD not in events
    assert PASSWORD not in controller.log_path.read_text(errors="replace")
