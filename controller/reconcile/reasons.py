"""The closed vocabulary of condition types and reasons (CamelCase, stable: users alert on them).

Conditions follow the ``metav1.Condition`` convention: ``type``, ``status`` ("True" | "False" |
"Unknown"), ``reason`` (CamelCase), ``message`` (for a person), ``observedGeneration`` and
``lastTransitionTime`` (RFC 3339, changed only when ``status`` flips).
"""

from __future__ import annotations

from enum import StrEnum


class ConditionType(StrEnum):
    """Condition types this controller sets."""

    READY = "Ready"
    SYNCED = "Synced"
    DRIFTED = "Drifted"
    RUN_HEALTHY = "RunHealthy"
    # DatabricksWorkspace: whether the observer's last cycle could read the workspace.
    REACHABLE = "Reachable"
    # The mass deletion / re-creation guard (a DatabricksJob whose deletion is held; a workspace holding some).
    DELETION_HELD = "DeletionHeld"
    JOBS_VANISHED = "JobsVanished"


class Reason(StrEnum):
    """Every reason any condition can carry."""

    # Synced / Ready, positive
    UP_TO_DATE = "UpToDate"
    JOB_AVAILABLE = "JobAvailable"
    # Synced / Ready, negative
    PENDING = "Pending"
    INVALID_SPEC = "InvalidSpec"
    API_ERROR = "ApiError"
    UNAUTHORIZED = "Unauthorized"
    WORKSPACE_NOT_FOUND = "WorkspaceNotFound"
    SECRET_NOT_FOUND = "SecretNotFound"
    DRIFT_DETECTED = "DriftDetected"
    # Drifted
    NO_DRIFT = "NoDrift"
    DRIFT_CORRECTED = "DriftCorrected"
    JOB_RECREATED = "JobRecreated"
    # Drift engine (issue 4): a correction that did not converge (Synced False, Drifted True);
    # drift that went away without the controller resetting the job (Drifted False).
    DRIFT_NOT_CONVERGING = "DriftNotConverging"
    DRIFT_RESOLVED = "DriftResolved"
    # RunHealthy (issue 6): what the job's recent runs say (controller/reconcile/health.py).
    LAST_RUN_SUCCEEDED = "LastRunSucceeded"
    RUNNING = "Running"
    LAST_RUN_FAILED = "LastRunFailed"
    CONSECUTIVE_FAILURES = "ConsecutiveFailures"
    RUN_OVERDUE = "RunOverdue"
    RUN_TOO_LONG = "RunTooLong"
    NO_RUNS = "NoRuns"
    # spec.paused: the controller observes but changes nothing (Synced False while it differs).
    PAUSED = "Paused"
    # spec.adopt names a job that the workspace does not have (by id, or no job has spec.adopt.name).
    ADOPT_TARGET_MISSING = "AdoptTargetMissing"
    # spec.adopt names a job another DatabricksJob owns (its dbjobs-owner tag).
    ADOPT_TARGET_OWNED = "AdoptTargetOwned"
    # spec.adopt.name is the name of several jobs of the workspace: which one is not guessed.
    ADOPT_TARGET_AMBIGUOUS = "AdoptTargetAmbiguous"
    # The request budget: 429s beyond the SDK's retries, or the hourly job-creation limit (Synced False).
    RATE_LIMITED = "RateLimited"
    # An unexpected exception in the controller itself: a bug, reported as such and retried with backoff.
    INTERNAL_ERROR = "InternalError"
    # References to other DatabricksJobs (controller/reconcile/references.py), Synced False (Ready too before a
    # job exists): the referenced one has no job id yet / no DatabricksJob of that name exists in the namespace.
    REFERENCE_NOT_READY = "ReferenceNotReady"
    REFERENCE_NOT_FOUND = "ReferenceNotFound"
    # The workspace's host is not on the platform's allow-list, or its Secret did not opt in: nothing is sent.
    HOST_NOT_ALLOWED = "HostNotAllowed"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    # auth.workloadIdentity names a service principal the platform did not allow in this namespace (issue 11).
    IDENTITY_NOT_ALLOWED = "IdentityNotAllowed"
    # Tenancy (issue 11 item 5, controller/reconcile/tenancy.py), terminal until the spec, the workspace or the
    # namespace's labels change; nothing is sent: a ClusterDatabricksWorkspace whose namespaceSelector does not admit
    # the job's namespace / settings the workspace's spec.policy refuses (every violated field named).
    WORKSPACE_NOT_ALLOWED = "WorkspaceNotAllowed"
    POLICY_VIOLATION = "PolicyViolation"
    # status.jobUrl names another host than the workspace's (it was deleted and re-created elsewhere): the job
    # lives in the old workspace, so nothing is created in the new one (found as a new user would, issue 11).
    WORKSPACE_CHANGED = "WorkspaceChanged"
    # The mass deletion / re-creation guard (controller/reconcile/guard.py).
    DELETION_BUDGET_EXCEEDED = "DeletionBudgetExceeded"
    WITHIN_BUDGET = "WithinBudget"
    JOBS_VANISHED = "JobsVanished"
    NO_JOBS_VANISHED = "NoJobsVanished"
    # DatabricksWorkspace Reachable: True, or False because no connection could be made.
    REACHABLE = "Reachable"
    UNREACHABLE = "Unreachable"


class EventReason(StrEnum):
    """Every reason of a Kubernetes Event the controller emits (one writer: ``controller.operator.writer``).

    Problems reuse their condition reason; run-health transitions reuse the RunHealthy reasons.
    """

    JOB_CREATED = "JobCreated"
    JOB_RECREATED = "JobRecreated"
    JOB_RESET = "JobReset"
    JOB_DELETED = "JobDeleted"
    JOB_ORPHANED = "JobOrphaned"
    DELETE_BLOCKED = "DeleteBlocked"
    NOTHING_TO_DELETE = "NothingToDelete"
    DRIFT_DETECTED = "DriftDetected"
    DRIFT_CORRECTED = "DriftCorrected"
    DRIFT_NOT_CONVERGING = "DriftNotConverging"
    DRIFT_RESOLVED = "DriftResolved"
    RUN_TRIGGERED = "RunTriggered"
    RUN_NOW_REJECTED = "RunNowRejected"
    RUN_NOW_FAILED = "RunNowFailed"
    INVALID_SPEC = "InvalidSpec"
    API_ERROR = "ApiError"
    RATE_LIMITED = "RateLimited"
    INTERNAL_ERROR = "InternalError"
    UNAUTHORIZED = "Unauthorized"
    WORKSPACE_NOT_FOUND = "WorkspaceNotFound"
    SECRET_NOT_FOUND = "SecretNotFound"
    HOST_NOT_ALLOWED = "HostNotAllowed"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    IDENTITY_NOT_ALLOWED = "IdentityNotAllowed"
    WORKSPACE_NOT_ALLOWED = "WorkspaceNotAllowed"
    POLICY_VIOLATION = "PolicyViolation"
    WORKSPACE_CHANGED = "WorkspaceChanged"
    PAUSED = "Paused"
    ADOPT_TARGET_MISSING = "AdoptTargetMissing"
    ADOPT_TARGET_OWNED = "AdoptTargetOwned"
    ADOPT_TARGET_AMBIGUOUS = "AdoptTargetAmbiguous"
    LAST_RUN_SUCCEEDED = "LastRunSucceeded"
    RUNNING = "Running"
    LAST_RUN_FAILED = "LastRunFailed"
    CONSECUTIVE_FAILURES = "ConsecutiveFailures"
    RUN_OVERDUE = "RunOverdue"
    RUN_TOO_LONG = "RunTooLong"
    NO_RUNS = "NoRuns"
    WORKSPACE_UNREACHABLE = "WorkspaceUnreachable"
    WORKSPACE_REACHABLE = "WorkspaceReachable"
    DELETION_HELD = "DeletionHeld"
    DELETIONS_CONFIRMED = "DeletionsConfirmed"
    JOBS_VANISHED = "JobsVanished"
    RECREATION_CONFIRMED = "RecreationConfirmed"
    REFERENCE_NOT_READY = "ReferenceNotReady"
    REFERENCE_NOT_FOUND = "ReferenceNotFound"
    # A delete held because other DatabricksJobs of the namespace still reference this one (Warning).
    STILL_REFERENCED = "StillReferenced"
