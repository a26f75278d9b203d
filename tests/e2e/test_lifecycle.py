"""Lifecycle edges a platform team hits: prune with the workspace, pause, adopt, immutable workspaceRef."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobSettings, NotebookTask, Task

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e


def notebook_job(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}], **extra}


def synced_id(ns: Kubectl, name: str) -> int:
    def ready() -> int | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return obj["status"]["jobId"] if obj and cond and cond["status"] == "True" else None  # type: ignore[no-any-return]

    return wait_for(ready, timeout=60, what=f"{name} Synced with a job id")


def test_prune_of_job_workspace_and_secret_together_still_deletes_the_job(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("pruned", notebook_job("pruned"))])
    job_id = synced_id(ns, "pruned")
    # As Argo CD prunes a whole application: the workspace and its Secret go first, in one call.
    ns("delete", "databricksworkspace", "default", "--wait=false")
    ns("delete", "secret", "default-token", "--wait=false")
    ns("delete", "databricksjob", "pruned", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "pruned") is None, timeout=60, what="resource gone")
    assert job_id not in emulator.workspace.job_ids()


def test_resource_that_never_got_a_job_is_deleted_without_a_workspace(
    ns: Kubectl, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("homeless", notebook_job("homeless"), workspace="no-such-workspace")])

    def refused() -> bool:
        cond = condition(ns.get("databricksjob", "homeless"), "Synced")
        return bool(cond and cond["reason"] == "WorkspaceNotFound")

    wait_for(refused, timeout=30, what="Synced=False WorkspaceNotFound")
    ns("delete", "databricksjob", "homeless", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "homeless") is None, timeout=30, what="finalizer released")


def test_paused_makes_no_change_until_unpaused(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("sleepy", notebook_job("sleepy"), paused=True)])

    def held() -> bool:
        cond = condition(ns.get("databricksjob", "sleepy"), "Synced")
        return bool(cond and cond["reason"] == "Paused")

    wait_for(held, timeout=30, what="Synced=False Paused")
    assert [j for j in emulator.workspace.job_ids() if emulator.workspace.get_settings(j)["name"] == "sleepy"] == []

    ns.apply([job_manifest("sleepy", notebook_job("sleepy"), paused=False)])
    job_id = synced_id(ns, "sleepy")
    assert emulator.workspace.get_settings(job_id)["name"] == "sleepy"


def test_adopt_takes_over_an_existing_job(
    ns: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess
) -> None:
    ui = WorkspaceClient(host=emulator.url, token=emulator_token, auth_type="pat")
    existing = ui.jobs.create(
        name="made-by-hand",
        tasks=[Task(task_key="main", notebook_task=NotebookTask(notebook_path="/old"))],
    ).job_id
    assert existing is not None
    ns.apply([job_manifest("adopter", notebook_job("adopted"), adopt={"jobId": existing})])

    assert synced_id(ns, "adopter") == existing
    live = emulator.workspace.get_settings(existing)
    assert live["name"] == "adopted" and live["tasks"][0]["notebook_task"]["notebook_path"] == "/x"
    ui.jobs.update(existing, new_settings=JobSettings(max_concurrent_runs=1))  # still a normal job


def test_workspace_ref_cannot_change(ns: Kubectl, controller: ControllerProcess) -> None:
    ns.apply([job_manifest("anchored", notebook_job("anchored"))])
    synced_id(ns, "anchored")
    with pytest.raises(subprocess.CalledProcessError) as err:
        ns.apply([job_manifest("anchored", notebook_job("anchored"), workspace="elsewhere")])
    assert "workspaceRef is immutable" in err.value.stderr


def test_owner_tag_is_reserved(ns: Kubectl) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        ns.apply([job_manifest("spoof", notebook_job("spoof", tags={"dbjobs-owner": "abc"}))])
    assert "dbjobs-owner is reserved" in err.value.stderr


def test_adopting_a_job_another_resource_manages_is_refused(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("owner", notebook_job("owner"))])
    job_id = synced_id(ns, "owner")
    ns.apply([job_manifest("thief", notebook_job("thief"), adopt={"jobId": job_id})])

    def refused() -> dict[str, Any] | None:
        cond = condition(ns.get("databricksjob", "thief"), "Synced")
        return cond if cond and cond["reason"] == "AdoptTargetOwned" else None

    cond = wait_for(refused, timeout=30, what="thief Synced=False AdoptTargetOwned")
    assert str(job_id) in cond["message"]
    ns("delete", "databricksjob", "thief", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "thief") is None, timeout=30, what="thief gone")
    assert job_id in emulator.workspace.job_ids()  # the owner's job survived the thief's deletion
    assert emulator.workspace.get_settings(job_id)["name"] == "owner"


def test_workspace_outage_turns_synced_false_with_api_error(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("weathered", notebook_job("weathered"))])
    synced_id(ns, "weathered")
    # Every jobs/list fails for a while, as during a workspace outage: the observer must say so on every job.
    emulator.workspace.inject_fault("jobs/list", status=500, error_code="INTERNAL_ERROR", message="outage", count=1000)
    try:

        def api_error() -> dict[str, Any] | None:
            obj = ns.get("databricksjob", "weathered")
            cond = condition(obj, "Synced")
            return obj if cond and cond["reason"] == "ApiError" else None

        obj = wait_for(api_error, timeout=30, what="Synced=False ApiError from the periodic check")
        assert condition(obj, "Ready")["status"] == "True"  # type: ignore[index]  # the job still exists
    finally:
        emulator.workspace.reset_counters()  # drops the faults not yet consumed
    synced_id(ns, "weathered")


def test_thousand_task_job_is_handled_without_oversized_annotations(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    tasks = [{"task_key": f"t{i:04d}", "notebook_task": {"notebook_path": f"/n/{i}"}} for i in range(1000)]
    manifest = job_manifest("wide", {"name": "wide", "tasks": tasks})
    # Server-side apply, as Argo CD does for large objects (no last-applied copy in annotations).
    ns.apply([manifest], "--server-side")
    job_id = synced_id(ns, "wide")
    assert len(emulator.workspace.get_settings(job_id)["tasks"]) == 1000
    annotations = ns.get("databricksjob", "wide")["metadata"].get("annotations") or {}
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096
    assert "Too long" not in controller.log_tail(400)
