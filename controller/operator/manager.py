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
from collections.abc import Coroutine, Mapping
from typing import Any

from controller.operator import credentials, metrics, tenancy
from controller.operator.config import ControllerConfig
from controller.operator.driver import Driver
from controller.operator.guard import Held
from controller.operator.observation import Observations
from controller.operator.registry import JobResource, Registry, WorkspaceResource
from controller.operator.runtime import WorkspaceRuntime
from controller.operator.workspace_status import workspace_status
from controller.operator.writer import Writer
from controller.reconcile import guard
from controller.reconcile.outcome import Event
from controller.reconcile.reasons import EventReason

log = logging.getLogger(__name__)
#: A workspace status whose only change is its last cycle (time, calls) is written at most this often (seconds):
#: `kubectl get dbworkspaces` stays about a minute fresh, without a write every cycle (the metric is live).
STATUS_HEARTBEAT_S = 60.0


class Manager:
    """See the module docstring."""

    def __init__(self, config: ControllerConfig, *, cluster_wide: bool | None = None) -> None:
        """``cluster_wide``: whether every namespace is watched (and so ClusterDatabricksWorkspaces and Namespaces);
        default: ``config`` names no namespace."""
        self.config = config
        self.registry = Registry(cluster_wide=not config.watch_namespaces if cluster_wide is None else cluster_wide)
        self.secrets = credentials.SecretCache()
        self._workload = credentials.WorkloadIdentity(  # auth.workloadIdentity (issue 11)
            config.workload_identity_token_file, config.workload_identity_clients
        )
        self.writer = Writer(self.registry)
        self.driver = Driver(self.registry, self.writer)
        self.driver.guard_changed = self.workspace_changed
        self.runtimes: dict[tuple[str, str], WorkspaceRuntime] = {}
        self.observations = Observations(config.poll_interval_s)
        self._status_written: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._status_locks: dict[tuple[str, str], asyncio.Lock] = {}

    # -- events -----------------------------------------------------------------------------------------
    def job_event(self, body: Mapping[str, Any], event_type: str | None) -> None:
        uid = str((body.get("metadata") or {}).get("uid"))
        before = self.registry.jobs.get(uid)  # as last watched (not our unechoed write): a new job id shows here
        res, urgent = self.registry.job_event(body, event_type)
        self._wake_referrers(before, res)
        if res is None:
            for runtime in self.runtimes.values():
                runtime.forget(uid)
            self.driver.forget(uid)
            self.driver.references.forget(uid)
            return
        runtime = self.runtime(res.workspace)
        if urgent:
            runtime.enqueue(res.uid)
            if not runtime.ready.is_set():
                runtime.refresh_now()

    def _wake_referrers(self, before: JobResource | None, after: JobResource | None) -> None:
        """Queue the DatabricksJobs that reference this one when it appeared, went, or got another job id,
        generation or workspace (:mod:`controller.operator.references`)."""
        for uid in self.driver.references.to_wake(before, after):
            other = self.registry.job(uid)
            if other is not None and not other.deleting:
                self.runtime(other.workspace).enqueue(uid)

    def workspace_event(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """A DatabricksWorkspace or ClusterDatabricksWorkspace (no namespace: key ``("", name)``) changed."""
        changed = self.registry.workspace_event(body, event_type)
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        runtime = self.runtimes.get(key)
        if runtime is not None and changed:
            self._status_written.pop(key, None)
            self._sync_guard(runtime)
            runtime.refresh_now()
            for res in self.registry.jobs_of(key):  # its policy or selector may admit or refuse them now
                if not res.deleting:
                    runtime.enqueue(res.uid)

    def namespace_event(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """A Namespace changed: when its labels did, queue its DatabricksJobs that use a ClusterDatabricksWorkspace
        (its namespaceSelector may admit or refuse them now)."""
        if not self.registry.namespace_event(body, event_type):
            return
        namespace = str((body.get("metadata") or {}).get("name"))
        for res in list(self.registry.jobs.values()):
            if res.namespace == namespace and res.workspace[0] == "" and not res.deleting:
                runtime = self.runtime(res.workspace)
                runtime.enqueue(res.uid)
                if not runtime.ready.is_set():
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
                    credentials.resolve,
                    self.registry,
                    self.secrets,
                    *key,
                    self.config.allowed_hosts,
                    self._workload,
                    self.config.controller_namespace,
                ),
                observations=self.observations,
                reconcile=self.driver.reconcile,
                members=lambda: [  # a namespace a ClusterDatabricksWorkspace does not admit makes no call
                    r.uid for r in self.registry.jobs_of(key) if not r.deleting and tenancy.admitted(self.registry, r)
                ],
                wanted_ids=lambda: self._wanted(key),
                names=lambda: self._wanted_names(key),
                on_cycle=self._after_cycle,
                on_refused=lambda: self._forget_secret(key),
                known=lambda: [
                    Held(r.uid, r.namespace, r.name, int(r.status["jobId"]))
                    for r in self.registry.jobs_of(key)
                    if r.status.get("jobId") is not None and not r.deleting
                ],
            )
            self._sync_guard(runtime)
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

    def _wanted_names(self, key: tuple[str, str]) -> set[str]:
        """``spec.adopt.name`` of the jobs of workspace ``key`` not adopted yet: the observer indexes those names."""
        names: set[str] = set()
        for res in self.registry.jobs_of(key):
            name = (res.spec.get("adopt") or {}).get("name")
            if isinstance(name, str) and name and res.status.get("jobId") is None and not res.deleting:
                names.add(name)
        return names

    async def stop(self) -> None:
        for runtime in list(self.runtimes.values()):
            await runtime.stop()
        await self.observations.stop()

    def _sync_guard(self, runtime: WorkspaceRuntime) -> None:
        """The guard follows its workspace: policy from the spec, state restored from the status once, and a new
        confirmation annotation releases what is held now."""
        ws = self.registry.workspaces.get(runtime.key)
        if ws is None:
            return
        runtime.guard.policy = guard.GuardPolicy.from_spec(ws.spec.get("deletionGuard"))
        runtime.guard.restore(ws.status)
        released = runtime.guard.confirm_deletions(ws.annotations.get(guard.CONFIRM_DELETIONS))
        recreated = runtime.guard.confirm_recreation(ws.annotations.get(guard.CONFIRM_RECREATION))
        ref = (ws.kind, ws.namespace, ws.name, ws.uid)
        if released:
            said = f"{released} held job deletion(s) released by a person"
            self._spawn(self.writer.event(ref, Event("Normal", EventReason.DELETIONS_CONFIRMED, said)))
        if recreated:
            said = f"{recreated} vanished job(s) may be re-created"
            self._spawn(self.writer.event(ref, Event("Normal", EventReason.RECREATION_CONFIRMED, said)))
            for uid in [r.uid for r in self.registry.jobs_of(runtime.key)]:
                runtime.enqueue(uid)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget_secret(self, key: tuple[str, str]) -> None:
        """Databricks refused the token of workspace ``key``: read its Secret again at the next use."""
        ws = self.registry.workspaces.get(key)
        name = credentials.secret_name(dict(ws.spec)) if ws else None  # auth.pat, auth.oauthM2M or tokenSecretRef
        if name:  # a ClusterDatabricksWorkspace's Secret is in the controller's namespace
            self.secrets.invalidate(key[0] or self.config.controller_namespace, name)

    async def _after_cycle(self, runtime: WorkspaceRuntime) -> None:
        await self._write_workspace_status(runtime)

    async def _write_workspace_status(self, runtime: WorkspaceRuntime) -> None:
        async with self._status_locks.setdefault(runtime.key, asyncio.Lock()):  # one at a time: no Event twice
            await self._write_workspace_status_now(runtime)

    async def _write_workspace_status_now(self, runtime: WorkspaceRuntime) -> None:
        ws = self.registry.workspaces.get(runtime.key)
        if ws is None:
            return
        members = len(list(self.registry.jobs_of(runtime.key)))
        throttled = runtime.conn.budget.throttled_recently() if runtime.observation else 0
        new = workspace_status(ws, runtime.cycle, runtime.index, members, throttled, runtime.guard)
        last_time, last = self._status_written.get(runtime.key, (0.0, dict(ws.status)))
        await self._guard_events(ws, last, new)
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
                (ws.kind, ws.namespace, ws.name, ws.uid),
                Event("Normal" if _reachable(new) else "Warning", reason, message),
            )

    async def _guard_events(self, ws: WorkspaceResource, last: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """One Warning per batch: when the guard starts holding deletions, or vanished jobs."""
        ref = (ws.kind, ws.namespace, ws.name, ws.uid)
        for ctype, reason in (("DeletionHeld", EventReason.DELETION_HELD), ("JobsVanished", EventReason.JOBS_VANISHED)):
            before, after = _condition(last, ctype), _condition(new, ctype)
            if after.get("status") == "True" and before.get("status") != "True":
                await self.writer.event(ref, Event("Warning", reason, str(after.get("message"))))

    async def workspace_changed(self, key: tuple[str, str]) -> None:
        """Write the workspace's status now (the guard held or released something)."""
        runtime = self.runtimes.get(key)
        if runtime is not None:
            await self._write_workspace_status(runtime)


def _condition(status: Mapping[str, Any], ctype: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), {})


def _without_cycle_time(status: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k != "lastCycle"}
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    return out


def _reachable(status: Mapping[str, Any]) -> bool | None:
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Reachable"), None)
    return None if cond is None else cond.get("status") == "True"
