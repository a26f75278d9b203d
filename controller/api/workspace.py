"""``DatabricksWorkspace``: where a workspace is, how dbjobs authenticates, its request budget, and the
per-workspace observer's view of it.

``spec``::

    {host, tokenSecretRef?: {name, key?} | auth?: {pat | oauthM2M | workloadIdentity} (controller.api.auth),
     requestBudget?: {requestsPerSecond?, burst?}, deletionGuard?: {...},
     policy?: {runAs?, allowExistingClusters?, requiredTags?, namePrefix?}}   # controller.api.tenancy

``ClusterDatabricksWorkspace`` (cluster-scoped, the platform's): the same ``spec`` plus ``namespaceSelector``
(a metav1.LabelSelector), its Secrets in the controller's namespace; the same ``status``.

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

from pydantic import ConfigDict, Field, model_validator

from controller.api.auth import SPEC_AUTH_RULE, WorkspaceAuth, auth_of
from controller.api.auth import SecretKeyRef as SecretKeyRef
from controller.api.meta import CONDITIONS_LIST, ApiModel, Condition
from controller.api.tenancy import LabelSelector, WorkspacePolicy

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
    IDENTITY_NOT_ALLOWED = "IdentityNotAllowed"


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


class DeletionGuard(ApiModel):
    """``spec.deletionGuard``: how many job deletions, and how many vanished jobs, the controller acts on before
    a person confirms (a bad merge, a wrong Argo CD prune, a wiped workspace or a token of another workspace)."""

    max_deletions: int = Field(
        default=10,
        ge=0,
        alias="maxDeletions",
        description="Databricks jobs deleted in windowSeconds before further deletions are held until a person "
        "confirms (annotation dbjobs.io/confirm-deletions on this workspace). 0: every deletion waits. Default 10.",
    )
    window_seconds: int = Field(
        default=600, ge=1, alias="windowSeconds", description="The window of maxDeletions, in seconds. Default 600."
    )
    max_vanished_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        alias="maxVanishedShare",
        description="When more than this share of the workspace's known jobs (and at least minVanished) vanish in "
        "one cycle, none is re-created until a person confirms (annotation dbjobs.io/confirm-recreation). 0.2.",
    )
    min_vanished: int = Field(
        default=5,
        ge=1,
        alias="minVanished",
        description="Vanished jobs below this count are re-created without confirmation. Default 5.",
    )


#: What ``spec.host`` may be: ``http(s)://`` and a DNS name or IPv4 address with an optional port, an optional
#: trailing ``/``. The controller checks the same with :func:`controller.operator.credentials.normalized_host`.
HOST_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$"


class DatabricksWorkspaceSpec(ApiModel):
    """``DatabricksWorkspace.spec``: where the workspace is, how to authenticate (:mod:`controller.api.auth`), how
    fast to call it."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Where the workspace is, how dbjobs authenticates to it and how fast it may call it.",
            "x-kubernetes-validations": [SPEC_AUTH_RULE],  # auth (issue 11 item 2)
        }
    )

    host: str = Field(
        min_length=1,
        max_length=2048,
        # Only scheme://host[:port]: a backslash, user info or a path could name one host and reach another
        # (requests reads "https://evil.com\\.cloud.databricks.com" as host evil.com).
        pattern=HOST_PATTERN,
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
    # -- auth (issue 11 item 2): tokenSecretRef is the older spelling of auth.pat; exactly one of the two ------
    token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        alias="tokenSecretRef",
        description="A Secret in the same namespace holding a personal access token (the same as auth.pat; set "
        'this or auth). The Secret must opt in with the label dbjobs.io/credentials: "true" (or be of type '
        "dbjobs.io/databricks-credentials): the controller never reads another Secret, so a workspace cannot make "
        "it send an unrelated Secret anywhere.",
    )
    auth: WorkspaceAuth | None = Field(
        default=None,
        description="How dbjobs authenticates: a personal access token (pat), a service principal's OAuth secret "
        "(oauthM2M) or no secret at all (workloadIdentity). Set this or tokenSecretRef.",
    )
    deletion_guard: DeletionGuard = Field(
        default_factory=DeletionGuard,
        alias="deletionGuard",
        description="Mass deletion and mass re-creation guard: deletions over the budget and re-creation after many "
        "jobs vanished at once wait for a person's confirmation. Default: 10 deletions in 10 minutes; 20 % (at least "
        "5) of the known jobs vanished in one cycle.",
    )
    request_budget: RequestBudget = Field(
        default_factory=RequestBudget,
        alias="requestBudget",
        description="The request budget (a token bucket) every Databricks call for this workspace goes through, "
        "shared by all its jobs. Default 10 requests per second, bursts of 20.",
    )

    policy: WorkspacePolicy | None = Field(
        default=None,
        description="What DatabricksJobs using this workspace may ask for (run_as principals, existing clusters, "
        "required tags, a name prefix), checked before any Databricks call. Absent: no restriction on a "
        "DatabricksWorkspace; on a ClusterDatabricksWorkspace no run_as and no existing cluster.",
    )

    @model_validator(mode="after")
    def _one_auth(self) -> DatabricksWorkspaceSpec:
        auth_of(self.token_secret_ref, self.auth)  # tokenSecretRef or auth, exactly one (the CRD's CEL rule too)
        return self

    @property
    def effective_auth(self) -> WorkspaceAuth:
        """``auth``, or ``tokenSecretRef`` read as ``auth.pat``."""
        return auth_of(self.token_secret_ref, self.auth)


class ClusterDatabricksWorkspaceSpec(DatabricksWorkspaceSpec):
    """``ClusterDatabricksWorkspace.spec``: a :class:`DatabricksWorkspaceSpec` owned by the platform team, plus
    ``namespaceSelector``. Its Secrets are read in the controller's own namespace (``POD_NAMESPACE``), never in a
    tenant's; a job in a namespace the selector does not admit shows ``WorkspaceNotAllowed`` and nothing is sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "A Databricks workspace the platform team offers to the namespaces namespaceSelector "
            "admits. Secrets named here (tokenSecretRef, auth) are read in the controller's own namespace.",
            "x-kubernetes-validations": [SPEC_AUTH_RULE],
        }
    )

    namespace_selector: LabelSelector | None = Field(
        default=None,
        alias="namespaceSelector",
        description="Which namespaces' DatabricksJobs may use this workspace, by namespace labels. {} admits every "
        "namespace; absent admits none. A job elsewhere shows WorkspaceNotAllowed and nothing is sent.",
    )


class WorkspaceCondition(Condition):
    """A condition of a ``DatabricksWorkspace``: ``type`` Reachable, ``reason`` a :class:`WorkspaceReason`."""

    type: str = Field(
        max_length=316,
        description="Reachable (the last observer cycle read the workspace), DeletionHeld (deletions wait for "
        "confirmation) or JobsVanished (re-creation waits for confirmation).",
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        description="Reachable: Reachable when True; Unreachable, Unauthorized, RateLimited, ApiError, "
        "SecretNotFound, SecretNotAllowed or HostNotAllowed when False. DeletionHeld: DeletionBudgetExceeded. "
        "JobsVanished: JobsVanished.",
    )


class WorkspaceJobs(ApiModel):
    """``status.jobs``: ``{listed, owned, resources}``, counts of the last cycle."""

    listed: int = Field(default=0, ge=0, description="Jobs in the workspace (the last complete list).")
    owned: int = Field(default=0, ge=0, description="Jobs carrying dbjobs' owner tag (dbjobs-owner).")
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


class HeldJob(ApiModel):
    """One held deletion or vanished job: ``{namespace, name, jobId}``."""

    namespace: str = Field(description="Namespace of the DatabricksJob.")
    name: str = Field(description="Name of the DatabricksJob.")
    job_id: int | None = Field(default=None, alias="jobId", description="The Databricks job.")


class GuardStatus(ApiModel):
    """``status.guard``: what the deletion guard holds and what a person confirmed."""

    deletions_in_window: int = Field(
        default=0, ge=0, alias="deletionsInWindow", description="Jobs deleted in the current window."
    )
    recent_deletions: list[dt.datetime] = Field(
        default_factory=list,
        alias="recentDeletions",
        description="When those deletions happened (kept across restarts).",
    )
    held_deletions: list[HeldJob] = Field(
        default_factory=list, alias="heldDeletions", description="Deletions waiting for confirmation (first 100)."
    )
    held_count: int = Field(default=0, ge=0, alias="heldCount", description="How many deletions are held.")
    vanished: list[HeldJob] = Field(
        default_factory=list, description="Jobs that vanished and wait for confirmation before re-creation (first 100)."
    )
    confirmed_deletions: str | None = Field(
        default=None, alias="confirmedDeletions", description="The dbjobs.io/confirm-deletions value last acted on."
    )
    confirmed_recreation: str | None = Field(
        default=None, alias="confirmedRecreation", description="The dbjobs.io/confirm-recreation value last acted on."
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
    guard: GuardStatus | None = Field(
        default=None, description="The mass deletion and re-creation guard: what it holds, what was confirmed."
    )
