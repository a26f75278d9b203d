"""``dbjobs plan``: what applying a set of manifests would do, job by job (pure; sources are in plan_sources).

Each ``DatabricksJob`` of the revision becomes one :class:`PlanItem`:

* ``invalid``: admission or the controller's pre-call checks would refuse it (the problems name the field,
  :func:`controller.api.admission.manifest_problems`); nothing else is said about it;
* ``create``: no job exists for it (none in the workspace by its owner tag, no resource in the cluster, not
  in the base revision);
* ``adopt``: it adopts an existing job (``spec.adopt.jobId``, or ``spec.adopt.name``: against the workspace, the
  one job of that exact name, as the controller chooses it, :mod:`controller.reconcile.adopt`; none, several or
  another resource's is ``invalid`` with the controller's reason) not yet managed; the report shows what the
  manifest would change on that job;
* ``update``: the job (or the resource, or the base revision's manifest) differs: the drift report of the
  controller's own engine (:func:`controller.reconcile.drift.compare`), fields named by ``task_key``, plus
  changed operator fields (``driftPolicy: Report -> Correct``);
* ``no-op``: nothing would change.

What it is compared with, most exact first: the live job in the workspace (found through the resource's
``status.jobId`` in the cluster, ``spec.adopt.jobId``, the controller's owner tag, or ``spec.adopt.name``); the
resource in the
cluster (its ``spec``); the manifest at the base revision. Manifests of the base revision (or, without one,
resources of the compared namespaces in the cluster) that the revision no longer has become ``delete`` items
with the ``deletionPolicy`` that decides whether the job goes.

References to other DatabricksJobs (``${resources.jobs.<name>.id}``) are resolved as the controller will resolve
them (:mod:`controller.gitops.plan_refs`): each item lists the DatabricksJobs it depends on, the drift against the
live job compares the resolved ids, and a cycle of references makes the manifest ``invalid``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.api.admission import manifest_problems
from controller.databricks.jobs import ListedJob
from controller.gitops.diff import as_written
from controller.gitops.manifests import Manifest, ManifestSet
from controller.gitops.plan_refs import Dependency, Node, dependencies, peers
from controller.gitops.plan_spec import guard_note, spec_changes, workspace_key, workspace_ref_refused
from controller.reconcile import adopt
from controller.reconcile.compare import OWNER_TAG, owner_key, without_owner_tag
from controller.reconcile.drift import DriftReport, compare
from controller.reconcile.references import Peer

EXIT_NOTHING, EXIT_CHANGES, EXIT_ERRORS = 0, 1, 2


class Action(StrEnum):
    """What happens to one job."""

    CREATE = "create"
    ADOPT = "adopt"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"
    INVALID = "invalid"


@dataclass(frozen=True)
class PlanItem:
    """One job: ``action``, the resource ``key`` (``namespace/name``), the ``source`` file, the job's name and
    id when known, what it was compared ``against``, the ``drift`` report, changed operator fields, the
    ``deletion_policy`` of a delete, ``problems`` of an invalid manifest, the DatabricksJobs it references
    (``depends_on``), the ``spec.adopt.name`` it adopts by (``adopt_name``, "" when none), and a delete's
    ``workspace``."""

    action: Action
    key: str
    source: str
    job_name: str = ""
    job_id: int | None = None
    against: str = ""
    drift: DriftReport = field(default_factory=DriftReport)
    spec_changes: tuple[str, ...] = ()
    deletion_policy: str | None = None
    problems: tuple[str, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    adopt_name: str = ""
    workspace: str = ""  # a delete's workspace (plan_spec.workspace_key), for the deletion guard


@dataclass(frozen=True)
class ClusterObject:
    """A DatabricksJob as the cluster holds it: ``spec`` and ``status``."""

    key: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


@dataclass(frozen=True)
class Live:
    """What the plan compares with besides the base revision: cluster resources by key (None: not asked),
    workspace jobs (None: not asked), the controller's cluster name (for owner tags), and the namespaces
    whose cluster resources a missing manifest deletes, and the workspaces' deletion budgets."""

    cluster: Mapping[str, ClusterObject] | None = None
    workspace: list[ListedJob] | None = None
    cluster_name: str = ""
    namespaces: frozenset[str] = frozenset()
    deletion_budgets: Mapping[str, int] | None = None  # maxDeletions by plan_spec.workspace_key (None: default)


@dataclass
class Plan:
    """Every item (creates, adopts, updates, deletes, no-ops, invalid, in key order), errors that stopped part
    of the comparison, a description of what was ``compared``, notes said once for the whole plan (``hints``),
    and the deletion guard's note when the deletions exceed it (``deletion_note``)."""

    items: list[PlanItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    compared: str = ""
    hints: list[str] = field(default_factory=list)
    deletion_note: str = ""

    def count(self, action: Action) -> int:
        """How many items have ``action``."""
        return sum(1 for i in self.items if i.action is action)

    @property
    def exit_code(self) -> int:
        """0 nothing to do, 1 changes, 2 errors or invalid manifests."""
        if self.errors or self.count(Action.INVALID):
            return EXIT_ERRORS
        return EXIT_CHANGES if any(i.action is not Action.NOOP for i in self.items) else EXIT_NOTHING


class _Workspace:
    """The workspace's jobs indexed by id and by the controller's owner tag."""

    def __init__(self, jobs: list[ListedJob]) -> None:
        self.jobs = jobs
        self.by_id = {j.job_id: j for j in jobs}
        self.by_owner = {str((j.settings.get("tags") or {}).get(OWNER_TAG)): j for j in jobs}

    def find(self, manifest: Manifest, cluster: ClusterObject | None, cluster_name: str) -> ListedJob | None:
        """The job of ``manifest``: by the id in status or in ``spec.adopt``, by our owner tag, then (no id in
        status) the one job ``spec.adopt.name`` names; None when none or it is refused (:meth:`adopted`)."""
        recorded = (cluster.status if cluster else {}).get("jobId")
        for job_id in (recorded, (manifest.spec.get("adopt") or {}).get("jobId")):
            if isinstance(job_id, int) and job_id in self.by_id:
                return self.by_id[job_id]
        namespace, name = manifest.key.split("/", 1)
        owner = owner_key(cluster_name, namespace, name)
        adopt_name = (manifest.spec.get("adopt") or {}).get("name")
        if owner in self.by_owner or recorded is not None or not isinstance(adopt_name, str):
            return self.by_owner.get(owner)
        chosen = self.adopted(adopt_name, owner).job_id
        return self.by_id.get(chosen) if chosen is not None else None

    def adopted(self, name: str, owner: str) -> adopt.Target:
        """The job ``spec.adopt.name`` = ``name`` takes over, as the controller decides it."""
        return adopt.by_name(name, adopt.named(((j.job_id, j.settings) for j in self.jobs), name), owner)


def _item(
    action: Action,
    manifest: Manifest,
    *,
    job_id: int | None = None,
    against: str = "",
    drift: DriftReport | None = None,
    spec_changes: tuple[str, ...] = (),
    problems: tuple[str, ...] = (),
    depends_on: tuple[Dependency, ...] = (),
) -> PlanItem:
    name = str(manifest.settings.get("name") or "")
    report = drift or DriftReport()
    adopt_name = (manifest.spec.get("adopt") or {}).get("name")
    return PlanItem(
        action,
        manifest.key,
        manifest.source,
        name,
        job_id,
        against,
        report,
        spec_changes,
        None,
        problems,
        depends_on,
        adopt_name if isinstance(adopt_name, str) else "",
    )


@dataclass(frozen=True)
class _Context:
    """What every item is planned against: the base revision, the live side, the namespace after the merge."""

    base: ManifestSet | None
    live: Live
    workspace: _Workspace | None
    peers: Mapping[str, Mapping[str, Peer]]
    pending: Mapping[str, str]  # key -> why a DatabricksJob of the merge has no job id the plan knows


def _desired_item(manifest: Manifest, ctx: _Context) -> PlanItem:
    problems = manifest_problems(manifest.doc)
    if problems:
        return _item(Action.INVALID, manifest, problems=tuple(problems))
    namespace = manifest.namespace
    resolved, deps, ref_problems = dependencies(
        manifest.key, manifest.spec, ctx.peers.get(namespace, {}), lambda n: ctx.pending.get(f"{namespace}/{n}", "")
    )
    if ref_problems:
        return _item(Action.INVALID, manifest, problems=ref_problems)
    item = _compared_item(manifest, resolved, ctx)
    return dataclasses.replace(item, depends_on=deps)


def _compared_item(manifest: Manifest, resolved: Mapping[str, Any], ctx: _Context) -> PlanItem:
    base, live, workspace = ctx.base, ctx.live, ctx.workspace
    cluster = (live.cluster or {}).get(manifest.key)
    previous = (
        cluster.spec
        if cluster
        else (base.manifests[manifest.key].spec if base and manifest.key in base.manifests else None)
    )
    changes = spec_changes(manifest.spec, previous)
    if immutable := workspace_ref_refused(manifest.spec, previous):
        return _item(Action.INVALID, manifest, problems=(immutable,))
    adopt_id = (manifest.spec.get("adopt") or {}).get("jobId")
    adopting = adopt_id is not None or isinstance((manifest.spec.get("adopt") or {}).get("name"), str)
    if workspace is not None:
        job = workspace.find(manifest, cluster, live.cluster_name)
        if job is None and adopt_id is not None:
            problem = f"spec.adopt.jobId: job {adopt_id} does not exist in the workspace (AdoptTargetMissing)"
            return _item(Action.INVALID, manifest, problems=(problem,))
        if job is None and (refused := _adopt_refused(manifest, cluster, live, workspace)):
            return _item(Action.INVALID, manifest, problems=(refused,))
        if job is not None:
            report = as_written(compare(resolved, without_owner_tag(job.settings), owner=job.creator), resolved)
            managed = (job.settings.get("tags") or {}).get(OWNER_TAG) is not None or cluster is not None
            action = Action.ADOPT if adopting and not managed else Action.UPDATE
            if action is Action.UPDATE and report.in_sync and not changes:
                action = Action.NOOP
            return _item(action, manifest, job_id=job.job_id, against="workspace", drift=report, spec_changes=changes)
        if cluster is None:
            return _item(Action.CREATE, manifest, against="workspace")
    if previous is not None:
        previous_settings: Mapping[str, Any] = (
            previous["settings"] if isinstance(previous.get("settings"), Mapping) else {}
        )
        report = as_written(compare(manifest.settings, previous_settings), manifest.settings, previous_settings)
        action = Action.NOOP if report.in_sync and not changes else Action.UPDATE
        job_id = (cluster.status.get("jobId") if cluster else None) or adopt_id
        against = "cluster" if cluster else "base"
        return _item(action, manifest, job_id=job_id, against=against, drift=report, spec_changes=changes)
    return _item(Action.ADOPT if adopting else Action.CREATE, manifest, job_id=adopt_id)


def _adopt_refused(manifest: Manifest, cluster: ClusterObject | None, live: Live, workspace: _Workspace) -> str:
    """Why ``spec.adopt.name`` adopts nothing in ``workspace`` (the controller's message and reason), "" when it
    is not adopting by name or a job was found."""
    name = (manifest.spec.get("adopt") or {}).get("name")
    if not isinstance(name, str) or (cluster is not None and cluster.status.get("jobId") is not None):
        return ""
    namespace, resource = manifest.key.split("/", 1)
    refusal = workspace.adopted(name, owner_key(live.cluster_name, namespace, resource)).refusal
    return f"{refusal.message} ({refusal.reason})" if refusal is not None else ""


def _delete_items(
    desired: ManifestSet, base: ManifestSet | None, live: Live, workspace: _Workspace | None
) -> list[PlanItem]:
    gone: dict[str, tuple[str, Mapping[str, Any]]] = {}
    if base is not None:
        gone = {k: (m.source, m.spec) for k, m in base.manifests.items() if k not in desired.manifests}
    elif live.cluster is not None:
        gone = {
            k: ("(cluster)", o.spec)
            for k, o in live.cluster.items()
            if k not in desired.manifests and k.split("/", 1)[0] in live.namespaces
        }
    items = []
    for key, (source, spec) in sorted(gone.items()):
        cluster = (live.cluster or {}).get(key)
        spec = cluster.spec if cluster else spec
        job_id = (cluster.status.get("jobId") if cluster else None) or (spec.get("adopt") or {}).get("jobId")
        if job_id is None and workspace is not None:
            namespace, name = key.split("/", 1)
            found = workspace.by_owner.get(owner_key(live.cluster_name, namespace, name))
            job_id = found.job_id if found else None
        settings: Mapping[str, Any] = spec["settings"] if isinstance(spec.get("settings"), Mapping) else {}
        items.append(
            PlanItem(
                Action.DELETE,
                key,
                source,
                job_name=str(settings.get("name") or ""),
                job_id=job_id,
                deletion_policy=str(spec.get("deletionPolicy") or "Delete"),
                workspace=workspace_key(key.split("/", 1)[0], spec),
            )
        )
    return items


def build_plan(
    desired: ManifestSet, base: ManifestSet | None = None, live: Live | None = None, compared: str = ""
) -> Plan:
    """The plan of ``desired`` against ``base`` (the base revision's manifests) and ``live`` (see module doc).

    Problems of reading the manifests (``desired.problems``, ``base.problems``) become ``errors``. Pure.
    """
    live = live or Live()
    workspace = _Workspace(live.workspace) if live.workspace is not None else None
    plan = Plan(compared=compared)
    plan.errors = [f"{path}: {message}" for path, message in desired.problems]
    plan.errors += [f"(base) {path}: {message}" for path, message in (base.problems if base else [])]
    deletes = _delete_items(desired, base, live, workspace)
    nodes, pending = _after_merge(desired, base, live, workspace, {i.key for i in deletes})
    ctx = _Context(base, live, workspace, peers(nodes), pending)
    items = [_desired_item(m, ctx) for m in desired.manifests.values()]
    plan.items = sorted(items + deletes, key=lambda i: i.key)
    deleted_jobs = [i.workspace for i in deletes if i.deletion_policy == "Delete"]
    plan.deletion_note = guard_note(deleted_jobs, live.deletion_budgets)
    if any(d.note == UNKNOWN_ID for i in items for d in i.depends_on):
        plan.hints.append(f"{UNKNOWN_ID}: the cluster and the workspace know it; give --against to see it")
    return plan


def _after_merge(
    desired: ManifestSet, base: ManifestSet | None, live: Live, workspace: _Workspace | None, deleted: set[str]
) -> tuple[dict[str, Node], dict[str, str]]:
    """The DatabricksJobs of the namespaces after the merge, with the job ids the plan knows, and for those without
    one, why (a job the plan creates; one the cluster has not made yet; one only the live side would know)."""
    nodes: dict[str, Node] = {}
    pending: dict[str, str] = {}
    pending.update((key, _DELETED) for key in deleted)
    for key, obj in (live.cluster or {}).items():
        if key not in deleted and key not in desired.manifests:
            job_id = obj.status.get("jobId")
            nodes[key] = Node(obj.spec, job_id if isinstance(job_id, int) else None)
            pending[key] = _WAITS
    for key, manifest in desired.manifests.items():
        cluster = (live.cluster or {}).get(key)
        job_id = (cluster.status if cluster else {}).get("jobId")
        if not isinstance(job_id, int) and workspace is not None:
            found = workspace.find(manifest, cluster, live.cluster_name)
            job_id = found.job_id if found else None
        adopt = (manifest.spec.get("adopt") or {}).get("jobId")
        job_id = job_id if isinstance(job_id, int) else (adopt if isinstance(adopt, int) else None)
        if cluster is not None:
            pending[key] = _WAITS
        elif (base is not None and key in base.manifests) or (workspace is None and live.cluster is None):
            pending[key] = UNKNOWN_ID
        else:
            pending[key] = "created by this plan: the job waits for its id (ReferenceNotReady), then is set to it"
        nodes[key] = Node(manifest.spec, job_id)
    return nodes, pending


_WAITS = "no job yet: the job waits for its id (ReferenceNotReady)"
_DELETED = "deleted by this plan (not in this revision): the job waits (ReferenceNotFound)"
UNKNOWN_ID = "job id not known to this plan"
