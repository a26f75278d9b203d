"""The request budget of Databricks calls.

* :class:`TokenBucket`, one per connection (a Databricks identity: host + credential, shared by the observer
  and every reconcile of the DatabricksWorkspaces that use it): ``rate`` requests per second sustained,
  ``burst`` at once, acquired by every logical call before it is sent (aiolimiter's leaky bucket:
  ``AsyncLimiter(burst, burst / rate)``);
* :class:`RequestBudget`, one per host (the real throttle is the workspace's), holding
* a workspace-wide pause: a 429 or 503 answer with ``Retry-After`` holds *every* request to the host until
  then (including the SDK's own retries, which pass through :mod:`controller.databricks.http`), instead of
  each request waiting out its own;
* job creations: served fairly across namespaces (round robin among waiting namespaces, ``create_slots``
  at once), and paused with a growing delay when Databricks answers the job-creation limit (400
  ``INVALID_STATE`` "…exceeding rate limit…", at most 1000 creations per hour: Jobs API docs,
  https://docs.databricks.com/api/workspace/jobs/create).

Times are seconds on the monotonic clock. ``pause`` and ``note_throttled`` are thread-safe (called from
HTTP worker threads); the ``acquire*`` coroutines run on the operator's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

#: Defaults of ``DatabricksWorkspace.spec.requestBudget``: Databricks documents per-endpoint limits of tens
#: of requests per second per workspace for the Jobs API (https://docs.databricks.com/en/resources/limits.html).
DEFAULT_RATE = 10.0
DEFAULT_BURST = 20
#: First and longest pause of job creations after the creation limit answered (doubling in between).
CREATE_PAUSE_S = (60.0, 900.0)
#: Longest pause a single Retry-After may impose (a broken header must not stop a workspace for hours).
MAX_PAUSE_S = 300.0
THROTTLE_WINDOW_S = 600.0


class FairGate:
    """At most ``slots`` holders at once; when full, waiting keys are served round robin (one each in turn)."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """``async with gate.hold(namespace):`` — waits for a slot in fair order."""
        if self._free > 0 and not self._queues:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queues.setdefault(key, deque()).append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # the slot was handed to us as we were cancelled: pass it on
                else:
                    self._forget(key, future)
                raise
        try:
            yield
        finally:
            self._release()

    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _forget(self, key: str, future: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue and future in queue:
            queue.remove(future)
            if not queue:
                del self._queues[key]

    def _release(self) -> None:
        while self._queues:
            key, queue = next(iter(self._queues.items()))
            future = queue.popleft()
            if queue:
                self._queues.move_to_end(key)
            else:
                del self._queues[key]
            if not future.done():
                future.set_result(None)
                return
        self._free += 1


class TokenBucket:
    """``rate`` requests per second sustained, ``burst`` at once (see the module docstring)."""

    def __init__(self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> None:
        self.rate, self.burst = rate, burst
        self._limiter = AsyncLimiter(burst, burst / rate)

    def configure(self, rate: float, burst: int) -> None:
        """Change the bucket (``DatabricksWorkspace.spec.requestBudget`` edited)."""
        if (rate, burst) != (self.rate, self.burst):
            self.rate, self.burst = rate, burst
            self._limiter = AsyncLimiter(burst, burst / rate)

    async def acquire(self) -> None:
        await self._limiter.acquire()


class RequestBudget:
    """The per-host part (see the module docstring). ``clock`` (seconds, monotonic) is injectable for tests."""

    def __init__(self, *, create_slots: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._creates_paused_until = 0.0
        self._create_strikes = 0
        self._throttled: deque[float] = deque()
        self.creations = FairGate(create_slots)

    # -- pauses (thread-safe) -------------------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Hold every request to this host for ``seconds`` (capped at MAX_PAUSE_S); never shortens a pause."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + min(max(seconds, 0.0), MAX_PAUSE_S))

    def note_throttled(self) -> None:
        """Count one 429 answer (for ``throttled_recently`` and the workspace status)."""
        now = self._clock()
        with self._lock:
            self._throttled.append(now)
            while self._throttled and self._throttled[0] < now - THROTTLE_WINDOW_S:
                self._throttled.popleft()

    def throttled_recently(self) -> int:
        """429 answers in the last THROTTLE_WINDOW_S seconds."""
        now = self._clock()
        with self._lock:
            return sum(1 for t in self._throttled if t >= now - THROTTLE_WINDOW_S)

    def paused_for(self) -> float:
        """Seconds until requests may go again (0 when not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def wait_pause_blocking(self, limit_s: float) -> None:
        """In an HTTP worker thread: sleep out the pause, at most ``limit_s`` seconds."""
        deadline = self._clock() + limit_s
        while (left := min(self.paused_for(), deadline - self._clock())) > 0:
            time.sleep(min(left, 1.0))

    # -- acquiring ------------------------------------------------------------------------------------
    async def acquire(self, bucket: TokenBucket | None = None) -> None:
        """Wait out any pause of the host, then take one token of ``bucket``."""
        while (left := self.paused_for()) > 0:
            await asyncio.sleep(min(left, 1.0))
        if bucket is not None:
            await bucket.acquire()

    def creations_paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._creates_paused_until - self._clock())

    def creation_limited(self) -> float:
        """Databricks refused a creation for the hourly limit: pause creations (60 s doubling, 15 min at most).
        Returns the pause in seconds."""
        with self._lock:
            first, longest = CREATE_PAUSE_S
            pause: float = min(longest, first * 2.0**self._create_strikes)
            self._create_strikes += 1
            self._creates_paused_until = max(self._creates_paused_until, self._clock() + pause)
            return pause

    def creation_succeeded(self) -> None:
        with self._lock:
            self._create_strikes = 0

    @asynccontextmanager
    async def creating(self, namespace: str) -> AsyncIterator[None]:
        """``async with budget.creating(ns):`` around one ``jobs/create`` (made with a budgeted call): a fair
        slot among the namespaces creating on this host, and no creation pause."""
        async with self.creations.hold(namespace):
            while (left := self.creations_paused_for()) > 0:
                await asyncio.sleep(min(left, 1.0))
            yield
