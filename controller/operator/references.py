"""References between the DatabricksJobs the controller watches (``${resources.jobs.<name>.id}`` in a job-id field
of ``spec.settings``, :mod:`controller.api.jobrefs`): who references whom, kept up to date from watch events.

* A reconcile resolves a job's references against :meth:`ReferenceIndex.peers` (the namespace's DatabricksJobs
  with the job ids the registry has, our unechoed status writes included), only when the job has references.
* The manager queues the jobs that (directly or through others) reference a DatabricksJob when it appears, goes,
  gets another job id, workspace or generation (:meth:`ReferenceIndex.to_wake`): a job waiting with
  ``ReferenceNotReady`` is reconciled as soon as the job it waits for has an id, a re-created job's dependents
  are reset to its new id, and a broken cycle is noticed by every job that was on it.
* Deleting a DatabricksJob that others still reference (its Databricks job would be deleted under them) is held
  behind the finalizer (:meth:`ReferenceIndex.hold_delete`), with one Warning ``StillReferenced`` per set of
  referrers; a referrer being deleted itself does not hold it (a namespace deletion never deadlocks).

The index costs one walk of a job's ``spec.settings`` per generation; lookups of referrers are by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.jobrefs import referenced_names
from controller.operator.observation import backoff_seconds
from controller.operator.registry import JobResource, Registry
from controller.reconcile.outcome import Event
from controller.reconcile.reasons import EventReason
from controller.reconcile.references import Peer

#: The longest wait between two checks of a delete held by references (seconds).
HOLD_MAX_S = 30.0


class ReferenceIndex:
    """Referenced names per resource (by uid, per generation) and the reverse: referrers per ``(namespace, name)``."""

    def __init__(self) -> None:
        self._names: dict[str, tuple[int, str, frozenset[str]]] = {}  # uid -> (generation, namespace, names)
        self._referrers: dict[tuple[str, str], set[str]] = {}  # (namespace, name) -> uids referencing it
        self._said: dict[str, list[str]] = {}  # uid -> referrers last named in a StillReferenced Event
        self._own: dict[str, str] = {}  # uid -> the resource's own name

    def names(self, res: JobResource) -> frozenset[str]:
        """The DatabricksJob names ``res`` references (recomputed when its generation changes)."""
        cached = self._names.get(res.uid)
        if cached is not None and cached[0] == res.generation:
            return cached[2]
        settings = res.spec.get("settings")
        names = referenced_names(settings) if isinstance(settings, Mapping) else frozenset()
        self._unlink(res.uid)
        self._names[res.uid] = (res.generation, res.namespace, names)
        self._own[res.uid] = res.name
        for name in names:
            self._referrers.setdefault((res.namespace, name), set()).add(res.uid)
        return names

    def forget(self, uid: str) -> None:
        self._unlink(uid)
        self._names.pop(uid, None)
        self._said.pop(uid, None)
        self._own.pop(uid, None)

    def _unlink(self, uid: str) -> None:
        cached = self._names.get(uid)
        if cached is not None:
            for name in cached[2]:
                self._referrers.get((cached[1], name), set()).discard(uid)

    def peers(self, registry: Registry, namespace: str) -> dict[str, Peer]:
        """Every DatabricksJob of ``namespace`` by name, as the resolution of references sees it."""
        out = {}
        for uid in list(registry.jobs):
            res = registry.job(uid)
            if res is None or res.namespace != namespace:
                continue
            job_id = res.status.get("jobId")
            out[res.name] = Peer(int(job_id) if job_id is not None else None, self.names(res), res.workspace[1])
        return out

    def referrers(self, namespace: str, name: str, *, transitive: bool = False) -> set[str]:
        """uids of the resources referencing ``namespace/name`` (and those referencing them, with ``transitive``)."""
        found: set[str] = set()
        todo = [name]
        while todo:
            for uid in self._referrers.get((namespace, todo.pop()), set()) - found:
                found.add(uid)
                if transitive and uid in self._own:
                    todo.append(self._own[uid])
        return found

    def to_wake(self, before: JobResource | None, after: JobResource | None) -> set[str]:
        """uids to reconcile after a watch event turned ``before`` into ``after`` (None: absent): everyone that
        references it, when it appeared, went, or changed its job id, generation or workspace."""
        res = after or before
        if res is None:
            return set()
        if after is not None:
            self.names(after)
        moved = (
            before is None
            or after is None
            or before.status.get("jobId") != after.status.get("jobId")
            or before.generation != after.generation
            or before.workspace != after.workspace
        )
        return self.referrers(res.namespace, res.name, transitive=True) - {res.uid} if moved else set()

    def hold_delete(self, res: JobResource, registry: Registry, retry: int) -> tuple[float, Event | None] | None:
        """None when deleting ``res`` may go on; else the seconds to wait and the Event to emit (once per set of
        referrers). Held only when the delete would delete a recorded Databricks job (``deletionPolicy`` Delete)
        that DatabricksJobs not being deleted themselves still reference."""
        job_id = res.status.get("jobId")
        if str(res.spec.get("deletionPolicy") or "Delete") == "Orphan" or job_id is None:
            return None
        names = sorted(
            r.name
            for r in (registry.job(uid) for uid in self.referrers(res.namespace, res.name))
            if r is not None and not r.deleting and r.uid != res.uid
        )
        if not names:
            self._said.pop(res.uid, None)
            return None
        event = None
        if self._said.get(res.uid) != names:
            self._said[res.uid] = names
            event = Event("Warning", EventReason.STILL_REFERENCED, _held_message(job_id, names))
        return min(backoff_seconds(retry + 1), HOLD_MAX_S), event


def _held_message(job_id: Any, names: list[str]) -> str:
    who = ", ".join(names)
    return (
        f"deletion held: Databricks job {job_id} is referenced by DatabricksJob(s) {who} of this namespace "
        "(${resources.jobs.<name>.id}); remove those references or delete those DatabricksJobs first, or set "
        "deletionPolicy: Orphan to keep the job"
    )
