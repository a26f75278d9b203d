"""Handlers of the run endpoints (spec §3.8-§3.11) and the run admin routes under ``/_emulator``.

API: ``runs/list``, ``runs/get``, ``runs/cancel``, ``runs/cancel-all``, ``runs/delete``,
``runs/get-output``, ``runs/submit`` (``run-now`` is in ``http_jobs``). Admin (no auth, not
logged, see docs/emulator.md "Runs"):

* ``POST /_emulator/jobs/{id}/script-runs`` body ``{"runs": [outcome | {"outcome", "pending_ms"?,
  "running_ms"?, "failed_task"?, "message"?}, ...]}`` -> ``{}``
* ``POST /_emulator/runs/{id}/finish`` body ``{"outcome"?: "SUCCESS"}`` -> ``{}``
* ``GET  /_emulator/clock`` -> ``{"now_ms": int, "manual": bool}``
* ``POST /_emulator/clock/advance`` body ``{"ms": int}`` -> ``{"now_ms": int}`` (ManualClock only,
  else 400)
"""

from __future__ import annotations

from aiohttp import web

from dbjobs_testkit.emulator.errors import ApiError, JobDoesNotExist, RunDoesNotExist, invalid
from dbjobs_testkit.emulator.paging import INNER_PAGE_SIZE, decode_token, encode_token
from dbjobs_testkit.emulator.params import WORKSPACE, api_version, body_int, json_body, ok, query_bool, query_int

#: ``runs/list`` page size: default 20, at most 25, ``0`` means the maximum (§3.8).
RUNS_LIMIT_DEFAULT, RUNS_LIMIT_MAX = 20, 25
#: Arrays of a ``Run`` that 2.2 ``runs/get`` returns 100 at a time (§3.9).
PAGED_RUN_ARRAYS = ("tasks", "job_parameters")
RUN_TYPES = ("JOB_RUN", "WORKFLOW_RUN", "SUBMIT_RUN")


async def list_runs(request: web.Request) -> web.Response:
    """``GET runs/list?job_id=&active_only=&completed_only=&limit=&offset=&page_token=&run_type=
    &expand_tasks=&start_time_from=&start_time_to=`` -> ``{runs?, has_more, next_page_token?}``,
    most recently started first; the time bounds are epoch ms, inclusive."""
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
    run_type = request.query.get("run_type") or None
    if run_type is not None and run_type not in RUN_TYPES:
        raise invalid(f"run_type: must be one of {', '.join(RUN_TYPES)}, got {run_type!r}.")
    expand = query_bool(request, "expand_tasks")

    everything = ws.list_runs(query_int(request, "job_id"))
    now = ws.now_ms()
    runs = [
        r
        for r in everything
        if (not active_only or r.is_active(now))
        and (not completed_only or not r.is_active(now))
        and (time_from is None or r.start_time >= time_from)
        and (time_to is None or r.start_time <= time_to)
        and (run_type is None or r.run_type == run_type)
    ]
    token = request.query.get("page_token")
    if token:
        # The cursor is the position in the (start_time, seq) order, so runs created between
        # pages appear on no page rather than shifting later ones.
        after = decode_token(token, "runs")
        mark = next(((r.start_time, r.seq) for r in everything if r.seq == after), None)
        if mark is None:
            raise invalid("page_token: the run it points at no longer exists.")
        runs = [r for r in runs if (r.start_time, r.seq) < mark]
    else:
        runs = runs[offset:]
    page, more = runs[:limit], len(runs) > limit
    out: dict[str, object] = {"has_more": more}
    if page:
        out["runs"] = [r.to_api(now, ws.host_url, include_tasks=expand) for r in page]
        if expand and api_version(request) == "2.2":
            for item in out["runs"]:  # type: ignore[attr-defined]
                item["has_more"] = len(item.get("tasks", [])) > INNER_PAGE_SIZE
                item["tasks"] = item.get("tasks", [])[:INNER_PAGE_SIZE]
    if more:
        out["next_page_token"] = encode_token("runs", page[-1].seq)
    return ok(out)


async def get_run(request: web.Request) -> web.Response:
    """``GET runs/get?run_id=&page_token=`` -> ``Run``; 2.2 pages ``tasks`` and ``job_parameters``
    at 100 and omits ``next_page_token`` on the last page (§3.9)."""
    ws = request.app[WORKSPACE]
    run_id = query_int(request, "run_id", required=True)
    assert run_id is not None
    run = ws.get_run(run_id).to_api(ws.now_ms(), ws.host_url)
    if api_version(request) == "2.1":
        return ok(run)
    token = request.query.get("page_token")
    page = decode_token(token, "run_page") if token else 0
    start, end = page * INNER_PAGE_SIZE, (page + 1) * INNER_PAGE_SIZE
    if page:
        # Later pages only carry the next slices of the paged arrays (the SDK mixin merges them).
        out = {k: run[k] for k in ("run_id", "job_id", "state", "status")}
        for key in PAGED_RUN_ARRAYS:
            if run.get(key, [])[start:end]:
                out[key] = run[key][start:end]
        run = out
    else:
        for key in PAGED_RUN_ARRAYS:
            if key in run:
                run[key] = run[key][start:end]
    full = ws.get_run(run_id).to_api(ws.now_ms(), ws.host_url)
    if any(len(full.get(k, [])) > end for k in PAGED_RUN_ARRAYS):
        run["next_page_token"] = encode_token("run_page", page + 1)
    return ok(run)


async def cancel_run(request: web.Request) -> web.Response:
    """``POST runs/cancel {run_id}`` -> ``{}``; cancelling an ended run is a no-op (§3.10)."""
    body = await json_body(request)
    request.app[WORKSPACE].cancel_run(body_int(body, "run_id"))
    return ok()


async def cancel_all(request: web.Request) -> web.Response:
    """``POST runs/cancel-all {job_id?, all_queued_runs?}`` -> ``{}`` (§3.10)."""
    body = await json_body(request)
    job_id = body_int(body, "job_id") if body.get("job_id") is not None else None
    request.app[WORKSPACE].cancel_all_runs(job_id, bool(body.get("all_queued_runs")))
    return ok()


async def delete_run(request: web.Request) -> web.Response:
    """``POST runs/delete {run_id}`` -> ``{}``; 400 while the run is active (§3.11)."""
    body = await json_body(request)
    request.app[WORKSPACE].delete_run(body_int(body, "run_id"))
    return ok()


async def get_output(request: web.Request) -> web.Response:
    """``GET runs/get-output?run_id=`` -> ``RunOutput`` of a task run (§3.11)."""
    run_id = query_int(request, "run_id", required=True)
    assert run_id is not None
    return ok(request.app[WORKSPACE].run_output(run_id))


async def submit(request: web.Request) -> web.Response:
    """``POST runs/submit {tasks, run_name?, timeout_seconds?, idempotency_token?}`` -> ``{run_id}``."""
    body = await json_body(request)
    return ok({"run_id": request.app[WORKSPACE].submit_run(body).run_id})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the run endpoints under ``prefix`` (e.g. ``/api/{version}/jobs``)."""
    app.router.add_get(f"{prefix}/runs/list", list_runs, allow_head=False)
    app.router.add_get(f"{prefix}/runs/get", get_run, allow_head=False)
    app.router.add_get(f"{prefix}/runs/get-output", get_output, allow_head=False)
    app.router.add_post(f"{prefix}/runs/cancel", cancel_run)
    app.router.add_post(f"{prefix}/runs/cancel-all", cancel_all)
    app.router.add_post(f"{prefix}/runs/delete", delete_run)
    app.router.add_post(f"{prefix}/runs/submit", submit)


# ---- admin -------------------------------------------------------------------------------------


async def admin_script_runs(request: web.Request) -> web.Response:
    body = await json_body(request)
    runs = body.get("runs")
    if not isinstance(runs, list):
        raise invalid("runs: must be a list of outcomes or run scripts.")
    try:
        request.app[WORKSPACE].script_runs(_path_int(request, "job_id"), runs)
    except JobDoesNotExist as exc:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", exc.message) from None
    except ValueError as exc:
        raise invalid(f"runs: {exc}") from None
    return ok()


async def admin_finish_run(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        request.app[WORKSPACE].finish_run(_path_int(request, "run_id"), str(body.get("outcome", "SUCCESS")))
    except RunDoesNotExist as exc:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", exc.message) from None
    except ValueError as exc:
        raise invalid(f"outcome: {exc}") from None
    return ok()


async def admin_clock(request: web.Request) -> web.Response:
    clock = request.app[WORKSPACE].clock
    return ok({"now_ms": clock.now_ms(), "manual": hasattr(clock, "advance")})


async def admin_advance(request: web.Request) -> web.Response:
    clock = request.app[WORKSPACE].clock
    advance = getattr(clock, "advance", None)
    if advance is None:
        raise invalid("The emulator runs on the system clock; start it with a ManualClock to advance time.")
    ms = body_int(await json_body(request), "ms")
    if ms < 0:
        raise invalid("ms: a clock does not go backwards.")
    return ok({"now_ms": int(advance(ms))})


def _path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name}: expected an integer, got {raw!r}.") from None


def add_admin_routes(app: web.Application, prefix: str = "/_emulator") -> None:
    """Register the run admin routes (see the module docstring)."""
    app.router.add_post(f"{prefix}/jobs/{{job_id}}/script-runs", admin_script_runs)
    app.router.add_post(f"{prefix}/runs/{{run_id}}/finish", admin_finish_run)
    app.router.add_get(f"{prefix}/clock", admin_clock, allow_head=False)
    app.router.add_post(f"{prefix}/clock/advance", admin_advance)
