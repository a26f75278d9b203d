"""Time sources for the emulator. All times are epoch milliseconds (int), like the Jobs API (spec §5.5)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now_ms() -> int`` (epoch milliseconds, UTC)."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time in epoch milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`; lets tests step runs through their states.

    ``start_ms`` defaults to the current wall-clock time so created_time values still look real.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = SystemClock().now_ms() if start_ms is None else start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` milliseconds (must be >= 0); returns the new time."""
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += ms
            return self._now
