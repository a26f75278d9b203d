"""The aiohttp application: routes, bearer-token auth, fault injection, request log and the
error envelope (spec §1-§3).

Per request, in order: admin routes (``/_emulator/...``) skip auth, faults and the log; every
other request is authenticated (except the host-metadata probe and the OAuth endpoints under ``/oidc``,
``http_oauth.py``), may be answered by an injected fault, is shown to the workspace's ``request_hook`` if one is
set (phase ``"received"``), is handled, is logged as ``(method, path, status)`` whatever the outcome, and is shown
to the hook again (phase ``"answered"``) before the answer leaves. A bearer token is accepted when it is one of the
workspace's personal access tokens or a live access token the OAuth server issued.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from dbjobs_testkit.emulator import (
    access,
    http_admin,
    http_controls,
    http_jobs,
    http_oauth,
    http_permissions,
    http_runs,
)
from dbjobs_testkit.emulator.errors import (
    ENDPOINT_NOT_FOUND,
    UNAUTHENTICATED,
    ApiError,
    JobDoesNotExist,
    RunDoesNotExist,
    invalid,
)
from dbjobs_testkit.emulator.garble import garbled
from dbjobs_testkit.emulator.oauth import OAuthServer
from dbjobs_testkit.emulator.params import WORKSPACE, ok
from dbjobs_testkit.emulator.throttle import HANG_LIMIT_S, THROTTLED_MESSAGE
from dbjobs_testkit.emulator.workspace import Workspace

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WELL_KNOWN = "/.well-known/databricks-config"
SCIM_ME = "/api/2.0/preview/scim/v2/Me"
#: 2.2 and 2.1, plus the legacy 2.0 paths the Terraform provider and databricks-cli use (served as 2.1).
JOBS_PREFIX = r"/api/{version:2\.[012]}/jobs"
#: How often a hung request looks whether it was released (s).
HANG_POLL_S = 0.05
#: The Jobs API accepts request bodies up to 10 MB (§2.4); a 1000-task job needs more than
#: aiohttp's 1 MB default.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Stable fake workspace id, sent as ``X-Databricks-Org-Id`` like the real SCIM endpoint.
ORG_ID = "900800700600"

TOKEN: web.AppKey[str] = web.AppKey("token", str)


def build_app(workspace: Workspace, token: str, oauth: OAuthServer | None = None) -> web.Application:
    """The application serving ``workspace`` to clients that send ``Authorization: Bearer <token>`` (or an
    access token ``oauth`` issued)."""
    app = web.Application(middlewares=[_middleware], client_max_size=MAX_BODY_BYTES)
    app[WORKSPACE] = workspace
    app[TOKEN] = token
    app[http_oauth.OAUTH] = oauth or OAuthServer()
    http_oauth.add_routes(app, http_admin.PREFIX)
    if not workspace.accepted_tokens:
        workspace.accepted_tokens = [token]
    http_jobs.add_routes(app, JOBS_PREFIX)
    http_runs.add_routes(app, JOBS_PREFIX)
    http_runs.add_admin_routes(app)
    http_permissions.add_routes(app)
    http_admin.add_routes(app)
    http_controls.add_routes(app)
    app.router.add_get(WELL_KNOWN, _host_metadata, allow_head=False)
    app.router.add_get(SCIM_ME, _scim_me, allow_head=False)
    return app


def error_response(err: ApiError) -> web.Response:
    """``err`` as HTTP: its status, extra headers and the JSON envelope (§2.1)."""
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(http_admin.PREFIX + "/"):
        return await _answer(request, handler)
    ws = request.app[WORKSPACE]
    if request.path.startswith(http_oauth.PREFIX + "/"):  # no bearer token yet: the client is getting one
        response = await _answer(request, handler, workspace=ws)
    else:
        response = await _answer(request, handler, tokens=ws.accepted_tokens, workspace=ws)
    garble = ws.take_garble(request.method, request.path) if isinstance(response, web.Response) else None
    if garble is not None and isinstance(response, web.Response):
        response = await garbled(request, response, garble)
    ws.record_request(request.method, request.path, response.status)
    hook = ws.request_hook
    if hook is not None and not request.path.startswith(http_oauth.PREFIX + "/"):
        hook("answered", request.method, request.path, response.status)
    if ws.captured is not None and isinstance(response, web.Response) and response.body is not None:
        try:
            body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            body = None
        ws.record_response(request.method, request.path, response.status, body)
    return response


async def _answer(
    request: web.Request, handler: Handler, *, tokens: list[str] | None = None, workspace: Workspace | None = None
) -> web.StreamResponse:
    access.CALLER.set(None)  # a keep-alive connection may serve requests of several tokens in one context
    try:
        if tokens is not None and request.path != WELL_KNOWN:
            _authenticate(request, tokens, request.app[http_oauth.OAUTH])
            if workspace is not None:  # the principal the handlers enforce job permissions for (access.py)
                access.CALLER.set(workspace.caller_of(request.headers["Authorization"].partition(" ")[2].strip()))
        if workspace is not None:
            fault = workspace.take_fault(request.method, request.path)
            if fault is not None:
                raise fault
            hook = workspace.request_hook
            if hook is not None and tokens is not None:
                hook("received", request.method, request.path, None)
            await _throttle(request, workspace)
        return await handler(request)
    except (JobDoesNotExist, RunDoesNotExist) as err:
        if workspace is not None and workspace.config.not_found_style == "rest404":
            return error_response(ApiError(404, "RESOURCE_DOES_NOT_EXIST", err.message))
        return error_response(err)
    except ApiError as err:
        return error_response(err)
    except web.HTTPRequestEntityTooLarge:
        return error_response(invalid(f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes."))
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response(
                ApiError(404, ENDPOINT_NOT_FOUND, f"No API found for '{request.method} {request.path}'")
            )
        return error_response(ApiError(exc.status, "BAD_REQUEST", exc.reason))
    except Exception:
        log.exception("emulator bug while serving %s %s", request.method, request.path)
        # Not "Unexpected error": the SDK would retry that phrase (§1.5).
        return error_response(ApiError(500, "INTERNAL_ERROR", "The emulator failed to handle this request."))


async def _throttle(request: web.Request, ws: Workspace) -> None:
    """Rate limits (429 + Retry-After), then injected latency or a hang (``throttle.py``)."""
    with ws._lock:
        limit = ws.throttle.throttled(request.method, request.path)
        delay = None if limit else ws.throttle.take_delay(request.method, request.path)
        generation = ws.throttle.hang_generation
    if limit is not None:
        raise ApiError(429, "REQUEST_LIMIT_EXCEEDED", THROTTLED_MESSAGE, {"Retry-After": str(limit.retry_after)})
    if delay is None:
        return
    if delay.ms is not None:
        await asyncio.sleep(delay.ms / 1000)
        return
    waited = 0.0
    while waited < HANG_LIMIT_S and ws.throttle.hang_generation == generation:
        await asyncio.sleep(HANG_POLL_S)
        waited += HANG_POLL_S


def _authenticate(request: web.Request, tokens: list[str], oauth: OAuthServer) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, sent = header.partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise ApiError(401, UNAUTHENTICATED, "Credential was not sent or was of an unsupported type for this API.")
    if oauth.accepts(sent.strip()):
        return
    if not any(hmac.compare_digest(sent.strip().encode(), token.encode()) for token in tokens):
        # A real workspace answers with a numeric error_code here (§2.1).
        reason = "Invalid access token."
        raise ApiError(403, 403, reason, {"X-Databricks-Reason-Phrase": reason})


async def _host_metadata(_request: web.Request) -> web.Response:
    # Option A of §1.2: a fast 404 makes the SDK skip host metadata without retrying.
    raise ApiError(404, "NOT_FOUND", "Host metadata is not available on this workspace.")


async def _scim_me(request: web.Request) -> web.Response:
    user = request.app[WORKSPACE].user_name
    response = ok(
        {
            "id": "1000000000000001",
            "userName": user,
            "displayName": user.split("@", 1)[0],
            "active": True,
            "emails": [{"value": user, "type": "work", "primary": True}],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        }
    )
    response.headers["X-Databricks-Org-Id"] = ORG_ID
    return response
