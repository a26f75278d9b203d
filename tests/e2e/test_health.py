"""Run health in status on the real control plane: scripted run outcomes on a controlled clock."""

from __future__ import annotations

from typing import Any

import pytest

# tests/e2e is on sys.path (rootdir-relative test modules); importing the fixture registers it here.
from health_fixtures import Site, site_fixture  # noqa: F401

from dbjobs_testkit.emulator.runs import Outcome, RunScript
from dbjobs_testkit.harness import condition

pytestmark = pytest.mark.e2e


def test_success_gives_run_healthy_and_last_run(site: Site) -> None:
    job_id = site.apply_job("ok-job")
    site.wait_health("ok-job", "Unknown", "NoRuns")
    run_id = site.emu.workspace.run_now(job_id, {}).run_id
    site.clock.advance(6000)
    obj = site.wait_health("ok-job", "True", "LastRunSucceeded")
    last = obj["status"]["lastRun"]
    assert last["runId"] == run_id and last["resultState"] == "SUCCESS" and last["durationSeconds"] == 6
    assert last["trigger"] == "ONE_TIME" and last["runPageUrl"].endswith(f"/run/{run_id}")
    assert obj["status"]["runs"]["succeeded"] == 1 and obj["status"]["runs"]["successRate"] == 1.0
    table = site.kubectl("get", "databricksjob", "ok-job").stdout
    assert "LAST RUN" in table and "SUCCESS" in table


def test_failures_up_to_and_past_the_threshold(site: Site) -> None:
    job_id = site.apply_job("flaky-job", healthPolicy={"consecutiveFailures": 2})
    site.emu.workspace.script_runs(job_id, [Outcome.FAILED, Outcome.FAILED])
    site.emu.workspace.run_now(job_id, {})
    site.clock.advance(6000)
    obj = site.wait_health("flaky-job", "True", "LastRunFailed")  # 1 of 2 tolerated
    assert obj["status"]["lastRun"]["lifeCycleState"] == "INTERNAL_ERROR"
    site.emu.workspace.run_now(job_id, {})
    site.clock.advance(6000)
    obj = site.wait_health("flaky-job", "False", "ConsecutiveFailures")
    assert obj["status"]["runs"]["consecutiveFailures"] == 2
    assert condition(obj, "Ready")["status"] == "True"  # type: ignore[index]  # affectsReady is off


def test_running_job(site: Site) -> None:
    job_id = site.apply_job("busy-job")
    site.emu.workspace.script_runs(job_id, [RunScript(running_ms=-1)])
    site.emu.workspace.run_now(job_id, {})
    site.clock.advance(2000)
    obj = site.wait_health("busy-job", "True", "Running")
    assert obj["status"]["lastRun"]["lifeCycleState"] == "RUNNING" and "endTime" not in obj["status"]["lastRun"]


def test_missed_scheduled_run_is_overdue(site: Site) -> None:
    # Every 10 s; the emulator's clock stands still, so the workspace never fires it.
    settings: dict[str, Any] = {
        "name": "sched-job",
        "schedule": {"quartz_cron_expression": "0/10 * * * * ?", "timezone_id": "UTC"},
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}],
    }
    site.apply_job("sched-job", settings)
    obj = site.wait_health("sched-job", "False", "RunOverdue")
    assert "has not started" in condition(obj, "RunHealthy")["message"]  # type: ignore[index]


def test_ready_follows_run_health_only_when_the_policy_says_so(site: Site) -> None:
    plain = site.apply_job("plain-job")
    joined = site.apply_job("joined-job", healthPolicy={"affectsReady": True})
    for job_id in (plain, joined):
        site.emu.workspace.script_runs(job_id, [Outcome.FAILED])
        site.emu.workspace.run_now(job_id, {})
    site.clock.advance(6000)
    site.wait_health("plain-job", "False", "LastRunFailed")
    site.wait_health("joined-job", "False", "LastRunFailed")

    def ready(obj: dict[str, Any]) -> tuple[str, str] | None:
        cond = condition(obj, "Ready")
        return (cond["status"], cond["reason"]) if cond else None

    site.wait(lambda o: ready(o) == ("False", "LastRunFailed"), "joined-job", "Ready=False LastRunFailed")
    # Several drift checks later the drift driver has not flipped it back (both use gate_ready).
    gets = site.emu.workspace.request_count("jobs/list", "GET")
    site.wait(lambda o: site.emu.workspace.request_count("jobs/list", "GET") >= gets + 6, "joined-job", "drift checks")
    assert ready(site.kubectl.get("databricksjob", "joined-job")) == ("False", "LastRunFailed")
    assert ready(site.kubectl.get("databricksjob", "plain-job")) == ("True", "JobAvailable")

    # A success heals both signals.
    site.emu.workspace.run_now(joined, {})
    site.clock.advance(6000)
    site.wait(lambda o: ready(o) == ("True", "JobAvailable"), "joined-job", "Ready=True again")
