"""Tenancy decisions (issue 11 item 5), pure: does a ``ClusterDatabricksWorkspace`` admit a namespace, and which
fields of a job's settings break its workspace's ``spec.policy``. Both are checked before any Databricks call.

* :func:`admits` evaluates a ``metav1.LabelSelector`` against a namespace's labels, as the apiserver does
  (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors): every
  ``matchLabels`` pair and every ``matchExpressions`` requirement must hold; ``{}`` admits every namespace. An
  absent selector admits none (a platform's credential is shared only where the platform says).
* :func:`violations` returns one :class:`Violation` (field path, message) per field that breaks the policy;
  :func:`message` joins them for the ``PolicyViolation`` condition. Jobs API fields: ``run_as``
  (``service_principal_name`` | ``user_name``), ``tasks[].existing_cluster_id`` (also in a ``for_each_task``'s
  inner task), ``tags`` (``{key: value}``), ``name`` (https://docs.databricks.com/api/workspace/jobs/create).

Defaults that differ by kind (``platform``: the workspace is a ``ClusterDatabricksWorkspace``): with no
``policy.runAs``, a team's own workspace allows any ``run_as`` (Databricks itself lets a credential run jobs only
as principals it may use) and a platform's allows none; ``allowExistingClusters`` unset is true for a team's own
workspace and false for a platform's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api.jobrefs import job_id_fields
from controller.api.tenancy import LabelSelector, RunAsPolicy, WorkspacePolicy

#: Violations named in one message (a 1000-task job on an existing cluster names the first few and the count).
MAX_NAMED = 10


def admits(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether ``selector`` selects a namespace with ``labels``; None selects nothing, ``{}`` everything."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In" and not (present and labels[req.key] in req.values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Violation:
    """One field of ``spec.settings`` that breaks the policy: ``path`` (e.g. ``spec.settings.run_as``) and why."""

    path: str
    message: str


def violations(
    settings: Mapping[str, Any],
    policy: WorkspacePolicy | None,
    *,
    platform: bool,
    namespace: str,
    owners: Sequence[tuple[str, str]] = (),
    adopting: bool = False,
) -> list[Violation]:
    """Every field of ``settings`` (JobSettings, snake_case) that ``policy`` refuses, in field order; [] when none.
    ``platform``: the workspace is a ClusterDatabricksWorkspace (the kind's defaults, module docstring);
    ``namespace`` fills ``{namespace}`` in ``namePrefix``; ``owners``: ``(kind, name)`` of each ``IS_OWNER`` entry of
    ``spec.permissions`` (kind ``servicePrincipalName`` | ``userName`` | ``groupName``); ``adopting``: ``spec.adopt``
    is set."""
    policy = policy or WorkspacePolicy()
    found = _reach(settings, policy, platform=platform, adopting=adopting)
    run_as = policy.run_as or (RunAsPolicy() if platform else None)
    found += _owners(owners, run_as)
    prefix = (policy.name_prefix or "").replace("{namespace}", namespace)
    name = settings.get("name")
    if prefix and not (isinstance(name, str) and name.startswith(prefix)):
        found.append(Violation("spec.settings.name", f"must start with {prefix!r} (policy.namePrefix), is {name!r}"))
    found += _run_as(settings.get("run_as"), run_as)
    allow_existing = policy.allow_existing_clusters
    if not (allow_existing if allow_existing is not None else not platform):
        for path, cluster in _existing_clusters(settings):
            found.append(Violation(path, f"existing cluster {cluster!r} is not allowed (policy.allowExistingClusters)"))
    tags = settings.get("tags") if isinstance(settings.get("tags"), Mapping) else {}
    for key in policy.required_tags:
        if not str((tags or {}).get(key) or "").strip():
            found.append(Violation(f"spec.settings.tags.{key}", f"tag {key!r} is required (policy.requiredTags)"))
    return found


def _reach(settings: Mapping[str, Any], policy: WorkspacePolicy, *, platform: bool, adopting: bool) -> list[Violation]:
    """What reaches beyond the job itself: taking over an existing job, naming another job by its id."""
    found = []
    if adopting and not (policy.allow_adopt if policy.allow_adopt is not None else not platform):
        found.append(Violation("spec.adopt", "taking over an existing job is not allowed (policy.allowAdopt)"))
    if not (policy.allow_job_ids if policy.allow_job_ids is not None else not platform):
        for f in job_id_fields(settings):
            if f.name is None:
                found.append(
                    Violation(
                        f"spec.settings.{f.path}",
                        f"job id {f.value!r} is not allowed (policy.allowJobIds): name a DatabricksJob of this "
                        "namespace with ${resources.jobs.<name>.id}",
                    )
                )
    return found


def _owners(owners: Sequence[tuple[str, str]], policy: RunAsPolicy | None) -> list[Violation]:
    """An ``IS_OWNER`` entry picks the identity a job without ``run_as`` runs as: the run-as policy covers it."""
    if policy is None:
        return []
    allowed = {"servicePrincipalName": policy.allowed_service_principals, "userName": policy.allowed_users}
    return [
        Violation(f"spec.permissions[{kind}={name}]", f"owner {name!r} {_not_allowed(policy)} (the owner runs the job)")
        for kind, name in owners
        if name not in allowed.get(kind, [])
    ]


def _run_as(run_as: Any, policy: RunAsPolicy | None) -> list[Violation]:
    if policy is None:
        return []
    run_as = run_as if isinstance(run_as, Mapping) else {}
    path = "spec.settings.run_as"
    others = sorted(k for k in run_as if k not in ("service_principal_name", "user_name"))
    if others:  # e.g. group_name: not a principal the policy can allow
        return [Violation(f"{path}.{others[0]}", f"is not allowed: {_not_allowed(policy)}")]
    sp, user = run_as.get("service_principal_name"), run_as.get("user_name")
    if sp is not None and sp not in policy.allowed_service_principals:
        return [Violation(f"{path}.service_principal_name", f"service principal {sp!r} {_not_allowed(policy)}")]
    if user is not None and user not in policy.allowed_users:
        return [Violation(f"{path}.user_name", f"user {user!r} {_not_allowed(policy)}")]
    if sp is None and user is None and policy.required:
        return [Violation(path, f"is required: name a principal of policy.runAs ({_allowed(policy)})")]
    return []


def _not_allowed(policy: RunAsPolicy) -> str:
    return f"is not allowed (policy.runAs: {_allowed(policy)})"


def _allowed(policy: RunAsPolicy) -> str:
    listed = [*policy.allowed_service_principals, *policy.allowed_users]
    return "allowed: " + ", ".join(listed) if listed else "no principal is allowed"


def _existing_clusters(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field path, cluster id)`` of every task (and for-each inner task) that names an existing cluster."""
    tasks = settings.get("tasks")
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, Mapping):
            continue
        key = task.get("task_key", i)
        if task.get("existing_cluster_id"):
            yield f"spec.settings.tasks[{key}].existing_cluster_id", str(task["existing_cluster_id"])
        for_each = task.get("for_each_task")
        inner = for_each.get("task") if isinstance(for_each, Mapping) else None
        if isinstance(inner, Mapping) and inner.get("existing_cluster_id"):
            path = f"spec.settings.tasks[{key}].for_each_task.task.existing_cluster_id"
            yield path, str(inner["existing_cluster_id"])


def message(found: list[Violation]) -> str:
    """The ``PolicyViolation`` message: every violated field (the first ``MAX_NAMED``, then how many more)."""
    named = "; ".join(f"{v.path}: {v.message}" for v in found[:MAX_NAMED])
    more = f"; and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else ""
    return f"the workspace's policy refuses this job: {named}{more}"
