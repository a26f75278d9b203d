"""Job permissions end to end (issue 11 item 4), on the local control plane and the emulator: a DatabricksJob with
``spec.permissions`` gets exactly that access-control list (the controller's identity keeps ownership, the
inherited ``admins`` entry is never drift); an out-of-band change made with the databricks-sdk is restored under
``driftPolicy: Correct`` and reported by path under ``Report``; a job without ``spec.permissions`` costs no
Permissions API call; and a non-admin token without ``CAN_MANAGE`` is refused by the emulator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
PERMISSIONS = [
    {"groupName": "data-eng", "level": "CAN_MANAGE_RUN"},
    {"userName": "alice@example.com", "level": "CAN_VIEW"},
]
ALICE_TOKEN = "dapi-e2e-alice"


def settings(name: str) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/etl"}}]}


def direct_acl(emulator: EmulatorServer, job_id: int) -> dict[tuple[str, str], str]:
    """``{(kind, name): level}`` of the job's direct grants in the emulator."""
    out: dict[tuple[str, str], str] = {}
    for entry in emulator.workspace.get_permissions(job_id)["access_control_list"]:
        kind = next(k for k in ("user_name", "group_name", "service_principal_name") if k in entry)
        for perm in entry["all_permissions"]:
            if not perm["inherited"]:
                out[(kind, entry[kind])] = perm["permission_level"]
    return out


def desired(emulator: EmulatorServer) -> dict[tuple[str, str], str]:
    return {
        ("user_name", emulator.workspace.user_name): "IS_OWNER",  # the controller's identity created the job
        ("group_name", "data-eng"): "CAN_MANAGE_RUN",
        ("user_name", "alice@example.com"): "CAN_VIEW",
    }


@pytest.fixture
def sdk(emulator: EmulatorServer, emulator_token: str) -> WorkspaceClient:
    """The databricks-sdk as a person with the workspace token (an admin) would use it."""
    return WorkspaceClient(config=Config(host=emulator.url, token=emulator_token, auth_type="pat"))


@pytest.fixture
def alice(emulator: EmulatorServer) -> Iterator[WorkspaceClient]:
    emulator.workspace.add_token(ALICE_TOKEN, "alice@example.com")
    yield WorkspaceClient(config=Config(host=emulator.url, token=ALICE_TOKEN, auth_type="pat"))


def synced(kubectl: Kubectl, controller: ControllerProcess, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = kubectl.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return dict(obj) if cond and cond["status"] == "True" and obj["status"].get("jobId") else None

    try:
        return wait_for(ready, timeout=60, what=f"{name} Synced=True")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err


def out_of_band(sdk: WorkspaceClient, emulator: EmulatorServer, job_id: int) -> None:
    """A person's change with the SDK: data-eng raised to CAN_MANAGE, alice removed, eve added."""
    level = jobs.JobPermissionLevel
    sdk.jobs.set_permissions(
        str(job_id),
        access_control_list=[
            jobs.JobAccessControlRequest(user_name=emulator.workspace.user_name, permission_level=level.IS_OWNER),
            jobs.JobAccessControlRequest(group_name="data-eng", permission_level=level.CAN_MANAGE),
            jobs.JobAccessControlRequest(user_name="eve@example.com", permission_level=level.CAN_VIEW),
        ],
    )


def permission_calls(emulator: EmulatorServer, job_id: int) -> int:
    pattern = re.compile(rf"/permissions/jobs/{job_id}$")
    return sum(1 for _, path, _ in emulator.workspace.request_log if pattern.search(path))


def test_permissions_are_applied_and_a_correction_restores_them(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, sdk: WorkspaceClient
) -> None:
    ns.apply([job_manifest("acl", settings("acl"), permissions=PERMISSIONS)])
    obj = synced(ns, controller, "acl")
    job_id = int(obj["status"]["jobId"])
    assert direct_acl(emulator, job_id) == desired(emulator)
    inherited = emulator.workspace.get_permissions(job_id)["access_control_list"][-1]
    assert inherited["group_name"] == "admins" and inherited["all_permissions"][0]["inherited"] is True
    assert not (obj["status"].get("drift") or {}).get("detected")  # the inherited admins entry is no drift

    out_of_band(sdk, emulator, job_id)

    def restored() -> bool:
        return direct_acl(emulator, job_id) == desired(emulator)

    try:
        wait_for(restored, timeout=controller.poll_interval + 15, what="the permissions restored")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err
    obj = synced(ns, controller, "acl")
    assert condition(obj, "Drifted")["reason"] == "DriftCorrected"  # type: ignore[index]


def test_report_names_the_changed_permissions_and_leaves_them(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, sdk: WorkspaceClient
) -> None:
    ns.apply([job_manifest("acl-report", settings("acl-report"), permissions=PERMISSIONS, driftPolicy="Report")])
    job_id = int(synced(ns, controller, "acl-report")["status"]["jobId"])
    out_of_band(sdk, emulator, job_id)

    def drifted() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "acl-report")
        cond = condition(obj, "Drifted")
        return dict(obj) if cond and cond["status"] == "True" else None

    obj = wait_for(drifted, timeout=controller.poll_interval + 15, what="Drifted=True")
    assert obj["status"]["drift"]["paths"] == [
        "permissions[group:data-eng]",
        "permissions[user:alice@example.com]",
        "permissions[user:eve@example.com]",
    ]
    assert condition(obj, "Synced")["reason"] == "DriftDetected"  # type: ignore[index]
    calls = permission_calls(emulator, job_id)
    wait_for(lambda: permission_calls(emulator, job_id) >= calls + 2, timeout=30, what="two more checks")
    assert direct_acl(emulator, job_id)[("group_name", "data-eng")] == "CAN_MANAGE"  # Report leaves it


def test_unmanaged_permissions_cost_no_call_and_a_non_admin_is_refused(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, alice: WorkspaceClient
) -> None:
    ns.apply(
        [
            job_manifest("plain", settings("plain")),
            job_manifest("viewed", settings("viewed"), permissions=PERMISSIONS),
        ]
    )
    plain = int(synced(ns, controller, "plain")["status"]["jobId"])
    viewed = int(synced(ns, controller, "viewed")["status"]["jobId"])
    wait_for(lambda: permission_calls(emulator, viewed) >= 2, timeout=30, what="the managed job's permissions read")
    assert permission_calls(emulator, plain) == 0  # spec.permissions absent: never read or written

    assert alice.jobs.get(viewed).settings is not None  # CAN_VIEW
    with pytest.raises(PermissionDenied):
        alice.jobs.reset(viewed, jobs.JobSettings(name="hijacked"))
    with pytest.raises(PermissionDenied):
        alice.jobs.set_permissions(str(viewed), access_control_list=[])
    with pytest.raises(PermissionDenied):
        alice.jobs.get(plain)  # no grant at all
    assert emulator.workspace.get_settings(viewed)["name"] == "viewed"


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        ([{"groupName": "admins-like", "level": "IS_OWNER"}], "a group cannot be IS_OWNER"),
        ([{"userName": "a", "groupName": "b", "level": "CAN_VIEW"}], "exactly one of userName"),
        ([{"userName": "a", "level": "IS_OWNER"}, {"servicePrincipalName": "s", "level": "IS_OWNER"}], "one entry"),
        ([{"userName": "a", "level": "CAN_VIEW"}, {"userName": "a", "level": "CAN_MANAGE"}], "only once"),
        ([{"userName": "a", "level": "CAN_READ"}], "Unsupported value"),
    ],
)
def test_admission_refuses_bad_permissions_naming_the_field(
    ns: Kubectl, permissions: list[dict[str, str]], message: str
) -> None:
    text = yaml.safe_dump(job_manifest("bad-acl", settings("bad-acl"), permissions=permissions))
    proc = ns("apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=text, check=False)
    assert proc.returncode != 0
    assert "spec.permissions" in proc.stderr and message in proc.stderr, proc.stderr
