"""Pydantic models of our custom resources: ``DatabricksJob`` and ``DatabricksWorkspace``.

Group ``dbjobs.io``, version ``v1alpha1``. ``spec.settings`` is the Jobs API ``JobSettings``
spelled exactly as the API spells it (snake_case); the operator's own fields are camelCase,
following Kubernetes API conventions. These models are the single source of the operator fields
and of ``status``: the CRDs' schema of them is generated from here (:mod:`controller.api.schemagen`,
``make crds``); ``spec.settings``' schema comes from the SDK (:mod:`controller.api.sdkschema`). The
controller reads these models after admission, so they are permissive about ``settings`` and strict
about the operator fields it acts on.

This module holds ``DatabricksJob.spec``; ``status`` is in :mod:`controller.api.jobstatus`, the
workspace in :mod:`controller.api.workspace` (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic.config import JsonDict

from controller.api.jobstatus import DatabricksJobStatus as DatabricksJobStatus
from controller.api.meta import ApiModel
from controller.api.permissions import PERMISSIONS_SCHEMA, JobPermission, check_list
from controller.api.workspace import ClusterDatabricksWorkspaceSpec as ClusterDatabricksWorkspaceSpec
from controller.api.workspace import DatabricksWorkspaceSpec as DatabricksWorkspaceSpec
from controller.api.workspace import DatabricksWorkspaceStatus as DatabricksWorkspaceStatus
from controller.api.workspace import RequestBudget as RequestBudget
from controller.api.workspace import SecretKeyRef as SecretKeyRef

GROUP = "dbjobs.io"
VERSION = "v1alpha1"
JOB_PLURAL = "databricksjobs"
WORKSPACE_PLURAL = "databricksworkspaces"
CLUSTER_WORKSPACE_PLURAL = "clusterdatabricksworkspaces"


class DriftPolicy(StrEnum):
    """What the controller does when the live job differs from Git."""

    CORRECT = "Correct"
    REPORT = "Report"


class DeletionPolicy(StrEnum):
    """What happens to the Databricks job when the resource is deleted."""

    DELETE = "Delete"
    ORPHAN = "Orphan"


class WorkspaceKind(StrEnum):
    """``spec.workspaceRef.kind``: a team's own ``DatabricksWorkspace`` (in the job's namespace) or a platform's
    cluster-scoped ``ClusterDatabricksWorkspace``."""

    NAMESPACED = "DatabricksWorkspace"
    CLUSTER = "ClusterDatabricksWorkspace"


class WorkspaceRef(ApiModel):
    """``spec.workspaceRef``: ``{name, kind?}``, a ``DatabricksWorkspace`` in the job's own namespace (the default
    kind) or a ``ClusterDatabricksWorkspace`` whose namespaceSelector admits the job's namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        description="Name of a DatabricksWorkspace in the same namespace, or of a ClusterDatabricksWorkspace.",
    )
    kind: WorkspaceKind = Field(
        default=WorkspaceKind.NAMESPACED,
        description="DatabricksWorkspace (the default: this namespace's own) or ClusterDatabricksWorkspace (the "
        "platform's, if its namespaceSelector admits this namespace).",
    )


class HealthPolicy(ApiModel):
    """``spec.healthPolicy``: when runs make the job unhealthy (condition ``RunHealthy``).

    ``{consecutiveFailures?, missedScheduleCounts?, missedScheduleGraceSeconds?, maxRunDurationSeconds?,
    affectsReady?}``. Defaults live here, not in the CRD: one failure is unhealthy, a missed schedule counts,
    the grace is half the schedule's period (at most 600 s), no duration limit, and run health does not
    affect ``Ready``.
    """

    consecutive_failures: int = Field(
        default=1,
        ge=1,
        le=1000,
        alias="consecutiveFailures",
        description="Consecutive failed runs that make RunHealthy=False. Default 1.",
    )
    missed_schedule_counts: bool = Field(
        default=True,
        alias="missedScheduleCounts",
        description="Whether a scheduled run that did not start when the schedule says it should have makes "
        "RunHealthy=False (reason RunOverdue). Default true.",
    )
    missed_schedule_grace_seconds: int | None = Field(
        default=None,
        ge=0,
        alias="missedScheduleGraceSeconds",
        description="How late (seconds) a scheduled run may start before it counts as missed. Default: half "
        "the schedule's period, at most 600.",
    )
    max_run_duration_seconds: int | None = Field(
        default=None,
        ge=1,
        alias="maxRunDurationSeconds",
        description="A run taking longer than this many seconds makes RunHealthy=False. Unset: no limit.",
    )
    affects_ready: bool = Field(
        default=False,
        alias="affectsReady",
        description="Whether RunHealthy=False also makes Ready=False (Argo CD then shows Degraded). Default "
        "false: configuration sync and run health stay separate signals.",
    )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> HealthPolicy:
        """The policy of a raw ``DatabricksJob.spec`` dict (``spec["healthPolicy"]``, camelCase keys).

        Tolerant, as a reconcile must be of an object admitted under an older schema: an absent or
        non-object ``healthPolicy`` is the default policy, and each field that is absent or not valid on its
        own (strict JSON types: ``"yes"`` is not a boolean, ``0`` failures is below the minimum) takes its
        default; the other fields are kept.
        """
        raw = spec.get("healthPolicy") if isinstance(spec, Mapping) else None
        if not isinstance(raw, Mapping):
            return cls()
        kept: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key not in raw:
                continue
            try:
                cls.model_validate({key: raw[key]}, strict=True)
            except ValidationError:
                continue
            kept[key] = raw[key]
        return cls.model_validate(kept, strict=True)


#: The CEL rule of ``spec.adopt`` (the model's validator checks the same): one way to name the job.
ADOPT_RULE: dict[str, Any] = {
    "rule": "has(self.jobId) != has(self.name)",
    "message": "adopt: set exactly one of jobId and name",
}


class Adopt(ApiModel):
    """``spec.adopt``: exactly one of ``{jobId}`` or ``{name}``, the existing Databricks job to take over
    instead of creating one. ``name`` must match the job's ``settings.name`` exactly (case and spaces
    included) and be the name of exactly one job of the workspace; none or several is the terminal reason
    ``AdoptTargetMissing`` / ``AdoptTargetAmbiguous`` (:mod:`controller.reconcile.adopt`), never a guess.
    Raises ``ValidationError`` for both or neither. Job names: at most 4096 bytes
    (https://docs.databricks.com/api/workspace/jobs/create, ``name``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "The existing Databricks job to take over: exactly one of jobId and name.",
            "x-kubernetes-validations": [ADOPT_RULE],
        }
    )

    job_id: int | None = Field(default=None, ge=1, alias="jobId", description="The id of the existing job.")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="The exact name (settings.name) of the existing job. Exactly one job of the workspace may "
        "have it: none or several is refused with the count and the ids (AdoptTargetMissing, "
        "AdoptTargetAmbiguous). Only read until the job is adopted (status.jobId).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Adopt:
        if (self.job_id is None) == (self.name is None):
            raise ValueError(ADOPT_RULE["message"])
        return self


#: The apiserver's message (a CEL transition rule on spec.workspaceRef) when an update changes the reference.
WORKSPACE_REF_IMMUTABLE = "workspaceRef is immutable; create a new DatabricksJob"

_IMMUTABLE_WORKSPACE: JsonDict = {
    # A changed reference would leave the old job running in the old workspace while status points at a new
    # one; refusing the change keeps one resource = one job.
    "x-kubernetes-validations": [
        {
            # kind absent and kind DatabricksWorkspace are the same reference: spelling the default out is no change.
            "rule": "self.name == oldSelf.name && (has(self.kind) ? self.kind : 'DatabricksWorkspace') == "
            "(has(oldSelf.kind) ? oldSelf.kind : 'DatabricksWorkspace')",
            "message": WORKSPACE_REF_IMMUTABLE,
        }
    ]
}


class DatabricksJobSpec(ApiModel):
    """``DatabricksJob.spec``: the operator fields (camelCase) and ``settings``.

    ``settings`` is a JobSettings dict (Jobs API 2.2 ``jobs/create`` body); its CRD schema comes from the SDK,
    not from this model. Defaults of the operator fields are applied here, in code, not in the CRD schema, so
    that Argo CD never sees a server-side default as a diff.
    """

    model_config = ConfigDict(
        json_schema_extra={"description": "The desired job: Jobs API settings plus how dbjobs manages the job."}
    )

    workspace_ref: WorkspaceRef = Field(
        alias="workspaceRef",
        description="The workspace the job lives in: a DatabricksWorkspace in this namespace, or a "
        "ClusterDatabricksWorkspace (kind) the platform admits this namespace to. Required and immutable: to "
        "move a job to another workspace, create a new DatabricksJob.",
        json_schema_extra=_IMMUTABLE_WORKSPACE,
    )
    drift_policy: DriftPolicy = Field(
        default=DriftPolicy.CORRECT,
        alias="driftPolicy",
        description="What to do when the live job differs from spec.settings: Correct (reset it to "
        "spec.settings; the default) or Report (record the difference in status.drift and leave the job as it is).",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        alias="deletionPolicy",
        description="What happens to the Databricks job when this resource is deleted: Delete (the default) or "
        "Orphan (leave the job in the workspace).",
    )
    paused: bool = Field(
        default=False,
        description="When true the controller makes no change to the Databricks job (no create, reset or delete "
        "of it on spec changes or drift) and only observes. Default false.",
    )
    health_policy: HealthPolicy = Field(
        default_factory=HealthPolicy,
        alias="healthPolicy",
        description="When the job's runs make it unhealthy (condition RunHealthy). All fields optional; defaults "
        "are applied by the controller.",
    )
    adopt: Adopt | None = Field(
        default=None,
        description="Take over an existing Databricks job instead of creating one, by jobId or by its exact "
        "name: the controller resets that job to spec.settings and manages it from then on.",
    )
    permissions: list[JobPermission] | None = Field(
        default=None,
        description="The job's permissions (Permissions API), compared on every cycle and corrected or reported "
        "under driftPolicy like settings. Absent: not managed (never read or written). Present, even empty: the "
        "job's direct permissions are exactly these, plus its current owner when no entry is IS_OWNER; "
        "inherited ones (workspace admins) are not compared.",
        json_schema_extra=PERMISSIONS_SCHEMA,
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Jobs API JobSettings (snake_case), as sent to jobs/create and jobs/reset.",
    )

    @model_validator(mode="after")
    def _check_permissions(self) -> DatabricksJobSpec:
        check_list(self.permissions)
        return self
