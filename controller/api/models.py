"""Pydantic models of our custom resources: ``DatabricksJob`` and ``DatabricksWorkspace``.

Group ``dbjobs.io``, version ``v1alpha1``. ``spec.settings`` is the Jobs API ``JobSettings``
spelled exactly as the API spells it (snake_case); the operator's own fields are camelCase,
following Kubernetes API conventions. The structural schema and admission rules live in the
CRD (``crds/``); these models are what the controller reads after admission, so they are
permissive about ``settings`` and strict about the operator fields it acts on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GROUP = "dbjobs.io"
VERSION = "v1alpha1"
JOB_PLURAL = "databricksjobs"
WORKSPACE_PLURAL = "databricksworkspaces"


class DriftPolicy(StrEnum):
    """What the controller does when the live job differs from Git."""

    CORRECT = "Correct"
    REPORT = "Report"


class DeletionPolicy(StrEnum):
    """What happens to the Databricks job when the resource is deleted."""

    DELETE = "Delete"
    ORPHAN = "Orphan"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class WorkspaceRef(_Model):
    """``spec.workspaceRef``: the name of a ``DatabricksWorkspace`` in the job's own namespace."""

    name: str = Field(min_length=1)


class HealthPolicy(_Model):
    """``spec.healthPolicy``: when runs make the job unhealthy (condition ``RunHealthy``).

    Defaults live here, not in the CRD: one failure is unhealthy, a missed schedule counts, no duration
    limit, and run health does not affect ``Ready``.
    """

    consecutive_failures: int = Field(default=1, ge=1, alias="consecutiveFailures")
    missed_schedule_counts: bool = Field(default=True, alias="missedScheduleCounts")
    missed_schedule_grace_seconds: int | None = Field(default=None, ge=0, alias="missedScheduleGraceSeconds")
    max_run_duration_seconds: int | None = Field(default=None, ge=1, alias="maxRunDurationSeconds")
    affects_ready: bool = Field(default=False, alias="affectsReady")


class Adopt(_Model):
    """``spec.adopt``: take over the existing Databricks job ``jobId`` instead of creating one."""

    job_id: int = Field(ge=1, alias="jobId")


class DatabricksJobSpec(_Model):
    """``DatabricksJob.spec``.

    ``settings`` is a JobSettings dict (Jobs API 2.2 ``jobs/create`` body). Defaults of the
    operator fields are applied here, in code, not in the CRD schema, so that Argo CD never sees
    a server-side default as a diff.
    """

    workspace_ref: WorkspaceRef = Field(alias="workspaceRef")
    settings: dict[str, Any] = Field(default_factory=dict)
    drift_policy: DriftPolicy = Field(default=DriftPolicy.CORRECT, alias="driftPolicy")
    deletion_policy: DeletionPolicy = Field(default=DeletionPolicy.DELETE, alias="deletionPolicy")
    paused: bool = False
    health_policy: HealthPolicy = Field(default_factory=HealthPolicy, alias="healthPolicy")
    adopt: Adopt | None = None


class SecretKeyRef(_Model):
    """A key of a ``Secret`` in the same namespace (Kubernetes ``SecretKeySelector`` shape)."""

    name: str = Field(min_length=1)
    key: str = "token"


class DatabricksWorkspaceSpec(_Model):
    """``DatabricksWorkspace.spec``: where the workspace is and how to authenticate (PAT)."""

    host: str = Field(min_length=1)
    token_secret_ref: SecretKeyRef = Field(alias="tokenSecretRef")
