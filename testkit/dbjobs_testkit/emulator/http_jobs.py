"""Handlers of the job endpoints: create, get, list, reset, update, delete, run-now (spec §3.1-§3.7)."""

from __future__ import annotations

from aiohttp import web

from dbjobs_testkit.emulator.errors import invalid
from dbjobs_testkit.emulator.paging import decode_token, encode_token
from dbjobs_testkit.emulator.params import (
    WORKSPACE,
    api_version,
    body_int,
    body_object,
    json_body,
    ok,
    query_bool,
    query_int,
)

#: ``jobs/list`` page size bounds and default (§3.3).
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100
#: Body fields of ``jobs/create`` that are not settings.
CREATE_NON_SETTINGS = ("access_control_list",)


async def create(request: web.Request) -> web.Response:
    """``POST jobs/create`` body JobSettings (+ ``access_control_list``, the initial permissions,
    §6) -> ``{"job_id": int}``; quotas of §4.5 apply."""
    body = await json_body(request)
    settings = {k: v for k, v in body.items() if k not in CREATE_NON_SETTINGS}
    job_id = request.app[WORKSPACE].create_job(settings, api_version(request), body.get("access_control_list"))
    return ok({"job_id": job_id})


async def get(request: web.Request) -> web.Response:
    """``GET jobs/get?job_id=&page_token=`` -> ``Job``, inner arrays paged at 100 in 2.2 (§3.2)."""
    job_id = query_int(request, "job_id", required=True)
    assert job_id is not None
    token = request.query.get("page_token")
    page = decode_token(token, "job_page") if token else 0
    job = request.app[WORKSPACE].get_job(job_id)
    return ok(job.to_get(api_version(request), page))


async def list_jobs(request: web.Request) -> web.Response:
    """``GET jobs/list?limit=&offset=&page_token=&name=&expand_tasks=`` -> ``{jobs?, has_more,
    next_page_token?}``, newest first. ``next_page_token`` appears only when more pages exist."""
    limit = query_int(request, "limit", LIST_LIMIT_DEFAULT)
    assert limit is not None
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise invalid(f"limit: must be between 1 and {LIST_LIMIT_MAX}, got {limit}.")
    offset = query_int(request, "offset", 0) or 0
    if offset < 0:
        raise invalid(f"offset: must not be negative, got {offset}.")
    expand = query_bool(request, "expand_tasks")
    version = api_version(request)
    token = request.query.get("page_token")
    # Tokens are cursors (the creation sequence of the last job served), so deleting or
    # creating jobs between pages neither repeats nor skips the remaining ones.
    after = decode_token(token, "jobs") if token else None
    page, more = request.app[WORKSPACE].list_jobs_page(request.query.get("name"), after, offset, limit)
    out: dict[str, object] = {"has_more": more}
    if page:
        out["jobs"] = [j.to_list_item(version, expand) for j in page]
    if more:
        out["next_page_token"] = encode_token("jobs", page[-1].seq)
    return ok(out)


async def reset(request: web.Request) -> web.Response:
    """``POST jobs/reset {job_id, new_settings}`` -> ``{}`` (§3.4)."""
    body = await json_body(request)
    job_id = body_int(body, "job_id")
    new_settings = body_object(body, "new_settings", required=True)
    request.app[WORKSPACE].reset_job(job_id, new_settings, api_version(request))
    return ok()


async def update(request: web.Request) -> web.Response:
    """``POST jobs/update {job_id, new_settings?, fields_to_remove?}`` -> ``{}`` (§3.5)."""
    body = await json_body(request)
    job_id = body_int(body, "job_id")
    new_settings = body_object(body, "new_settings")
    fields_to_remove = body.get("fields_to_remove") or []
    if not isinstance(fields_to_remove, list):
        raise invalid("fields_to_remove: must be an array of strings.")
    request.app[WORKSPACE].update_job(job_id, new_settings, fields_to_remove, api_version(request))
    return ok()


async def delete(request: web.Request) -> web.Response:
    """``POST jobs/delete {job_id}`` -> ``{}`` (§3.6)."""
    body = await json_body(request)
    request.app[WORKSPACE].delete_job(body_int(body, "job_id"))
    return ok()


async def run_now(request: web.Request) -> web.Response:
    """``POST jobs/run-now {job_id, idempotency_token?, job_parameters?, ...}`` ->
    ``{"run_id", "number_in_job"}`` (§3.7)."""
    body = await json_body(request)
    run = request.app[WORKSPACE].run_now(body_int(body, "job_id"), body)
    return ok({"run_id": run.run_id, "number_in_job": run.run_id})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the job endpoints under ``prefix`` (e.g. ``/api/{version}/jobs``)."""
    app.router.add_post(f"{prefix}/create", create)
    app.router.add_get(f"{prefix}/get", get, allow_head=False)
    app.router.add_get(f"{prefix}/list", list_jobs, allow_head=False)
    app.router.add_post(f"{prefix}/reset", reset)
    app.router.add_post(f"{prefix}/update", update)
    app.router.add_post(f"{prefix}/delete", delete)
    app.router.add_post(f"{prefix}/run-now", run_now)
