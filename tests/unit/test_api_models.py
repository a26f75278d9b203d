"""The API models read what users write and what the controller writes, and give it back unchanged.

Aspects: representative ``spec`` dicts of both kinds round-trip (camelCase in, same dict out); the status the
controller's own producers write (``drift_status``, ``last_run``, ``window_stats``, the run-now record, a
workspace observer's status) round-trips, unknown keys of the open objects included; defaults live in the
models (health policy, request budget); the one ``HealthPolicy`` (``reconcile.health`` uses the API model) and
its tolerant ``from_spec``; values the schema refuses are refused by the models too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from controller.api import models
from controller.api.models import (
    DatabricksJobSpec,
    DatabricksJobStatus,
    DatabricksWorkspaceSpec,
    DatabricksWorkspaceStatus,
    DeletionPolicy,
    DriftPolicy,
    HealthPolicy,
)
from controller.api.workspace import REACHABLE, WorkspaceReason
from controller.reconcile import health
from controller.reconcile.drift import compare
from controller.reconcile.report import drift_status

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW_MS = 1_767_225_600_000
T = "2026-01-01T00:00:00Z"


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


JOB_SPEC: dict[str, Any] = {
    "workspaceRef": {"name": "prod"},
    "driftPolicy": "Report",
    "deletionPolicy": "Orphan",
    "paused": True,
    "healthPolicy": {
        "consecutiveFailures": 3,
        "missedScheduleCounts": False,
        "missedScheduleGraceSeconds": 120,
        "maxRunDurationSeconds": 3600,
        "affectsReady": True,
    },
    "adopt": {"jobId": 42},
    "settings": {"name": "nightly", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}]},
}


def test_job_spec_round_trips() -> None:
    spec = DatabricksJobSpec.model_validate(JOB_SPEC)
    assert (spec.drift_policy, spec.deletion_policy, spec.adopt and spec.adopt.job_id) == (
        DriftPolicy.REPORT,
        DeletionPolicy.ORPHAN,
        42,
    )
    assert _dump(spec) == JOB_SPEC


def test_job_spec_defaults_are_in_the_model() -> None:
    spec = DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": {"name": "j"}})
    assert spec.drift_policy is DriftPolicy.CORRECT and spec.deletion_policy is DeletionPolicy.DELETE
    assert spec.health_policy == HealthPolicy() and not spec.paused and spec.adopt is None
    assert HealthPolicy().consecutive_failures == 1 and HealthPolicy().missed_schedule_counts


@pytest.mark.parametrize(
    "bad",
    [
        {"workspaceRef": {"name": ""}},
        {"workspaceRef": {"name": "w" * 254}},
        {"workspaceRef": {"name": "w"}, "driftPolicy": "Ignore"},
        {"workspaceRef": {"name": "w"}, "healthPolicy": {"consecutiveFailures": 1001}},
        {"workspaceRef": {"name": "w"}, "adopt": {"jobId": 0}},
    ],
)
def test_job_spec_refuses_what_the_crd_refuses(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DatabricksJobSpec.model_validate(bad)


def _job_status() -> dict[str, Any]:
    runs = [
        {"run_id": 9, "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""},
         "start_time": NOW_MS - 120_000, "end_time": NOW_MS - 60_000, "trigger": "PERIODIC",
         "run_page_url": "https://h/#job/1/run/9"},
    ]  # fmt: skip
    report = compare({"name": "a", "timeout_seconds": 60}, {"name": "b"})
    entry = {"value": "1", "runId": 77, "triggeredTime": T}
    return {
        "observedGeneration": 3,
        "jobId": 1,
        "jobUrl": "https://h/#job/1",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": T,
                "reason": "JobAvailable",
                "message": "Databricks job exists",
            },
        ],
        "drift": drift_status(report, {"git_source.git_snapshot": {"used_commit": "abc"}}),
        "lastRun": health.last_run(runs[0], NOW_MS),
        "runs": health.window_stats(runs),
        "runNow": {**entry, "parameters": {"p": "v"}, "history": [entry]},
    }


def test_job_status_as_the_controller_writes_it_round_trips() -> None:
    raw = _job_status()
    status = DatabricksJobStatus.model_validate(raw)
    assert status.drift is not None and status.drift.detected and status.drift.count == 2
    assert status.last_run is not None and status.last_run.start_time == NOW - dt.timedelta(minutes=2)
    assert status.runs is not None and status.runs.success_rate == 1.0
    assert status.run_now is not None and status.run_now.history[0].run_id == 77
    assert _dump(status) == raw


def test_open_status_objects_keep_unknown_keys() -> None:
    raw = {"drift": {"detected": False, "count": 0, "futureField": {"x": 1}}, "runNow": {"value": "2", "note": "n"}}
    status = DatabricksJobStatus.model_validate(raw)
    assert status.drift is not None and status.drift.model_extra == {"futureField": {"x": 1}}
    assert _dump(status) == raw


WORKSPACE_SPEC: dict[str, Any] = {
    "host": "https://dbc-1234.cloud.databricks.com",
    "tokenSecretRef": {"name": "databricks-token", "key": "pat"},
    "requestBudget": {"requestsPerSecond": 2.5, "burst": 5},
}


def test_workspace_spec_round_trips_and_defaults_its_budget() -> None:
    spec = DatabricksWorkspaceSpec.model_validate(WORKSPACE_SPEC)
    assert (spec.request_budget.requests_per_second, spec.request_budget.burst) == (2.5, 5)
    assert _dump(spec) == WORKSPACE_SPEC
    bare = DatabricksWorkspaceSpec.model_validate({"host": "https://h", "tokenSecretRef": {"name": "s"}})
    assert (bare.token_secret_ref.key, bare.request_budget.requests_per_second, bare.request_budget.burst) == (
        "token",
        10.0,
        20,
    )


@pytest.mark.parametrize("budget", [{"requestsPerSecond": 0}, {"requestsPerSecond": -1}, {"burst": 0}])
def test_workspace_budget_refuses_an_empty_bucket(budget: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DatabricksWorkspaceSpec.model_validate({**WORKSPACE_SPEC, "requestBudget": budget})


def test_workspace_status_round_trips() -> None:
    raw = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": REACHABLE,
                "status": "False",
                "observedGeneration": 1,
                "lastTransitionTime": T,
                "reason": WorkspaceReason.RATE_LIMITED.value,
                "message": "429 on jobs/list",
            },
        ],
        "jobs": {"listed": 1200, "owned": 1000, "resources": 1001},
        "lastCycle": {"time": T, "durationSeconds": 1.5, "apiCalls": 13},
        "throttled": {"count": 4, "windowSeconds": 600},
    }
    status = DatabricksWorkspaceStatus.model_validate(raw)
    assert status.last_cycle is not None and status.last_cycle.api_calls == 13
    assert _dump(status) == raw


def test_one_health_policy() -> None:
    assert health.HealthPolicy is models.HealthPolicy


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, HealthPolicy()),
        ({}, HealthPolicy()),
        ({"healthPolicy": None}, HealthPolicy()),
        ({"healthPolicy": "often"}, HealthPolicy()),
        ({"healthPolicy": {"consecutiveFailures": 0, "affectsReady": "yes"}}, HealthPolicy()),
        ({"healthPolicy": {"consecutiveFailures": True, "maxRunDurationSeconds": "60"}}, HealthPolicy()),
        (
            {"healthPolicy": {"consecutiveFailures": 3, "affectsReady": True, "missedScheduleGraceSeconds": -1}},
            HealthPolicy.model_validate({"consecutiveFailures": 3, "affectsReady": True}),
        ),
        (
            {"healthPolicy": {"missedScheduleCounts": False, "missedScheduleGraceSeconds": 0, "unknown": 1}},
            HealthPolicy.model_validate({"missedScheduleCounts": False, "missedScheduleGraceSeconds": 0}),
        ),
    ],
)
def test_health_policy_from_spec_is_tolerant(spec: dict[str, Any] | None, expected: HealthPolicy) -> None:
    assert HealthPolicy.from_spec(spec) == expected


def test_health_policy_from_a_parsed_spec() -> None:
    spec = DatabricksJobSpec.model_validate(JOB_SPEC)
    assert HealthPolicy.from_spec(spec.model_dump(by_alias=True)) == spec.health_policy
