"""Handlers of the job permissions endpoints (spec §6), under ``/api/2.0/permissions/jobs/{job_id}``.

* ``GET``   -> ``JobPermissions`` ``{"object_id": "/jobs/<id>", "object_type": "job",
  "access_control_list": [...]}``
* ``PUT``   body ``{"access_control_list": [AccessControlRequest]}`` replaces the direct grants
* ``PATCH`` same body, adds/updates the listed principals
* ``GET .../permissionLevels`` -> ``{"permission_levels": [{"permission_level", "description"}]}``

``job_id`` is a path string (the SDKs type it ``str``); a non-integer answers 400.
"""

from __future__ import annotations

from aiohttp import web

from dbjobs_testkit.emulator import permissions
from dbjobs_testkit.emulator.errors import ApiError
from dbjobs_testkit.emulator.params import WORKSPACE, json_body, ok, path_job_id

PREFIX = "/api/2.0/permissions/jobs"


async def get(request: web.Request) -> web.Response:
    return ok(request.app[WORKSPACE].get_permissions(path_job_id(request)))


async def put(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    body = await json_body(request)
    return ok(request.app[WORKSPACE].set_permissions(job_id, body.get("access_control_list") or []))


async def patch(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    body = await json_body(request)
    return ok(request.app[WORKSPACE].update_permissions(job_id, body.get("access_control_list") or []))


async def levels(request: web.Request) -> web.Response:
    job_id = path_job_id(request)
    ws = request.app[WORKSPACE]
    if job_id not in ws.job_ids():
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Job {job_id} does not exist.")
    return ok(permissions.levels())


def add_routes(app: web.Application) -> None:
    """Register the permissions endpoints."""
    app.router.add_get(f"{PREFIX}/{{job_id}}", get, allow_head=False)
    app.router.add_put(f"{PREFIX}/{{job_id}}", put)
    app.router.add_patch(f"{PREFIX}/{{job_id}}", patch)
    app.router.add_get(f"{PREFIX}/{{job_id}}/permissionLevels", levels, allow_head=False)
