"""Handlers of the run endpoints: runs/list, runs/get, runs/cancel (spec §3.8-§3.10)."""

from __future__ import annotations

from aiohttp import web

from controller.testing.emulator.errors import invalid
from controller.testing.emulator.paging import INNER_PAGE_SIZE, decode_token, encode_token, settings_page
from controller.testing.emulator.params import WORKSPACE, api_version, body_int, json_body, ok, query_bool, query_int

#: ``runs/list`` page size: default 20, at most 25, ``0`` means the maximum (§3.8).
RUNS_LIMIT_DEFAULT, RUNS_LIMIT_MAX = 20, 25


async def list_runs(request: web.Request) -> web.Response:
    """``GET runs/list?job_id=&active_only=&completed_only=&limit=&offset=&page_token=&run_type=
    &expand_tasks=&start_time_from=&start_time_to=`` -> ``{runs?, has_more, next_page_token?}``,
    most recent first; the time bounds are epoch ms, inclusive."""
    ws = request.app[WORKSPACE]
    active_only, completed_only = query_bool(request, "active_only"), query_bool(request, "completed_only")
    if active_only and completed_only:
        raise invalid("active_only and completed_only cannot both be true.")
    limit = query_int(request, "limit", RUNS_LIMIT_DEFAULT)
    assert limit is not None
    if not 0 <= limit <= RUNS_LIMIT_MAX:
        raise invalid(f"limit: must be between 0 and {RUNS_LIMIT_MAX}, got {limit}.")
    limit = limit or RUNS_LIMIT_MAX
    offset = query_int(request, "offset", 0) or 0
    time_from = query_int(request, "start_time_from")
    time_to = query_int(request, "start_time_to")
    run_type = request.query.get("run_type")
    expand = query_bool(request, "expand_tasks")

    now = ws.now_ms()
    runs = ws.list_runs(query_int(request, "job_id"))
    runs = [
        r
        for r in runs
        if (not active_only or r.is_active(now))
        and (not completed_only or not r.is_active(now))
        and (time_from is None or r.start_time >= time_from)
        and (time_to is None or r.start_time <= time_to)
        and (run_type in (None, "", "JOB_RUN"))
    ]
    token = request.query.get("page_token")
    if token:
        after = decode_token(token, "runs")
        runs = [r for r in runs if r.seq < after]
    else:
        runs = runs[offset:]
    page, more = runs[:limit], len(runs) > limit
    out: dict[str, object] = {"has_more": more}
    if page:
        out["runs"] = [r.to_api(now, ws.host_url, include_tasks=expand) for r in page]
    if more:
        out["next_page_token"] = encode_token("runs", page[-1].seq)
    return ok(out)


async def get_run(request: web.Request) -> web.Response:
    """``GET runs/get?run_id=&page_token=`` -> ``Run``; 2.2 pages ``tasks`` at 100 (§3.9)."""
    ws = request.app[WORKSPACE]
    run_id = query_int(request, "run_id", required=True)
    assert run_id is not None
    run = ws.get_run(run_id).to_api(ws.now_ms(), ws.host_url)
    if api_version(request) == "2.1":
        return ok(run)
    token = request.query.get("page_token")
    page = decode_token(token, "run_page") if token else 0
    sliced, more = settings_page({"tasks": run["tasks"]}, page, INNER_PAGE_SIZE)
    if page:
        # Later pages only carry the next slice of the paged arrays; the mixin ignores the rest.
        run = {"run_id": run["run_id"], "job_id": run["job_id"], "state": run["state"], "status": run["status"]}
    run["tasks"] = sliced.get("tasks", [])
    if more:
        run["next_page_token"] = encode_token("run_page", page + 1)
    return ok(run)


async def cancel_run(request: web.Request) -> web.Response:
    """``POST runs/cancel {run_id}`` -> ``{}``; cancelling an ended run is a no-op (§3.10)."""
    body = await json_body(request)
    request.app[WORKSPACE].cancel_run(body_int(body, "run_id"))
    return ok()


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the run endpoints under ``prefix`` (e.g. ``/api/{version}/jobs``)."""
    app.router.add_get(f"{prefix}/runs/list", list_runs, allow_head=False)
    app.router.add_get(f"{prefix}/runs/get", get_run, allow_head=False)
    app.router.add_post(f"{prefix}/runs/cancel", cancel_run)
