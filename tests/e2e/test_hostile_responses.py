"""Broken answers from Databricks (issue 13 item 4): the emulator (``garble.py``) answers every Jobs call of one
namespace's workspace with malformed JSON, a body cut mid-transfer, or unknown enum values, while a spec change
waits. The controller reports ``Synced=False`` reason ``ApiError`` (never ``InvalidSpec``) for the first two, keeps
running, makes a bounded number of calls meanwhile, and syncs the change once the answers are whole again. Unknown
enum values are no error (the SDK drops them): the controller stays up, reports no error reason, keeps one job and
syncs once the answers are whole. That it resets the job about once a cycle meanwhile is a known open bug
(docs/reliability.md, "Hostile input"); the figures are printed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for, workspace_manifests

pytestmark = pytest.mark.e2e
ENDPOINTS = ("jobs/list", "jobs/get", "jobs/reset", "jobs/create", "runs/list")


@pytest.fixture()
def own(admin: Kubectl, emulator_token: str, controller: ControllerProcess) -> Iterator[tuple[Kubectl, EmulatorServer]]:
    """A namespace whose workspace is an emulator of its own (garbled answers reach no other test)."""
    with EmulatorServer(token=emulator_token) as emu:
        name = f"garble-{secrets.token_hex(3)}"
        admin("create", "namespace", name)
        kubectl = Kubectl(admin.kubeconfig, namespace=name)
        kubectl.apply(workspace_manifests(name, emu.url, emulator_token))
        yield kubectl, emu


def _synced(kubectl: Kubectl, name: str) -> dict[str, Any]:
    obj = kubectl.get("databricksjob", name)
    cond = condition(obj, "Synced") or {}
    return {**cond, "generation": obj["metadata"]["generation"]}


def _settings(rev: str) -> dict[str, Any]:
    return {
        "name": "garbled",
        "tags": {"rev": rev},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Shared/g"}, "run_if": "ALL_SUCCESS"}],
    }


@pytest.mark.parametrize("kind", ["malformed-json", "truncated"])
def test_broken_answers_are_api_errors_and_the_change_syncs_after(
    own: tuple[Kubectl, EmulatorServer], controller: ControllerProcess, kind: str
) -> None:
    kubectl, emu = own
    kubectl.apply([job_manifest("garbled", _settings("1"))])
    wait_for(lambda: _synced(kubectl, "garbled").get("status") == "True", timeout=60, what="first sync")
    before = emu.workspace.request_count()
    for endpoint in ENDPOINTS:
        emu.workspace.inject_garbled(endpoint, kind, count=10_000)
    began = time.monotonic()
    kubectl.apply([job_manifest("garbled", _settings("2"))])

    def api_error() -> dict[str, Any] | None:
        cond = _synced(kubectl, "garbled")
        return (
            cond if cond.get("reason") == "ApiError" and cond.get("observedGeneration") == cond["generation"] else None
        )

    try:
        cond = wait_for(api_error, timeout=90, what=f"Synced=False ApiError under {kind}")
    except TimeoutError as err:
        raise AssertionError(f"{err}: {_synced(kubectl, 'garbled')}\n{controller.log_tail(30)}") from err
    assert cond["status"] == "False"
    time.sleep(10)  # ten seconds of broken answers, then count the calls made meanwhile
    calls = emu.workspace.request_count() - before
    elapsed = time.monotonic() - began
    emu.workspace.garbles.clear()
    assert controller.proc is not None and controller.proc.poll() is None, "the controller died"
    print(f"{kind}: {calls} calls in {elapsed:.0f}s of broken answers; condition: {cond.get('message')}")
    assert calls <= 10 + 3 * elapsed, f"{calls} calls in {elapsed:.0f}s: a hot loop"
    wait_for(
        lambda: (c := _synced(kubectl, "garbled")).get("status") == "True" and c.get("observedGeneration") == 2,
        timeout=120,
        what="Synced=True after the answers are whole again",
    )
    job_id = kubectl.get("databricksjob", "garbled")["status"]["jobId"]
    assert emu.workspace.get_settings(int(job_id))["tags"]["rev"] == "2"
    assert len(emu.workspace.job_ids()) == 1, "a second job"


def test_unknown_enum_values_cause_no_error(own: tuple[Kubectl, EmulatorServer], controller: ControllerProcess) -> None:
    kubectl, emu = own
    kubectl.apply([job_manifest("garbled", _settings("1"))])
    wait_for(lambda: _synced(kubectl, "garbled").get("status") == "True", timeout=60, what="first sync")
    resets = emu.workspace.request_count("jobs/reset", "POST")
    for endpoint in ("jobs/list", "jobs/get", "runs/list"):
        emu.workspace.inject_garbled(endpoint, "unknown-enum", count=10_000)
    time.sleep(15)  # several observer cycles (2 s) reading unknown values
    first = emu.workspace.request_count("jobs/reset", "POST") - resets
    time.sleep(10)  # and ten seconds more: a loop keeps resetting, a bounded correction has stopped
    seen = _synced(kubectl, "garbled")
    later = emu.workspace.request_count("jobs/reset", "POST") - resets - first
    emu.workspace.garbles.clear()
    assert controller.proc is not None and controller.proc.poll() is None, "the controller died"
    reason = f"Synced {seen.get('status')}/{seen.get('reason')}: {seen.get('message')}"
    print(f"unknown-enum: {first} resets in the first 15 s, {later} in the next 10 s; {reason}")
    # The resets themselves are a known open bug (docs/reliability.md "Hostile input": the SDK drops unknown enum
    # values, so the list view looks drifted); what holds today is asserted here: no error, no crash, one job.
    assert len(emu.workspace.job_ids()) == 1, "a second job"
    assert seen.get("reason") not in ("InvalidSpec", "InternalError"), seen
    wait_for(lambda: _synced(kubectl, "garbled").get("status") == "True", timeout=60, what="Synced=True after")
