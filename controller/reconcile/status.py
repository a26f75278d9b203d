"""Pure construction of the conditions for each reconcile outcome (messages a person can act on)."""

from __future__ import annotations

from controller.reconcile.conditions import Condition
from controller.reconcile.reasons import ConditionType, Reason

_MAX_PATHS_IN_MESSAGE = 5


def in_sync(job_id: int, *, corrected: list[str] | None = None, recreated: bool = False) -> list[Condition]:
    """Ready/Synced True and Drifted False after a successful create, reset or clean observation."""
    if recreated:
        drift = Condition(
            ConditionType.DRIFTED,
            "False",
            Reason.JOB_RECREATED,
            f"job {job_id} was re-created after it was deleted in the workspace",
        )
    elif corrected:
        drift = Condition(
            ConditionType.DRIFTED,
            "False",
            Reason.DRIFT_CORRECTED,
            f"reset the job to the desired settings; corrected {_paths(corrected)}",
        )
    else:
        drift = Condition(ConditionType.DRIFTED, "False", Reason.NO_DRIFT, "live job matches spec.settings")
    return [
        Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, f"Databricks job {job_id} exists"),
        Condition(ConditionType.SYNCED, "True", Reason.UP_TO_DATE, f"job {job_id} matches spec.settings"),
        drift,
    ]


def drift_reported(job_id: int, paths: list[str]) -> list[Condition]:
    """driftPolicy Report: the job differs from Git and is left as it is."""
    message = f"job {job_id} differs from spec.settings at {_paths(paths)} (driftPolicy Report: left as is)"
    return [
        Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, f"Databricks job {job_id} exists"),
        Condition(ConditionType.SYNCED, "False", Reason.DRIFT_DETECTED, message),
        Condition(ConditionType.DRIFTED, "True", Reason.DRIFT_DETECTED, message),
    ]


def not_converging(job_id: int, paths: list[str], attempts: int) -> list[Condition]:
    """driftPolicy Correct gave up: resets did not make the job match; no further reset for these paths."""
    message = (
        f"job {job_id} still differs from spec.settings at {_paths(paths)} after {attempts} resets; not retrying "
        "until the spec or the drift changes (a field the workspace keeps or rewrites: set it explicitly in "
        "spec.settings, e.g. run_as, or use driftPolicy Report)"
    )
    return [
        Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, f"Databricks job {job_id} exists"),
        Condition(ConditionType.SYNCED, "False", Reason.DRIFT_NOT_CONVERGING, message),
        Condition(ConditionType.DRIFTED, "True", Reason.DRIFT_NOT_CONVERGING, message),
    ]


def drift_resolved(job_id: int) -> list[Condition]:
    """Drift reported earlier is gone without the controller resetting the job."""
    return [
        Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, f"Databricks job {job_id} exists"),
        Condition(ConditionType.SYNCED, "True", Reason.UP_TO_DATE, f"job {job_id} matches spec.settings"),
        Condition(ConditionType.DRIFTED, "False", Reason.DRIFT_RESOLVED, "the live job matches spec.settings again"),
    ]


def failed(reason: Reason, message: str, *, job_exists: bool) -> list[Condition]:
    """Synced False for ``reason``; Ready False too unless a job already exists and keeps running."""
    conds = [Condition(ConditionType.SYNCED, "False", reason, message)]
    if not job_exists:
        conds.append(Condition(ConditionType.READY, "False", reason, message))
    return conds


def _paths(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_PATHS_IN_MESSAGE])
    more = len(paths) - _MAX_PATHS_IN_MESSAGE
    return f"{shown} (+{more} more)" if more > 0 else shown


def paused(job_id: int | None, paths: list[str]) -> list[Condition]:
    """spec.paused: the controller made no change; Synced says what it would have done."""
    if job_id is None:
        message = "spec.paused is true: the job is not created until paused is false"
        return [
            Condition(ConditionType.READY, "False", Reason.PAUSED, message),
            Condition(ConditionType.SYNCED, "False", Reason.PAUSED, message),
        ]
    message = f"spec.paused is true: job {job_id} differs from spec.settings at {_paths(paths)} and is left as is"
    return [
        Condition(ConditionType.READY, "True", Reason.JOB_AVAILABLE, f"Databricks job {job_id} exists"),
        Condition(ConditionType.SYNCED, "False", Reason.PAUSED, message),
        Condition(ConditionType.DRIFTED, "True", Reason.DRIFT_DETECTED, message),
    ]
