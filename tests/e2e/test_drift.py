"""Drift end to end: out-of-band edits seen within one poll interval, Correct, Report, and the bound."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
#: Time a reconcile and the kubectl reads around it may add to one poll interval.
SLACK_SECONDS = 3.0
PATH = "tasks[task_key=main].notebook_task.base_parameters.date"


def settings(name: str) -> dict[str, Any]:
    task = {"task_key": "main", "notebook_task": {"notebook_path": "/Shared/etl", "base_parameters": {"date": "today"}}}
    return {"name": name, "tasks": [task]}


def edited_tasks(emulator: EmulatorServer, job_id: int, **base_parameters: str) -> list[dict[str, Any]]:
    """The stored tasks with ``base_parameters`` changed, as a UI user's edit of one field."""
    tasks: list[dict[str, Any]] = emulator.workspace.get_settings(job_id)["tasks"]
    tasks[0]["notebook_task"]["base_parameters"].update(base_parameters)
    return tasks


def in_sync(kubectl: Kubectl, controller: ControllerProcess, name: str) -> dict[str, Any]:
    def synced() -> dict[str, Any] | None:
        obj = kubectl.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return dict(obj) if cond and cond["status"] == "True" else None

    try:
        return wait_for(synced, timeout=60, what=f"{name} Synced=True")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err


def event_reasons(kubectl: Kubectl, name: str) -> set[str]:
    out = kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
    return {e.get("reason") for e in json.loads(out)["items"]}


def test_report_policy_names_the_path_within_one_poll_interval(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("reported", settings("reported"), driftPolicy="Report")])
    job_id = in_sync(ns, controller, "reported")["status"]["jobId"]

    emulator.workspace.edit_settings(job_id, {"tasks": edited_tasks(emulator, job_id, date="yesterday")})
    edited_at = time.monotonic()

    def drifted() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "reported")
        cond = condition(obj, "Drifted")
        return dict(obj) if cond and cond["status"] == "True" else None

    obj = wait_for(
        drifted, timeout=controller.poll_interval + SLACK_SECONDS, what="Drifted=True within one poll interval"
    )
    assert time.monotonic() - edited_at <= controller.poll_interval + SLACK_SECONDS
    drift = obj["status"]["drift"]
    assert drift["detected"] is True and drift["count"] == 1 and drift["paths"] == [PATH]
    assert drift["items"] == [{"path": PATH, "desired": '"today"', "live": '"yesterday"', "writeOnly": False}]
    assert condition(obj, "Synced")["reason"] == "DriftDetected"  # type: ignore[index]
    # Report leaves the job as it is, however many checks pass.
    gets = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= gets + 2, timeout=30, what="two checks")
    assert (
        emulator.workspace.get_settings(job_id)["tasks"][0]["notebook_task"]["base_parameters"]["date"] == "yesterday"
    )
    wait_for(lambda: "DriftDetected" in event_reasons(ns, "reported"), timeout=10, what="a DriftDetected Event")


def test_correct_policy_restores_a_nested_edit(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply([job_manifest("restored", settings("restored"))])
    job_id = in_sync(ns, controller, "restored")["status"]["jobId"]

    tasks = edited_tasks(emulator, job_id, date="yesterday")
    tasks[0]["run_if"] = "ALL_DONE"
    emulator.workspace.edit_settings(job_id, {"tasks": tasks})

    def corrected() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "restored")
        cond = condition(obj, "Drifted")
        return dict(obj) if cond and cond["reason"] == "DriftCorrected" else None

    obj = wait_for(corrected, timeout=controller.poll_interval + SLACK_SECONDS, what="Drifted reason DriftCorrected")
    assert "tasks[task_key=main].run_if" in condition(obj, "Drifted")["message"]  # type: ignore[index]
    assert obj["status"]["drift"]["detected"] is False
    live = emulator.workspace.get_settings(job_id)["tasks"][0]
    assert live["run_if"] == "ALL_SUCCESS" and live["notebook_task"]["base_parameters"]["date"] == "today"
    wait_for(
        lambda: {"DriftDetected", "DriftCorrected"} <= event_reasons(ns, "restored"),
        timeout=10,
        what="DriftDetected and DriftCorrected Events",
    )


def test_correction_that_cannot_converge_stops(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    # Something in the workspace rewrites max_concurrent_runs after every save: resets cannot win,
    # and the controller must stop, not loop.
    ns.apply([job_manifest("stuck", settings("stuck"))])
    job_id = in_sync(ns, controller, "stuck")["status"]["jobId"]
    resets_before = emulator.workspace.request_count("jobs/reset", "POST")

    emulator.workspace.enforce_settings(job_id, {"max_concurrent_runs": 5})

    def not_converging() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", "stuck")
        cond = condition(obj, "Synced")
        return dict(obj) if cond and cond["reason"] == "DriftNotConverging" else None

    try:
        obj = wait_for(not_converging, timeout=30, what="Synced=False DriftNotConverging")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err
    assert obj["status"]["drift"]["paths"] == ["max_concurrent_runs"]
    assert condition(obj, "Drifted")["status"] == "True"  # type: ignore[index]
    resets = emulator.workspace.request_count("jobs/reset", "POST") - resets_before
    # Several more checks pass; none resets again.
    gets = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= gets + 3, timeout=30, what="three checks")
    assert emulator.workspace.request_count("jobs/reset", "POST") - resets_before == resets == 3
    assert "DriftNotConverging" in event_reasons(ns, "stuck")


def test_sticky_run_as_set_in_the_workspace_is_taken_back(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    # run_as survives jobs/reset when the body omits it (spec §3.4). The controller knows the
    # job's creator from jobs/get and sends run_as explicitly, so the correction converges.
    ns.apply([job_manifest("sticky", settings("sticky"))])
    job_id = in_sync(ns, controller, "sticky")["status"]["jobId"]
    creator = emulator.workspace.get_job(job_id).creator_user_name

    emulator.workspace.edit_settings(job_id, {"run_as": {"user_name": "someone-else@example.com"}})

    def corrected() -> bool:
        cond = condition(ns.get("databricksjob", "sticky"), "Drifted")
        return bool(cond and cond["reason"] == "DriftCorrected")

    try:
        wait_for(corrected, timeout=30, what="Drifted reason DriftCorrected")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err
    assert emulator.workspace.get_settings(job_id)["run_as"] == {"user_name": creator}
