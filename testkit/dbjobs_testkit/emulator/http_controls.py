"""Admin routes for faults, limits, configuration and out-of-band changes (issue 3 items 4-5).

Like the rest of ``/_emulator`` they need no authentication, are not logged and faults never
apply to them. Bad input answers 400 ``INVALID_PARAMETER_VALUE``; a missing job 404
``RESOURCE_DOES_NOT_EXIST``.

* ``POST /_emulator/rate-limits`` ``{"path_suffix", "per_second", "burst"?, "retry_after"?, "method"?}``
  -> ``{}``; ``POST /_emulator/rate-limits/documented`` -> ``{}`` (§4.5 numbers);
  ``DELETE /_emulator/rate-limits`` -> ``{}``
* ``POST /_emulator/latency`` ``{"path_suffix", "ms", "count"?, "method"?}`` -> ``{}``
* ``POST /_emulator/hangs`` ``{"path_suffix", "count"?, "method"?}`` -> ``{}``;
  ``POST /_emulator/hangs/release`` -> ``{}``
* ``POST /_emulator/garble`` ``{"path_suffix", "kind", "count"?, "method"?}`` -> ``{}``: the next ``count``
  matching answers broken (``kind``: ``malformed-json``, ``truncated``, ``unknown-enum``; ``garble.py``)
* ``GET /_emulator/config`` -> ``EmulatorConfig`` as JSON; ``POST /_emulator/config`` with some of its
  fields -> the new configuration
* ``POST /_emulator/jobs/{id}/pause`` ``{"paused"?: true}`` -> ``{"job_id", "settings"}``
* ``POST /_emulator/jobs/{id}/tags`` ``{"<key>": "<value>", ...}`` -> ``{"job_id", "settings"}``
* ``GET|PUT /_emulator/jobs/{id}/permissions`` (PUT body ``{"access_control_list": [...]}``) ->
  ``JobPermissions``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dbjobs_testkit.emulator.errors import ApiError, JobDoesNotExist, invalid
from dbjobs_testkit.emulator.params import WORKSPACE, json_body, ok, path_job_id

PREFIX = "/_emulator"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _guard(handler: Handler) -> Handler:
    """Turn the in-process API's KeyError / ValueError into 404 / 400 answers."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except JobDoesNotExist as exc:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", exc.message) from None
        except ApiError:
            raise
        except (ValueError, TypeError) as exc:
            raise invalid(str(exc)) from None

    return wrapped


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid(f"{name}: must be an integer.")
    return value


def _suffix(body: dict[str, Any]) -> str:
    suffix = body.get("path_suffix")
    if not isinstance(suffix, str) or not suffix:
        raise invalid("path_suffix: is required.")
    return suffix


def _method(body: dict[str, Any]) -> str | None:
    method = body.get("method")
    return str(method) if method else None


async def rate_limit(request: web.Request) -> web.Response:
    body = await json_body(request)
    rate = body.get("per_second")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise invalid("per_second: must be a number.")
    request.app[WORKSPACE].set_rate_limit(
        _suffix(body), float(rate), _opt_int(body, "burst"), _opt_int(body, "retry_after") or 1, _method(body)
    )
    return ok()


async def documented_rate_limits(request: web.Request) -> web.Response:
    request.app[WORKSPACE].apply_documented_rate_limits()
    return ok()


async def clear_rate_limits(request: web.Request) -> web.Response:
    request.app[WORKSPACE].clear_rate_limits()
    return ok()


async def latency(request: web.Request) -> web.Response:
    body = await json_body(request)
    ms = _opt_int(body, "ms")
    if ms is None:
        raise invalid("ms: is required.")
    request.app[WORKSPACE].inject_latency(_suffix(body), ms, _opt_int(body, "count"), _method(body))
    return ok()


async def hang(request: web.Request) -> web.Response:
    body = await json_body(request)
    count = _opt_int(body, "count") if "count" in body else 1
    request.app[WORKSPACE].inject_hang(_suffix(body), count, _method(body))
    return ok()


async def garble(request: web.Request) -> web.Response:
    body = await json_body(request)
    count = _opt_int(body, "count")
    kind = str(body.get("kind") or "")
    request.app[WORKSPACE].inject_garbled(_suffix(body), kind, 1 if count is None else count, _method(body))
    return ok()


async def release_hangs(request: web.Request) -> web.Response:
    request.app[WORKSPACE].release_hangs()
    return ok()


async def get_config(request: web.Request) -> web.Response:
    return ok(request.app[WORKSPACE].config.to_dict())


async def set_config(request: web.Request) -> web.Response:
    ws = request.app[WORKSPACE]
    ws.configure(**await json_body(request))
    return ok(ws.config.to_dict())


async def pause(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    body = await json_body(request)
    ws = request.app[WORKSPACE]
    ws.pause_schedule(job_id, bool(body.get("paused", True)))
    return ok({"job_id": job_id, "settings": ws.get_settings(job_id)})


async def tags(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    body = await json_body(request)
    ws = request.app[WORKSPACE]
    for key, value in body.items():
        ws.add_tag(job_id, key, str(value))
    return ok({"job_id": job_id, "settings": ws.get_settings(job_id)})


async def get_permissions(request: web.Request) -> web.Response:
    return ok(request.app[WORKSPACE].get_permissions(path_job_id(request)))


async def set_permissions(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    body = await json_body(request)
    return ok(request.app[WORKSPACE].set_permissions(job_id, body.get("access_control_list") or []))


def add_routes(app: web.Application) -> None:
    """Register the control routes under ``/_emulator``."""
    app.router.add_post(f"{PREFIX}/rate-limits", _guard(rate_limit))
    app.router.add_post(f"{PREFIX}/rate-limits/documented", _guard(documented_rate_limits))
    app.router.add_delete(f"{PREFIX}/rate-limits", _guard(clear_rate_limits))
    app.router.add_post(f"{PREFIX}/latency", _guard(latency))
    app.router.add_post(f"{PREFIX}/hangs", _guard(hang))
    app.router.add_post(f"{PREFIX}/hangs/release", _guard(release_hangs))
    app.router.add_post(f"{PREFIX}/garble", _guard(garble))
    app.router.add_get(f"{PREFIX}/config", _guard(get_config), allow_head=False)
    app.router.add_post(f"{PREFIX}/config", _guard(set_config))
    app.router.add_post(f"{PREFIX}/jobs/{{job_id}}/pause", _guard(pause))
    app.router.add_post(f"{PREFIX}/jobs/{{job_id}}/tags", _guard(tags))
    app.router.add_get(f"{PREFIX}/jobs/{{job_id}}/permissions", _guard(get_permissions), allow_head=False)
    app.router.add_put(f"{PREFIX}/jobs/{{job_id}}/permissions", _guard(set_permissions))
