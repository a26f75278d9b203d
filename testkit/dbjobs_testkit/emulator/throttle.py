"""Request-rate limits, injected latency and hangs (issue 3 item 4, spec §1.5, §4.5).

* A :class:`RateLimit` is a token bucket per endpoint: ``per_second`` tokens refill per second up
  to ``burst``; a request finding the bucket empty is answered 429 ``REQUEST_LIMIT_EXCEEDED``
  with ``Retry-After: <retry_after>`` (whole seconds; the SDK sleeps exactly that long, §1.5).
  Buckets use the *monotonic wall clock*, not the workspace clock: a client retrying after
  ``Retry-After`` must find tokens again even when a test holds a ``ManualClock`` still.
* A :class:`Delay` holds matching requests for ``ms`` milliseconds before they are handled, or,
  with ``ms=None``, hangs them until :meth:`Throttle.release_hangs` (or ``HANG_LIMIT_S``) so a
  client's own timeout fires.

Endpoints are matched like faults: by path suffix on segment boundaries (``*`` = any segment),
optionally by method. Not thread-safe by itself; :class:`~dbjobs_testkit.emulator.traffic_control.TrafficControl`
holds the lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dbjobs_testkit.emulator.traffic import path_matches

#: The longest a hung request is held when nobody releases it (s).
HANG_LIMIT_S = 600.0
THROTTLED_MESSAGE = "Too many requests. Please wait a moment and try again."

#: Per-endpoint limits from a third-party, self-described *generated* list (§4.5) — unverified, so
#: only applied on request (:meth:`Throttle.apply_documented_limits`). (method, suffix, per second)
DOCUMENTED_LIMITS: tuple[tuple[str, str, float], ...] = (
    ("POST", "jobs/create", 20.0),
    ("POST", "jobs/run-now", 20.0),
    ("GET", "jobs/runs/get", 100.0),
    ("POST", "jobs/runs/submit", 35.0),
    ("GET", "permissions/jobs/*", 100.0),
    ("PATCH", "permissions/jobs/*", 30.0),
    ("PUT", "permissions/jobs/*", 30.0),
)


@dataclass
class RateLimit:
    """A token bucket: ``per_second`` refill (> 0), ``burst`` capacity (>= 1), starts full."""

    path_suffix: str
    per_second: float
    burst: int
    retry_after: int = 1
    method: str | None = None
    tokens: float = field(default=-1.0)
    updated_s: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return path_matches(path, self.path_suffix) and (self.method is None or self.method.upper() == method.upper())

    def admit(self, now_s: float) -> bool:
        """Take one token if there is one; False means throttle this request."""
        if self.tokens < 0:
            self.tokens, self.updated_s = float(self.burst), now_s
        self.tokens = min(float(self.burst), self.tokens + (now_s - self.updated_s) * self.per_second)
        self.updated_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Delay:
    """Hold the next ``remaining`` matching requests (``None`` = all) for ``ms`` ms; ``ms=None`` hangs."""

    path_suffix: str
    ms: int | None
    remaining: int | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.remaining is None or self.remaining > 0)
            and path_matches(path, self.path_suffix)
            and (self.method is None or self.method.upper() == method.upper())
        )


@dataclass
class Throttle:
    """Rate limits and delays of one emulator. ``now_s`` is the monotonic clock (injectable for tests)."""

    now_s: Callable[[], float] = time.monotonic
    limits: list[RateLimit] = field(default_factory=list)
    delays: list[Delay] = field(default_factory=list)
    hang_generation: int = 0

    def set_rate_limit(
        self,
        path_suffix: str,
        per_second: float,
        burst: int | None = None,
        retry_after: int = 1,
        method: str | None = None,
    ) -> None:
        """Limit matching requests to ``per_second`` (burst defaults to max(1, per_second)); replaces
        an existing limit on the same suffix and method."""
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        size = burst if burst is not None else max(1, int(per_second))
        if size < 1 or retry_after < 0:
            raise ValueError("burst must be at least 1 and retry_after non-negative")
        self.limits = [lim for lim in self.limits if (lim.path_suffix, lim.method) != (path_suffix, method)]
        self.limits.append(RateLimit(path_suffix, per_second, size, retry_after, method))

    def apply_documented_limits(self) -> None:
        """Install :data:`DOCUMENTED_LIMITS` (unverified numbers, §4.5)."""
        for method, suffix, rate in DOCUMENTED_LIMITS:
            self.set_rate_limit(suffix, rate, method=method)

    def throttled(self, method: str, path: str) -> RateLimit | None:
        """The limit that refuses this request, if any (every matching bucket is charged)."""
        now = self.now_s()
        refused = None
        for limit in self.limits:
            if limit.matches(method, path) and not limit.admit(now) and refused is None:
                refused = limit
        return refused

    def add_delay(self, delay: Delay) -> None:
        if delay.remaining is not None and delay.remaining < 1:
            raise ValueError("count must be at least 1")
        if delay.ms is not None and delay.ms < 0:
            raise ValueError("ms must not be negative")
        self.delays.append(delay)

    def take_delay(self, method: str, path: str) -> Delay | None:
        """The delay to apply to this request, if any (its remaining count drops by one)."""
        for delay in self.delays:
            if delay.matches(method, path):
                if delay.remaining is not None:
                    delay.remaining -= 1
                    if delay.remaining == 0:
                        self.delays.remove(delay)
                return delay
        return None

    def release_hangs(self) -> None:
        """Let every hung request go on (they are then handled normally) and drop pending hangs."""
        self.hang_generation += 1
        self.delays = [d for d in self.delays if d.ms is not None]

    def clear(self) -> None:
        self.limits.clear()
        self.release_hangs()
        self.delays.clear()
