"""Tenancy at the edge (issue 11 item 5): the registry's facts (the workspace a job names, its namespace's labels)
handed to the pure checks of :mod:`controller.reconcile.tenancy`. Nothing here calls Databricks or Kubernetes.

* :func:`admitted`: may the job's namespace use its workspace at all? Always for a DatabricksWorkspace (it is the
  namespace's own); for a ClusterDatabricksWorkspace only when its ``namespaceSelector`` selects the namespace's
  labels (as last watched). A job not admitted is no member of the workspace's runtime: no call is made for it.
* :func:`problem`: ``WorkspaceNotAllowed`` (not admitted, or a ClusterDatabricksWorkspace named while the
  controller watches only some namespaces) or ``PolicyViolation`` (the workspace's ``spec.policy`` refuses the
  settings, every field named), both terminal (``retry`` False): the manager queues the job again when the job,
  the workspace or the namespace's labels change.
"""

from __future__ import annotations

from pydantic import ValidationError

from controller.api.models import DatabricksJobSpec
from controller.api.permissions import JobPermission
from controller.api.tenancy import LabelSelector, WorkspacePolicy
from controller.operator.registry import JobResource, Registry, WorkspaceResource
from controller.reconcile import tenancy
from controller.reconcile.outcome import Problem
from controller.reconcile.reasons import Reason


def admitted(registry: Registry, res: JobResource) -> bool:
    """Whether ``res``'s namespace may use its workspace (True while the workspace is unknown: the runtime then
    reports it missing)."""
    if res.workspace[0] == "" and not registry.cluster_wide:
        return False  # no ClusterDatabricksWorkspace is watched: never a member, refused by problem()
    ws = registry.workspaces.get(res.workspace)
    if ws is None or not ws.cluster:
        return True
    return _admits(ws, registry.namespaces.get(res.namespace, {}))


def _admits(ws: WorkspaceResource, labels: dict[str, str]) -> bool:
    raw = ws.spec.get("namespaceSelector")
    try:
        selector = None if raw is None else LabelSelector.model_validate(raw)
    except ValidationError:
        return False  # a selector that cannot be read admits no one (fail closed: it guards a shared credential)
    return tenancy.admits(selector, labels)


def problem(registry: Registry, res: JobResource, spec: DatabricksJobSpec) -> Problem | None:
    """``WorkspaceNotAllowed`` or ``PolicyViolation`` for ``res`` (its ``spec`` parsed), or None."""
    cluster = res.workspace[0] == ""
    if cluster and not registry.cluster_wide:
        msg = (
            f"ClusterDatabricksWorkspace {res.workspace[1]}: this controller watches only some namespaces "
            "(watchNamespaces) and reads no cluster-scoped workspace; use a DatabricksWorkspace in this namespace"
        )
        return Problem(Reason.WORKSPACE_NOT_ALLOWED, msg, retry=False)
    ws = registry.workspaces.get(res.workspace)
    if ws is None:
        return None
    if ws.cluster and not _admits(ws, registry.namespaces.get(res.namespace, {})):
        msg = (
            f"ClusterDatabricksWorkspace {ws.name} does not admit namespace {res.namespace} (its "
            "spec.namespaceSelector); ask the platform team, or use a DatabricksWorkspace of this namespace"
        )
        return Problem(Reason.WORKSPACE_NOT_ALLOWED, msg, retry=False)
    try:
        raw = ws.spec.get("policy")
        policy = None if raw is None else WorkspacePolicy.model_validate(raw)
    except ValidationError as err:
        msg = f"{ws.kind} {ws.name}: spec.policy cannot be read ({err.errors()[0].get('msg')}); nothing is sent"
        return Problem(Reason.POLICY_VIOLATION, msg, retry=False)
    owners = [_principal(p) for p in spec.permissions or [] if p.level == "IS_OWNER"]
    found = tenancy.violations(
        spec.settings,
        policy,
        platform=ws.cluster,
        namespace=res.namespace,
        owners=owners,
        adopting=spec.adopt is not None and res.status.get("jobId") is None,
    )
    if found:
        return Problem(Reason.POLICY_VIOLATION, f"{ws.kind} {ws.name}: {tenancy.message(found)}", retry=False)
    return None


def _principal(entry: JobPermission) -> tuple[str, str]:
    """``(kind, name)`` of a ``spec.permissions`` entry; kind ``servicePrincipalName``/``userName``/``groupName``."""
    if entry.service_principal_name is not None:
        return "servicePrincipalName", entry.service_principal_name
    if entry.user_name is not None:
        return "userName", entry.user_name
    return "groupName", str(entry.group_name)
