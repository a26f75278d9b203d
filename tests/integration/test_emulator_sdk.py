"""The real databricks-sdk against the emulator over HTTP (spec §1-§5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming

pytestmark = pytest.mark.integration

TOKEN = "dapi-test-token"


@pytest.fixture(autouse=True)
def _scrub_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other DATABRICKS_* settings would add auth methods or a profile to the client config (§1.1)."""
    import os

    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=1_767_225_600_000)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[EmulatorServer]:
    timing = RunTiming(pending_ms=1000, running_ms=5000)
    with EmulatorServer(token=TOKEN, clock=clock, run_timing=timing, seed=7) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorServer) -> WorkspaceClient:
    return sdk_client(emu.url, TOKEN)


def sdk_client(host: str, token: str) -> WorkspaceClient:
    # A short retry budget so a broken emulator fails the test instead of hanging it (§1.5).
    return WorkspaceClient(config=Config(host=host, token=token, auth_type="pat", retry_timeout_seconds=20))


def new_job(client: WorkspaceClient, **settings: Any) -> int:
    job_id = client.jobs.create(**settings).job_id
    assert isinstance(job_id, int)
    return job_id


def run_now(client: WorkspaceClient, job_id: int, **kwargs: Any) -> int:
    run_id = client.jobs.run_now(job_id, **kwargs).run_id
    assert isinstance(run_id, int)
    return run_id


def notebook(key: str, *deps: str, **extra: Any) -> jobs.Task:
    return jobs.Task(
        task_key=key,
        depends_on=[jobs.TaskDependency(task_key=d) for d in deps] or None,
        notebook_task=jobs.NotebookTask(notebook_path=f"/Shared/{key}"),
        existing_cluster_id="0923-164208-abcd",
        **extra,
    )


def test_create_then_get_returns_server_defaults_and_sorted_tasks(client: WorkspaceClient, emu: EmulatorServer) -> None:
    created = client.jobs.create(name="nightly", tasks=[notebook("b", "a"), notebook("a")])
    assert isinstance(created.job_id, int) and 10**14 <= created.job_id < 2**53

    job = client.jobs.get(created.job_id)

    assert job.creator_user_name == job.run_as_user_name == emu.workspace.user_name
    assert job.created_time == 1_767_225_600_000
    s = job.settings
    assert s is not None
    assert s.format == jobs.Format.MULTI_TASK
    assert s.email_notifications == jobs.JobEmailNotifications()
    assert s.timeout_seconds == 0 and s.max_concurrent_runs == 1
    assert s.queue == jobs.QueueSettings(enabled=True)
    assert [t.task_key for t in s.tasks or []] == ["a", "b"]
    first = (s.tasks or [])[0]
    assert first.run_if == jobs.RunIf.ALL_SUCCESS and first.timeout_seconds == 0
    assert first.notebook_task is not None and first.notebook_task.source == jobs.Source.WORKSPACE
    assert emu.workspace.get_settings(created.job_id) == s.as_dict()


def test_list_follows_next_page_token_across_pages_and_filters_by_name(
    client: WorkspaceClient, emu: EmulatorServer
) -> None:
    ids = {new_job(client, name=f"job-{i:02d}", tasks=[notebook("t")]) for i in range(25)}
    emu.workspace.reset_counters()

    listed = list(client.jobs.list())

    assert {j.job_id for j in listed} == ids
    assert emu.workspace.request_count("jobs/list", "GET") == 2  # default page of 20, then 5
    assert all(j.settings is not None and not j.settings.tasks for j in listed)
    named = list(client.jobs.list(name="JOB-07", expand_tasks=True))
    assert [j.settings.name for j in named if j.settings] == ["job-07"]
    assert [t.task_key for t in named[0].settings.tasks or []] == ["t"]  # type: ignore[union-attr]


def test_reset_replaces_settings_but_run_as_is_sticky(client: WorkspaceClient) -> None:
    job_id = new_job(
        client,
        name="a",
        tasks=[notebook("t")],
        run_as=jobs.JobRunAs(service_principal_name="sp-1"),
        queue=jobs.QueueSettings(enabled=False),
        tags={"team": "x"},
    )

    client.jobs.reset(job_id, jobs.JobSettings(name="b", tasks=[notebook("u")]))

    job = client.jobs.get(job_id)
    assert job.settings is not None
    assert job.settings.name == "b" and job.settings.tags is None
    assert [t.task_key for t in job.settings.tasks or []] == ["u"]
    assert job.settings.run_as == jobs.JobRunAs(service_principal_name="sp-1")
    assert job.run_as_user_name == "sp-1"
    assert job.settings.queue == jobs.QueueSettings(enabled=True)  # omitted on a 2.2 reset


def test_update_merges_tasks_by_key_and_removes_fields(client: WorkspaceClient) -> None:
    job_id = new_job(
        client,
        name="a",
        tasks=[notebook("keep"), notebook("change"), notebook("drop")],
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 * * * ?", timezone_id="UTC"),
    )

    client.jobs.update(
        job_id,
        new_settings=jobs.JobSettings(name="renamed", tasks=[notebook("change", max_retries=3), notebook("new")]),
        fields_to_remove=["schedule", "tasks/drop"],
    )

    s = client.jobs.get(job_id).settings
    assert s is not None and s.name == "renamed" and s.schedule is None
    by_key = {t.task_key: t for t in s.tasks or []}
    assert sorted(by_key) == ["change", "keep", "new"]
    assert by_key["change"].max_retries == 3 and by_key["keep"].max_retries is None


def test_missing_and_deleted_jobs(client: WorkspaceClient) -> None:
    job_id = new_job(client, name="gone")
    client.jobs.delete(job_id)

    with pytest.raises(NotFound, match=rf"Job {job_id} does not exist\."):
        client.jobs.get(job_id)
    # No SDK override for POST endpoints: the legacy 400 surfaces as InvalidParameterValue (§2.3).
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        client.jobs.delete(job_id)
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        client.jobs.run_now(job_id)


def test_run_now_steps_through_states_and_lists_runs(
    client: WorkspaceClient, emu: EmulatorServer, clock: ManualClock
) -> None:
    job_id = new_job(client, name="runner", tasks=[notebook("a"), notebook("b", "a")])

    run_id = run_now(client, job_id)
    run = client.jobs.get_run(run_id)
    assert run.state is not None and run.state.life_cycle_state == jobs.RunLifeCycleState.PENDING
    assert run.status is not None and run.status.state == jobs.RunLifecycleStateV2State.PENDING
    assert run.end_time == 0 and [t.task_key for t in run.tasks or []] == ["a", "b"]

    clock.advance(1000)
    assert client.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING  # type: ignore[union-attr]
    assert [r.run_id for r in client.jobs.list_runs(job_id=job_id, active_only=True)] == [run_id]

    clock.advance(5000)
    done = client.jobs.get_run(run_id)
    assert done.state is not None
    assert done.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert done.state.result_state == jobs.RunResultState.SUCCESS
    assert done.status is not None and done.status.termination_details is not None
    assert done.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert done.end_time == done.start_time + 6000 == done.run_duration + done.start_time  # type: ignore[operator]
    assert list(client.jobs.list_runs(job_id=job_id, active_only=True)) == []
    assert [r.run_id for r in client.jobs.list_runs(job_id=job_id, completed_only=True)] == [run_id]


def test_run_now_idempotency_token_and_cancel(client: WorkspaceClient) -> None:
    job_id = new_job(client, name="idem", tasks=[notebook("a")])

    first = run_now(client, job_id, idempotency_token="tok-1")
    again = run_now(client, job_id, idempotency_token="tok-1")
    other = run_now(client, job_id)
    client.jobs.cancel_run(first)

    assert first == again != other
    state = client.jobs.get_run(first).state
    assert state is not None
    assert (state.life_cycle_state, state.result_state) == (
        jobs.RunLifeCycleState.TERMINATED,
        jobs.RunResultState.CANCELED,
    )
    assert state.user_cancelled_or_timedout is True
    assert [r.run_id for r in client.jobs.list_runs(job_id=job_id)] == [other, first]


def test_list_runs_pages(client: WorkspaceClient, emu: EmulatorServer) -> None:
    job_id = new_job(client, name="many", tasks=[notebook("a")])
    run_ids = [run_now(client, job_id) for _ in range(30)]
    emu.workspace.reset_counters()

    listed = [r.run_id for r in client.jobs.list_runs(job_id=job_id)]

    assert listed == list(reversed(run_ids))
    assert emu.workspace.request_count("runs/list") == 2


def test_missing_run_raises_not_found(client: WorkspaceClient) -> None:
    with pytest.raises(NotFound, match=r"Run 123 does not exist\."):
        client.jobs.get_run(123)


def test_150_task_job_round_trips_through_jobs_get_paging(client: WorkspaceClient, emu: EmulatorServer) -> None:
    tasks = [notebook(f"t{i:03d}", *([f"t{i - 1:03d}"] if i else [])) for i in range(150)]
    job_id = new_job(client, name="big", tasks=tasks)
    emu.workspace.reset_counters()

    job = client.jobs.get(job_id)

    assert job.settings is not None
    assert [t.task_key for t in job.settings.tasks or []] == [f"t{i:03d}" for i in range(150)]
    assert emu.workspace.request_count("jobs/get") == 2
    assert job.settings.as_dict() == emu.workspace.get_settings(job_id)


def test_429_with_retry_after_is_retried_by_the_sdk(client: WorkspaceClient, emu: EmulatorServer) -> None:
    emu.workspace.inject_fault(
        "jobs/create",
        429,
        "REQUEST_LIMIT_EXCEEDED",
        "Too many requests.",
        count=1,
        retry_after=1,
    )

    job_id = new_job(client, name="throttled")

    assert emu.workspace.job_ids() == [job_id]
    assert [status for _, path, status in emu.workspace.request_log if path.endswith("jobs/create")] == [429, 200]


def test_wrong_token_raises_permission_denied(emu: EmulatorServer) -> None:
    bad = sdk_client(emu.url, "not-the-token")
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        bad.jobs.create(name="x")
    assert emu.workspace.job_ids() == []


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"tasks": [notebook("ok"), notebook("bad key")]}, "tasks[1].task_key"),
        ({"tasks": [notebook("a", "missing")]}, "tasks[0].depends_on[0].task_key"),
        ({"max_concurrent_runs": 1001}, "max_concurrent_runs"),
        ({"schedule": jobs.CronSchedule(quartz_cron_expression="0 0 * * * ?", timezone_id="")}, "schedule.timezone_id"),
        (
            {"tasks": [jobs.Task(task_key="a", job_cluster_key="nope", notebook_task=jobs.NotebookTask("/x"))]},
            "tasks[0].job_cluster_key",
        ),
    ],
)
def test_validation_errors_name_the_field(client: WorkspaceClient, settings: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        client.jobs.create(name="invalid", **settings)
    assert str(info.value).startswith(field + ":")
