"""Emulator behaviour beyond jobs and runs, through the real databricks-sdk and the admin HTTP API:
permissions (spec §6), the /api/2.0 aliases, quotas (§4.5), rate limits, latency and hangs,
configuration switches (§10), out-of-band changes and block validation (§4.4)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound, ResourceDoesNotExist
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer, ManualClock

pytestmark = pytest.mark.integration

TOKEN = "dapi-controls"
USER = "emulator-user@example.com"
TASK = {"task_key": "a", "notebook_task": {"notebook_path": "/Shared/a"}, "existing_cluster_id": "c-1"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=1_767_225_600_000)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN, clock=clock, seed=3) as server:
        yield server


@pytest.fixture
def w(emu: EmulatorServer) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=20))


def api(emu: EmulatorServer, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"} if not path.startswith("/_emulator") else {}
    kw.setdefault("timeout", 10)
    return requests.request(method, emu.url + path, json=body, headers=headers, **kw)


def acl_of(perms: jobs.JobPermissions) -> set[tuple[str | None, str | None, bool | None]]:
    return {
        (
            e.user_name or e.group_name or e.service_principal_name,
            p.permission_level.value if p.permission_level else None,
            p.inherited,
        )
        for e in perms.access_control_list or []
        for p in e.all_permissions or []
    }


def test_permissions_owner_admins_put_patch_levels(w: WorkspaceClient) -> None:
    job_id = w.jobs.create(name="p", tasks=[jobs.Task.from_dict(TASK)]).job_id
    assert job_id is not None
    perms = w.jobs.get_permissions(str(job_id))
    assert perms.object_id == f"/jobs/{job_id}" and perms.object_type == "job"
    assert acl_of(perms) == {(USER, "IS_OWNER", False), ("admins", "CAN_MANAGE", True)}
    admins = next(e for e in perms.access_control_list or [] if e.group_name == "admins")
    assert admins.all_permissions and admins.all_permissions[0].inherited_from_object == ["/jobs/"]

    owner = jobs.JobAccessControlRequest(user_name=USER, permission_level=jobs.JobPermissionLevel.IS_OWNER)
    view = jobs.JobAccessControlRequest(group_name="users", permission_level=jobs.JobPermissionLevel.CAN_VIEW)
    assert acl_of(w.jobs.set_permissions(str(job_id), access_control_list=[owner, view])) == {
        (USER, "IS_OWNER", False),
        ("users", "CAN_VIEW", False),
        ("admins", "CAN_MANAGE", True),
    }
    run = jobs.JobAccessControlRequest(
        user_name="b@example.com", permission_level=jobs.JobPermissionLevel.CAN_MANAGE_RUN
    )
    assert ("b@example.com", "CAN_MANAGE_RUN", False) in acl_of(
        w.jobs.update_permissions(str(job_id), access_control_list=[run])
    )
    assert ("users", "CAN_VIEW", False) in acl_of(w.jobs.get_permissions(str(job_id)))  # PATCH kept it

    with pytest.raises(InvalidParameterValue, match="exactly one owner"):
        w.jobs.set_permissions(str(job_id), access_control_list=[view])  # PUT without an owner
    group_owner = jobs.JobAccessControlRequest(group_name="users", permission_level=jobs.JobPermissionLevel.IS_OWNER)
    with pytest.raises(InvalidParameterValue, match="group cannot be the owner"):
        w.jobs.update_permissions(str(job_id), access_control_list=[group_owner])
    levels = w.jobs.get_permission_levels(str(job_id)).permission_levels or []
    assert [lv.permission_level.value for lv in levels if lv.permission_level] == [
        "CAN_VIEW",
        "CAN_MANAGE_RUN",
        "CAN_MANAGE",
        "IS_OWNER",
    ]
    with pytest.raises(NotFound):
        w.jobs.get_permissions("1")


def test_ownership_moves_run_as_user_name_and_create_acl(w: WorkspaceClient) -> None:
    sp = jobs.JobAccessControlRequest(service_principal_name="sp-1", permission_level=jobs.JobPermissionLevel.IS_OWNER)
    job_id = w.jobs.create(name="owned", access_control_list=[sp]).job_id
    assert job_id is not None
    assert w.jobs.get(job_id).run_as_user_name == "sp-1"
    me = jobs.JobAccessControlRequest(user_name=USER, permission_level=jobs.JobPermissionLevel.IS_OWNER)
    w.jobs.update_permissions(str(job_id), access_control_list=[me])  # ownership moves
    assert w.jobs.get(job_id).run_as_user_name == USER
    assert ("sp-1", "IS_OWNER", False) not in acl_of(w.jobs.get_permissions(str(job_id)))


def test_api_20_aliases_behave_as_21(emu: EmulatorServer) -> None:
    created = api(emu, "POST", "/api/2.0/jobs/create", {"name": "legacy", "tasks": [TASK]})
    job_id = created.json()["job_id"]
    got = api(emu, "GET", f"/api/2.0/jobs/get?job_id={job_id}").json()
    assert "queue" not in got["settings"]  # 2.0/2.1 writes get no queue default (§3.12)
    assert [j["job_id"] for j in api(emu, "GET", "/api/2.0/jobs/list").json()["jobs"]] == [job_id]
    assert api(emu, "POST", "/api/2.0/jobs/reset", {"job_id": job_id, "new_settings": {"name": "x"}}).status_code == 200
    run_id = api(emu, "POST", "/api/2.0/jobs/run-now", {"job_id": job_id}).json()["run_id"]
    assert api(emu, "GET", f"/api/2.0/jobs/runs/get?run_id={run_id}").json()["job_id"] == job_id
    assert api(emu, "POST", "/api/2.0/jobs/delete", {"job_id": job_id}).json() == {}


def test_quotas_saved_jobs_and_creations_per_hour(emu: EmulatorServer, w: WorkspaceClient, clock: ManualClock) -> None:
    emu.workspace.configure(max_saved_jobs=2)
    ids = [w.jobs.create(name=f"j{i}").job_id for i in range(2)]
    with pytest.raises(
        BadRequest, match=r"The quota for the number of jobs has been reached\. The current quota is 2"
    ) as err:
        w.jobs.create(name="one-too-many")
    assert err.value.error_code == "QUOTA_EXCEEDED"
    emu.workspace.configure(max_saved_jobs=100, max_job_creations_per_hour=3)
    w.jobs.create(name="third")
    with pytest.raises(BadRequest, match="exceeding rate limit: 3 job creations per 3600 seconds") as err:
        w.jobs.create(name="fourth")
    assert err.value.error_code == "INVALID_STATE"
    clock.advance(3_600_000)
    assert w.jobs.create(name="next-hour").job_id not in ids


def test_rate_limit_429_is_retried_by_the_sdk(emu: EmulatorServer, w: WorkspaceClient) -> None:
    job_id = w.jobs.create(name="hot").job_id
    assert job_id is not None
    emu.workspace.set_rate_limit("jobs/get", per_second=1, burst=1, retry_after=1)
    w.jobs.get(job_id)
    w.jobs.get(job_id)  # throttled once, the SDK sleeps Retry-After and retries (§1.5)
    statuses = [s for m, p, s in emu.workspace.request_log if p.endswith("/jobs/get")]
    assert statuses[0] == 200 and 429 in statuses and statuses[-1] == 200
    raw = api(emu, "GET", f"/api/2.2/jobs/get?job_id={job_id}")
    if raw.status_code == 429:  # the bucket may have refilled while the SDK slept
        assert raw.headers["Retry-After"] == "1" and raw.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    counts = api(emu, "GET", "/_emulator/requests").json()["status_counts"]
    assert counts["GET jobs/get"]["429"] >= 1


def test_latency_and_hang_then_release(emu: EmulatorServer) -> None:
    emu.workspace.inject_hang("jobs/list")
    with pytest.raises(requests.Timeout):
        api(emu, "GET", "/api/2.2/jobs/list", timeout=0.5)
    # The hang was consumed; a second request is answered, with injected latency.
    emu.workspace.inject_latency("jobs/list", ms=200, count=1)
    assert api(emu, "GET", "/api/2.2/jobs/list").status_code == 200
    emu.workspace.inject_hang("jobs/list")
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(api(emu, "GET", "/api/2.2/jobs/list").status_code))
    t.start()
    deadline = time.monotonic() + 10
    while emu.workspace.throttle.delays and time.monotonic() < deadline:  # until the request is held
        time.sleep(0.01)
    assert not emu.workspace.throttle.delays and t.is_alive()
    assert api(emu, "POST", "/_emulator/hangs/release").status_code == 200
    t.join(10)
    assert done == [200]


def test_rest404_not_found_style(emu: EmulatorServer, w: WorkspaceClient) -> None:
    assert api(emu, "POST", "/_emulator/config", {"not_found_style": "rest404"}).json()["not_found_style"] == "rest404"
    r = api(emu, "POST", "/api/2.2/jobs/delete", {"job_id": 5})
    assert (r.status_code, r.json()["error_code"], r.json()["message"]) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Job 5 does not exist.",
    )
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(5)
    assert api(emu, "POST", "/_emulator/config", {"cloud": "gcp"}).status_code == 400


def test_out_of_band_pause_tag_permissions_persist(tmp_path: Path) -> None:
    state = tmp_path / "ws.json"
    with EmulatorServer(token=TOKEN, state_file=state) as emu:
        schedule = {"quartz_cron_expression": "0 0 12 ? * MON-FRI", "timezone_id": "Europe/Berlin"}
        job_id = api(emu, "POST", "/api/2.2/jobs/create", {"name": "s", "schedule": schedule}).json()["job_id"]
        paused = api(emu, "POST", f"/_emulator/jobs/{job_id}/pause", {}).json()
        assert paused["settings"]["schedule"]["pause_status"] == "PAUSED"
        tagged = api(emu, "POST", f"/_emulator/jobs/{job_id}/tags", {"team": "data"}).json()
        assert tagged["settings"]["tags"] == {"team": "data"}
        acl = [{"user_name": "o@example.com", "permission_level": "IS_OWNER"}]
        assert api(emu, "PUT", f"/_emulator/jobs/{job_id}/permissions", {"access_control_list": acl}).status_code == 200
        assert api(emu, "POST", "/_emulator/jobs/999/pause", {}).status_code == 404
    saved = json.loads(state.read_text())
    assert saved["permissions"][str(job_id)] == [{"user_name": "o@example.com", "permission_level": "IS_OWNER"}]
    with EmulatorServer(token=TOKEN, state_file=state) as again:
        perms = api(again, "GET", f"/api/2.0/permissions/jobs/{job_id}").json()
        assert perms["access_control_list"][0]["user_name"] == "o@example.com"
        assert api(again, "GET", f"/api/2.2/jobs/get?job_id={job_id}").json()["run_as_user_name"] == "o@example.com"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (
            {"schedule": {"quartz_cron_expression": "0 0 12 * * *", "timezone_id": "UTC"}},
            "schedule.quartz_cron_expression",
        ),
        (
            {"schedule": {"quartz_cron_expression": "0 0 12 * *", "timezone_id": "UTC"}},
            "schedule.quartz_cron_expression",
        ),
        (
            {"schedule": {"quartz_cron_expression": "0 0 12 ? * *", "timezone_id": "Mars/Olympus"}},
            "schedule.timezone_id",
        ),
        ({"git_source": {"git_url": "https://x/y.git"}}, "git_source.git_provider"),
        ({"git_source": {"git_url": "u", "git_provider": "gitHub", "git_branch": "m", "git_tag": "t"}}, "git_source"),
        (
            {"webhook_notifications": {"on_failure": [{"id": str(i)} for i in range(4)]}},
            "webhook_notifications.on_failure",
        ),
        ({"parameters": [{"name": "bad name", "default": ""}]}, "parameters[0].name"),
        ({"trigger": {"periodic": {"interval": 0, "unit": "HOURS"}}}, "trigger.periodic.interval"),
    ],
)
def test_block_validation(emu: EmulatorServer, settings: dict[str, Any], field: str) -> None:
    r = api(emu, "POST", "/api/2.2/jobs/create", {"name": "v", **settings})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert r.json()["message"].startswith(field), r.json()["message"]


def test_valid_quartz_and_git_source_are_accepted(w: WorkspaceClient) -> None:
    job_id = w.jobs.create(
        name="ok",
        schedule=jobs.CronSchedule(quartz_cron_expression="0 15 10 ? * 6#3", timezone_id="America/Los_Angeles"),
        git_source=jobs.GitSource(
            git_url="https://github.com/a/b", git_provider=jobs.GitProvider.GIT_HUB, git_branch="main"
        ),
    ).job_id
    assert job_id is not None
    assert w.jobs.get(job_id).settings.schedule.pause_status == jobs.PauseStatus.UNPAUSED  # type: ignore[union-attr]
