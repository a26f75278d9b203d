"""Batched observation of job runs, one observer per workspace (issue 6, ARCHITECTURE "Observation at scale").

Instead of one ``runs/list?job_id=`` per job per cycle, a cycle makes workspace-wide calls and
indexes what comes back by ``job_id``:

1. ``runs/list?active_only=true`` (all pages): every run in flight;
2. ``runs/list?completed_only=true&start_time_from=W`` (all pages), where ``W`` is the earliest
   start among runs that were active last cycle, else the latest start seen (the first cycle
   uses ``now - lookback``). Any run that ended since the last cycle either was active then
   (start >= W) or started after the last cycle (start > every start seen then, >= W); ``W``
   is in Databricks' own times, so clock skew with the controller does not lose runs.
3. per job, once per job id: ``runs/list?job_id=&limit=`` for a job the batches have never
   shown, to find history older than the lookback. After that the batches answer for it.

Pages are 25 runs (the ``runs/list`` maximum, spec §3.8). Runs are ``BaseRun`` dicts (times epoch
ms). Calls go through the SDK's ``ApiClient`` (auth, retries) so that each page is one counted call.
Blocking: callers run :meth:`RunObserver.refresh` in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk import WorkspaceClient

log = logging.getLogger(__name__)

Run = dict[str, Any]
RUNS_LIST = "/api/2.2/jobs/runs/list"
PAGE_LIMIT = 25
#: How far back the first cycle looks (ms); older history comes from the one-off per-job call.
DEFAULT_LOOKBACK_MS = 24 * 3600 * 1000


@dataclass
class CycleStats:
    """Calls made by one refresh: ``batch`` (workspace-wide pages), ``per_job`` (fallbacks)."""

    batch: int = 0
    per_job: int = 0

    @property
    def total(self) -> int:
        return self.batch + self.per_job


@dataclass
class RunObserver:
    """The run index of one workspace: per job, its most recent runs (most recent first, at most
    ``window``). Thread-safe; :meth:`refresh` at most once per ``min_interval_s`` unless forced."""

    window: int = 20
    lookback_ms: int = DEFAULT_LOOKBACK_MS
    min_interval_s: float = 0.0
    _runs: dict[int, dict[int, Run]] = field(default_factory=dict)
    _complete: set[int] = field(default_factory=set)  # jobs whose history is known
    _active_starts: list[int] = field(default_factory=list)
    _max_start: int | None = None
    _last_refresh: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gate: Callable[[], None] | None = None
    last_cycle: CycleStats = field(default_factory=CycleStats)
    #: Per-job history lookups one cycle may make (the rest wait for the next cycle): a start or a failover
    #: must not spend its first minutes on one call per job while changes from Git wait.
    per_job_limit: int = 20
    #: Jobs created by us since the last refresh: they have no history to look up (added without the lock,
    #: which a reader on the event loop must never wait for).
    created: set[int] = field(default_factory=set)
    #: What readers see: published whole at the end of a refresh (never under the lock), so a reader on the
    #: event loop can never wait for a refresh that itself waits for the event loop (the request budget).
    _published: tuple[dict[int, list[Run]], frozenset[int]] = field(default_factory=lambda: ({}, frozenset()))

    def refresh(
        self,
        client: WorkspaceClient,
        job_ids: Iterable[int],
        *,
        now_ms: int | None = None,
        force: bool = False,
        gate: Callable[[], None] | None = None,
    ) -> CycleStats | None:
        """Run one observation cycle for ``job_ids`` (the jobs someone will ask about); returns its
        call counts, or None when the last cycle is recent enough to reuse. ``gate`` is called before
        each request (the workspace's request budget)."""
        self._gate = gate
        with self._lock:
            if not force and time.monotonic() - self._last_refresh < self.min_interval_s:
                return None
            stats = CycleStats()
            now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
            if self._active_starts:
                since = min(self._active_starts)
            elif self._max_start is not None:
                since = self._max_start
            else:
                since = now - self.lookback_ms
            active = self._pages(client, {"active_only": "true"}, stats)
            completed = self._pages(client, {"completed_only": "true", "start_time_from": str(since)}, stats)
            for run in [*completed, *active]:
                self._add(run)
            self._active_starts = [int(r.get("start_time") or 0) for r in active]
            starts = [int(r.get("start_time") or 0) for r in (*active, *completed)]
            if starts:
                self._max_start = max([*starts, self._max_start or 0])
            elif self._max_start is None:
                self._max_start = since
            self._complete |= self.created
            self.created = set()
            for job_id in job_ids:
                if job_id not in self._complete and stats.per_job < self.per_job_limit:
                    # The batch cannot say whether this job ran before the lookback: ask once.
                    for run in self._pages(client, {"job_id": str(job_id), "limit": str(self.window)}, stats, 1):
                        self._add(run)
                    self._complete.add(job_id)
            self._last_refresh = time.monotonic()
            self.last_cycle = stats
            self._publish()
            log.debug("run observation: %d calls (%d batch, %d per-job)", stats.total, stats.batch, stats.per_job)
            return stats

    def ensure_known(self, client: WorkspaceClient, job_id: int) -> int:
        """The one-off per-job call for a job no cycle has covered yet; returns calls made (0 or 1)."""
        with self._lock:
            if job_id in self._complete:
                return 0
            stats = CycleStats()
            for run in self._pages(client, {"job_id": str(job_id), "limit": str(self.window)}, stats, 1):
                self._add(run)
            self._complete.add(job_id)
            self._publish()
            return stats.total

    def runs(self, job_id: int) -> list[Run]:
        """The job's known runs, most recently started first (at most ``window``), as of the last refresh."""
        return list(self._published[0].get(job_id, ()))

    def knows(self, job_id: int) -> bool:
        """Whether a refresh covered ``job_id``'s whole history. Never blocks."""
        return job_id in self._published[1]

    def _publish(self) -> None:
        """Called under the lock at the end of a refresh: replace the readers' view in one assignment."""
        order = lambda r: (int(r.get("start_time") or 0), r.get("run_id", 0))  # noqa: E731
        view = {job: sorted(runs.values(), key=order, reverse=True) for job, runs in self._runs.items()}
        self._published = (view, frozenset(self._complete))

    def _add(self, run: Run) -> None:
        job_id = run.get("job_id")
        if not isinstance(job_id, int):
            return
        runs = self._runs.setdefault(job_id, {})
        runs[int(run["run_id"])] = run
        if len(runs) > self.window:
            keep = sorted(runs.values(), key=lambda r: int(r.get("start_time") or 0), reverse=True)[: self.window]
            self._runs[job_id] = {int(r["run_id"]): r for r in keep}

    def _pages(
        self, client: WorkspaceClient, query: dict[str, str], stats: CycleStats, max_pages: int = 10_000
    ) -> list[Run]:
        out: list[Run] = []
        token: str | None = None
        per_job = "job_id" in query
        for _ in range(max_pages):
            if self._gate is not None:
                self._gate()
            params = {"limit": str(PAGE_LIMIT), **query, **({"page_token": token} if token else {})}
            page = client.api_client.do("GET", RUNS_LIST, query=params)
            if per_job:
                stats.per_job += 1
            else:
                stats.batch += 1
            assert isinstance(page, dict)
            out.extend(r for r in page.get("runs") or [] if isinstance(r, dict))
            token = page.get("next_page_token")
            if not token:
                break
        return out


def per_job_calls(client: WorkspaceClient, job_ids: Iterable[int], limit: int = 20) -> int:
    """The naive way, for comparison (benchmarks): one ``runs/list?job_id=`` per job; returns calls."""
    calls = 0
    for job_id in job_ids:
        client.api_client.do("GET", RUNS_LIST, query={"job_id": str(job_id), "limit": str(limit)})
        calls += 1
    return calls
