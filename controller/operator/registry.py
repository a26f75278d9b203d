"""The controller's view of the cluster, fed by kopf's watch events: every DatabricksJob and DatabricksWorkspace
as last seen, so a reconcile never GETs them (issue 10: Kubernetes reads that do not grow per cycle).

Only this module keeps resource snapshots. A snapshot is replaced on every watch event of its object; a
status we wrote is overlaid until the watch echoes it back (a reconcile must never decide from a status
older than the one it wrote, or a spec change could be applied twice).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.api.meta import RUN_NOW_ANNOTATION
from controller.api.models import WorkspaceKind
from controller.reconcile.guard import CONFIRM_DELETIONS, CONFIRM_RECREATION

CLUSTER_KIND = WorkspaceKind.CLUSTER.value


@dataclass(frozen=True)
class JobResource:
    """One DatabricksJob as last seen. ``spec``/``status`` are the raw dicts; ``workspace`` the key
    ``(namespace, spec.workspaceRef.name)`` of the DatabricksWorkspace it uses."""

    uid: str
    namespace: str
    name: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str]
    deleting: bool
    created: str | None
    resource_version: str

    @property
    def workspace(self) -> tuple[str, str]:
        """``(namespace, name)`` of its DatabricksWorkspace, or ``("", name)`` of a ClusterDatabricksWorkspace."""
        ref = self.spec.get("workspaceRef") or {}
        namespace = "" if ref.get("kind") == CLUSTER_KIND else self.namespace
        return (namespace, str(ref.get("name") or ""))

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> JobResource:
        meta = body.get("metadata") or {}
        return cls(
            uid=str(meta.get("uid")),
            namespace=str(meta.get("namespace")),
            name=str(meta.get("name")),
            generation=int(meta.get("generation") or 0),
            spec=copy.deepcopy(dict(body.get("spec") or {})),
            status=copy.deepcopy(dict(body.get("status") or {})),
            annotations=dict(meta.get("annotations") or {}),
            deleting=bool(meta.get("deletionTimestamp")),
            created=meta.get("creationTimestamp"),
            resource_version=str(meta.get("resourceVersion") or ""),
        )


@dataclass(frozen=True)
class WorkspaceResource:
    """One DatabricksWorkspace as last seen (``spec`` raw); a ClusterDatabricksWorkspace has ``namespace`` ""."""

    uid: str
    namespace: str
    name: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> WorkspaceResource:
        meta = body.get("metadata") or {}
        return cls(
            uid=str(meta.get("uid")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name")),
            generation=int(meta.get("generation") or 0),
            spec=copy.deepcopy(dict(body.get("spec") or {})),
            status=copy.deepcopy(dict(body.get("status") or {})),
            annotations=dict(meta.get("annotations") or {}),
        )

    @property
    def cluster(self) -> bool:
        """A ClusterDatabricksWorkspace (the platform's, cluster-scoped)."""
        return not self.namespace

    @property
    def kind(self) -> str:
        return CLUSTER_KIND if self.cluster else "DatabricksWorkspace"


@dataclass
class Registry:
    """Jobs by uid and workspaces by ``(namespace, name)``, plus the statuses we wrote (by uid)."""

    jobs: dict[str, JobResource] = field(default_factory=dict)
    workspaces: dict[tuple[str, str], WorkspaceResource] = field(default_factory=dict)
    #: Labels of every namespace, for ClusterDatabricksWorkspace namespaceSelectors (watched when cluster-wide).
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Whether ClusterDatabricksWorkspaces and Namespaces are watched (the controller watches every namespace).
    cluster_wide: bool = True
    _written: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def job_event(self, body: Mapping[str, Any], event_type: str | None) -> tuple[JobResource | None, bool]:
        """Record a watch event of a DatabricksJob. Returns the snapshot (None once deleted) and whether it
        needs a reconcile now: new to us, a new generation, or a new ``dbjobs.io/run-now`` value."""
        new = JobResource.from_body(body)
        old = self.jobs.get(new.uid)
        if event_type == "DELETED":
            self.jobs.pop(new.uid, None)
            self._written.pop(new.uid, None)
            return None, False
        self.jobs[new.uid] = new
        urgent = (
            old is None
            or old.generation != new.generation
            or old.annotations.get(RUN_NOW_ANNOTATION) != new.annotations.get(RUN_NOW_ANNOTATION)
            or old.workspace != new.workspace
        )
        return new, urgent and not new.deleting

    def workspace_event(self, body: Mapping[str, Any], event_type: str | None) -> bool:
        """Record a watch event of a DatabricksWorkspace; True when its spec changed (new, new generation,
        or deleted), i.e. when its runtime must resolve it again. Our own status writes return False."""
        ws = WorkspaceResource.from_body(body)
        key = (ws.namespace, ws.name)
        old = self.workspaces.get(key)
        if event_type == "DELETED":
            self.workspaces.pop(key, None)
            return True
        self.workspaces[key] = ws
        return (
            old is None
            or old.generation != ws.generation
            or old.uid != ws.uid
            or old.annotations.get(CONFIRM_DELETIONS) != ws.annotations.get(CONFIRM_DELETIONS)
            or old.annotations.get(CONFIRM_RECREATION) != ws.annotations.get(CONFIRM_RECREATION)
        )

    def namespace_event(self, body: Mapping[str, Any], event_type: str | None) -> bool:
        """Record a watch event of a Namespace; True when its labels changed (a namespaceSelector may now admit
        or refuse its DatabricksJobs)."""
        meta = body.get("metadata") or {}
        name, labels = str(meta.get("name")), dict(meta.get("labels") or {})
        old = self.namespaces.get(name)
        if event_type == "DELETED":
            self.namespaces.pop(name, None)
            return old is not None
        self.namespaces[name] = labels
        return old != labels

    def job(self, uid: str) -> JobResource | None:
        """The latest snapshot with the newest status: ours when the watch has not echoed it yet."""
        res = self.jobs.get(uid)
        if res is None:
            return None
        written = self._written.get(uid)
        if written is not None and written[0] > _rv(res.resource_version):
            return JobResource(**{**res.__dict__, "status": copy.deepcopy(written[1])})
        return res

    def wrote(self, uid: str, resource_version: str, status: Mapping[str, Any]) -> None:
        """Remember the status we wrote and the resourceVersion the apiserver gave it."""
        self._written[uid] = (_rv(resource_version), copy.deepcopy(dict(status)))

    def jobs_of(self, workspace: tuple[str, str]) -> Iterator[JobResource]:
        for uid in list(self.jobs):
            res = self.job(uid)
            if res is not None and res.workspace == workspace:
                yield res

    def forget(self, uid: str) -> None:
        self.jobs.pop(uid, None)
        self._written.pop(uid, None)


def _rv(resource_version: str) -> int:
    """resourceVersions are opaque strings; the apiserver with etcd issues increasing integers."""
    return int(resource_version) if resource_version.isdigit() else 0
