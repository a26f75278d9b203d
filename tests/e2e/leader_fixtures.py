"""Fixtures of the leader-election and sharding e2e tests: controller processes of our own (the session's
controller is stopped meanwhile and restarted after), each with leader election on a Lease, a health port,
and a Role granting the Lease verbs the kubernetes client's ``leaderelection`` calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for
from dbjobs_testkit.processes import free_ports

CONTROLLER_USER = "dbjobs-controller"  # the session's controller identity (tests/e2e/conftest.py)
#: What the library calls on the Lease (controller.operator.leader); the chart grants the same.
LEASE_VERBS = ["get", "create", "update"]


@dataclass(frozen=True)
class Timing:
    """Lease duration, renew deadline and retry period in whole seconds (DBJOBS_LEADER_ELECTION_*)."""

    lease_s: int
    renew_s: int
    retry_s: int


@dataclass
class Candidate:
    """One controller process competing for a Lease, with its own ``GET /healthz`` port."""

    name: str
    proc: ControllerProcess
    health_port: int

    @property
    def pid(self) -> int:
        assert self.proc.proc is not None, f"{self.name} is not running"
        return self.proc.proc.pid

    def healthz(self) -> tuple[int, dict[str, Any]] | None:
        """``(status, body)`` of ``GET /healthz``; None when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as resp:
                return int(resp.status), json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"{}")
        except OSError:
            return None

    def log(self) -> str:
        return self.proc.log_path.read_text(errors="replace") if self.proc.log_path.exists() else ""


Start = Callable[..., Candidate]


def lease_access(namespace: str, user: str = CONTROLLER_USER) -> list[dict[str, Any]]:
    """A Role with the Lease verbs in ``namespace`` and its RoleBinding to ``user``."""
    meta = {"name": "dbjobs-leader-election", "namespace": namespace}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": LEASE_VERBS}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


@pytest.fixture(name="candidates")
def candidates_fixture(controller: ControllerProcess, tmp_path: Path) -> Iterator[Start]:
    """``start(name, namespace=, lease=, timing=, **env)`` starts a controller with leader election on Lease
    ``namespace/lease``; every one is stopped after the test and the session's controller restarted."""
    started: list[Candidate] = []

    def start(name: str, *, namespace: str, lease: str, timing: Timing, **env: str) -> Candidate:
        (port,) = free_ports(1)
        proc = ControllerProcess(
            controller.kubeconfig,
            tmp_path / f"{name}.log",
            poll_interval=2.0,
            extra_env={
                "DBJOBS_LEADER_ELECTION": "true",
                "DBJOBS_LEADER_ELECTION_NAMESPACE": namespace,
                "DBJOBS_LEADER_ELECTION_LEASE_NAME": lease,
                "DBJOBS_LEADER_ELECTION_LEASE_DURATION_SECONDS": str(timing.lease_s),
                "DBJOBS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS": str(timing.renew_s),
                "DBJOBS_LEADER_ELECTION_RETRY_PERIOD_SECONDS": str(timing.retry_s),
                "DBJOBS_HEALTH_PORT": str(port),
                "DBJOBS_SHUTDOWN_SECONDS": "5",
                "POD_NAME": name,
                **env,
            },
        )
        candidate = Candidate(name, proc, port)
        started.append(candidate)
        proc.start()
        return candidate

    controller.stop()
    try:
        yield start
    finally:
        for candidate in started:
            candidate.proc.stop()
            print(f"{candidate.name} log: {candidate.proc.log_path}")
        controller.start()


def lease_holder(admin: Kubectl, namespace: str, name: str) -> str:
    """``spec.holderIdentity`` of Lease ``namespace/name`` ("" when absent or released)."""
    lease = Kubectl(admin.kubeconfig, namespace).get("lease", name) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def role(candidate: Candidate) -> str | None:
    """The role ``/healthz`` reports when it answers 200, else None."""
    answer = candidate.healthz()
    return str(answer[1].get("role")) if answer and answer[0] == 200 else None


def await_leader(admin: Kubectl, namespace: str, lease: str, candidate: Candidate, timeout: float = 60) -> str:
    """Wait until ``candidate`` holds the Lease and answers ``/healthz`` 200 as the leader; its identity."""

    def held() -> str | None:
        holder = lease_holder(admin, namespace, lease)
        return holder if holder.startswith(f"{candidate.name}_") else None

    holder = wait_for(held, timeout=timeout, what=f"{candidate.name} holding Lease {namespace}/{lease}")
    wait_for(lambda: role(candidate) == "leader", timeout=timeout, what=f"{candidate.name} /healthz 200 as leader")
    return holder


def notebook_job(name: str, path: str = "/v1") -> dict[str, Any]:
    settings = {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}]}
    return job_manifest(name, settings)


def synced(ns: Kubectl, name: str, generation: int = 1, timeout: float = 90) -> dict[str, Any]:
    """Wait until ``name`` is Synced=True for ``generation`` with a job id; the resource."""

    def ready() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        ok = obj and cond and cond["status"] == "True" and obj["status"].get("jobId")
        return obj if ok and obj["status"].get("observedGeneration") == generation else None

    return wait_for(ready, timeout=timeout, what=f"{ns.namespace}/{name} Synced at generation {generation}")


def owned_jobs(emulator: EmulatorServer, namespace: str, name: str) -> list[int]:
    """Ids of the workspace's jobs whose owner tag names DatabricksJob ``namespace/name``."""
    key = owner_key("", namespace, name)
    ws = emulator.workspace
    return [j for j in ws.job_ids() if (ws.get_settings(j).get("tags") or {}).get(OWNER_TAG) == key]
