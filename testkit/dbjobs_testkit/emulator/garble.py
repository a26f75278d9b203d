"""Broken answers (issue 13 item 4): the emulator handles a request as usual (its effect is stored), then sends
back a body a client cannot take at face value.

Kinds (:data:`KINDS`):

* ``malformed-json`` — status 200, ``Content-Type: application/json``, a body that is not JSON (what a proxy or a
  load balancer in front of a workspace sends when it answers for it, or a server bug);
* ``truncated`` — the real answer's status and headers with ``Content-Length`` of the whole body, half of the body,
  then the connection closed (a connection cut mid-transfer);
* ``unknown-enum`` — the real answer with every enum-valued field (:data:`ENUM_KEYS`) set to a value no client
  knows: the Jobs API adds enum values over time (e.g. ``performance_target``, ``edit_mode``, ``run_if`` values
  arrived after their fields; https://docs.databricks.com/api/workspace/jobs/get lists today's), and the Go and
  Python SDKs document that an unknown value is passed through or dropped, never an error
  (databricks-sdk-py ``service/_internal.py`` ``_enum``: "Unknown enum values are returned as None").

Controlled by ``Workspace.inject_garbled`` (in process) and ``POST /_emulator/garble`` (``http_controls.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dbjobs_testkit.emulator.traffic import path_matches

KINDS = ("malformed-json", "truncated", "unknown-enum")
#: The value an ``unknown-enum`` answer puts in every enum field.
UNKNOWN_ENUM = "DBJOBS_EMULATOR_UNKNOWN_VALUE"
#: Keys whose string values are enums in Jobs API answers (``jobs/get``, ``jobs/list``, ``runs/list``,
#: ``runs/get``): JobSettings ``format``, ``edit_mode``, ``performance_target``, every ``pause_status``, task
#: ``run_if`` and ``source``, health rules' ``metric``/``op``; runs' ``life_cycle_state``, ``result_state``,
#: ``status.state``, termination ``code``/``type``, ``trigger`` and ``run_type``
#: (https://docs.databricks.com/api/workspace/jobs/get, https://docs.databricks.com/api/workspace/jobs/listruns).
ENUM_KEYS = frozenset(
    {
        "format",
        "edit_mode",
        "performance_target",
        "pause_status",
        "run_if",
        "source",
        "metric",
        "op",
        "life_cycle_state",
        "result_state",
        "state",
        "code",
        "type",
        "trigger",
        "run_type",
    }
)


@dataclass
class Garble:
    """Garble the next ``remaining`` answers to requests matching ``path_suffix`` (and ``method`` if set)."""

    path_suffix: str
    kind: str
    remaining: int = 1
    method: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}")
        if self.remaining < 1:
            raise ValueError("count: must be at least 1")

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path_matches(path, self.path_suffix)
            and (self.method is None or self.method.upper() == method.upper())
        )


def unknown_enums(value: Any) -> Any:
    """``value`` (parsed JSON) with every string under a key of :data:`ENUM_KEYS` replaced by :data:`UNKNOWN_ENUM`."""
    if isinstance(value, dict):
        return {
            k: UNKNOWN_ENUM if k in ENUM_KEYS and isinstance(v, str) else unknown_enums(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [unknown_enums(v) for v in value]
    return value


def malformed(body: bytes) -> bytes:
    """Not JSON: the real body (or ``{}``) with a dangling comma and an HTML tail, as a broken proxy would send."""
    text = body.decode(errors="replace").rstrip() or "{}"
    return (text[:-1] + ', "job_id": } <html><body>Bad Gateway</body></html>').encode()


async def garbled(request: web.Request, response: web.Response, kind: str) -> web.StreamResponse:
    """What the client receives instead of ``response`` (already produced by the handler)."""
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    if kind == "unknown-enum":
        try:
            data = json.loads(body)
        except ValueError:
            return response
        return web.json_response(unknown_enums(data), status=response.status, headers=_extra(response))
    if kind == "malformed-json":
        return web.Response(body=malformed(body), status=200, content_type="application/json")
    cut = web.StreamResponse(status=response.status, headers=_extra(response))
    cut.content_type = "application/json"
    cut.content_length = max(2, len(body))
    await cut.prepare(request)
    await cut.write(body[: max(1, len(body) // 2)])
    if request.transport is not None:
        request.transport.close()  # the rest never comes: the client sees a short read
    return cut


def _extra(response: web.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
