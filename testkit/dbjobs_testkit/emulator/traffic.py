"""What tests observe and steer about traffic: the request log and injected faults.

Paths are matched by *suffix on segment boundaries* after the version prefix, so
``"jobs/get"`` matches ``/api/2.2/jobs/get`` and ``/api/2.1/jobs/get`` but not
``/api/2.2/jobs/runs/get``, and ``"runs/get"`` matches the latter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_PREFIX = re.compile(r"^/api/2\.\d+/")
#: Jobs endpoints of any version, and the job permissions endpoints (§6).
_JOBS_ENDPOINT = re.compile(r"^/api/2\.\d+/(jobs|permissions/jobs)(/|$)")

RequestEntry = tuple[str, str, int]
#: Message of an injected fault when the test gives none. Deliberately free of the phrases the
#: SDK retries on regardless of status ("Unexpected error", ...; spec §1.5).
DEFAULT_FAULT_MESSAGE = "Fault injected by the emulator."


def path_matches(path: str, suffix: str) -> bool:
    """True when ``path`` (e.g. ``/api/2.2/jobs/runs/get``) ends with ``suffix`` on a ``/`` boundary;
    a ``*`` segment of ``suffix`` matches any one segment (``"permissions/jobs/*"``)."""
    have = _VERSION_PREFIX.sub("", path).strip("/").split("/")
    want = suffix.strip("/").split("/")
    if len(want) > len(have):
        return False
    return all(w in ("*", h) for w, h in zip(want, have[len(have) - len(want) :], strict=True))


def is_jobs_endpoint(path: str) -> bool:
    """True for ``/api/2.<n>/jobs...``, the requests :meth:`RequestLog.count` counts."""
    return bool(_JOBS_ENDPOINT.match(path))


class RequestLog:
    """Every request the API served (admin calls excluded): ``(method, path, status)`` in arrival order.

    Not thread-safe by itself; the workspace holds its lock around it.
    """

    def __init__(self) -> None:
        self.entries: list[RequestEntry] = []

    def record(self, method: str, path: str, status: int) -> None:
        self.entries.append((method.upper(), path, status))

    def count(self, path_suffix: str | None = None, method: str | None = None) -> int:
        """Requests to Jobs endpoints, optionally only those matching ``path_suffix`` and ``method``."""
        return sum(
            1
            for m, p, _ in self.entries
            if is_jobs_endpoint(p)
            and (path_suffix is None or path_matches(p, path_suffix))
            and (method is None or m == method.upper())
        )

    def counts_by_endpoint(self) -> dict[str, int]:
        """``{"POST jobs/create": n, ...}`` over Jobs endpoints, version prefix stripped."""
        out: dict[str, int] = {}
        for m, p, _ in self.entries:
            if is_jobs_endpoint(p):
                key = f"{m} {_VERSION_PREFIX.sub('', p)}"
                out[key] = out.get(key, 0) + 1
        return out

    def counts_by_status(self) -> dict[str, dict[str, int]]:
        """``{"GET jobs/get": {"200": n, "429": m}, ...}`` over Jobs endpoints."""
        out: dict[str, dict[str, int]] = {}
        for m, p, status in self.entries:
            if is_jobs_endpoint(p):
                per = out.setdefault(f"{m} {_VERSION_PREFIX.sub('', p)}", {})
                per[str(status)] = per.get(str(status), 0) + 1
        return out

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class Fault:
    """Answer the next ``remaining`` requests matching ``path_suffix`` (and ``method`` if set) with
    HTTP ``status`` and ``{"error_code", "message"}``; ``retry_after`` in whole seconds becomes a
    ``Retry-After`` header (the SDK sleeps exactly that long, uncapped, so keep it small, §1.5)."""

    path_suffix: str
    status: int
    error_code: str
    message: str
    remaining: int = 1
    retry_after: int | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path_matches(path, self.path_suffix)
            and (self.method is None or self.method.upper() == method.upper())
        )


class FaultInjector:
    """Pending faults, consumed first-registered first. Not thread-safe by itself."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        self.faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to answer this request with, if any (its remaining count drops by one)."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()
