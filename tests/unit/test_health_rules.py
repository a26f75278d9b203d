"""Run health, pure (controller/reconcile/health.py): conditions, status shapes, the Ready gate."""

from __future__ import annotations

from typing import Any

import pytest

from controller.reconcile import health
from controller.reconcile.conditions import Condition
from controller.reconcile.reasons import ConditionType, Reason

pytestmark = pytest.mark.unit

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000


def run(rid: int, result: str | None, start: int, end: int = 0, life: str = "TERMINATED") -> dict[str, Any]:
    state: dict[str, Any] = {"life_cycle_state": life if result or life != "TERMINATED" else "RUNNING"}
    if result:
        state["result_state"] = result
        state["state_message"] = "boom" if result == "FAILED" else ""
    return {"run_id": rid, "job_id": 1, "state": state, "start_time": start, "end_time": end, "trigger": "ONE_TIME",
            "run_page_url": f"http://x/#job/1/run/{rid}"}  # fmt: skip


def ok(rid: int, start: int) -> dict[str, Any]:
    return run(rid, "SUCCESS", start, start + MIN)


def bad(rid: int, start: int) -> dict[str, Any]:
    return run(rid, "FAILED", start, start + MIN, life="INTERNAL_ERROR")


P = health.HealthPolicy


@pytest.mark.parametrize(
    ("runs", "policy", "status", "reason"),
    [
        ([], P(), "Unknown", Reason.NO_RUNS),
        ([ok(2, NOW - 5 * MIN)], P(), "True", Reason.LAST_RUN_SUCCEEDED),
        ([run(3, None, NOW - MIN, life="RUNNING"), ok(2, NOW - 9 * MIN)], P(), "True", Reason.RUNNING),
        ([bad(3, NOW - 2 * MIN), ok(2, NOW - 9 * MIN)], P(), "False", Reason.LAST_RUN_FAILED),
        ([bad(3, NOW - 2 * MIN), ok(2, NOW - 9 * MIN)], P(consecutive_failures=2), "True", Reason.LAST_RUN_FAILED),
        ([bad(4, NOW - MIN), bad(3, NOW - 2 * MIN), ok(2, NOW - 9 * MIN)], P(consecutive_failures=2), "False",
         Reason.CONSECUTIVE_FAILURES),
        ([run(5, "CANCELED", NOW - MIN, NOW), bad(4, NOW - 2 * MIN), bad(3, NOW - 3 * MIN)], P(consecutive_failures=2),
         "False", Reason.CONSECUTIVE_FAILURES),  # a cancelled run neither breaks nor extends the chain
        ([run(3, None, NOW - 90 * MIN, life="RUNNING")], P(max_run_duration_seconds=3600), "False",
         Reason.RUN_TOO_LONG),
    ],
)  # fmt: skip
def test_run_healthy_chain(
    runs: list[dict[str, Any]], policy: health.HealthPolicy, status: str, reason: Reason
) -> None:
    cond = health.run_healthy(runs, policy, now_ms=NOW)
    assert (cond.type, cond.status, cond.reason) == (ConditionType.RUN_HEALTHY, status, reason)


def test_missed_schedule_is_overdue_only_after_grace_and_since_creation() -> None:
    every_10_min = {"quartz_cron_expression": "0 0/10 * * * ?", "timezone_id": "UTC"}
    last = [ok(1, NOW - 10 * MIN)]  # the 23:50 run happened; the 00:00 one has not (yet)
    on_time = health.run_healthy(last, P(), now_ms=NOW + 4 * MIN, schedule=every_10_min)
    assert on_time.reason is Reason.LAST_RUN_SUCCEEDED  # default grace: half the period (5 min)
    late = health.run_healthy(last, P(), now_ms=NOW + 6 * MIN, schedule=every_10_min)
    assert (late.status, late.reason) == ("False", Reason.RUN_OVERDUE)
    assert "2026-01-01T00:00:00Z" in late.message
    young = health.run_healthy([], P(), now_ms=NOW + 6 * MIN, schedule=every_10_min, since_ms=NOW + MIN)
    assert young.reason is Reason.NO_RUNS  # the missed fire predates the resource
    paused = {**every_10_min, "pause_status": "PAUSED"}
    assert health.run_healthy(last, P(), now_ms=NOW + 6 * MIN, schedule=paused).status == "True"
    assert health.run_healthy(last, P(missed_schedule_counts=False), now_ms=NOW + 6 * MIN, schedule=every_10_min)


def test_status_shapes() -> None:
    runs = [bad(4, NOW - MIN), ok(3, NOW - 3 * MIN), run(2, "CANCELED", NOW - 5 * MIN, NOW - 4 * MIN)]
    assert health.last_run(runs[0], NOW) == {
        "runId": 4, "lifeCycleState": "INTERNAL_ERROR", "resultState": "FAILED", "stateMessage": "boom",
        "startTime": "2025-12-31T23:59:00Z", "endTime": "2026-01-01T00:00:00Z", "durationSeconds": 60,
        "runPageUrl": "http://x/#job/1/run/4", "trigger": "ONE_TIME",
    }  # fmt: skip
    assert health.window_stats(runs) == {
        "window": 3, "succeeded": 1, "failed": 1, "consecutiveFailures": 1,
        "lastSuccessTime": "2025-12-31T23:58:00Z", "successRate": 0.5,
    }  # fmt: skip


def test_policy_defaults_and_malformed_values() -> None:
    assert health.HealthPolicy.from_spec({}) == health.HealthPolicy()
    policy = health.HealthPolicy.from_spec({"healthPolicy": {"consecutiveFailures": 0, "affectsReady": "yes"}})
    assert policy == health.HealthPolicy()
    assert health.HealthPolicy.from_spec({"healthPolicy": {"consecutiveFailures": 3, "affectsReady": True}}) == P(
        consecutive_failures=3, affects_ready=True
    )


READY = Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, "Databricks job 1 exists")
UNHEALTHY = Condition(ConditionType.RUN_HEALTHY, "False", Reason.CONSECUTIVE_FAILURES, "3 runs failed")


def test_ready_follows_run_health_only_when_the_policy_says_so() -> None:
    assert health.gate_ready(READY, UNHEALTHY, P()) == READY
    gated = health.gate_ready(READY, UNHEALTHY, P(affects_ready=True))
    assert (gated.status, gated.reason) == ("False", Reason.CONSECUTIVE_FAILURES)
    not_ready = Condition(ConditionType.READY, "False", Reason.API_ERROR, "down")
    assert health.gate_ready(not_ready, UNHEALTHY, P(affects_ready=True)) == not_ready
    healthy = Condition(ConditionType.RUN_HEALTHY, "True", Reason.RUNNING, "r")
    assert health.gate_ready(READY, healthy, P(affects_ready=True)) == READY


def test_both_drivers_agree_through_status() -> None:
    # The health side recovers the config side's Ready from a gated Ready ...
    gated = {"type": "Ready", "status": "False", "reason": "ConsecutiveFailures", "message": "m"}
    recovered = health.config_ready([gated])
    assert recovered is not None and recovered.status == "True"
    # ... and the drift side gates its own Ready against RunHealthy in status.
    status = {"conditions": [{"type": "RunHealthy", "status": "False", "reason": "RunOverdue", "message": "late"}]}
    out = health.gate_conditions([READY], status, {"healthPolicy": {"affectsReady": True}})
    assert (out[0].status, out[0].reason) == ("False", Reason.RUN_OVERDUE)
    assert health.gate_conditions([READY], status, {}) == [READY]


def test_replacing_nulls_what_the_new_object_lacks() -> None:
    finished = {"runId": 1, "lifeCycleState": "TERMINATED", "resultState": "FAILED", "endTime": "t1"}
    running = {"runId": 2, "lifeCycleState": "RUNNING"}
    assert health.replacing(finished, running) == {"runId": 2, "lifeCycleState": "RUNNING", "resultState": None,
                                                   "endTime": None}  # fmt: skip
    assert health.replacing(None, running) == running
    assert health.replacing(finished, None) is None
