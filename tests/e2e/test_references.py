"""Jobs that trigger jobs, end to end: a DatabricksJob whose ``run_job_task`` (and a for-each task inside it) names
another DatabricksJob by ``${resources.jobs.<name>.id}``, on the real apiserver, the controller process and the
emulator.

Aspects: applied together, the referencing job waits ``Synced=False ReferenceNotReady`` (no job made for it, the
dependency in ``kubectl get dbjobs``' Depends On column) until the referenced one has a job id, then is created
with that id; the referenced job re-created in the workspace → the referencing one is reset to the new id;
deleting a referenced DatabricksJob is held with a ``StillReferenced`` Warning while it is referenced, and goes
once the referrer is gone; a cycle of references is ``InvalidSpec`` naming the field, no job is made, and it clears
when the other job drops its reference; the apiserver refuses a malformed reference by field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.api.jobrefs import reference
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
RUN_CHILD = "tasks[0].run_job_task.job_id"


def notebook(name: str) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/x"}}]}


def runner(name: str, target: str, *, nested: bool = False) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [{"task_key": "run_child", "run_job_task": {"job_id": reference(target)}}]
    if nested:
        inner = {"task_key": "inner", "run_job_task": {"job_id": reference(target)}}
        tasks.append({"task_key": "each", "for_each_task": {"inputs": "[1, 2]", "task": inner}})
    return {"name": name, "tasks": tasks}


def await_reason(kubectl: Kubectl, controller: ControllerProcess, name: str, reason: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        obj = kubectl.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return dict(obj) if cond and cond.get("reason") == reason else None

    try:
        return wait_for(seen, timeout=60, what=f"{name} Synced reason {reason}")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err


def run_job_ids(emulator: EmulatorServer, job_id: int) -> list[int]:
    """The ``run_job_task.job_id`` of every task of the job (for-each inner tasks included), in task order."""
    found = []
    for task in emulator.workspace.get_settings(job_id)["tasks"]:
        inner = (task.get("for_each_task") or {}).get("task") or {}
        for block in (task.get("run_job_task"), inner.get("run_job_task")):
            if block:
                found.append(block["job_id"])
    return found


def depends_on_column(kubectl: Kubectl) -> dict[str, str]:
    lines = kubectl("get", "dbjobs").stdout.splitlines()
    start = lines[0].index("DEPENDS ON")
    end = lines[0].index("AGE")
    return {ln.split()[0]: ln[start:end].strip() for ln in lines[1:]}


def test_applied_together_the_runner_waits_for_the_childs_id_then_runs_it(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    # The child is paused (no job until it is not): the runner has a DatabricksJob to wait for, with no id yet.
    ns.apply(
        [
            job_manifest("runner", runner("runner", "child", nested=True)),
            job_manifest("child", notebook("child"), paused=True),
        ]
    )
    waiting = await_reason(ns, controller, "runner", "ReferenceNotReady")
    message = condition(waiting, "Synced")["message"]  # type: ignore[index]
    assert f"spec.settings.{RUN_CHILD}" in message and "DatabricksJob 'child' has no job id yet" in message
    assert condition(waiting, "Ready")["reason"] == "ReferenceNotReady"  # type: ignore[index]
    assert waiting["status"]["dependsOn"] == "child" and "jobId" not in waiting["status"]
    assert [j.settings["name"] for j in emulator.workspace.list_jobs(name="runner")] == []
    assert depends_on_column(ns) == {"child": "", "runner": "child"}

    ns("patch", "databricksjob", "child", "--type=merge", "-p", '{"spec":{"paused":false}}')
    child_id = await_reason(ns, controller, "child", "UpToDate")["status"]["jobId"]
    synced = await_reason(ns, controller, "runner", "UpToDate")
    assert run_job_ids(emulator, synced["status"]["jobId"]) == [child_id, child_id]
    assert synced["status"]["references"] == [
        {"field": RUN_CHILD, "name": "child", "jobId": child_id},
        {"field": "tasks[1].for_each_task.task.run_job_task.job_id", "name": "child", "jobId": child_id},
    ]
    assert synced["spec"]["settings"] == runner("runner", "child", nested=True)  # the spec keeps the reference


def test_a_child_re_created_in_the_workspace_resets_the_runner_to_the_new_id(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("child", notebook("child")), job_manifest("runner", runner("runner", "child"))])
    old_id = await_reason(ns, controller, "child", "UpToDate")["status"]["jobId"]
    runner_id = await_reason(ns, controller, "runner", "UpToDate")["status"]["jobId"]
    wait_for(lambda: run_job_ids(emulator, runner_id) == [old_id], timeout=30, what="runner runs the child")

    emulator.workspace.delete_job(old_id)

    def new_child_id() -> int | None:
        job_id = (ns.get("databricksjob", "child").get("status") or {}).get("jobId")
        return job_id if job_id not in (None, old_id) else None

    new_id = wait_for(new_child_id, timeout=60, what="the child re-created with a new id")
    wait_for(lambda: run_job_ids(emulator, runner_id) == [new_id], timeout=60, what="the runner reset to the new id")
    obj = wait_for(
        lambda: (o := ns.get("databricksjob", "runner"))["status"]["references"][0].get("jobId") == new_id and o,
        timeout=30,
        what="status.references at the new id",
    )
    assert obj["status"]["jobId"] == runner_id and condition(obj, "Synced")["status"] == "True"  # type: ignore[index]


def test_deleting_a_referenced_job_is_held_while_it_is_referenced(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("child", notebook("child")), job_manifest("runner", runner("runner", "child"))])
    child_id = await_reason(ns, controller, "child", "UpToDate")["status"]["jobId"]
    await_reason(ns, controller, "runner", "UpToDate")

    ns("delete", "databricksjob", "child", "--wait=false")

    def held() -> list[dict[str, Any]]:
        items = ns("get", "events", "--field-selector", "involvedObject.name=child", "-o", "json").stdout
        return [e for e in json.loads(items)["items"] if e["reason"] == "StillReferenced"]

    (event,) = wait_for(held, timeout=60, what="a StillReferenced Event on child")
    assert event["type"] == "Warning" and "referenced by DatabricksJob(s) runner" in event["message"]
    assert ns.get("databricksjob", "child")["metadata"].get("deletionTimestamp")
    assert child_id in emulator.workspace.job_ids()

    ns("delete", "databricksjob", "runner", "--wait=false")
    wait_for(lambda: ns.get("databricksjob", "child") is None, timeout=90, what="child deleted after the runner")
    assert child_id not in emulator.workspace.job_ids()


def test_a_cycle_of_references_is_invalid_by_field_until_it_is_broken(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("ping", runner("ping", "pong")), job_manifest("pong", runner("pong", "ping"))])
    for name, chain in (("ping", "ping -> pong -> ping"), ("pong", "pong -> ping -> pong")):
        obj = await_reason(ns, controller, name, "InvalidSpec")
        message = condition(obj, "Synced")["message"]  # type: ignore[index]
        assert f"spec.settings.{RUN_CHILD}" in message and f"closes a cycle of references {chain}" in message
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert not emulator.workspace.list_jobs(name="ping") and not emulator.workspace.list_jobs(name="pong")

    ns.apply([job_manifest("pong", notebook("pong"))])  # pong no longer runs ping: the cycle is broken
    pong_id = await_reason(ns, controller, "pong", "UpToDate")["status"]["jobId"]
    ping = await_reason(ns, controller, "ping", "UpToDate")
    assert run_job_ids(emulator, ping["status"]["jobId"]) == [pong_id]


def test_the_apiserver_refuses_a_malformed_reference_by_field(ns: Kubectl, controller: ControllerProcess) -> None:
    bad = runner("bad", "child")
    bad["tasks"][0]["run_job_task"]["job_id"] = "${resources.jobs.Not_A_Name.id}"
    proc = ns("apply", "-f", "-", stdin=json.dumps(job_manifest("bad", bad)), check=False)
    assert proc.returncode != 0
    assert "spec.settings.tasks[0].run_job_task.job_id" in proc.stderr
