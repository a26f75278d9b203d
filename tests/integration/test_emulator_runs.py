"""The emulator's run side through the real databricks-sdk: scripted outcomes, the manual clock,
queueing and skipping, schedules, and the run endpoints (spec §3.7-§3.11, §5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import InvalidParameterValue, OperationFailed
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming
from dbjobs_testkit.emulator.runs import Outcome, RunScript

pytestmark = pytest.mark.integration

TOKEN = "dapi-runs-token"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=T0)


@pytest.fixture
def emu(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    import os

    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    with EmulatorServer(token=TOKEN, clock=clock, run_timing=RunTiming(1000, 5000), seed=3) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorServer) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=20))


def job(client: WorkspaceClient, **settings: Any) -> int:
    body = {
        "name": "j",
        "tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": "/a"}},
            {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}},
        ],
        **settings,
    }
    job_id = client.api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"]
    assert isinstance(job_id, int)
    return job_id


def state(client: WorkspaceClient, run_id: int) -> tuple[str, str | None, str | None]:
    run = client.jobs.get_run(run_id)
    assert run.state and run.status
    life = run.state.life_cycle_state.value if run.state.life_cycle_state else ""
    result = run.state.result_state.value if run.state.result_state else None
    return life, result, run.status.state.value if run.status.state else None


def test_scripted_outcomes_step_with_the_clock(
    client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock
) -> None:
    job_id = job(client)
    emu.workspace.script_runs(job_id, [Outcome.SUCCESS, Outcome.FAILED, RunScript(Outcome.TIMEDOUT, running_ms=100)])
    first = client.jobs.run_now(job_id).run_id
    assert state(client, first) == ("PENDING", None, "PENDING")
    clock.advance(1000)
    assert state(client, first) == ("RUNNING", None, "RUNNING")
    clock.advance(5000)
    assert state(client, first) == ("TERMINATED", "SUCCESS", "TERMINATED")

    second = client.jobs.run_now(job_id).run_id
    clock.advance(6000)
    run = client.jobs.get_run(second)
    assert run.state and run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message and run.state.state_message.startswith("Task a failed with message:")
    assert "downstream tasks to get skipped" in run.state.state_message
    assert run.status and run.status.termination_details
    assert run.status.termination_details.code == jobs.TerminationCodeCode.RUN_EXECUTION_ERROR
    by_key = {t.task_key: t for t in run.tasks or []}
    assert by_key["a"].state and by_key["a"].state.result_state == jobs.RunResultState.FAILED
    assert by_key["b"].state and by_key["b"].state.result_state == jobs.RunResultState.UPSTREAM_FAILED
    assert run.end_time == T0 + 6000 + 6000

    third = client.jobs.run_now(job_id).run_id
    clock.advance(1100)
    assert state(client, third)[:2] == ("TERMINATED", "TIMEDOUT")


def test_failed_run_raises_in_the_sdk_waiter(client: WorkspaceClient, emu: EmulatorServer) -> None:
    emu.workspace.run_timing = RunTiming(0, 0)
    job_id = job(client)
    emu.workspace.script_runs(job_id, ["FAILED"])
    with pytest.raises(OperationFailed):
        client.jobs.run_now_and_wait(job_id)


def test_run_until_finished_cancel_and_internal_error(
    client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock
) -> None:
    job_id = job(client, max_concurrent_runs=5)
    emu.workspace.script_runs(job_id, [{"outcome": "SUCCESS", "running_ms": -1}, "CANCELED", "INTERNAL_ERROR"])
    forever, canceled, broken = (client.jobs.run_now(job_id).run_id for _ in range(3))
    clock.advance(3_600_000)
    assert state(client, forever) == ("RUNNING", None, "RUNNING")
    assert state(client, canceled)[:2] == ("TERMINATED", "CANCELED")
    assert state(client, broken)[:2] == ("INTERNAL_ERROR", "FAILED")
    emu.workspace.finish_run(forever, Outcome.FAILED)
    assert state(client, forever)[:2] == ("INTERNAL_ERROR", "FAILED")


def test_max_concurrent_runs_queues_or_skips(client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock) -> None:
    queued_job = job(client)  # 2.2 create: queue enabled, max_concurrent_runs 1
    first, second = client.jobs.run_now(queued_job).run_id, client.jobs.run_now(queued_job).run_id
    run = client.jobs.get_run(second)
    assert run.state and run.state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    assert run.status and run.status.queue_details
    assert run.status.queue_details.code == jobs.QueueDetailsCodeCode.MAX_CONCURRENT_RUNS_REACHED
    clock.advance(6000)  # the first ends; the second takes its slot at that moment
    assert state(client, first)[1] == "SUCCESS"
    assert state(client, second)[0] == "PENDING"
    clock.advance(6000)
    done = client.jobs.get_run(second)
    assert done.queue_duration == 6000 and done.end_time == T0 + 12000

    skipping = job(client, queue={"enabled": False})
    client.jobs.run_now(skipping)
    skipped = client.jobs.run_now(skipping).run_id
    assert state(client, skipped)[:2] == ("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED")


def test_idempotency_token_and_job_parameters(client: WorkspaceClient) -> None:
    job_id = job(client, parameters=[{"name": "day", "default": "today"}, {"name": "mode", "default": "full"}])
    a = client.jobs.run_now(job_id, idempotency_token="tok-1", job_parameters={"day": "2026-01-01"}).run_id
    b = client.jobs.run_now(job_id, idempotency_token="tok-1").run_id
    assert a == b
    params = {p.name: p.value for p in client.jobs.get_run(a).job_parameters or []}
    assert params == {"day": "2026-01-01", "mode": "full"}


def test_schedule_fires_as_the_clock_passes(client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock) -> None:
    job_id = job(client, schedule={"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"})
    paused = job(
        client, schedule={"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"}
    )
    clock.advance(3 * 3_600_000 + 1)
    runs = list(client.jobs.list_runs(job_id=job_id))
    assert [r.start_time for r in runs] == [T0 + 3 * 3_600_000, T0 + 2 * 3_600_000, T0 + 3_600_000]
    assert all(r.trigger == jobs.TriggerType.PERIODIC for r in runs)
    assert list(client.jobs.list_runs(job_id=paused)) == []


def test_runs_list_filters_and_paging(client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock) -> None:
    job_id = job(client, max_concurrent_runs=100)
    ids = []
    for _ in range(30):
        ids.append(client.jobs.run_now(job_id).run_id)
        clock.advance(1000)
    # 30 runs one second apart, each lasting 6 s: at T0+30 s the last 5 are active.
    everything = list(client.jobs.list_runs(job_id=job_id))
    assert [r.run_id for r in everything] == ids[::-1]
    active = list(client.jobs.list_runs(active_only=True))
    assert {r.run_id for r in active} == set(ids[-5:])
    completed = list(client.jobs.list_runs(completed_only=True, start_time_from=T0 + 10_000))
    assert {r.run_id for r in completed} == set(ids[10:25])
    window = list(client.jobs.list_runs(job_id=job_id, start_time_from=T0 + 5000, start_time_to=T0 + 7000))
    assert [r.run_id for r in window] == ids[7:4:-1]
    page = client.api_client.do("GET", "/api/2.2/jobs/runs/list", query={"limit": 25})
    assert len(page["runs"]) == 25 and page["has_more"] and "next_page_token" in page


def test_cancel_all_delete_output_submit(client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock) -> None:
    job_id = job(client, max_concurrent_runs=3)
    runs = [client.jobs.run_now(job_id).run_id for _ in range(3)]
    with pytest.raises(InvalidParameterValue, match="still active"):
        client.jobs.delete_run(runs[0])
    client.jobs.cancel_all_runs(job_id=job_id)
    assert all(state(client, r)[1] == "CANCELED" for r in runs)
    client.jobs.delete_run(runs[0])
    assert runs[0] not in {r.run_id for r in client.jobs.list_runs(job_id=job_id)}

    with pytest.raises(InvalidParameterValue, match="multiple tasks"):
        client.jobs.get_run_output(runs[1])
    task_run = (client.jobs.get_run(runs[1]).tasks or [])[0].run_id
    assert task_run is not None
    output = client.jobs.get_run_output(task_run)
    assert output.error and output.metadata and output.metadata.run_id == task_run

    submitted = client.jobs.submit(
        run_name=None, tasks=[jobs.SubmitTask(task_key="x", notebook_task=jobs.NotebookTask(notebook_path="/x"))]
    ).run_id
    clock.advance(6000)
    sub = client.jobs.get_run(submitted)
    assert sub.run_type == jobs.RunType.SUBMIT_RUN and sub.run_name == "Untitled"


def test_admin_routes_script_finish_and_clock(client: WorkspaceClient, emu: EmulatorServer) -> None:
    job_id = job(client)
    r = requests.post(f"{emu.url}/_emulator/jobs/{job_id}/script-runs", json={"runs": [{"running_ms": -1}]}, timeout=5)
    assert r.status_code == 200, r.text
    run_id = client.jobs.run_now(job_id).run_id
    r = requests.post(f"{emu.url}/_emulator/clock/advance", json={"ms": 60_000}, timeout=5)
    assert r.json() == {"now_ms": T0 + 60_000}
    assert state(client, run_id)[0] == "RUNNING"
    r = requests.post(f"{emu.url}/_emulator/runs/{run_id}/finish", json={"outcome": "failed"}, timeout=5)
    assert r.status_code == 200, r.text
    assert state(client, run_id)[:2] == ("INTERNAL_ERROR", "FAILED")
    assert requests.get(f"{emu.url}/_emulator/clock", timeout=5).json() == {"now_ms": T0 + 60_000, "manual": True}
