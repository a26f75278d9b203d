"""The operator's state and its wiring: the registry (what the watches saw), one runtime per
DatabricksWorkspace, the driver, the writer. kopf's handlers call only this module.

* A DatabricksJob event updates the registry; a new resource, a new generation or a new run-now value is
  queued on its workspace's runtime at once (a change from Git never waits for the next cycle).
* A DatabricksWorkspace event updates the registry and starts the runtime's next cycle now (new host,
  token reference or budget).
* After every observer cycle: metrics, the workspace's status (written when something a person sees
  changed, and at least every ``STATUS_HEARTBEAT_S``), and a refused token makes the Secret be re-read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from controller.operator import credentials, metrics
from controller.operator.config import ControllerConfig
from controller.operator.driver import Driver
from controller.operator.observation import Observations
from controller.operator.registry import JobResource, Registry
from controller.operator.runtime import WorkspaceRuntime
from controller.operator.workspace_status import workspace_status
from controller.operator.writer import Writer
from controller.reconcile.outcome import Event
from controller.reconcile.reasons import EventReason

log = logging.getLogger(__name__)
#: A workspace status whose only change is the cycle time is written at most this often (seconds).
STATUS_HEARTBEAT_S = 300.0


class Manager:
    """See the module docstring."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.registry = Registry()
        self.secrets = credentials.SecretCache()
        self.writer = Writer(self.registry)
        self.driver = Driver(self.registry, self.writer)
        self.runtimes: dict[tuple[str, str], WorkspaceRuntime] = {}
        self.observations = Observations(config.poll_interval_s)
        self._status_written: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    # -- events -----------------------------------------------------------------------------------------
    def job_event(self, body: Mapping[str, Any], event_type: str | None) -> None:
        res, urgent = self.registry.job_event(body, event_type)
        if res is None:
            uid = str((body.get("metadata") or {}).get("uid"))
            for runtime in self.runtimes.values():
                runtime.forget(uid)
            self.driver.forget(uid)
            return
        runtime = self.runtime(res.workspace)
        if urgent:
            runtime.enqueue(res.uid)
            if not runtime.ready.is_set():
                runtime.refresh_now()

    def workspace_event(self, body: Mapping[str, Any], event_type: str | None) -> None:
        changed = self.registry.workspace_event(body, event_type)
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        runtime = self.runtimes.get(key)
        if runtime is not None and changed:
            self._status_written.pop(key, None)
            runtime.refresh_now()

    async def delete(self, body: Mapping[str, Any], retry: int) -> float | None:
        """The finalizer's work for a deleted DatabricksJob; None when it may go, else seconds to wait."""
        res = JobResource.from_body(body)
        delay = await self.driver.delete(res, self.runtimes.get(res.workspace), retry)
        if delay is None:
            for runtime in self.runtimes.values():
                runtime.forget(res.uid)
            metrics.forget(res.namespace, res.name)
        return delay

    # -- runtimes ---------------------------------------------------------------------------------------
    def runtime(self, key: tuple[str, str]) -> WorkspaceRuntime:
        """The runtime of DatabricksWorkspace ``key`` (started on first use, whether or not it exists yet)."""
        runtime = self.runtimes.get(key)
        if runtime is None:
            runtime = WorkspaceRuntime(
                key=key,
                resolve=lambda: asyncio.to_thread(
                    credentials.resolve, self.registry, self.secrets, *key, self.config.allowed_hosts
                ),
                observations=self.observations,
                reconcile=self.driver.reconcile,
                members=lambda: [r.uid for r in self.registry.jobs_of(key) if not r.deleting],
                wanted_ids=lambda: self._wanted(key),
                on_cycle=self._after_cycle,
                on_refused=lambda: self._forget_secret(key),
            )
            self.runtimes[key] = runtime
            runtime.start()
        return runtime

    def _wanted(self, key: tuple[str, str]) -> set[int]:
        ids: set[int] = set()
        for res in self.registry.jobs_of(key):
            if res.status.get("jobId") is not None:
                ids.add(int(res.status["jobId"]))
            adopt = (res.spec.get("adopt") or {}).get("jobId")
            if isinstance(adopt, int):
                ids.add(adopt)
        return ids

    async def stop(self) -> None:
        for runtime in list(self.runtimes.values()):
            await runtime.stop()
        await self.observations.stop()

    def _forget_secret(self, key: tuple[str, str]) -> None:
        """Databricks refused the token of workspace ``key``: read its Secret again at the next use."""
        ws = self.registry.workspaces.get(key)
        ref = (ws.spec.get("tokenSecretRef") or {}) if ws else {}
        self.secrets.invalidate(key[0], str(ref.get("name", "")))

    async def _after_cycle(self, runtime: WorkspaceRuntime) -> None:
        await self._write_workspace_status(runtime)

    async def _write_workspace_status(self, runtime: WorkspaceRuntime) -> None:
        ws = self.registry.workspaces.get(runtime.key)
        if ws is None:
            return
        members = len(list(self.registry.jobs_of(runtime.key)))
        throttled = runtime.conn.budget.throttled_recently() if runtime.observation else 0
        new = workspace_status(ws, runtime.cycle, runtime.index, members, throttled)
        last_time, last = self._status_written.get(runtime.key, (0.0, dict(ws.status)))
        beat = time.monotonic() - last_time >= STATUS_HEARTBEAT_S
        if _without_cycle_time(new) == _without_cycle_time(last) and not beat:
            return
        await self.writer.workspace_status(ws.namespace, ws.name, ws.uid, new, last)
        self._status_written[runtime.key] = (time.monotonic(), new)
        reachable_before = _reachable(last)
        if reachable_before is not None and reachable_before != _reachable(new):
            reason = EventReason.WORKSPACE_REACHABLE if _reachable(new) else EventReason.WORKSPACE_UNREACHABLE
            message = next(c["message"] for c in new["conditions"] if c["type"] == "Reachable")
            await self.writer.event(
                ("DatabricksWorkspace", ws.namespace, ws.name, ws.uid),
                Event("Normal" if _reachable(new) else "Warning", reason, message),
            )


def _without_cycle_time(status: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k != "lastCycle"}
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    return out


def _reachable(status: Mapping[str, Any]) -> bool | None:
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Reachable"), None)
    return None if cond is None else cond.get("status") == "True"
