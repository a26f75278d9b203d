"""Resolve references to other DatabricksJobs (pure): ``${resources.jobs.<name>.id}`` → that job's id.

Where ``spec.settings`` takes another job's id (:mod:`controller.api.jobrefs`) it may name a DatabricksJob of the
same namespace instead. :func:`resolve` takes the settings, this resource's name and workspace, and ``peers``
(every DatabricksJob of the namespace by name, as a :class:`Peer`: its ``status.jobId``, the names it references,
its workspace) and returns a :class:`Resolution`: the settings with each reference replaced by the referenced
job's id (an integer where the API takes one, its text where it takes a string), every reference found, and the
problem, if any, naming each field it concerns:

* a reference to itself, or a cycle of references through this job → ``InvalidSpec`` (no order of creation gives
  every job of a cycle an id first; and "Databricks does not support jobs with circular dependencies", Run Job
  tasks that directly or indirectly trigger each other: https://docs.databricks.com/aws/en/jobs/tasks/run-job);
* a reference to a DatabricksJob of another workspace → ``InvalidSpec`` (its id means nothing in this one);
* a reference naming no DatabricksJob of the namespace → ``ReferenceNotFound`` (retried: it may be applied next);
* a reference to a DatabricksJob without a job id yet → ``ReferenceNotReady`` (retried when it gets one).

``status.references`` records the last resolution (:func:`status_entries`, shape ``[{field, name, jobId?}]``)
and ``status.dependsOn`` the names (:func:`depends_on`); a resolution that differs from the recorded one is a
change of the desired settings, as a new generation is (:func:`changed`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.api.jobrefs import job_id_fields, reference, referenced_names, with_values
from controller.reconcile.reasons import Reason

SETTINGS = "spec.settings"


@dataclass(frozen=True)
class Peer:
    """A DatabricksJob of the namespace as references see it: its ``status.jobId`` (None: none yet), the names
    its own settings reference, and the name of its DatabricksWorkspace."""

    job_id: int | None
    references: frozenset[str] = frozenset()
    workspace: str = ""


@dataclass(frozen=True)
class Reference:
    """One reference: the ``field`` holding it (``tasks[0].run_job_task.job_id``), the DatabricksJob ``name``,
    and the ``job_id`` it resolved to (None: not resolved)."""

    field: str
    name: str
    job_id: int | None = None


@dataclass(frozen=True)
class Resolution:
    """The resolved ``settings`` (the input itself when it holds no reference; with a problem, resolved where it
    could be), every reference found, and why it could not be resolved (``reason`` None: it was): the most severe
    reason, a ``message`` for a person, and each field's ``(reason, "spec.settings.<field>: <why>")``."""

    settings: Mapping[str, Any]
    references: tuple[Reference, ...] = ()
    reason: Reason | None = None
    message: str = ""
    findings: tuple[tuple[Reason, str], ...] = field(default_factory=tuple)


def _cycle_back(start: str, me: str, peers: Mapping[str, Peer]) -> list[str] | None:
    """The shortest chain of references ``start -> … -> me``, or None when ``start`` does not lead back."""
    if start == me:
        return [me]
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        peer = peers.get(node)
        for nxt in sorted(peer.references if peer else ()):
            if nxt == me:
                chain = [node]
                while parents[chain[-1]] is not None:
                    chain.append(str(parents[chain[-1]]))
                return [*reversed(chain), me]
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return None


def _judge(name: str, target: str, workspace: str, peers: Mapping[str, Peer]) -> tuple[Reason | None, str]:
    """Why the reference to ``target`` cannot be resolved now (reason None: it can)."""
    peer = peers.get(target)
    if target == name:
        return Reason.INVALID_SPEC, f"{reference(target)} names this DatabricksJob itself (a cycle of references)"
    if peer is None:
        return Reason.REFERENCE_NOT_FOUND, f"{reference(target)}: no DatabricksJob {target!r} in this namespace"
    if peer.workspace != workspace:
        return Reason.INVALID_SPEC, (
            f"{reference(target)}: DatabricksJob {target!r} uses workspace {peer.workspace!r}, this one "
            f"{workspace!r}; a job id means something only in its own workspace"
        )
    chain = _cycle_back(target, name, peers)
    if chain is not None:
        return Reason.INVALID_SPEC, f"{reference(target)} closes a cycle of references {' -> '.join([name, *chain])}"
    if peer.job_id is None:
        return Reason.REFERENCE_NOT_READY, f"{reference(target)}: DatabricksJob {target!r} has no job id yet"
    return None, ""


_SEVERITY = (Reason.INVALID_SPEC, Reason.REFERENCE_NOT_FOUND, Reason.REFERENCE_NOT_READY)
_HEADLINE = {
    Reason.INVALID_SPEC: "spec.settings references other DatabricksJobs in a way that cannot be resolved",
    Reason.REFERENCE_NOT_FOUND: "spec.settings references a DatabricksJob that does not exist (yet)",
    Reason.REFERENCE_NOT_READY: "waiting for a referenced DatabricksJob to get its job id",
}


def resolve(settings: Mapping[str, Any], *, name: str, workspace: str, peers: Mapping[str, Peer]) -> Resolution:
    """Resolve every reference of ``settings`` (see the module doc). ``peers`` maps DatabricksJob names of the
    namespace to :class:`Peer` (this resource may be among them: its own references are taken from
    ``settings``). Pure; the input is not changed."""
    fields = [f for f in job_id_fields(settings) if f.name is not None]
    if not fields:
        return Resolution(settings)
    graph = {**peers, name: Peer(None, referenced_names(settings), workspace)}
    refs: list[Reference] = []
    values: dict[tuple[str | int, ...], Any] = {}
    problems: list[tuple[Reason, str]] = []
    for f in fields:
        target = str(f.name)
        reason, why = _judge(name, target, workspace, graph)
        if reason is not None:
            problems.append((reason, f"{SETTINGS}.{f.path}: {why}"))
            refs.append(Reference(f.path, target))
            continue
        job_id = peers[target].job_id
        assert job_id is not None
        refs.append(Reference(f.path, target, job_id))
        values[f.parts] = job_id if f.numeric else str(job_id)
    resolved = with_values(settings, values) if values else settings
    if problems:
        reason = next(r for r in _SEVERITY if any(p[0] is r for p in problems))
        message = f"{_HEADLINE[reason]}: {'; '.join(text for _, text in problems)}"
        return Resolution(resolved, tuple(refs), reason, message, tuple(problems))
    return Resolution(resolved, tuple(refs))


def status_entries(references: Sequence[Reference]) -> list[dict[str, Any]]:
    """``status.references``: ``[{field, name, jobId?}]`` (``jobId`` only when resolved)."""
    out = []
    for ref in references:
        entry: dict[str, Any] = {"field": ref.field, "name": ref.name}
        if ref.job_id is not None:
            entry["jobId"] = ref.job_id
        out.append(entry)
    return out


def depends_on(references: Sequence[Reference]) -> str | None:
    """``status.dependsOn``: the referenced names, sorted and comma-separated (None when there are none)."""
    names = sorted({r.name for r in references})
    return ", ".join(names) if names else None


def changed(status: Mapping[str, Any], references: Sequence[Reference]) -> bool:
    """True when ``references`` resolve differently from the resolution recorded in ``status.references``."""
    recorded = status.get("references") or []
    return bool(recorded != status_entries(references))
