"""``spec.adopt: {name}`` end to end (issue 11 item 6), on the local control plane, the emulator and the controller
process: jobs made out of band with the SDK; the one job of an exact name is adopted with no create; two jobs of
the name are ``AdoptTargetAmbiguous`` naming both ids, with no write to Databricks, until one is gone; none is
``AdoptTargetMissing`` with the count 0 and nothing created, until a job of that name appears. Admission refuses
``jobId`` and ``name`` together."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import NotebookTask, Task

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e

WRITES = ("jobs/create", "jobs/reset", "jobs/update", "jobs/delete")


def _writes(emulator: EmulatorServer) -> dict[str, int]:
    return {path: emulator.workspace.request_count(path, "POST") for path in WRITES}


def _notebook_job(name: str, path: str = "/x") -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}]}


def _made_by_hand(ui: WorkspaceClient, name: str, path: str = "/old") -> int:
    job_id = ui.jobs.create(name=name, tasks=[Task(task_key="main", notebook_task=NotebookTask(notebook_path=path))])
    assert job_id.job_id is not None
    return job_id.job_id


def _named(emulator: EmulatorServer, name: str) -> list[int]:
    return sorted(j for j in emulator.workspace.job_ids() if emulator.workspace.get_settings(j).get("name") == name)


def _refused(ns: Kubectl, name: str, reason: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return obj if cond and cond["reason"] == reason else None

    obj: dict[str, Any] = wait_for(seen, timeout=30, what=f"{name} Synced=False {reason}")
    return obj


def _adopted(ns: Kubectl, name: str) -> dict[str, Any]:
    def synced() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return obj if obj and cond and cond["status"] == "True" and obj["status"].get("jobId") else None

    obj: dict[str, Any] = wait_for(synced, timeout=60, what=f"{name} Synced with a job id")
    return obj


@pytest.fixture()
def ui(emulator: EmulatorServer, emulator_token: str) -> WorkspaceClient:
    """A person working in the workspace with the SDK, out of band."""
    return WorkspaceClient(host=emulator.url, token=emulator_token, auth_type="pat")


def test_the_one_job_of_the_name_is_adopted_without_a_create(
    ns: Kubectl, emulator: EmulatorServer, ui: WorkspaceClient, controller: ControllerProcess
) -> None:
    legacy = f"{ns.namespace} legacy ETL"
    existing = _made_by_hand(ui, legacy)
    _made_by_hand(ui, legacy.lower())  # another case is another name
    before = _writes(emulator)
    ns.apply([job_manifest("adopter", _notebook_job(f"{ns.namespace}-etl"), adopt={"name": legacy})])

    obj = _adopted(ns, "adopter")
    assert obj["status"]["jobId"] == existing
    after = _writes(emulator)
    assert after["jobs/create"] == before["jobs/create"], "adopting by name created a job"
    assert after["jobs/reset"] > before["jobs/reset"]  # the adopted job was reset to spec.settings
    live = emulator.workspace.get_settings(existing)
    assert live["name"] == f"{ns.namespace}-etl" and live["tasks"][0]["notebook_task"]["notebook_path"] == "/x"
    assert _named(emulator, f"{ns.namespace}-etl") == [existing]
    # Adopted: the name no longer matters (no job has it any more), the job stays managed.
    assert _named(emulator, legacy) == []
    ns.apply([job_manifest("adopter", _notebook_job(f"{ns.namespace}-etl", "/y"), adopt={"name": legacy})])

    def reset_again() -> bool:
        path = emulator.workspace.get_settings(existing)["tasks"][0]["notebook_task"]["notebook_path"]
        return bool(path == "/y")

    wait_for(reset_again, timeout=30, what="the adopted job follows spec.settings")
    assert _adopted(ns, "adopter")["status"]["jobId"] == existing


def test_two_jobs_of_the_name_are_refused_with_both_ids_and_no_write(
    ns: Kubectl, emulator: EmulatorServer, ui: WorkspaceClient, controller: ControllerProcess
) -> None:
    twice = f"{ns.namespace}-twice"
    ids = sorted([_made_by_hand(ui, twice), _made_by_hand(ui, twice)])
    settings = {i: emulator.workspace.get_settings(i) for i in ids}
    before = _writes(emulator)
    ns.apply([job_manifest("ambiguous", _notebook_job(f"{ns.namespace}-new"), adopt={"name": twice})])

    obj = _refused(ns, "ambiguous", "AdoptTargetAmbiguous")
    message = condition(obj, "Synced")["message"]  # type: ignore[index]
    assert f"2 jobs of the workspace ({ids[0]}, {ids[1]})" in message, message
    assert condition(obj, "Ready")["reason"] == "AdoptTargetAmbiguous"  # type: ignore[index]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]  # terminal for this generation
    assert "jobId" not in obj["status"]
    cycles = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= cycles + 2, timeout=30,
             what="two more observer cycles")  # fmt: skip
    assert _writes(emulator) == before, "a refused adoption wrote to Databricks"
    assert {i: emulator.workspace.get_settings(i) for i in ids} == settings
    assert _named(emulator, f"{ns.namespace}-new") == []

    ui.jobs.delete(ids[0])  # a person removes the duplicate: the one left is adopted
    assert _adopted(ns, "ambiguous")["status"]["jobId"] == ids[1]


def test_no_job_of_the_name_is_refused_with_count_zero_and_nothing_created(
    ns: Kubectl, emulator: EmulatorServer, ui: WorkspaceClient, controller: ControllerProcess
) -> None:
    ghost = f"{ns.namespace}-ghost"
    before = _writes(emulator)
    ns.apply([job_manifest("seeker", _notebook_job(f"{ns.namespace}-seeker"), adopt={"name": ghost})])

    obj = _refused(ns, "seeker", "AdoptTargetMissing")
    message = condition(obj, "Synced")["message"]  # type: ignore[index]
    assert f'"{ghost}"' in message and "(0 found)" in message, message
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] and "jobId" not in obj["status"]
    assert _writes(emulator)["jobs/create"] == before["jobs/create"]
    assert _named(emulator, f"{ns.namespace}-seeker") == []

    appeared = _made_by_hand(ui, ghost)  # the job someone was about to make: adopted, not duplicated
    assert _adopted(ns, "seeker")["status"]["jobId"] == appeared
    assert _named(emulator, f"{ns.namespace}-seeker") == [appeared]


def test_admission_refuses_job_id_and_name_together(ns: Kubectl) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        ns.apply([job_manifest("both", _notebook_job("both"), adopt={"jobId": 1, "name": "both"})])
    assert "adopt: set exactly one of jobId and name" in err.value.stderr
    with pytest.raises(subprocess.CalledProcessError) as err:
        ns.apply([job_manifest("neither", _notebook_job("neither"), adopt={})])
    assert "adopt: set exactly one of jobId and name" in err.value.stderr
