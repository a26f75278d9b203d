"""A controller killed (SIGKILL) while it is creating jobs never creates a second job on restart."""

from __future__ import annotations

from collections import Counter

import pytest

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
JOBS = 12


def test_kill_during_creation_then_restart_creates_no_duplicates(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    creates_before = emulator.workspace.request_count("jobs/create", "POST")
    names = [f"burst-{i}" for i in range(JOBS)]
    ns.apply(
        [
            job_manifest(n, {"name": n, "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": f"/{n}"}}]})
            for n in names
        ]
    )
    # Kill as soon as the first create reached the workspace: the rest are in flight or queued,
    # and at least one job exists whose id may not have reached status yet.
    wait_for(
        lambda: emulator.workspace.request_count("jobs/create", "POST") > creates_before,
        timeout=60,
        interval=0.02,
        what="the first jobs/create",
    )
    controller.kill()
    controller.start()

    def all_synced() -> list[dict[str, object]] | None:
        objs = [ns.get("databricksjob", n) for n in names]
        ok = all(o and (condition(o, "Synced") or {}).get("status") == "True" for o in objs)
        return objs if ok else None  # type: ignore[return-value]

    try:
        objs = wait_for(all_synced, timeout=120, what=f"all {JOBS} jobs Synced after restart")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{controller.log_tail()}") from err

    uids = {owner_of(o): o for o in objs}  # type: ignore[arg-type]
    owners = Counter(
        emulator.workspace.get_settings(j).get("tags", {}).get(OWNER_TAG) for j in emulator.workspace.job_ids()
    )
    for uid, obj in uids.items():
        assert owners[uid] == 1, f"{obj['metadata']['name']} has {owners[uid]} jobs"  # type: ignore[index]
    ids = {o["status"]["jobId"] for o in objs}  # type: ignore[index]
    assert len(ids) == JOBS


def owner_of(obj: dict) -> str:  # type: ignore[type-arg]
    """The owner tag value the controller (cluster name unset) gives this resource's job."""
    return owner_key("", obj["metadata"]["namespace"], obj["metadata"]["name"])
