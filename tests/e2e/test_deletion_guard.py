"""The mass deletion and mass re-creation guard (issue 11 item 1), end to end on the real apiserver:

* 50 DatabricksJobs deleted at once (as an Argo CD prune would): 10 jobs are deleted (the default budget of 10
  in 10 minutes), 40 are held — their finalizers stay, each shows ``DeletionHeld``, the workspace lists them and
  says so once with an Event; a person's ``dbjobs.io/confirm-deletions`` releases those 40, and a deletion after
  the confirmation is held again (a confirmation never covers later deletions);
* 30 of 50 jobs wiped in the workspace (a reset workspace, a wrong host): none is re-created, the jobs show
  ``JobsVanished`` and so does the workspace, until ``dbjobs.io/confirm-recreation`` lets them be re-created.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
N = 50


def jobs(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        job_manifest(
            f"{prefix}-{i}",
            {"name": f"{prefix}-{i}", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]},
        )
        for i in range(n)
    ]


def all_synced(ns: Kubectl, n: int) -> dict[str, int]:
    def ready() -> dict[str, int] | None:
        items = ns.get("databricksjobs")["items"]
        ids = {
            o["metadata"]["name"]: o["status"]["jobId"]
            for o in items
            if (condition(o, "Synced") or {}).get("status") == "True" and (o.get("status") or {}).get("jobId")
        }
        return ids if len(ids) == n else None

    return wait_for(ready, timeout=180, what=f"{n} jobs Synced", interval=1)


def guard_status(ns: Kubectl) -> dict[str, Any]:
    return dict((ns.get("databricksworkspace", "default").get("status") or {}).get("guard") or {})


def test_a_prune_of_50_deletes_10_and_holds_40_until_a_person_confirms(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply(jobs("prune", N))
    ids = all_synced(ns, N)
    ns("delete", "databricksjobs", "--all", "--wait=false")

    def settled() -> dict[str, Any] | None:
        status = guard_status(ns)
        return status if status.get("heldCount") == N - 10 else None

    status = wait_for(settled, timeout=120, what="40 deletions held", interval=1)
    live = set(emulator.workspace.job_ids())
    assert len(set(ids.values()) - live) == 10, "exactly the budget of 10 jobs was deleted"
    assert status["deletionsInWindow"] == 10 and len(status["heldDeletions"]) == N - 10

    def marked() -> list[dict[str, Any]] | None:  # each held resource's status is patched after the guard decided
        left = ns.get("databricksjobs")["items"]
        held = [o for o in left if (condition(o, "DeletionHeld") or {}).get("status") == "True"]
        return left if len(held) == len(left) == N - 10 else None

    left = wait_for(marked, timeout=60, what="DeletionHeld on each of the 40", interval=1)
    assert all("dbjobs.io/finalizer" in o["metadata"]["finalizers"] for o in left)
    assert all((condition(o, "Ready") or {}).get("status") == "True" for o in left), "Ready is left as it is"
    ws = ns.get("databricksworkspace", "default")
    assert (condition(ws, "DeletionHeld") or {}).get("status") == "True"
    held_events = [e for e in ns.get("events")["items"] if e["reason"] == "DeletionHeld"]
    assert len(held_events) == 1, "one Event per batch, not one per job"

    ns("annotate", "databricksworkspace", "default", "dbjobs.io/confirm-deletions=prune-reviewed-1")
    wait_for(lambda: not ns.get("databricksjobs")["items"], timeout=120, what="the 40 released", interval=1)
    assert not set(ids.values()) & set(emulator.workspace.job_ids())
    assert guard_status(ns).get("confirmedDeletions") == "prune-reviewed-1"

    # The confirmation released what was held then, not what comes later: the budget is spent, so this waits.
    ns.apply(jobs("later", 1))
    later = all_synced(ns, 1)["later-0"]
    ns("delete", "databricksjob", "later-0", "--wait=false")
    wait_for(lambda: guard_status(ns).get("heldCount") == 1, timeout=60, what="the later deletion held")
    assert later in emulator.workspace.job_ids()


def test_30_of_50_jobs_wiped_are_not_recreated_until_confirmed(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply(jobs("wiped", N))
    ids = all_synced(ns, N)
    creates = emulator.workspace.request_count("jobs/create", "POST")
    wiped = sorted(ids.values())[:30]
    for job_id in wiped:
        emulator.workspace.delete_job(job_id)

    def vanished() -> list[dict[str, Any]] | None:
        items = [
            o
            for o in ns.get("databricksjobs")["items"]
            if (condition(o, "Synced") or {}).get("reason") == "JobsVanished"
        ]
        return items if len(items) == 30 else None

    held = wait_for(vanished, timeout=60, what="30 jobs JobsVanished", interval=1)
    assert all((condition(o, "Ready") or {}).get("status") == "False" for o in held), "their jobs are gone"
    ws = ns.get("databricksworkspace", "default")
    assert (condition(ws, "JobsVanished") or {}).get("status") == "True"
    assert len(guard_status(ns)["vanished"]) == 30
    lists = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= lists + 3, timeout=30, what="3 cycles")
    assert emulator.workspace.request_count("jobs/create", "POST") == creates, "nothing was re-created"

    ns("annotate", "databricksworkspace", "default", "dbjobs.io/confirm-recreation=restored-from-backup")
    recreated = all_synced(ns, N)
    assert emulator.workspace.request_count("jobs/create", "POST") == creates + 30
    assert not set(recreated.values()) & set(wiped)


def test_deleting_resources_whose_jobs_are_gone_waits_for_nobody(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    """Found as a new user would: deleting a resource whose job had vanished was held by the budget ("deleting
    job N waits for a person") although nothing was left to delete. Budget 0 here: any real deletion waits."""
    ns("patch", "databricksworkspace", "default", "--type=merge", "-p", '{"spec":{"deletionGuard":{"maxDeletions":0}}}')
    ns.apply(jobs("gone", 10))
    ids = all_synced(ns, 10)
    for job_id in sorted(ids.values())[:6]:
        emulator.workspace.delete_job(job_id)
    gone = [n for n, j in ids.items() if j in sorted(ids.values())[:6]]
    wait_for(lambda: guard_status(ns).get("vanished"), timeout=60, what="JobsVanished", interval=1)
    ns("delete", "databricksjob", *gone, "--wait=false")
    wait_for(
        lambda: not [o for o in ns.get("databricksjobs")["items"] if o["metadata"]["name"] in gone],
        timeout=60,
        what="the 6 resources without jobs released",
        interval=1,
    )
    assert not guard_status(ns).get("heldCount"), "nothing held: there was nothing to delete"
    kept = next(n for n in ids if n not in gone)
    ns("delete", "databricksjob", kept, "--wait=false")
    wait_for(lambda: guard_status(ns).get("heldCount") == 1, timeout=60, what="a real deletion still held")
    assert ids[kept] in emulator.workspace.job_ids()
