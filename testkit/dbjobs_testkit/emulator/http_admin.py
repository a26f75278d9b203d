"""The admin surface under ``/_emulator/``: out-of-band changes and counters for other processes.

No authentication: the emulator listens on loopback and these routes exist only for tests and
demos. Errors use the same envelope as the API; a missing job is 404 ``RESOURCE_DOES_NOT_EXIST``.

* ``GET  /_emulator/requests[?path_suffix=&method=]`` -> ``{"total": int, "count": int,
  "counts": {"<METHOD> jobs/...": int}, "status_counts": {"<METHOD> jobs/...": {"<status>": int}},
  "log": [[method, path, status], ...]}``
  (``total``: all Jobs requests; ``count``: those matching the filters)
* ``GET  /_emulator/jobs`` -> ``{"job_ids": [int, ...]}`` (oldest first)
* ``GET  /_emulator/jobs/{id}`` -> ``{"job_id": int, "settings": {...}}`` (all pages merged)
* ``POST /_emulator/jobs/{id}/edit`` body = top-level settings patch (``null`` removes a key)
  -> ``{"job_id", "settings"}``
* ``POST /_emulator/jobs/{id}/delete`` -> ``{}``
* ``POST /_emulator/faults`` body ``{"path_suffix", "status", "error_code", "message"?,
  "count"?, "retry_after"?, "method"?}`` -> ``{}``
* ``POST /_emulator/reset-counters`` -> ``{}``
"""

from __future__ import annotations

from aiohttp import web

from dbjobs_testkit.emulator.errors import ApiError, JobDoesNotExist, invalid
from dbjobs_testkit.emulator.params import WORKSPACE, json_body, ok, path_job_id
from dbjobs_testkit.emulator.traffic import DEFAULT_FAULT_MESSAGE

PREFIX = "/_emulator"


def _not_found(exc: JobDoesNotExist) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", exc.message)


async def requests(request: web.Request) -> web.Response:
    ws = request.app[WORKSPACE]
    suffix, method = request.query.get("path_suffix") or None, request.query.get("method") or None
    return ok(
        {
            "total": ws.request_count(),
            "count": ws.request_count(suffix, method),
            "counts": ws.request_counts(),
            "status_counts": ws.request_status_counts(),
            "log": [list(entry) for entry in ws.request_log],
        }
    )


async def list_job_ids(request: web.Request) -> web.Response:
    return ok({"job_ids": request.app[WORKSPACE].job_ids()})


async def get_job(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    try:
        return ok({"job_id": job_id, "settings": request.app[WORKSPACE].get_settings(job_id)})
    except JobDoesNotExist as exc:
        raise _not_found(exc) from None


async def edit_job(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    patch = await json_body(request)
    ws = request.app[WORKSPACE]
    try:
        ws.edit_settings(job_id, patch)
        return ok({"job_id": job_id, "settings": ws.get_settings(job_id)})
    except JobDoesNotExist as exc:
        raise _not_found(exc) from None


async def delete_job(request: web.Request) -> web.Response:
    try:
        request.app[WORKSPACE].delete_job(path_job_id(request))
    except JobDoesNotExist as exc:
        raise _not_found(exc) from None
    return ok()


async def add_fault(request: web.Request) -> web.Response:
    body = await json_body(request)
    suffix, status, code = body.get("path_suffix"), body.get("status"), body.get("error_code")
    if not isinstance(suffix, str) or not isinstance(status, int) or not isinstance(code, str):
        raise invalid("path_suffix (string), status (integer) and error_code (string) are required.")
    count = body.get("count", 1)
    retry_after = body.get("retry_after")
    if not isinstance(count, int) or count < 1:
        raise invalid("count: must be an integer >= 1.")
    if retry_after is not None and not isinstance(retry_after, int):
        raise invalid("retry_after: must be an integer number of seconds.")
    method = body.get("method")
    request.app[WORKSPACE].inject_fault(
        suffix,
        status,
        code,
        str(body.get("message") or DEFAULT_FAULT_MESSAGE),
        count=count,
        retry_after=retry_after,
        method=str(method) if method else None,
    )
    return ok()


async def reset_counters(request: web.Request) -> web.Response:
    request.app[WORKSPACE].reset_counters()
    return ok()


def add_routes(app: web.Application) -> None:
    """Register the admin routes under ``/_emulator``."""
    app.router.add_get(f"{PREFIX}/requests", requests, allow_head=False)
    app.router.add_get(f"{PREFIX}/jobs", list_job_ids, allow_head=False)
    app.router.add_get(f"{PREFIX}/jobs/{{job_id}}", get_job, allow_head=False)
    app.router.add_post(f"{PREFIX}/jobs/{{job_id}}/edit", edit_job)
    app.router.add_post(f"{PREFIX}/jobs/{{job_id}}/delete", delete_job)
    app.router.add_post(f"{PREFIX}/faults", add_fault)
    app.router.add_post(f"{PREFIX}/reset-counters", reset_counters)
