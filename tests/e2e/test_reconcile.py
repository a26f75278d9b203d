"""The whole path on real parts: kubectl apply → controller process → Databricks Jobs API (emulator) → status."""

from __future__ import annotations

from typing import Any

import pytest

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e


def notebook_job(name: str, path: str = "/Shared/etl/run", **extra: Any) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}], **extra}


def synced(kubectl: Kubectl, name: str, *, generation: int | None = None) -> dict[str, Any] | None:
    obj = kubectl.get("databricksjob", name)
    cond = condition(obj, "Synced")
    if not obj or not cond or cond.get("status") != "True":
        return None
    if generation is not None and obj["status"].get("observedGeneration") != generation:
        return None
    return dict(obj)


def await_synced(kubectl: Kubectl, controller: ControllerProcess, name: str, **kw: Any) -> dict[str, Any]:
    try:
        return wait_for(lambda: synced(kubectl, name, **kw), timeout=60, what=f"{name} Synced=True")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err


def test_create_gives_synced_job_with_id(ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess) -> None:
    ns.apply([job_manifest("create-me", notebook_job("create-me"))])
    obj = await_synced(ns, controller, "create-me")

    job_id = obj["status"]["jobId"]
    assert isinstance(job_id, int) and job_id > 0
    assert obj["status"]["jobUrl"] == f"{emulator.url}/jobs/{job_id}"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "Ready")["status"] == "True"  # type: ignore[index]
    live = emulator.workspace.get_settings(job_id)
    assert live["name"] == "create-me"
    assert live["tasks"][0]["notebook_task"]["notebook_path"] == "/Shared/etl/run"
    assert live["tags"][OWNER_TAG] == owner_of(obj)
    # The controller never writes spec: what we applied is what is stored.
    assert obj["spec"]["settings"] == notebook_job("create-me")


def test_spec_edit_resets_job_and_advances_generation(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("edit-me", notebook_job("edit-me"))])
    first = await_synced(ns, controller, "edit-me")
    job_id = first["status"]["jobId"]
    resets_before = emulator.workspace.request_count("jobs/reset", "POST")

    ns.apply([job_manifest("edit-me", notebook_job("edit-me", path="/Shared/etl/v2", max_concurrent_runs=3))])
    generation = first["metadata"]["generation"] + 1
    after = await_synced(ns, controller, "edit-me", generation=generation)

    assert after["status"]["jobId"] == job_id
    assert emulator.workspace.request_count("jobs/reset", "POST") > resets_before
    live = emulator.workspace.get_settings(job_id)
    assert live["tasks"][0]["notebook_task"]["notebook_path"] == "/Shared/etl/v2"
    assert live["max_concurrent_runs"] == 3


def test_delete_removes_job_and_finalizer(ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess) -> None:
    ns.apply([job_manifest("delete-me", notebook_job("delete-me"))])
    obj = await_synced(ns, controller, "delete-me")
    job_id = obj["status"]["jobId"]
    assert "dbjobs.io/finalizer" in obj["metadata"]["finalizers"]

    ns("delete", "databricksjob", "delete-me", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "delete-me") is None, timeout=60, what="resource gone")
    assert job_id not in emulator.workspace.job_ids()


def test_orphan_policy_keeps_job(ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess) -> None:
    ns.apply([job_manifest("keep-me", notebook_job("keep-me"), deletionPolicy="Orphan")])
    job_id = await_synced(ns, controller, "keep-me")["status"]["jobId"]
    ns("delete", "databricksjob", "keep-me", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "keep-me") is None, timeout=60, what="resource gone")
    assert job_id in emulator.workspace.job_ids()


def test_job_deleted_in_workspace_is_recreated(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("come-back", notebook_job("come-back"))])
    old_id = await_synced(ns, controller, "come-back")["status"]["jobId"]

    emulator.workspace.delete_job(old_id)

    def recreated() -> int | None:
        obj = synced(ns, "come-back")
        new_id = obj["status"]["jobId"] if obj else None
        return new_id if new_id not in (None, old_id) else None

    new_id = wait_for(recreated, timeout=30, what="a new job id in status")
    assert new_id in emulator.workspace.job_ids()
    obj = ns.get("databricksjob", "come-back")
    assert condition(obj, "Drifted")["reason"] == "JobRecreated"  # type: ignore[index]


def test_out_of_band_edit_is_reported_under_report_policy(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("watched", notebook_job("watched"), driftPolicy="Report")])
    job_id = await_synced(ns, controller, "watched")["status"]["jobId"]

    emulator.workspace.edit_settings(job_id, {"max_concurrent_runs": 7})

    def drifted() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "watched")
        cond = condition(obj, "Synced")
        return obj if cond and cond["reason"] == "DriftDetected" else None

    obj = wait_for(drifted, timeout=30, what="Synced=False DriftDetected")
    assert obj["status"]["drift"]["paths"] == ["max_concurrent_runs"]
    assert condition(obj, "Drifted")["status"] == "True"  # type: ignore[index]
    assert emulator.workspace.get_settings(job_id)["max_concurrent_runs"] == 7  # left as it is


def test_out_of_band_edit_is_corrected_by_default(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("guarded", notebook_job("guarded"))])
    job_id = await_synced(ns, controller, "guarded")["status"]["jobId"]

    emulator.workspace.edit_settings(job_id, {"max_concurrent_runs": 7})

    def corrected() -> bool:
        cond = condition(ns.get("databricksjob", "guarded"), "Drifted")
        return bool(cond and cond["reason"] == "DriftCorrected")

    wait_for(corrected, timeout=30, what="Drifted reason DriftCorrected")
    assert emulator.workspace.get_settings(job_id)["max_concurrent_runs"] == 1


def test_rejected_settings_give_invalid_spec_without_retry_storm(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    # Settings that pass admission and the controller's own checks but Databricks refuses (an existing
    # cluster it does not know, say): the emulator answers the next jobs/create with the API's 400.
    bad = notebook_job("cyclic")
    bad["tasks"][0]["existing_cluster_id"] = "0000-000000-gone"
    creates_before = emulator.workspace.request_count("jobs/create", "POST")
    emulator.workspace.inject_fault(
        "jobs/create",
        status=400,
        error_code="INVALID_PARAMETER_VALUE",
        message="Cluster 0000-000000-gone does not exist",
    )
    ns.apply([job_manifest("rejected", bad)])

    def invalid() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "rejected")
        cond = condition(obj, "Synced")
        return obj if cond and cond["reason"] == "InvalidSpec" else None

    obj = wait_for(invalid, timeout=60, what="Synced=False InvalidSpec")
    assert "does not exist" in condition(obj, "Synced")["message"]  # type: ignore[index]
    assert "jobId" not in obj["status"]

    # Let several poll intervals pass, observed through a healthy job's drift checks in the same
    # controller, then count: the refused generation must not be retried.
    ns.apply([job_manifest("healthy", notebook_job("healthy"))])
    healthy_id = await_synced(ns, controller, "healthy")["status"]["jobId"]
    gets = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(
        lambda: emulator.workspace.request_count("jobs/list", "GET") >= gets + 3,
        timeout=30,
        what=f"three drift checks of job {healthy_id}",
    )
    creates = emulator.workspace.request_count("jobs/create", "POST") - creates_before
    assert creates == 2  # one refused attempt for "rejected", one for "healthy"

    # Fixing the spec (a new generation) is retried at once.
    ns.apply([job_manifest("rejected", notebook_job("cyclic"))])
    await_synced(ns, controller, "rejected")


def test_dangling_depends_on_is_invalid_spec_before_any_databricks_call(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    # Admission cannot check depends_on against 1000 tasks within the CEL cost budget, so the
    # controller checks it before calling Databricks.
    dangling = {
        "name": "dangling",
        "tasks": [{"task_key": "b", "depends_on": [{"task_key": "missing"}], "notebook_task": {"notebook_path": "/x"}}],
    }
    ns.apply([job_manifest("dangling", dangling)])

    def invalid() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "dangling")
        cond = condition(obj, "Synced")
        return obj if cond and cond["reason"] == "InvalidSpec" else None

    obj = wait_for(invalid, timeout=60, what="Synced=False InvalidSpec")
    message = condition(obj, "Synced")["message"]  # type: ignore[index]
    assert "tasks[0].depends_on[0].task_key" in message and "missing" in message
    owned = [j for j in emulator.workspace.job_ids() if emulator.workspace.get_settings(j).get("name") == "dangling"]
    assert owned == []


def test_transient_api_errors_are_retried_with_api_error_reason(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    emulator.workspace.inject_fault(
        "jobs/create", status=500, error_code="INTERNAL_ERROR", message="backend hiccup", count=2
    )
    ns.apply([job_manifest("flaky", notebook_job("flaky"))])

    def api_error() -> bool:
        cond = condition(ns.get("databricksjob", "flaky"), "Synced")
        return bool(cond and cond["reason"] == "ApiError")

    wait_for(api_error, timeout=30, what="Synced=False ApiError")
    obj = await_synced(ns, controller, "flaky")
    owned = [
        j
        for j in emulator.workspace.job_ids()
        if emulator.workspace.get_settings(j).get("tags", {}).get(OWNER_TAG) == owner_of(obj)
    ]
    assert owned == [obj["status"]["jobId"]]


def owner_of(obj: dict) -> str:  # type: ignore[type-arg]
    """The owner tag value the controller (cluster name unset) gives this resource's job."""
    return owner_key("", obj["metadata"]["namespace"], obj["metadata"]["name"])
