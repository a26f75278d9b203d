"""Run health: pure aggregation of a job's recent runs into ``status.lastRun``, ``status.runs`` and
the ``RunHealthy`` condition, and the one rule by which run health may gate ``Ready``.

Inputs are ``BaseRun`` dicts as ``runs/list`` returns them (Jobs API 2.2, spec §5: times epoch
**ms**, durations **ms**), most recently started first. Outputs use Kubernetes conventions:
RFC 3339 times, durations in **seconds**. "now" is always an argument (epoch ms).

``spec.healthPolicy`` is the API model ``controller.api.models.HealthPolicy`` (re-exported here as
``HealthPolicy``; ``HealthPolicy.from_spec(spec_dict)`` reads it from a raw spec dict, tolerant of malformed
fields): ``consecutiveFailures`` (int >= 1, default 1: failed runs in a row that make the job unhealthy),
``missedScheduleCounts`` (default true: a scheduled run that did not start makes it unhealthy),
``missedScheduleGraceSeconds`` (default none: half the schedule's period, at most 600 s: how late a
scheduled run may start), ``maxRunDurationSeconds`` (default none: an active run older than this is
unhealthy), ``affectsReady`` (default false: whether RunHealthy=False turns Ready False).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from controller.api.models import HealthPolicy as HealthPolicy  # the one model of spec.healthPolicy
from controller.reconcile import quartz
from controller.reconcile.conditions import Condition, find_condition, rfc3339
from controller.reconcile.reasons import ConditionType, Reason

Run = Mapping[str, Any]

#: Runs a job's window keeps (status.runs is computed over at most this many).
DEFAULT_WINDOW = 20
#: Clock skew tolerated between the controller and Databricks when matching a run to a fire time (ms).
SKEW_MS = 2_000
SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
FAILURE_RESULTS = frozenset({"FAILED", "TIMEDOUT", "MAXIMUM_CONCURRENT_RUNS_REACHED", "UPSTREAM_FAILED"})
ACTIVE_STATES = frozenset({"QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"})
#: Reasons of RunHealthy=False; Ready carries one of them only when run health gated it.
UNHEALTHY_REASONS = frozenset(
    {Reason.LAST_RUN_FAILED, Reason.CONSECUTIVE_FAILURES, Reason.RUN_OVERDUE, Reason.RUN_TOO_LONG}
)


def is_active(run: Run) -> bool:
    return str((run.get("state") or {}).get("life_cycle_state", "")) in ACTIVE_STATES


def outcome(run: Run) -> str:
    """``success`` | ``failure`` | ``active`` | ``other`` (cancelled, skipped, excluded: not counted)."""
    state = run.get("state") or {}
    if is_active(run):
        return "active"
    result = str(state.get("result_state", ""))
    if result in SUCCESS_RESULTS:
        return "success"
    if result in FAILURE_RESULTS or state.get("life_cycle_state") == "INTERNAL_ERROR":
        return "failure"
    return "other"


def _time(ms: Any) -> str | None:
    return rfc3339(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)) if isinstance(ms, int) and ms > 0 else None


def last_run(run: Run, now_ms: int) -> dict[str, Any]:
    """``status.lastRun`` of the most recent run: ``{runId, lifeCycleState, resultState?,
    stateMessage, startTime, endTime?, durationSeconds, runPageUrl, trigger}``; the duration of an
    active run is its age so far."""
    state = run.get("state") or {}
    start, end = int(run.get("start_time") or 0), int(run.get("end_time") or 0)
    out: dict[str, Any] = {
        "runId": run.get("run_id"),
        "lifeCycleState": state.get("life_cycle_state"),
        "resultState": state.get("result_state"),
        "stateMessage": str(state.get("state_message") or "")[:500],
        "startTime": _time(start),
        "endTime": _time(end),
        "durationSeconds": round(((end or now_ms) - start) / 1000) if start else None,
        "runPageUrl": run.get("run_page_url"),
        "trigger": run.get("trigger"),
    }
    return {k: v for k, v in out.items() if v is not None}


def consecutive_failures(runs: Sequence[Run]) -> int:
    """Failed runs in a row, most recent first, skipping active and not-counted (cancelled) runs."""
    count = 0
    for run in runs:
        kind = outcome(run)
        if kind == "failure":
            count += 1
        elif kind == "success":
            break
    return count


def window_stats(runs: Sequence[Run], window: int = DEFAULT_WINDOW) -> dict[str, Any]:
    """``status.runs`` over the last ``window`` runs: ``{window, succeeded, failed,
    consecutiveFailures, lastSuccessTime?, successRate?}``; ``successRate`` in [0, 1] over ended
    counted runs."""
    recent = list(runs[:window])
    ok = [r for r in recent if outcome(r) == "success"]
    bad = [r for r in recent if outcome(r) == "failure"]
    out: dict[str, Any] = {
        "window": len(recent),
        "succeeded": len(ok),
        "failed": len(bad),
        "consecutiveFailures": consecutive_failures(recent),
    }
    if ok:
        out["lastSuccessTime"] = _time(max(int(r.get("end_time") or r.get("start_time") or 0) for r in ok))
    if ok or bad:
        out["successRate"] = round(len(ok) / (len(ok) + len(bad)), 3)
    return out


def grace_ms(expression: str, timezone_id: str, now_ms: int, grace_s: int | None) -> int:
    """How late (ms) a scheduled run may start: ``grace_s`` if set, else half the period between
    the last two fire times, at most 600 s (a minutely job is late long before a nightly one)."""
    if grace_s is not None:
        return grace_s * 1000
    last = quartz.previous_fire(expression, timezone_id, now_ms)
    before = quartz.previous_fire(expression, timezone_id, last - 1) if last is not None else None
    period = (last - before) if last is not None and before is not None else 1_200_000
    return min(600_000, period // 2)


def missed_fire(
    schedule: Mapping[str, Any] | None, runs: Sequence[Run], now_ms: int, since_ms: int, grace_s: int | None
) -> int | None:
    """The fire time (epoch ms) of a scheduled run that should have started by ``now - grace``
    but did not, or None. Fire times before ``since_ms`` (when we started watching) do not count;
    a paused, absent or unsupported schedule never misses."""
    if not schedule or schedule.get("pause_status") == "PAUSED":
        return None
    expr, tz = str(schedule.get("quartz_cron_expression", "")), str(schedule.get("timezone_id") or "UTC")
    try:
        fire = quartz.previous_fire(expr, tz, now_ms - grace_ms(expr, tz, now_ms, grace_s))
    except (ValueError, KeyError):
        return None
    if fire is None or fire < since_ms:
        return None
    started = any(int(r.get("start_time") or 0) >= fire - SKEW_MS for r in runs)
    return None if started else fire


def run_healthy(
    runs: Sequence[Run],
    policy: HealthPolicy,
    *,
    now_ms: int,
    schedule: Mapping[str, Any] | None = None,
    since_ms: int = 0,
) -> Condition:
    """The ``RunHealthy`` condition; the first matching check wins:

    active run older than ``maxRunDurationSeconds`` -> False RunTooLong; failures in a row >=
    threshold -> False ConsecutiveFailures (LastRunFailed when the threshold is 1); missed
    schedule -> False RunOverdue; a run active -> True Running; last counted run succeeded ->
    True LastRunSucceeded; failures below the threshold -> True LastRunFailed (tolerated); no
    runs -> Unknown NoRuns.
    """
    ctype = ConditionType.RUN_HEALTHY
    active = [r for r in runs if is_active(r)]
    limit = policy.max_run_duration_seconds
    for run in active:
        age_s = (now_ms - int(run.get("start_time") or now_ms)) / 1000
        if limit is not None and age_s > limit:
            msg = f"run {run.get('run_id')} has been active for {age_s:.0f}s (maxRunDurationSeconds {limit})"
            return Condition(ctype, "False", Reason.RUN_TOO_LONG, msg)
    failures = consecutive_failures(runs)
    threshold = policy.consecutive_failures
    if failures >= threshold:
        last_failed = next(r for r in runs if outcome(r) == "failure")
        detail = str((last_failed.get("state") or {}).get("state_message") or "")[:300]
        if failures == 1:
            return Condition(
                ctype, "False", Reason.LAST_RUN_FAILED, f"run {last_failed.get('run_id')} failed: {detail}"
            )
        msg = f"{failures} runs failed in a row (threshold {threshold}); last: {detail}"
        return Condition(ctype, "False", Reason.CONSECUTIVE_FAILURES, msg)
    if policy.missed_schedule_counts:
        fire = missed_fire(schedule, runs, now_ms, since_ms, policy.missed_schedule_grace_seconds)
        if fire is not None:
            msg = f"the run scheduled for {_time(fire)} has not started"
            return Condition(ctype, "False", Reason.RUN_OVERDUE, msg)
    if active:
        return Condition(ctype, "True", Reason.RUNNING, f"run {active[0].get('run_id')} is {_life(active[0])}")
    counted = [r for r in runs if outcome(r) in ("success", "failure")]
    if counted and outcome(counted[0]) == "success":
        return Condition(ctype, "True", Reason.LAST_RUN_SUCCEEDED, f"run {counted[0].get('run_id')} succeeded")
    if counted:
        msg = f"{failures} run(s) failed in a row, below the threshold of {threshold}"
        return Condition(ctype, "True", Reason.LAST_RUN_FAILED, msg)
    return Condition(ctype, "Unknown", Reason.NO_RUNS, "the job has no runs yet")


def _life(run: Run) -> str:
    return str((run.get("state") or {}).get("life_cycle_state", "active")).lower()


def gate_ready(
    config_ready: Condition, run_health: Mapping[str, Any] | Condition | None, policy: HealthPolicy
) -> Condition:
    """The ``Ready`` condition both drivers write: the config side's Ready, turned False only when
    ``affectsReady`` is on, config Ready is True and RunHealthy is False (Ready then carries
    RunHealthy's reason). Never turns a False Ready True."""
    if not policy.affects_ready or config_ready.status != "True" or run_health is None:
        return config_ready
    if isinstance(run_health, Condition):
        status, reason, message = run_health.status, run_health.reason.value, run_health.message
    else:
        status, reason, message = (str(run_health.get(k, "")) for k in ("status", "reason", "message"))
    if status != "False" or reason not in UNHEALTHY_REASONS:
        return config_ready
    return Condition(ConditionType.READY, "False", Reason(reason), f"run health (healthPolicy.affectsReady): {message}")


def config_ready(conditions: list[dict[str, Any]] | None) -> Condition | None:
    """The config side's Ready as the drift driver last decided it, recovered from status: a Ready
    that carries a run-health reason was gated, so its config side was True."""
    ready = find_condition(conditions, ConditionType.READY)
    if ready is None:
        return None
    reason = str(ready.get("reason", ""))
    if reason in UNHEALTHY_REASONS:
        return Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, "Databricks job exists")
    try:
        return Condition(ConditionType.READY, str(ready.get("status")), Reason(reason), str(ready.get("message", "")))
    except ValueError:
        return None


def gate_conditions(conds: list[Condition], status: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Condition]:
    """``conds`` (the drift driver's) with their Ready passed through :func:`gate_ready` against
    the RunHealthy already in ``status``. The drift driver's single hook."""
    policy = HealthPolicy.from_spec(spec)
    health = find_condition(status.get("conditions"), ConditionType.RUN_HEALTHY)
    return [gate_ready(c, health, policy) if c.type is ConditionType.READY else c for c in conds]


def replacing(old: Any, new: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON merge-patch value (RFC 7386) that turns the object ``old`` into exactly ``new``.

    Keys of ``old`` that ``new`` lacks are set to None (deleted by the merge); ``new`` None deletes
    the whole object. Status is merge-patched, so without this a RUNNING ``lastRun`` would keep the
    previous run's ``resultState`` and ``endTime``.
    """
    if new is None:
        return None
    stale = {key: None for key in (old or {}) if key not in new} if isinstance(old, Mapping) else {}
    return {**stale, **new}
