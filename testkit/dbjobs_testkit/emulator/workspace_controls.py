"""The test-facing controls of ``Workspace`` that are not Jobs API operations (issue 3 items 4-5):
rate limits, latency and hangs, configuration, quotas and the out-of-band changes a person makes
in the Databricks UI (pause a schedule, add a tag).

:class:`ControlsMixin` is a base class of ``Workspace`` and uses its lock, jobs and ``edit_settings``.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from typing import Any

from dbjobs_testkit.emulator.config import EmulatorConfig
from dbjobs_testkit.emulator.errors import ApiError
from dbjobs_testkit.emulator.garble import Garble
from dbjobs_testkit.emulator.jobs import JobRecord
from dbjobs_testkit.emulator.throttle import Delay, Throttle

Json = dict[str, Any]

#: The window of the job-creation quota (§2.4, §4.5), ms.
CREATION_WINDOW_MS = 3_600_000
SCHEDULING_BLOCKS = ("schedule", "trigger", "continuous")


class ControlsMixin:
    """Controls of ``Workspace`` (see the module docstring)."""

    # Provided by Workspace.
    _lock: Any
    _jobs: dict[int, JobRecord]
    config: EmulatorConfig
    throttle: Throttle
    _creations: deque[int]
    #: ``(method, path, status, body)`` of every JSON answer while capture is on (None: off).
    captured: list[tuple[str, str, int, Any]] | None = None
    #: In-process tests only (the reliability suite): called as ``hook(phase, method, path, status)`` on every
    #: authenticated API request, from the server's thread: phase ``"received"`` (status None) before it is
    #: handled, where raising :class:`ApiError` answers the request with that error and nothing else happens; and
    #: ``"answered"`` once it was handled, before the response leaves, where the hook may e.g. SIGKILL the client
    #: so that it never sees an answer whose effect is stored. None: no hook.
    request_hook: Callable[[str, str, str, int | None], None] | None = None
    #: Pending broken answers (``inject_garbled``); a list per Workspace, set by ``__init__``.
    garbles: list[Garble]

    def now_ms(self) -> int:
        raise NotImplementedError

    def _job(self, job_id: int) -> JobRecord:
        raise NotImplementedError

    def edit_settings(self, job_id: int, patch: Json) -> None:
        raise NotImplementedError

    # ---- Configuration and faults ------------------------------------------------------------------

    def configure(self, **values: Any) -> None:
        """Change :class:`EmulatorConfig` fields at run time; ``ValueError`` names a bad one."""
        with self._lock:
            self.config.update(values)

    def set_rate_limit(
        self,
        path_suffix: str,
        per_second: float,
        burst: int | None = None,
        retry_after: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer requests beyond ``per_second`` (token bucket of ``burst``, default max(1, rate))
        to endpoints matching ``path_suffix`` (``"jobs/get"``, ``"permissions/jobs/*"``) with 429
        ``REQUEST_LIMIT_EXCEEDED`` and ``Retry-After: retry_after`` (s)."""
        with self._lock:
            self.throttle.set_rate_limit(path_suffix, per_second, burst, retry_after, method)

    def apply_documented_rate_limits(self) -> None:
        """Install the per-endpoint limits of spec §4.5 (unverified third-party numbers)."""
        with self._lock:
            self.throttle.apply_documented_limits()

    def clear_rate_limits(self) -> None:
        with self._lock:
            self.throttle.limits.clear()

    def inject_latency(self, path_suffix: str, ms: int, count: int | None = None, method: str | None = None) -> None:
        """Hold the next ``count`` matching requests (all when ``None``) ``ms`` milliseconds before
        handling them."""
        with self._lock:
            self.throttle.add_delay(Delay(path_suffix, ms, count, method))

    def inject_hang(self, path_suffix: str, count: int | None = 1, method: str | None = None) -> None:
        """Never answer the next ``count`` matching requests (until :meth:`release_hangs`, or 600 s):
        the client's own timeout has to fire."""
        with self._lock:
            self.throttle.add_delay(Delay(path_suffix, None, count, method))

    def inject_garbled(self, path_suffix: str, kind: str, count: int = 1, method: str | None = None) -> None:
        """Handle the next ``count`` matching requests as usual, then answer with a broken body: ``kind`` one of
        ``garble.KINDS`` (``malformed-json``, ``truncated``, ``unknown-enum``; see ``garble.py``).
        ``ValueError`` for another kind or a count below 1."""
        with self._lock:
            self.garbles.append(Garble(path_suffix, kind, count, method))

    def take_garble(self, method: str, path: str) -> str | None:
        """The kind of broken answer due for this request, if any (its count drops by one)."""
        with self._lock:
            for garble in self.garbles:
                if garble.matches(method, path):
                    garble.remaining -= 1
                    if garble.remaining == 0:
                        self.garbles.remove(garble)
                    return garble.kind
        return None

    def clear_latency(self) -> None:
        """Drop every injected latency and hang (hung requests are let go)."""
        with self._lock:
            self.throttle.release_hangs()
            self.throttle.delays.clear()

    def release_hangs(self) -> None:
        """Let hung requests be handled and drop hangs not yet used."""
        with self._lock:
            self.throttle.release_hangs()

    def capture_responses(self, enabled: bool = True) -> None:
        """Start (clearing earlier captures) or stop keeping the JSON body of every API answer in
        :attr:`captured` — what the OpenAPI conformance test validates."""
        with self._lock:
            self.captured = [] if enabled else None

    def record_response(self, method: str, path: str, status: int, body: Any) -> None:
        with self._lock:
            if self.captured is not None:
                self.captured.append((method.upper(), path, status, body))

    # ---- Quotas (§4.5) -----------------------------------------------------------------------------

    def _check_create_quota(self) -> None:
        """Raise the saved-jobs or creations-per-hour error before a create, and count the creation."""
        now = self.now_ms()
        while self._creations and self._creations[0] <= now - CREATION_WINDOW_MS:
            self._creations.popleft()
        per_hour = self.config.max_job_creations_per_hour
        if len(self._creations) >= per_hour:
            raise ApiError(
                400,
                "INVALID_STATE",
                f"There were already {len(self._creations)} jobs created in past 3600 seconds, exceeding rate "
                f"limit: {per_hour} job creations per 3600 seconds.",
            )
        quota = self.config.max_saved_jobs
        if len(self._jobs) >= quota:
            raise ApiError(
                400,
                "QUOTA_EXCEEDED",
                f"The quota for the number of jobs has been reached. The current quota is {quota}.",
            )
        self._creations.append(now)

    # ---- Out-of-band changes (as a person in the UI) -------------------------------------------------

    def pause_schedule(self, job_id: int, paused: bool = True) -> None:
        """Set ``pause_status`` of the job's ``schedule`` / ``trigger`` / ``continuous`` to PAUSED
        (or UNPAUSED); ``KeyError`` if the job is missing, ``ValueError`` if it has none of them."""
        with self._lock:
            settings = self._job(job_id).settings
            patch = {}
            for block in SCHEDULING_BLOCKS:
                if isinstance(settings.get(block), dict):
                    patch[block] = {
                        **copy.deepcopy(settings[block]),
                        "pause_status": "PAUSED" if paused else "UNPAUSED",
                    }
            if not patch:
                raise ValueError(f"job {job_id} has no schedule, trigger or continuous block to pause")
            self.edit_settings(job_id, patch)

    def add_tag(self, job_id: int, key: str, value: str = "") -> None:
        """Add (or overwrite) one entry of ``settings.tags``; ``KeyError`` if the job is missing,
        ``ApiError`` if the job would exceed 25 tags."""
        with self._lock:
            tags = dict(self._job(job_id).settings.get("tags") or {})
            tags[key] = value
            self.edit_settings(job_id, {"tags": tags})
