"""Job permissions enforced by the emulator, through the real databricks-sdk over HTTP: a non-admin token gets
only what the job ACL table grants (view with CAN_VIEW, run now with CAN_MANAGE_RUN, edit, delete and change
permissions with CAN_MANAGE or IS_OWNER), refusals are 403 PERMISSION_DENIED (the SDK's ``PermissionDenied``) and
come before existence checks; a job a non-admin creates is owned by it; the workspace token stays an admin."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer, RunTiming

pytestmark = pytest.mark.integration

ADMIN = "dapi-admin"
ALICE = "dapi-alice"
SP = "dapi-sp"
TASKS = [jobs.Task(task_key="t", notebook_task=jobs.NotebookTask(notebook_path="/Workspace/n"))]


@pytest.fixture(autouse=True)
def _scrub_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=ADMIN, run_timing=RunTiming(0, 0), seed=3) as server:
        server.workspace.add_token(ALICE, "alice@example.com", groups=("analysts",))
        server.workspace.add_token(SP, "9f0c-sp", service_principal=True)
        yield server


def client(emu: EmulatorServer, token: str) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=emu.url, token=token, auth_type="pat", retry_timeout_seconds=20))


def grant(job_id: int, w: WorkspaceClient, **principal_and_level: str) -> None:
    level = jobs.JobPermissionLevel(principal_and_level.pop("level"))
    request = jobs.JobAccessControlRequest(permission_level=level, **principal_and_level)
    w.jobs.update_permissions(str(job_id), access_control_list=[request])


def test_a_user_without_a_grant_is_refused_everything_and_does_not_see_the_job(emu: EmulatorServer) -> None:
    admin, alice = client(emu, ADMIN), client(emu, ALICE)
    job_id = admin.jobs.create(name="j", tasks=TASKS).job_id
    assert job_id is not None
    calls = {
        "get": lambda: alice.jobs.get(job_id),
        "reset": lambda: alice.jobs.reset(job_id, jobs.JobSettings(name="x", tasks=TASKS)),
        "delete": lambda: alice.jobs.delete(job_id),
        "run-now": lambda: alice.jobs.run_now(job_id),
        "get permissions": lambda: alice.jobs.get_permissions(str(job_id)),
        "set permissions": lambda: alice.jobs.set_permissions(str(job_id), access_control_list=[]),
    }
    for what, call in calls.items():
        with pytest.raises(PermissionDenied, match=r"alice@example\.com does not have"):
            call()
        assert emu.workspace.request_log[-1][2] == 403, what
    assert [j.job_id for j in alice.jobs.list()] == []
    with pytest.raises(PermissionDenied):  # checked before existence: a missing job looks the same
        alice.jobs.get(123)
    assert emu.workspace.get_settings(job_id)["name"] == "j"  # nothing changed


def test_each_level_allows_what_the_job_acl_table_says(emu: EmulatorServer) -> None:
    admin, alice = client(emu, ADMIN), client(emu, ALICE)
    job_id = admin.jobs.create(name="j", tasks=TASKS).job_id
    assert job_id is not None
    grant(job_id, admin, group_name="analysts", level="CAN_VIEW")  # via her group
    assert alice.jobs.get(job_id).settings is not None
    assert [j.job_id for j in alice.jobs.list()] == [job_id]
    with pytest.raises(PermissionDenied):
        alice.jobs.run_now(job_id)
    grant(job_id, admin, user_name="alice@example.com", level="CAN_MANAGE_RUN")
    assert alice.jobs.run_now(job_id).run_id is not None
    with pytest.raises(PermissionDenied):
        alice.jobs.reset(job_id, jobs.JobSettings(name="x", tasks=TASKS))
    grant(job_id, admin, user_name="alice@example.com", level="CAN_MANAGE")
    alice.jobs.reset(job_id, jobs.JobSettings(name="renamed", tasks=TASKS))
    assert alice.jobs.get_permissions(str(job_id)).access_control_list
    alice.jobs.delete(job_id)
    assert emu.workspace.job_ids() == []


def test_a_service_principal_owns_the_jobs_it_creates(emu: EmulatorServer) -> None:
    sp, alice = client(emu, SP), client(emu, ALICE)
    job_id = sp.jobs.create(name="sp-job", tasks=TASKS).job_id
    assert job_id is not None
    assert sp.jobs.get(job_id).creator_user_name == "9f0c-sp"
    owners = [
        e.service_principal_name
        for e in sp.jobs.get_permissions(str(job_id)).access_control_list or []
        if any(p.permission_level == jobs.JobPermissionLevel.IS_OWNER for p in e.all_permissions or [])
    ]
    assert owners == ["9f0c-sp"]
    with pytest.raises(PermissionDenied):
        alice.jobs.get(job_id)
    emu.workspace.delete_job(job_id)  # in process: the admin
