"""One observation loop per Databricks identity (host + credential), shared by every DatabricksWorkspace that uses it.

Teams often get a DatabricksWorkspace each in their own namespace, pointing at the same workspace with the
same service principal: they share one loop, so a workspace is listed once per cycle however many
namespaces use it. Each loop:

* refreshes the :class:`~controller.databricks.observer.JobIndex` and run history every ``interval``
  seconds (backing off to 5 minutes while the workspace fails), wanted ids and names (``spec.adopt.name``)
  being the union of its subscribers';
* then tells every subscriber (a :class:`~controller.operator.runtime.WorkspaceRuntime`), which queues its
  DatabricksJobs and writes its workspace's status.

Jobs of different namespaces never mix: a job is found by its id in status or by its owner tag, whose value
names the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from controller.databricks.auth import Auth
from controller.databricks.connection import WorkspaceConnection, workspace_label
from controller.databricks.errors import DatabricksFailure, ErrorKind
from controller.databricks.observer import CycleReport, JobIndex, LiveJob, WorkspaceObserver
from controller.operator import metrics
from controller.operator.problems import problem_of
from controller.reconcile.outcome import Problem

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0
#: The longest wait between two observations of a failing workspace.
OUTAGE_RETRY_MAX_S = 60.0


def backoff_seconds(failures: int) -> float:
    """Delay before retry number ``failures`` (1-based): 5 s doubling, at most 300 s."""
    return float(min(MAX_BACKOFF_S, 5 * 2 ** max(0, min(failures - 1, 6))))


@dataclass
class CycleState:
    """The last cycle, for status and metrics: ``problem`` None when it succeeded; ``kind`` the Databricks
    error kind when a call failed."""

    ended: float = 0.0  # wall clock (epoch seconds)
    report: CycleReport | None = None
    problem: Problem | None = None
    kind: ErrorKind | None = None
    failures_in_a_row: int = 0


class Subscriber(Protocol):
    """What an observation needs of a runtime."""

    def has_members(self) -> bool: ...
    def wanted(self) -> set[int]: ...
    def wanted_names(self) -> set[str]: ...
    def budget(self) -> tuple[float, int] | None: ...
    async def observed(self, observation: Observation) -> None: ...


def identity(host: str, auth: Auth) -> tuple[str, str]:
    """The sharing key: the host and a digest of the credential, whatever its kind (``Auth.identity``: a secret is
    never part of a key that could be logged)."""
    return host.rstrip("/"), auth.identity()


@dataclass(eq=False)
class Observation:
    """See the module docstring."""

    host: str
    auth: Auth  # the credential (issue 11: pat, oauth-m2m or workload identity); its repr shows no secret
    interval_s: float
    conn: WorkspaceConnection = field(init=False)
    observer: WorkspaceObserver = field(default_factory=WorkspaceObserver)
    cycle: CycleState = field(default_factory=CycleState)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: set[Subscriber] = field(default_factory=set)
    #: Jobs read after a write (a reset's verification), newer than the index until the next cycle: a reconcile
    #: right after a reset must not plan from the index's older copy (it would reset again).
    fresh: dict[int, tuple[float, LiveJob]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        # The SDK gives up on a call after this: status tells of an outage within about one interval.
        retry_s = min(30.0, max(5.0, self.interval_s))
        self.conn = WorkspaceConnection(self.host, self.auth, retry_timeout_s=retry_s)

    @property
    def index(self) -> JobIndex | None:
        return self.observer.index

    def read_after_write(self, job: LiveJob) -> None:
        """Remember ``job`` as read just now (until a cycle that began later replaces it)."""
        self.fresh[job.job_id] = (time.monotonic(), job)

    def live(self, job_id: int) -> LiveJob | None:
        """The newest copy of ``job_id``: a read after our own write if newer than the index, else the index's."""
        index = self.observer.index
        read = self.fresh.get(job_id)
        if read is not None and (index is None or read[0] > index.started):
            return read[1]
        return index.jobs.get(job_id) if index is not None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name=f"observer {self.host}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.conn.close()

    def refresh_now(self) -> None:
        self._wake.set()

    def configure_bucket(self) -> None:
        """The shared token bucket follows the most generous ``requestBudget`` of the workspaces using it: one
        tenant's low budget must not slow another's calls (each tenant's credential has its own bucket)."""
        budgets = [s.budget() for s in list(self.subscribers)]
        rates = [b for b in budgets if b is not None]
        if rates:
            self.conn.bucket.configure(max(r for r, _ in rates), max(b for _, b in rates))

    async def _forever(self) -> None:
        while True:
            self._wake.clear()  # before the cycle: a wake-up during it starts the next one at once
            if any(s.has_members() for s in list(self.subscribers)):
                try:
                    await self._one_cycle()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug must not end the loop every job of this workspace depends on
                    log.exception(f"observer cycle of {self.host} failed with an unexpected error (a bug)")
                    metrics.INTERNAL_ERRORS.inc()
            wait = self.interval_s
            if self.cycle.problem is not None:
                # Back off while the workspace fails, but not beyond a minute (or the interval): the end of an
                # outage must show within about that, not five minutes later.
                wait = min(backoff_seconds(self.cycle.failures_in_a_row), max(self.interval_s, OUTAGE_RETRY_MAX_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _one_cycle(self) -> None:
        wanted: set[int] = set()
        names: set[str] = set()
        for sub in list(self.subscribers):
            wanted |= sub.wanted()
            names |= sub.wanted_names()
        conn = self.conn
        try:
            report = await conn.run(lambda client: self.observer.refresh(client, conn.gate, wanted, names))
            self.cycle = CycleState(time.time(), report)
            started = self.observer.index.started if self.observer.index else 0.0
            self.fresh = {k: v for k, v in self.fresh.items() if v[0] > started}
        except DatabricksFailure as failure:
            failures = self.cycle.failures_in_a_row + 1
            self.cycle = CycleState(time.time(), None, problem_of(failure), failure.kind, failures)
            log.warning(f"observing {self.host} failed: {failure.message}")
        self.ready.set()
        self._record()
        for sub in list(self.subscribers):
            try:
                await sub.observed(self)
            except asyncio.CancelledError:
                raise
            except Exception:  # one workspace's bug must not starve the others sharing this observation
                log.exception(f"after observing {self.host}: a subscriber failed (a bug)")
                metrics.INTERNAL_ERRORS.inc()

    def _record(self) -> None:
        cycle, index, runs = self.cycle, self.observer.index, self.observer.runs.last_cycle
        ok = cycle.problem is None
        metrics.record_cycle(
            workspace_label(self.host),
            ended=cycle.ended,
            seconds=cycle.report.seconds if cycle.report else 0.0,
            api_calls=cycle.report.calls if cycle.report else 0,
            reachable=ok,
            listed=index.total if index and ok else None,
            owned=sum(len(ids) for ids in index.by_owner.values()) if index and ok else None,
            runs_calls=(runs.batch, runs.per_job) if ok else None,
        )


@dataclass
class Observations:
    """The observations of this process by identity; one is stopped when its last subscriber leaves."""

    interval_s: float
    by_identity: dict[tuple[str, str], Observation] = field(default_factory=dict)

    def join(self, host: str, auth: Auth, sub: Subscriber) -> Observation:
        key = identity(host, auth)
        obs = self.by_identity.get(key)
        if obs is None:
            obs = self.by_identity[key] = Observation(host.rstrip("/"), auth, self.interval_s)
            obs.start()
        obs.subscribers.add(sub)
        return obs

    async def leave(self, obs: Observation, sub: Subscriber) -> None:
        obs.subscribers.discard(sub)
        if not obs.subscribers:
            self.by_identity.pop(identity(obs.host, obs.auth), None)
            await obs.stop()

    async def stop(self) -> None:
        for obs in list(self.by_identity.values()):
            await obs.stop()
        self.by_identity.clear()


Callback = Callable[[Observation], Awaitable[None]]
