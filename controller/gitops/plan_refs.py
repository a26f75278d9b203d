"""References between the DatabricksJobs of a plan: which job each one runs or waits for, and with which id.

A manifest may name another DatabricksJob of its namespace where the Jobs API takes a job id
(``${resources.jobs.<name>.id}``, :mod:`controller.api.jobrefs`). ``dbjobs plan`` resolves those references the way
the controller will (:func:`controller.reconcile.references.resolve`), against the namespace as it will be after the
merge: the revision's manifests, and the cluster's DatabricksJobs the plan does not delete. A peer's job id is the
one the plan knows: its ``status.jobId`` in the cluster, its live job in the workspace (by id or owner tag), its
``spec.adopt.jobId``; a job the plan creates has none yet. Each plan item lists what it depends on; a cycle of
references or a reference to another workspace makes the manifest ``invalid`` (the controller reports
``InvalidSpec``); a reference to a DatabricksJob that is nowhere, or that has no job yet, is shown as such (the
controller waits: ``ReferenceNotFound`` / ``ReferenceNotReady``). The drift against the live job compares the
resolved ids, as the controller does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.api.jobrefs import referenced_names
from controller.reconcile.reasons import Reason
from controller.reconcile.references import Peer, resolve


@dataclass(frozen=True)
class Dependency:
    """A DatabricksJob a plan item references: its ``name``, the ``job_id`` it resolves to (None: none yet), and
    a ``note`` when it does not resolve."""

    name: str
    job_id: int | None = None
    note: str = ""

    def __str__(self) -> str:
        return f"{self.name} (job {self.job_id})" if self.job_id is not None else f"{self.name} [{self.note}]"


@dataclass(frozen=True)
class Node:
    """A DatabricksJob as the namespace will hold it after the merge: its spec and its job id, if known."""

    spec: Mapping[str, Any]
    job_id: int | None


def peers(nodes: Mapping[str, Node]) -> dict[str, dict[str, Peer]]:
    """``{namespace: {name: Peer}}`` of ``nodes`` (keyed ``namespace/name``)."""
    out: dict[str, dict[str, Peer]] = {}
    for key, node in nodes.items():
        namespace, name = key.split("/", 1)
        settings = node.spec.get("settings")
        names = referenced_names(settings) if isinstance(settings, Mapping) else frozenset()
        workspace = str((node.spec.get("workspaceRef") or {}).get("name") or "")
        out.setdefault(namespace, {})[name] = Peer(node.job_id, names, workspace)
    return out


def dependencies(
    key: str, spec: Mapping[str, Any], namespace_peers: Mapping[str, Peer], pending: Callable[[str], str]
) -> tuple[Mapping[str, Any], tuple[Dependency, ...], tuple[str, ...]]:
    """``(settings resolved where they can be, dependencies, problems)`` of the manifest ``key`` with ``spec``;
    ``pending(name)`` says why a DatabricksJob of the namespace has no job id the plan knows. ``problems`` are
    what the controller would report as ``InvalidSpec`` (a cycle, another workspace), each naming its field.
    ``pending`` also says why a name that is not in ``namespace_peers`` is missing (the plan deletes it), or ""."""
    settings: Mapping[str, Any] = spec["settings"] if isinstance(spec.get("settings"), Mapping) else {}
    name = key.split("/", 1)[1]
    workspace = str((spec.get("workspaceRef") or {}).get("name") or "")
    found = resolve(settings, name=name, workspace=workspace, peers=namespace_peers)
    if found.reason is Reason.INVALID_SPEC:
        problems = tuple(f"{f} (the controller reports InvalidSpec)" for r, f in found.findings if r is found.reason)
        return settings, (), problems
    deps = []
    for ref in {r.name: r for r in found.references}.values():
        note = ""
        if ref.job_id is None and ref.name not in namespace_peers:
            note = pending(ref.name) or "not in this revision nor the cluster: the job waits (ReferenceNotFound)"
        elif ref.job_id is None:
            note = pending(ref.name)
        deps.append(Dependency(ref.name, ref.job_id, note))
    return found.settings, tuple(sorted(deps, key=lambda d: d.name)), ()
