"""One runtime per DatabricksWorkspace: its credentials, its work queue and workers.

* **Credentials** are resolved (a watched DatabricksWorkspace, a cached Secret) before every use of the
  workspace; a changed host or credential moves the runtime to the observation of the new identity. While they
  cannot be resolved (no workspace, no Secret), every job of the workspace is told so, and resolution is
  retried with backoff (5 s doubling to 5 minutes) or at once when the workspace or Secret changes.
* The **observation** (:mod:`controller.operator.observation`, shared by identity) tells the runtime after
  each cycle; the runtime then queues every DatabricksJob of the workspace.
* The **work queue** holds resource uids (each at most once); a change from Git is queued at once. ``WORKERS``
  tasks take uids and call the driver; a failed reconcile is queued again after its backoff.

The runtime knows nothing of reconcile decisions: it calls ``reconcile(uid, runtime)`` (the driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubernetes.client.exceptions import ApiException

from controller.databricks.connection import WorkspaceConnection
from controller.databricks.errors import ErrorKind
from controller.databricks.observer import JobIndex, WorkspaceObserver
from controller.operator.credentials import CredentialError, Credentials
from controller.operator.guard import Held, WorkspaceGuard
from controller.operator.observation import CycleState, Observation, Observations, backoff_seconds
from controller.reconcile.outcome import Problem
from controller.reconcile.reasons import Reason

log = logging.getLogger(__name__)
WORKERS = 4
URGENT, SWEEP = 0, 1

__all__ = ["WORKERS", "WorkspaceRuntime", "backoff_seconds"]


@dataclass(eq=False)
class WorkspaceRuntime:
    """See the module docstring. ``key`` is ``(namespace, name)`` of the DatabricksWorkspace."""

    key: tuple[str, str]
    resolve: Callable[[], Awaitable[Credentials]]
    observations: Observations
    reconcile: Callable[[str, WorkspaceRuntime], Awaitable[bool]]
    members: Callable[[], list[str]]
    wanted_ids: Callable[[], set[int]]
    on_cycle: Callable[[WorkspaceRuntime], Awaitable[None]]
    on_refused: Callable[[], None]
    known: Callable[[], list[Held]] = list
    names: Callable[[], set[str]] = set  # spec.adopt.name of the jobs not adopted yet
    guard: WorkspaceGuard = field(default_factory=WorkspaceGuard)
    credentials: Credentials | None = None
    observation: Observation | None = None
    credential_problem: CycleState | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: asyncio.PriorityQueue[tuple[int, int, str]] = field(default_factory=asyncio.PriorityQueue)
    _queued: dict[str, int] = field(default_factory=dict)  # uid -> the best priority it is queued with
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _running: set[str] = field(default_factory=set)
    _again: set[str] = field(default_factory=set)
    _retries: dict[str, int] = field(default_factory=dict)
    _timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # -- what the driver reads ----------------------------------------------------------------------------
    @property
    def cycle(self) -> CycleState:
        """The state that decides every job of this workspace now: a credential problem, else the
        observation's last cycle."""
        if self.credential_problem is not None or self.observation is None:
            return self.credential_problem or CycleState()
        return self.observation.cycle

    @property
    def conn(self) -> WorkspaceConnection:
        assert self.observation is not None, "no connection: the workspace was never resolved"
        return self.observation.conn

    @property
    def index(self) -> JobIndex | None:
        return self.observation.index if self.observation is not None else None

    @property
    def observer(self) -> WorkspaceObserver:
        assert self.observation is not None
        return self.observation.observer

    # -- Subscriber -----------------------------------------------------------------------------------
    def has_members(self) -> bool:
        return bool(self.members())

    def wanted(self) -> set[int]:
        return self.wanted_ids()

    def wanted_names(self) -> set[str]:
        return self.names()

    def budget(self) -> tuple[float, int] | None:
        """This workspace's ``requestBudget`` (requests per second, burst), None before it was resolved."""
        creds = self.credentials
        return (creds.rate, creds.burst) if creds is not None and creds.rate and creds.burst else None

    async def observed(self, observation: Observation) -> None:
        """After a cycle of our observation: check the credentials (read the Secret again when Databricks refused
        the token: it may have been rotated), then queue every job."""
        if observation.cycle.kind is ErrorKind.UNAUTHORIZED:
            self.on_refused()
        if observation.cycle.problem is None and observation.index is not None:
            present = set(observation.index.jobs) | set(observation.fresh)
            self.guard.observe(self.known(), present)
        await self._resolve()
        if self.observation is observation or self.credential_problem is not None:
            self._everyone()
            await self.on_cycle(self)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        name = f"{self.key[0]}/{self.key[1]}"
        self._tasks = [asyncio.create_task(self._resolve_forever(), name=f"resolve {name}")]
        self._tasks += [asyncio.create_task(self._work_forever(), name=f"worker {name}") for _ in range(WORKERS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for handle in self._timers.values():
            handle.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.observation is not None:
            await self.observations.leave(self.observation, self)

    def refresh_now(self) -> None:
        """Resolve the credentials again and observe now (the workspace or its Secret changed)."""
        self._wake.set()
        if self.observation is not None:
            self.observation.refresh_now()

    # -- credentials ------------------------------------------------------------------------------------
    async def _resolve(self) -> None:
        failures = self.credential_problem.failures_in_a_row + 1 if self.credential_problem else 1
        try:
            creds = await self.resolve()
        except CredentialError as err:
            problem = err.problem
        except ApiException as err:
            problem = Problem(Reason.API_ERROR, f"reading the workspace's Secret failed: {err.status} {err.reason}")
        else:
            self.credential_problem = None
            if creds != self.credentials or self.observation is None:
                await self._switch(creds)
            assert self.observation is not None
            self.observation.configure_bucket()
            return
        self.credential_problem = CycleState(time.time(), problem=problem, failures_in_a_row=failures)
        if failures == 1:
            log.warning(f"workspace {self.key[0]}/{self.key[1]}: {problem.message}")

    async def _switch(self, creds: Credentials) -> None:
        old = self.observation
        self.observation = self.observations.join(creds.host, creds.auth, self)
        self.credentials = creds
        if old is not None and old is not self.observation:
            await self.observations.leave(old, self)
        if self.observation.ready.is_set():
            self._everyone()
        else:
            self.observation.refresh_now()

    async def _resolve_forever(self) -> None:
        while True:
            self._wake.clear()  # before resolving: a wake-up meanwhile is not lost
            try:
                await self._resolve_step()
            except asyncio.CancelledError:
                raise
            except Exception:  # never end the loop: the workspace's jobs would wait for ever
                log.exception(f"resolving workspace {self.key[0]}/{self.key[1]} failed (a bug)")
            wait = backoff_seconds(self.credential_problem.failures_in_a_row) if self.credential_problem else 60.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _resolve_step(self) -> None:
        """Resolve when there is no observation yet, a problem, or a wake-up (the workspace or Secret changed)."""
        if not self.has_members():
            return
        await self._resolve()
        if self.credential_problem is not None:
            self._everyone()
            await self.on_cycle(self)

    # -- the queue --------------------------------------------------------------------------------------
    def _everyone(self) -> None:
        self.ready.set()
        for uid in self.members():
            self.enqueue(uid, urgent=False)

    def enqueue(self, uid: str, *, urgent: bool = True) -> None:
        """Reconcile ``uid`` as soon as a worker is free (a pending retry timer is superseded). ``urgent`` (a
        change from Git, a run-now, a retry) goes before the sweep after an observer cycle, so a change never
        waits behind the drift checks of every job."""
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        priority = URGENT if urgent else SWEEP
        if urgent and self.observation is not None and self.observation.cycle.problem is not None:
            self.observation.refresh_now()  # a change waits for no backoff: look at the workspace again now
        if self._queued.get(uid, SWEEP + 1) > priority:
            self._queued[uid] = priority
            self._queue.put_nowait((priority, next(self._seq), uid))

    def retry_later(self, uid: str) -> float:
        """Queue ``uid`` again after its backoff; returns the delay in seconds."""
        self._retries[uid] = self._retries.get(uid, 0) + 1
        delay = backoff_seconds(self._retries[uid])
        old = self._timers.pop(uid, None)
        if old is not None:
            old.cancel()
        self._timers[uid] = asyncio.get_running_loop().call_later(delay, lambda: self.enqueue(uid, urgent=False))
        return delay

    def forget(self, uid: str) -> None:
        self._retries.pop(uid, None)
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()

    async def _work_forever(self) -> None:
        while True:
            priority, _, uid = await self._queue.get()
            if self._queued.get(uid) != priority:  # already taken with a better priority
                continue
            del self._queued[uid]
            if uid in self._running:  # never two reconciles of one resource at once: run again after
                self._again.add(uid)
                continue
            self._running.add(uid)
            try:
                ok = await self.reconcile(uid, self)
            except asyncio.CancelledError:
                raise
            except Exception:  # the driver reports its own bugs; this is the last line of defence
                log.exception(f"reconcile of {uid} crashed")
                ok = False
            finally:
                self._running.discard(uid)
            if ok:
                self._retries.pop(uid, None)
            else:
                self.retry_later(uid)
            if uid in self._again:
                self._again.discard(uid)
                self.enqueue(uid)
