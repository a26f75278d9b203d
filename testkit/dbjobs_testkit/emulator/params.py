"""Reading request parameters: query strings (GET) and JSON bodies (POST), spec §1.3.

Malformed input answers 400: ``MALFORMED_REQUEST`` for a body that is not a JSON object,
``INVALID_PARAMETER_VALUE`` naming the parameter for a bad value.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dbjobs_testkit.emulator.defaults import ApiVersion
from dbjobs_testkit.emulator.errors import MALFORMED_REQUEST, ApiError, invalid
from dbjobs_testkit.emulator.workspace import Workspace

Json = dict[str, Any]

#: Where the application keeps its :class:`Workspace`.
WORKSPACE: web.AppKey[Workspace] = web.AppKey("workspace", Workspace)


def api_version(request: web.Request) -> ApiVersion:
    """``"2.1"`` or ``"2.2"``, from the ``{version}`` part of the route. The legacy ``/api/2.0``
    alias behaves as 2.1 (no queue default, no inner-array paging, §3.12)."""
    return "2.1" if request.match_info.get("version") in ("2.0", "2.1") else "2.2"


async def json_body(request: web.Request) -> Json:
    """The body as a JSON object; an empty body counts as ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, MALFORMED_REQUEST, f"Malformed JSON request body: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, MALFORMED_REQUEST, "The request body must be a JSON object.")
    return data


def query_int(request: web.Request, name: str, default: int | None = None, *, required: bool = False) -> int | None:
    """An integer query parameter; missing gives ``default`` (or a 400 when ``required``)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if required:
            raise invalid(f"{name}: is required.")
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name}: expected an integer, got {raw!r}.") from None


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter, case-insensitive (Python sends ``true``/``false``, §1.3)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid(f"{name}: expected true or false, got {raw!r}.")


def body_int(body: Json, name: str) -> int:
    """A required integer field of a JSON body (IDs may arrive as strings from some clients)."""
    value = body.get(name)
    if value is None:
        raise invalid(f"{name}: is required.")
    if isinstance(value, bool):
        raise invalid(f"{name}: expected an integer, got {value!r}.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{name}: expected an integer, got {value!r}.") from None


def body_object(body: Json, name: str, *, required: bool = False) -> Json:
    """An object field of a JSON body; absent gives ``{}`` (or a 400 when ``required``)."""
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name}: is required.")
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{name}: must be an object.")
    return value


def ok(data: Json | None = None) -> web.Response:
    """200 with a JSON body (``{}`` for void endpoints, §1.4)."""
    return web.json_response(data if data is not None else {})


def path_job_id(request: web.Request) -> int:
    """The ``{job_id}`` segment of the path as an integer; 400 ``INVALID_PARAMETER_VALUE`` otherwise."""
    raw = request.match_info["job_id"]
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"job_id: expected an integer, got {raw!r}.") from None
