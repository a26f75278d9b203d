"""Table tests of the pure reconcile core: comparison, decisions, conditions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controller.api.models import DeletionPolicy, DriftPolicy
from controller.reconcile.compare import OWNER_TAG, drift_paths
from controller.reconcile.conditions import Condition, merge_conditions
from controller.reconcile.decide import Observation, Verb, decide, decide_delete, desired_with_owner
from controller.reconcile.reasons import ConditionType, Reason

pytestmark = pytest.mark.unit

DESIRED: dict[str, Any] = {
    "name": "etl",
    "tasks": [
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}},
        {"task_key": "a", "notebook_task": {"notebook_path": "/a"}},
    ],
}


def live_of(desired: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """What the Jobs API returns for ``desired``: server defaults filled, tasks sorted, owner tag."""
    tasks = sorted(desired.get("tasks", []), key=lambda t: t["task_key"])
    filled = [
        {
            "run_if": "ALL_SUCCESS",
            "timeout_seconds": 0,
            "email_notifications": {},
            **t,
            "notebook_task": {**t["notebook_task"], "source": "WORKSPACE"},
        }
        for t in tasks
    ]
    return {
        "format": "MULTI_TASK",
        "email_notifications": {},
        "webhook_notifications": {},
        "timeout_seconds": 0,
        "max_concurrent_runs": 1,
        "queue": {"enabled": True},
        "tags": {OWNER_TAG: "uid-1"},
        **desired,
        "tasks": filled,
        **overrides,
    }


def test_server_defaults_and_order_are_not_drift() -> None:
    assert drift_paths(DESIRED, live_of(DESIRED)) == []


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"max_concurrent_runs": 4}, "max_concurrent_runs"),
        ({"queue": {"enabled": False}}, "queue.enabled"),
        ({"timeout_seconds": 60}, "timeout_seconds"),
        ({"schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}}, "schedule"),
        ({"tags": {OWNER_TAG: "uid-1", "team": "x"}}, "tags"),
        ({"email_notifications": {"on_failure": ["a@example.com"]}}, "email_notifications.on_failure"),
    ],
)
def test_changed_job_fields_are_named(override: dict[str, Any], path: str) -> None:
    assert drift_paths(DESIRED, live_of(DESIRED, **override)) == [path]


def test_task_field_change_is_named_by_task_key() -> None:
    live = live_of(DESIRED)
    live["tasks"][0]["notebook_task"]["notebook_path"] = "/changed"
    assert drift_paths(DESIRED, live) == ["tasks[task_key=a].notebook_task.notebook_path"]


def test_task_removed_in_workspace_is_drift() -> None:
    live = live_of(DESIRED)
    live["tasks"] = live["tasks"][:1]
    assert drift_paths(DESIRED, live) == ["tasks[task_key=b]"]


def test_git_source_makes_default_source_git() -> None:
    desired = {**DESIRED, "git_source": {"git_url": "https://x", "git_provider": "gitHub", "git_branch": "main"}}
    live = live_of(desired)
    for task in live["tasks"]:
        task["notebook_task"]["source"] = "GIT"
    assert drift_paths(desired, live) == []
    live["tasks"][0]["notebook_task"]["source"] = "WORKSPACE"
    assert drift_paths(desired, live) == ["tasks[task_key=a].notebook_task.source"]


def _plan(
    live: dict[str, Any] | None, status: dict[str, Any], policy: DriftPolicy = DriftPolicy.CORRECT, generation: int = 1
) -> Verb:
    observed = Observation(job_id=7 if live is not None else None, live=live)
    desired = desired_with_owner(DESIRED, "uid-1", OWNER_TAG)
    return decide(desired, observed, status=status, generation=generation, drift_policy=policy).verb


def test_decisions() -> None:
    synced = {"jobId": 7, "observedGeneration": 1}
    assert _plan(None, {}) is Verb.CREATE
    assert _plan(live_of(DESIRED), synced) is Verb.NOTHING
    assert _plan(live_of(DESIRED, max_concurrent_runs=3), synced) is Verb.RESET
    assert _plan(live_of(DESIRED, max_concurrent_runs=3), synced, DriftPolicy.REPORT) is Verb.REPORT_DRIFT
    # A spec change is always applied, whatever the drift policy; one that changes nothing is not.
    assert _plan(live_of(DESIRED, max_concurrent_runs=3), synced, DriftPolicy.REPORT, generation=2) is Verb.RESET
    assert _plan(live_of(DESIRED), synced, generation=2) is Verb.NOTHING
    # The owner marker removed in the workspace is drift too: it is what prevents a second job.
    assert _plan(live_of(DESIRED, tags={}), synced) is Verb.RESET


def test_job_gone_from_workspace_is_recreated() -> None:
    plan = decide(
        DESIRED,
        Observation(None, None),
        status={"jobId": 7, "observedGeneration": 1},
        generation=1,
        drift_policy=DriftPolicy.CORRECT,
    )
    assert plan.verb is Verb.CREATE and plan.recreate


def test_refused_generation_is_held_until_spec_changes() -> None:
    refused = {"conditions": [{"type": "Synced", "status": "False", "reason": "InvalidSpec", "observedGeneration": 3}]}
    assert _plan(None, refused, generation=3) is Verb.HOLD_INVALID
    assert _plan(None, refused, generation=4) is Verb.CREATE


def test_delete_decision() -> None:
    assert decide_delete(7, DeletionPolicy.DELETE)
    assert not decide_delete(7, DeletionPolicy.ORPHAN)
    assert not decide_delete(None, DeletionPolicy.DELETE)


def test_owner_tag_added_without_touching_input() -> None:
    desired = {"name": "x", "tags": {"team": "a"}}
    out = desired_with_owner(desired, "u-1", OWNER_TAG)
    assert out["tags"] == {"team": "a", OWNER_TAG: "u-1"}
    assert desired["tags"] == {"team": "a"}


def test_last_transition_time_changes_only_when_status_flips() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    t1 = t0 + dt.timedelta(minutes=5)
    first = merge_conditions(
        None, [Condition(ConditionType.SYNCED, "True", Reason.UP_TO_DATE, "ok")], generation=1, now=t0
    )
    same = merge_conditions(
        first, [Condition(ConditionType.SYNCED, "True", Reason.UP_TO_DATE, "still ok")], generation=2, now=t1
    )
    flipped = merge_conditions(
        same, [Condition(ConditionType.SYNCED, "False", Reason.API_ERROR, "down")], generation=2, now=t1
    )
    assert first[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["observedGeneration"] == 2 and same[0]["message"] == "still ok"
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"


def test_paused_turns_writes_into_a_hold() -> None:
    synced = {"jobId": 7, "observedGeneration": 1}
    OWNED = desired_with_owner(DESIRED, "uid-1", OWNER_TAG)
    drifted = live_of(DESIRED, max_concurrent_runs=3)
    observed = Observation(job_id=7, live=drifted)
    plan = decide(OWNED, observed, status=synced, generation=1, drift_policy=DriftPolicy.CORRECT, paused=True)
    assert plan.verb is Verb.HOLD_PAUSED and plan.drift == ["max_concurrent_runs"]
    plan = decide(OWNED, Observation(None, None), status={}, generation=1, drift_policy=DriftPolicy.CORRECT,
                  paused=True)  # fmt: skip
    assert plan.verb is Verb.HOLD_PAUSED
    # Observing is not writing: an in-sync job stays NOTHING when paused.
    plan = decide(OWNED, Observation(7, live_of(DESIRED)), status=synced, generation=1,
                  drift_policy=DriftPolicy.CORRECT, paused=True)  # fmt: skip
    assert plan.verb is Verb.NOTHING
