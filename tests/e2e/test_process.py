"""The controller process as a platform team runs it: settings from the environment, ``GET /healthz`` served
on ``DBJOBS_HEALTH_PORT``, every log line about a resource naming it (text and JSON formats), and a SIGTERM
honoured within ``DBJOBS_SHUTDOWN_SECONDS`` even while a Databricks call hangs (and no second job after the
abandoned call completes)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for
from dbjobs_testkit.processes import free_ports

pytestmark = pytest.mark.e2e
SHUTDOWN_S = 5.0


def notebook_job(name: str) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": f"/{name}"}}]}


@pytest.fixture()
def own_controller(
    control_plane: ControlPlane, controller: ControllerProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[ControllerProcess, int]]:
    """The session's controller stopped, and one with this test's settings in its place (restored after)."""
    (health_port,) = free_ports(1)
    fmt = getattr(request, "param", "text")
    proc = ControllerProcess(
        controller.kubeconfig,
        tmp_path / "controller.log",
        poll_interval=2.0,
        extra_env={
            "DBJOBS_HEALTH_PORT": str(health_port),
            "DBJOBS_SHUTDOWN_SECONDS": str(SHUTDOWN_S),
            "DBJOBS_LOG_FORMAT": fmt,
        },
    )
    controller.stop()
    proc.start()
    try:
        yield proc, health_port
    finally:
        proc.stop()
        controller.start()


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return int(resp.status)
    except OSError:
        return None


def synced(ns: Kubectl, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return obj if obj and cond and cond["status"] == "True" else None  # type: ignore[no-any-return]

    return wait_for(ready, timeout=60, what=f"{name} Synced")


def test_health_endpoint_answers_while_the_operator_runs(
    ns: Kubectl, own_controller: tuple[ControllerProcess, int]
) -> None:
    proc, port = own_controller
    assert wait_for(lambda: healthz(port) == 200, timeout=30, what="GET /healthz 200")
    proc.stop()
    assert healthz(port) is None, "the health endpoint outlived the operator"


def test_text_log_lines_name_the_resource(ns: Kubectl, own_controller: tuple[ControllerProcess, int]) -> None:
    proc, _ = own_controller
    ns.apply([job_manifest("logged", notebook_job("logged"))])
    synced(ns, "logged")
    lines = proc.log_path.read_text().splitlines()
    plans = [line for line in lines if "created job" in line]
    assert [line for line in plans if f"[{ns.namespace}/logged] created job" in line], proc.log_tail()
    # Every line about a resource (this controller sees other tests' namespaces too) names it.
    unnamed = [line for line in plans if not re.search(r"\[[a-z0-9-]+/[a-z0-9.-]+\] created job", line)]
    assert not unnamed, unnamed
    assert not [line for line in lines if "Handler 'job_event' succeeded" in line]
    assert not [line for line in lines if "Timer 'periodic_check' succeeded" in line]


@pytest.mark.parametrize("own_controller", ["json"], indirect=True)
def test_json_log_lines_carry_the_resource(ns: Kubectl, own_controller: tuple[ControllerProcess, int]) -> None:
    proc, _ = own_controller
    ns.apply([job_manifest("jsonlog", notebook_job("jsonlog"))])
    synced(ns, "jsonlog")
    records = [json.loads(line) for line in proc.log_path.read_text().splitlines() if line.startswith("{")]
    plans = [r for r in records if str(r.get("message", "")).startswith("created job")]
    ours = [r for r in plans if r["object"]["namespace"] == ns.namespace and r["object"]["name"] == "jsonlog"]
    assert ours, proc.log_tail()
    assert all(r["object"].get("namespace") and r["object"].get("name") for r in plans)
    assert {r["severity"] for r in ours} == {"info"}


def test_sigterm_stops_within_the_budget_while_a_call_hangs(
    ns: Kubectl, emulator: EmulatorServer, own_controller: tuple[ControllerProcess, int]
) -> None:
    proc, _ = own_controller
    before = emulator.workspace.request_count("jobs/create", "POST")
    emulator.workspace.inject_hang("jobs/create", count=1)
    try:
        ns.apply([job_manifest("hung", notebook_job("hung"))])
        wait_for(
            lambda: emulator.workspace.request_count("jobs/create", "POST") > before,
            timeout=60,
            what="the hanging jobs/create",
        )
        assert proc.proc is not None
        popen = proc.proc
        start = time.monotonic()
        popen.terminate()  # SIGTERM, as the kubelet sends it
        code = popen.wait(timeout=SHUTDOWN_S + 20)
        took = time.monotonic() - start
        print(f"SIGTERM to exit with a hung Databricks call: {took:.1f}s (budget {SHUTDOWN_S:g}s), exit {code}")
        assert code == 0
        assert took < SHUTDOWN_S + 3, f"stop took {took:.1f}s"
    finally:
        emulator.workspace.release_hangs()  # the abandoned create now completes in the workspace
    proc.start()
    obj = synced(ns, "hung")
    key = owner_key("", str(ns.namespace), "hung")
    owned = [
        j
        for j in emulator.workspace.job_ids()
        if emulator.workspace.get_settings(j).get("tags", {}).get(OWNER_TAG) == key
    ]
    assert owned == [obj["status"]["jobId"]], "the abandoned create and the restart made two jobs"
