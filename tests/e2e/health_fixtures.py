"""Fixtures of the run-health and run-now e2e tests: a namespace whose workspace is a private
emulator on a ManualClock (runs step when the test says so; no sleeping for runs)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming
from dbjobs_testkit.harness import (
    ControllerProcess,
    Kubectl,
    condition,
    job_manifest,
    wait_for,
    workspace_manifests,
)

_counter = itertools.count()


@dataclass
class Site:
    """One test's namespace (``kubectl``), its emulator and that emulator's clock."""

    kubectl: Kubectl
    emu: EmulatorServer
    clock: ManualClock
    controller: ControllerProcess

    def apply_job(self, name: str, settings: dict[str, Any] | None = None, **spec: Any) -> int:
        """Apply a one-task job and wait for its job id."""
        body = settings or {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}]}
        self.kubectl.apply([job_manifest(name, body, **spec)])
        obj = self.wait(lambda o: o if (o.get("status") or {}).get("jobId") else None, name, "a job id")
        return int(obj["status"]["jobId"])

    def wait(self, check: Any, name: str, what: str, timeout: float = 60) -> Any:
        def probe() -> Any:
            obj = self.kubectl.get("databricksjob", name)
            return check(obj) if obj else None

        try:
            return wait_for(probe, timeout=timeout, what=f"{name}: {what}")
        except TimeoutError as err:
            raise AssertionError(f"{err}\n--- controller log ---\n{self.controller.log_tail()}") from err

    def wait_health(self, name: str, status: str, reason: str) -> dict[str, Any]:
        def check(obj: dict[str, Any]) -> dict[str, Any] | None:
            cond = condition(obj, "RunHealthy")
            return obj if cond and (cond["status"], cond["reason"]) == (status, reason) else None

        result: dict[str, Any] = self.wait(check, name, f"RunHealthy={status} {reason}")
        return result


@pytest.fixture(name="site")
def site_fixture(admin: Kubectl, controller: ControllerProcess) -> Iterator[Site]:
    token = secrets.token_hex(16)
    clock = ManualClock()
    with EmulatorServer(token=token, clock=clock, run_timing=RunTiming(1000, 5000)) as emu:
        name = f"health-{next(_counter)}-{secrets.token_hex(3)}"
        admin("create", "namespace", name)
        kubectl = Kubectl(admin.kubeconfig, namespace=name)
        kubectl.apply(workspace_manifests(name, emu.url, token))
        yield Site(kubectl, emu, clock, controller)
        # Delete the jobs while their emulator still answers: a controller left with resources
        # pointing at a stopped emulator spends its worker threads on connection retries.
        kubectl("delete", "databricksjob", "--all", "--wait=true", "--timeout=60s", check=False)
        admin("delete", "namespace", name, "--wait=false")
