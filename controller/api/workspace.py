"""``DatabricksWorkspace``: where a workspace is, how dbjobs authenticates, its request budget, and the
per-workspace observer's view of it.

``spec``::

    {host, tokenSecretRef: {name, key?}, requestBudget?: {requestsPerSecond?, burst?}}

``status`` (written by the controller's per-workspace observer, once per cycle)::

    {observedGeneration,
     conditions: [metav1.Condition],               # Reachable (reasons: WorkspaceReason)
     jobs:      {listed, owned, resources},
     lastCycle: {time, durationSeconds, apiCalls},
     throttled: {count, windowSeconds}}
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import ConfigDict, Field

from controller.api.meta import CONDITIONS_LIST, ApiModel, Condition

#: The one condition type of a workspace.
REACHABLE = "Reachable"


class WorkspaceReason(StrEnum):
    """Reasons of the ``Reachable`` condition: ``REACHABLE`` with True, every other with False."""

    REACHABLE = "Reachable"
    UNREACHABLE = "Unreachable"
    UNAUTHORIZED = "Unauthorized"
    RATE_LIMITED = "RateLimited"
    API_ERROR = "ApiError"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    HOST_NOT_ALLOWED = "HostNotAllowed"


class SecretKeyRef(ApiModel):
    """``spec.tokenSecretRef``: ``{name, key?}`` of a ``Secret`` in the same namespace (``SecretKeySelector``)."""

    name: str = Field(min_length=1, description="Secret name.")
    key: str = Field(default="token", description="Key in the Secret (default: token).")


class RequestBudget(ApiModel):
    """``spec.requestBudget``: ``{requestsPerSecond?, burst?}``, the token bucket every Databricks call of the
    workspace goes through (the observer's and every reconcile's; see ``controller.databricks.budget``)."""

    requests_per_second: float = Field(
        default=10.0,
        gt=0,
        alias="requestsPerSecond",
        description="Sustained Databricks API requests per second for this workspace (all jobs together). Default 10.",
    )
    burst: int = Field(
        default=20,
        ge=1,
        description="Requests that may be sent at once above the sustained rate (the bucket's size). Default 20.",
    )


class DatabricksWorkspaceSpec(ApiModel):
    """``DatabricksWorkspace.spec``: where the workspace is, how to authenticate (PAT), how fast to call it."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Where the workspace is, how dbjobs authenticates to it and how fast it may call it."
        }
    )

    host: str = Field(
        min_length=1,
        max_length=2048,
        description="Workspace URL, e.g. https://dbc-1234.cloud.databricks.com. Immutable: the jobs of this workspace "
        "live there; to move them, create a new DatabricksWorkspace (and new DatabricksJobs). The controller uses it "
        "only if it matches the platform's allow-list (DBJOBS_ALLOWED_HOSTS, chart value allowedHosts).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "host is immutable: a changed host would re-create every job in another workspace "
                    "and leave the originals running; create a new DatabricksWorkspace instead",
                }
            ]
        },
    )
    token_secret_ref: SecretKeyRef = Field(
        alias="tokenSecretRef",
        description="A Secret in the same namespace holding a personal access token. The Secret must opt in with "
        'the label dbjobs.io/credentials: "true" (or be of type dbjobs.io/databricks-credentials): the controller '
        "never reads another Secret, so a workspace cannot make it send an unrelated Secret anywhere.",
    )
    request_budget: RequestBudget = Field(
        default_factory=RequestBudget,
        alias="requestBudget",
        description="The request budget (a token bucket) every Databricks call for this workspace goes through, "
        "shared by all its jobs. Default 10 requests per second, bursts of 20.",
    )


class WorkspaceCondition(Condition):
    """A condition of a ``DatabricksWorkspace``: ``type`` Reachable, ``reason`` a :class:`WorkspaceReason`."""

    type: str = Field(max_length=316, description="Reachable.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        description="Reachable when True; Unreachable, Unauthorized, RateLimited, ApiError or SecretNotFound "
        "when False.",
    )


class WorkspaceJobs(ApiModel):
    """``status.jobs``: ``{listed, owned, resources}``, counts of the last cycle."""

    listed: int = Field(default=0, ge=0, description="Jobs in the workspace (the last complete list).")
    owned: int = Field(default=0, ge=0, description="Jobs carrying dbjobs' owner tag (dbjobs-uid).")
    resources: int = Field(default=0, ge=0, description="DatabricksJobs using this workspace.")


class LastCycle(ApiModel):
    """``status.lastCycle``: ``{time, durationSeconds, apiCalls}`` of the observer's last cycle."""

    time: dt.datetime | None = Field(default=None, description="When the last observation cycle ended.")
    duration_seconds: float | None = Field(
        default=None, ge=0, alias="durationSeconds", description="How long that cycle took, in seconds."
    )
    api_calls: int | None = Field(
        default=None, ge=0, alias="apiCalls", description="Databricks API calls that cycle made."
    )


class Throttled(ApiModel):
    """``status.throttled``: ``{count, windowSeconds}``, 429 answers from the workspace in the recent window."""

    count: int = Field(default=0, ge=0, description="429 (Too Many Requests) answers in the window.")
    window_seconds: int | None = Field(
        default=None, ge=0, alias="windowSeconds", description="How many seconds back count reaches."
    )


class DatabricksWorkspaceStatus(ApiModel):
    """``DatabricksWorkspace.status`` (see the module docstring)."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "What the controller's observer of this workspace saw. Written only by the controller."
        }
    )

    observed_generation: int | None = Field(
        default=None, ge=0, alias="observedGeneration", description="The metadata.generation this status describes."
    )
    conditions: list[WorkspaceCondition] = Field(
        default_factory=list,
        description="Reachable, in metav1.Condition shape.",
        json_schema_extra=CONDITIONS_LIST,
    )
    jobs: WorkspaceJobs | None = Field(default=None, description="Jobs the observer knows of, by kind.")
    last_cycle: LastCycle | None = Field(
        default=None, alias="lastCycle", description="The observer's last cycle (list of jobs and runs)."
    )
    throttled: Throttled | None = Field(
        default=None, description="Throttling by Databricks (429 answers) in the recent window."
    )
