"""The operator's view of references between DatabricksJobs (``controller.operator.references.ReferenceIndex``),
fed with watch events through the real registry: the peers a reconcile resolves against (our unechoed status
writes included), which jobs a watch event wakes (a new job id, a deleted or new referenced job, a changed
generation, transitively), and the delete held while others reference the job (once-per-referrers Event, not
for Orphan, not for referrers being deleted themselves)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.jobrefs import reference
from controller.operator.references import HOLD_MAX_S, ReferenceIndex
from controller.operator.registry import JobResource, Registry
from controller.reconcile.reasons import EventReason
from controller.reconcile.references import Peer

pytestmark = pytest.mark.unit


def body(
    name: str, *refs: str, job_id: int | None = None, generation: int = 1, rv: int = 1, **spec: Any
) -> dict[str, Any]:
    tasks = [{"task_key": f"run_{r}", "run_job_task": {"job_id": reference(r)}} for r in refs]
    tasks = tasks or [{"task_key": "main", "notebook_task": {"notebook_path": "/n"}}]
    meta: dict[str, Any] = {
        "uid": f"uid-{name}",
        "namespace": "ns",
        "name": name,
        "generation": generation,
        "resourceVersion": str(rv),
    }
    if spec.pop("deleting", False):
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"workspaceRef": {"name": "w"}, "settings": {"name": name, "tasks": tasks}, **spec},
        "status": {"jobId": job_id} if job_id is not None else {},
    }


class World:
    """A registry and an index fed the way the manager feeds them."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.index = ReferenceIndex()

    def event(self, doc: dict[str, Any], kind: str | None = None) -> set[str]:
        uid = doc["metadata"]["uid"]
        before = self.registry.jobs.get(uid)
        after, _ = self.registry.job_event(doc, kind)
        woken = self.index.to_wake(before, after)
        if after is None:
            self.index.forget(uid)
        return woken


def test_peers_carry_job_ids_references_and_workspaces_with_our_unechoed_writes() -> None:
    w = World()
    w.event(body("parent", "child"))
    w.event(body("child"))
    w.registry.wrote("uid-child", "5", {"jobId": 77})  # written, the watch has not echoed it yet
    assert w.index.peers(w.registry, "ns") == {
        "parent": Peer(None, frozenset({"child"}), "w"),
        "child": Peer(77, frozenset(), "w"),
    }


def test_a_new_job_id_a_new_or_deleted_referenced_job_and_a_new_generation_wake_the_referrers() -> None:
    w = World()
    assert w.event(body("parent", "child")) == set()
    assert w.event(body("child")) == {"uid-parent"}  # it exists now: parent no longer misses it
    assert w.event(body("child", rv=2)) == set()  # nothing a reference sees changed
    assert w.event(body("child", job_id=5, rv=3)) == {"uid-parent"}
    assert w.event(body("child", job_id=6, rv=4)) == {"uid-parent"}  # re-created: parent is reset to the new id
    assert w.event(body("child", job_id=6, generation=2, rv=5)) == {"uid-parent"}  # may have closed a cycle
    assert w.event(body("child", job_id=6, rv=6), "DELETED") == {"uid-parent"}


def test_referrers_are_woken_transitively_and_a_dropped_reference_stops_waking() -> None:
    w = World()
    w.event(body("top", "middle"))
    w.event(body("middle", "leaf"))
    w.event(body("leaf"))
    assert w.event(body("leaf", job_id=1, rv=2)) == {"uid-middle", "uid-top"}
    w.event(body("middle", generation=2, rv=3))  # middle no longer references leaf
    assert w.event(body("leaf", job_id=2, rv=4)) == set()


def test_deleting_a_referenced_job_is_held_with_one_event_per_set_of_referrers() -> None:
    w = World()
    w.event(body("child", job_id=5))
    w.event(body("parent", "child"))
    child = JobResource.from_body(body("child", job_id=5))
    held = w.index.hold_delete(child, w.registry, retry=0)
    assert held is not None
    delay, event = held
    assert 0 < delay <= HOLD_MAX_S
    assert event is not None and event.type == "Warning" and event.reason is EventReason.STILL_REFERENCED
    assert "Databricks job 5 is referenced by DatabricksJob(s) parent" in event.message
    again = w.index.hold_delete(child, w.registry, retry=7)
    assert again is not None and again[0] == HOLD_MAX_S and again[1] is None  # said once
    w.event(body("other", "child"))
    more = w.index.hold_delete(child, w.registry, retry=8)
    assert more is not None and more[1] is not None and "other, parent" in more[1].message
    w.event(body("parent", generation=2, rv=2))
    w.event(body("other", deleting=True, rv=2))  # being deleted itself: does not hold
    assert w.index.hold_delete(child, w.registry, retry=9) is None


def test_nothing_holds_an_orphaned_job_or_one_without_a_job() -> None:
    w = World()
    w.event(body("parent", "child"))
    orphan = JobResource.from_body(body("child", job_id=5, deletionPolicy="Orphan"))
    assert w.index.hold_delete(orphan, w.registry, retry=0) is None
    assert w.index.hold_delete(JobResource.from_body(body("child")), w.registry, retry=0) is None
