"""The one pure function of a reconcile (``controller.reconcile.outcome``): from desired spec, observation, run
health and old status to the step and the whole new status — every condition, Ready gated by run health in
one place — and the Events, table-tested without I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controller.api.models import DatabricksJobSpec
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.conditions import find_condition
from controller.reconcile.decide import Observation
from controller.reconcile.drift import DriftReport
from controller.reconcile.outcome import Facts, Problem, Result, Step, plan, settle
from controller.reconcile.reasons import ConditionType, EventReason, Reason

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
OWNER = "team_job-0123456789abcdef"
SETTINGS = {"name": "job", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}


def spec(**extra: Any) -> DatabricksJobSpec:
    return DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": SETTINGS, **extra})


def live(**changes: Any) -> dict[str, Any]:
    """The job as the workspace returns it after a write of SETTINGS (server defaults filled)."""
    tasks = [{**SETTINGS["tasks"][0], "notebook_task": {"notebook_path": "/n", "source": "WORKSPACE"}}]  # type: ignore[index]
    return {
        **SETTINGS,
        "tasks": tasks,
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
        "queue": {"enabled": True},
        "email_notifications": {},
        "webhook_notifications": {},
        "run_as": {"user_name": "me@example.com"},
        "tags": {OWNER_TAG: OWNER},
        **changes,
    }


def facts(status: dict[str, Any] | None = None, **kw: Any) -> Facts:
    base: dict[str, Any] = {
        "spec": spec(),
        "generation": 1,
        "owner": OWNER,
        "status": status or {},
        "host": "https://h",
        "now": NOW,
    }
    return Facts(**{**base, **kw})


def synced_status(job_id: int = 7, generation: int = 1, **extra: Any) -> dict[str, Any]:
    new = settle(
        facts(observation=Observation(None, None), generation=generation),
        plan(facts(observation=Observation(None, None), generation=generation)),
        Result(job_id=job_id, after=DriftReport()),
    )
    assert new is not None
    return {**new.status, **extra}


def cond(status: dict[str, Any], ctype: ConditionType) -> dict[str, Any]:
    found = find_condition(status["conditions"], ctype)
    assert found is not None, status
    return found


def test_no_job_plans_a_create_with_the_owner_tag() -> None:
    decision = plan(facts(observation=Observation(None, None)))
    assert decision.step is Step.CREATE
    assert decision.body["tags"] == {OWNER_TAG: OWNER}


def test_after_a_create_status_is_whole_and_events_say_it() -> None:
    f = facts(observation=Observation(None, None))
    new = settle(f, plan(f), Result(job_id=7, after=DriftReport()))
    assert new is not None
    assert new.status["jobId"] == 7 and new.status["jobUrl"] == "https://h/jobs/7"
    assert new.status["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in new.status["conditions"]} == {
        "Ready": "True",
        "Synced": "True",
        "Drifted": "False",
    }
    assert "lastCheckedTime" not in new.status["drift"]
    assert [e.reason for e in new.events] == [EventReason.JOB_CREATED]


def test_in_sync_changes_nothing_a_user_sees() -> None:
    status = synced_status()
    f = facts(status, observation=Observation(7, live(), owner="me@example.com"))
    decision = plan(f)
    assert decision.step is Step.NONE
    new = settle(f, decision, Result())
    assert new is not None and new.status == status and new.events == []


def test_drift_under_report_is_reported_once() -> None:
    status = synced_status(drift=None)
    status.pop("drift")
    pol = facts(status, spec=spec(driftPolicy="Report"), observation=Observation(7, live(max_concurrent_runs=5)))
    decision = plan(pol)
    assert decision.step is Step.NONE
    first = settle(pol, decision, Result())
    assert first is not None
    assert cond(first.status, ConditionType.SYNCED)["reason"] == "DriftDetected"
    assert [e.reason for e in first.events] == [EventReason.DRIFT_DETECTED]
    again = facts(
        first.status, spec=spec(driftPolicy="Report"), observation=Observation(7, live(max_concurrent_runs=5))
    )
    second = settle(again, plan(again), Result())
    assert second is not None and second.events == [] and second.status == first.status


def test_drift_under_correct_resets_and_says_corrected() -> None:
    f = facts(synced_status(), observation=Observation(7, live(max_concurrent_runs=5)))
    decision = plan(f)
    assert decision.step is Step.RESET
    new = settle(f, decision, Result(job_id=7, after=DriftReport(), attempts=1))
    assert new is not None
    assert cond(new.status, ConditionType.DRIFTED)["reason"] == "DriftCorrected"
    assert [e.reason for e in new.events] == [EventReason.DRIFT_DETECTED, EventReason.DRIFT_CORRECTED]


def test_a_job_gone_from_the_workspace_is_recreated() -> None:
    f = facts(synced_status(), observation=Observation(None, None))
    decision = plan(f)
    assert decision.step is Step.CREATE
    new = settle(f, decision, Result(job_id=8, after=DriftReport()))
    assert new is not None and new.status["jobId"] == 8
    assert cond(new.status, ConditionType.DRIFTED)["reason"] == "JobRecreated"
    assert [e.reason for e in new.events] == [EventReason.JOB_RECREATED]


@pytest.mark.parametrize(
    ("reason", "ready"),
    [(Reason.API_ERROR, "True"), (Reason.RATE_LIMITED, "True"), (Reason.UNAUTHORIZED, "True")],
)
def test_an_outage_keeps_an_existing_job_ready(reason: Reason, ready: str) -> None:
    f = facts(synced_status(), problem=Problem(reason, "down"))
    new = settle(f, plan(f), Result())
    assert new is not None
    assert cond(new.status, ConditionType.SYNCED)["reason"] == reason.value
    assert cond(new.status, ConditionType.READY)["status"] == ready
    assert [e.reason.value for e in new.events] == [reason.value]
    # The same problem again: no second Event.
    again = settle(facts(new.status, problem=Problem(reason, "down")), plan(f), Result())
    assert again is not None and again.events == []


def test_before_a_job_exists_a_problem_makes_ready_false() -> None:
    f = facts(problem=Problem(Reason.WORKSPACE_NOT_FOUND, "no workspace"))
    new = settle(f, plan(f), Result())
    assert new is not None
    assert cond(new.status, ConditionType.READY)["reason"] == "WorkspaceNotFound"
    assert "observedGeneration" not in new.status  # still waiting: Argo CD shows Progressing


def test_a_refused_generation_is_not_retried_or_rewritten() -> None:
    f = facts(problem=Problem(Reason.INVALID_SPEC, "bad", retry=False))
    first = settle(f, plan(f), Result())
    assert first is not None and first.status["observedGeneration"] == 1
    again = facts(first.status, observation=Observation(None, None))
    decision = plan(again)
    assert decision.step is Step.NONE and decision.unchanged
    assert settle(again, decision, Result()) is None


def test_run_health_gates_ready_only_under_affects_ready() -> None:
    state = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"}
    failed = [{"run_id": 1, "job_id": 7, "start_time": NOW_MS - 60_000, "end_time": NOW_MS - 1_000, "state": state}]
    for affects, ready in ((False, "True"), (True, "False")):
        f = facts(
            synced_status(),
            spec=spec(healthPolicy={"affectsReady": affects}),
            observation=Observation(7, live(), owner="me@example.com"),
            runs=failed,
        )
        new = settle(f, plan(f), Result())
        assert new is not None
        assert cond(new.status, ConditionType.RUN_HEALTHY)["reason"] == "LastRunFailed"
        assert cond(new.status, ConditionType.READY)["status"] == ready
        assert new.status["lastRun"]["resultState"] == "FAILED"
        assert EventReason.LAST_RUN_FAILED in [e.reason for e in new.events]


def test_adopting_a_job_owned_by_another_resource_is_refused() -> None:
    taken = live(tags={OWNER_TAG: "someone-else"})
    f = facts(spec=spec(adopt={"jobId": 7}), observation=Observation(7, taken))
    decision = plan(f)
    assert decision.step is Step.NONE and decision.problem is not None
    assert decision.problem.reason is Reason.ADOPT_TARGET_OWNED


def test_every_problem_reason_is_an_event_reason() -> None:
    for reason in (Reason.INVALID_SPEC, Reason.API_ERROR, Reason.RATE_LIMITED, Reason.INTERNAL_ERROR,
                   Reason.UNAUTHORIZED, Reason.WORKSPACE_NOT_FOUND, Reason.SECRET_NOT_FOUND, Reason.PAUSED,
                   Reason.ADOPT_TARGET_MISSING, Reason.ADOPT_TARGET_OWNED):  # fmt: skip
        assert EventReason(reason.value)


def test_a_workspace_re_created_with_another_host_creates_nothing() -> None:
    """Found as a new user would: the DatabricksWorkspace deleted and applied again with another host (its host is
    immutable, the object is not) re-created every job there and left the originals running."""
    old = synced_status(job_id=7)
    assert old["jobUrl"] == "https://h/jobs/7"
    elsewhere = facts(old, host="https://other", observation=Observation(None, None))
    decision = plan(elsewhere)
    assert decision.step is Step.NONE and decision.problem is not None
    assert decision.problem.reason is Reason.WORKSPACE_CHANGED and not decision.problem.retry
    assert "https://h" in decision.problem.message and "https://other" in decision.problem.message
    new = settle(elsewhere, decision, Result())
    assert new is not None and cond(new.status, ConditionType.SYNCED)["reason"] == "WorkspaceChanged"
    assert new.status["jobId"] == 7, "the job it knows is kept in status"
    same = plan(facts(old, host="HTTPS://H/", observation=Observation(7, live())))
    assert same.problem is None, "the same host, spelled otherwise, is the same workspace"
