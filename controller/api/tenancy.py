"""Tenancy a platform team sets (issue 11 item 5): ``spec.policy`` of both workspace kinds and
``ClusterDatabricksWorkspace.spec.namespaceSelector``.

``spec.policy`` (both kinds)::

    {runAs?: {allowedServicePrincipals?: [application id], allowedUsers?: [user name], required?: bool},
     allowExistingClusters?: bool, allowAdopt?: bool, allowJobIds?: bool, requiredTags?: [tag key],
     namePrefix?: str}

``spec.namespaceSelector`` (``ClusterDatabricksWorkspace`` only), a ``metav1.LabelSelector``::

    {matchLabels?: {key: value}, matchExpressions?: [{key, operator: In|NotIn|Exists|DoesNotExist, values?}]}

The checks themselves are pure functions in :mod:`controller.reconcile.tenancy`; defaults that differ between the
two kinds (a platform's credential is shared by every admitted namespace, a team's is its own) are documented on
each field and applied there. Label selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/
labels/#label-selectors. Jobs API fields checked: ``run_as``, ``tasks[].existing_cluster_id``, ``tags``, ``name``
(https://docs.databricks.com/api/workspace/jobs/create).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from controller.api.meta import ApiModel

#: At most this many entries in each list of a policy (a CEL cost bound; a platform lists principals, not thousands).
MAX_POLICY_ENTRIES = 256
_SELECTOR_RULE: JsonDict = {
    "rule": "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 : size(self.values) == 0",
    "message": "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
}


class RunAsPolicy(ApiModel):
    """``policy.runAs``: which identities a job may run as (``settings.run_as``)."""

    allowed_service_principals: list[str] = Field(
        default_factory=list,
        max_length=MAX_POLICY_ENTRIES,
        alias="allowedServicePrincipals",
        description="Application ids a job may name in settings.run_as.service_principal_name (exact match).",
    )
    allowed_users: list[str] = Field(
        default_factory=list,
        max_length=MAX_POLICY_ENTRIES,
        alias="allowedUsers",
        description="User names (emails) a job may name in settings.run_as.user_name (exact match).",
    )
    required: bool = Field(
        default=False,
        description="When true every job must set settings.run_as to one of the allowed principals: none runs as "
        "the workspace's own credential (a job without run_as runs as its owner, the identity dbjobs "
        "authenticates with). Default false.",
    )


class WorkspacePolicy(ApiModel):
    """``spec.policy``: what DatabricksJobs using this workspace may ask for; checked before any Databricks call.
    A job that breaks it shows ``Synced=False`` reason ``PolicyViolation`` naming every field, and nothing is sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "What DatabricksJobs using this workspace may ask for, checked before any Databricks call "
            "(Synced=False reason PolicyViolation, naming every violated field; nothing is created, reset or "
            "deleted). A job already in Databricks that a tightened policy refuses keeps running as it is."
        }
    )

    run_as: RunAsPolicy | None = Field(
        default=None,
        alias="runAs",
        description="Which service principals and users jobs may run as (settings.run_as), and may make owner "
        "(spec.permissions IS_OWNER: a job without run_as runs as its owner). Absent on a "
        "DatabricksWorkspace: no restriction (the credential is the team's own). Absent on a "
        "ClusterDatabricksWorkspace: no job may set run_as (jobs run as the workspace's own identity, which the "
        "platform chose).",
    )
    allow_existing_clusters: bool | None = Field(
        default=None,
        alias="allowExistingClusters",
        description="Whether tasks may run on an existing all-purpose cluster (existing_cluster_id) instead of a "
        "job cluster or serverless. Default: true on a DatabricksWorkspace, false on a ClusterDatabricksWorkspace "
        "(another team's cluster would be reachable through the platform's credential).",
    )
    required_tags: list[str] = Field(
        default_factory=list,
        max_length=MAX_POLICY_ENTRIES,
        alias="requiredTags",
        description="Tag keys every job must carry in settings.tags with a non-empty value (a cost centre, an "
        "owner team).",
    )
    allow_adopt: bool | None = Field(
        default=None,
        alias="allowAdopt",
        description="Whether a DatabricksJob may take over an existing job (spec.adopt). Default: true on a "
        "DatabricksWorkspace, false on a ClusterDatabricksWorkspace (through the platform's credential a tenant could "
        "take over, change or delete another team's job).",
    )
    allow_job_ids: bool | None = Field(
        default=None,
        alias="allowJobIds",
        description="Whether run_job_task.job_id and job_completion triggers may name a job by its numeric id. "
        "Default: true on a DatabricksWorkspace, false on a ClusterDatabricksWorkspace, where a job may start or "
        "watch only DatabricksJobs of its own namespace (${resources.jobs.<name>.id}): another team's job would run "
        "with its own identity and clusters and the tenant's parameters.",
    )
    name_prefix: str | None = Field(
        default=None,
        max_length=4096,
        alias="namePrefix",
        description="settings.name must start with this. {namespace} stands for the DatabricksJob's namespace "
        '(e.g. "{namespace}-"), so one ClusterDatabricksWorkspace can give every team its own prefix.',
    )


class LabelSelectorRequirement(ApiModel):
    """One ``matchExpressions`` entry: ``{key, operator, values?}``."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_SELECTOR_RULE]})

    key: str = Field(min_length=1, max_length=317, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn (values non-empty), Exists or DoesNotExist (values empty)."
    )
    values: list[str] = Field(default_factory=list, max_length=MAX_POLICY_ENTRIES, description="Label values.")

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(str(_SELECTOR_RULE["message"]))
        return self


class LabelSelector(ApiModel):
    """A ``metav1.LabelSelector``: every ``matchLabels`` pair and every ``matchExpressions`` entry must hold; ``{}``
    selects every namespace."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Which namespaces may use this workspace, by their labels (a metav1.LabelSelector: all "
            "of matchLabels and matchExpressions must hold). {} admits every namespace; absent admits none."
        }
    )

    match_labels: dict[str, str] = Field(
        default_factory=dict, alias="matchLabels", description="Labels a namespace must have, with these values."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        max_length=MAX_POLICY_ENTRIES,
        alias="matchExpressions",
        description="Requirements on a namespace's labels.",
    )
