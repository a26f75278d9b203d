"""HTTP of the workspace's OAuth authorization server (:mod:`dbjobs_testkit.emulator.oauth`) and its controls.

Served without bearer authentication (a client has no token yet), logged like every API request:

* ``GET /oidc/.well-known/oauth-authorization-server`` (and ``/oidc/.well-known/openid-configuration``) →
  ``{"issuer": "<url>/oidc", "authorization_endpoint": "<url>/oidc/v1/authorize", "token_endpoint":
  "<url>/oidc/v1/token", "grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported",
  "response_types_supported"}``
* ``POST /oidc/v1/token`` (``application/x-www-form-urlencoded``) → ``{"access_token", "token_type": "Bearer",
  "expires_in", "scope"}`` or an RFC 6749 §5.2 error ``{"error", "error_description"}`` (401 / 400).

Admin controls under ``/_emulator/oauth`` (no authentication, not logged):

* ``POST /_emulator/oauth/clients`` ``{"client_id", "client_secret"}`` -> ``{}``
* ``POST /_emulator/oauth/federation-policies`` ``{"client_id", "issuer", "audiences": [...], "subject",
  "jwks_json": "<JWKS as a JSON string>"}`` -> ``{}``
* ``POST /_emulator/oauth/revoke`` ``{"client_id"?}`` -> ``{"revoked": n}``
* ``POST /_emulator/oauth/settings`` ``{"token_lifetime_seconds"}`` -> ``{}``
* ``GET /_emulator/oauth`` -> ``{"token_lifetime_seconds", "issued", "token_requests": [[grant, client_id,
  status, error], ...]}``
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from dbjobs_testkit.emulator.errors import invalid
from dbjobs_testkit.emulator.oauth import CLIENT_CREDENTIALS, TOKEN_EXCHANGE, OAuthError, OAuthServer
from dbjobs_testkit.emulator.params import json_body, ok

PREFIX = "/oidc"
DISCOVERY = f"{PREFIX}/.well-known/oauth-authorization-server"
OPENID_DISCOVERY = f"{PREFIX}/.well-known/openid-configuration"
TOKEN = f"{PREFIX}/v1/token"
OAUTH: web.AppKey[OAuthServer] = web.AppKey("oauth", OAuthServer)


def base_url(request: web.Request) -> str:
    """``scheme://host:port`` the client used."""
    return f"{request.scheme}://{request.host}"


async def discovery(request: web.Request) -> web.Response:
    url = base_url(request)
    return ok(
        {
            "issuer": f"{url}{PREFIX}",
            "authorization_endpoint": f"{url}{PREFIX}/v1/authorize",
            "token_endpoint": f"{url}{TOKEN}",
            "grant_types_supported": [CLIENT_CREDENTIALS, TOKEN_EXCHANGE, "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["all-apis", "offline_access", "openid", "profile", "email"],
            "response_types_supported": ["code"],
        }
    )


def _basic(request: web.Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", "Malformed HTTP Basic client authentication.") from None
    return user, password


async def token(request: web.Request) -> web.Response:
    try:
        form = {k: str(v) for k, v in (await request.post()).items()}
        answer = request.app[OAUTH].token(form, _basic(request))
    except OAuthError as err:
        return web.json_response(err.body(), status=err.status, headers={"Cache-Control": "no-store"})
    return web.json_response(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# ---- admin ----------------------------------------------------------------------------------------------------


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise invalid(f"{name}: must be a non-empty string.")
    return value


async def add_client(request: web.Request) -> web.Response:
    body = await json_body(request)
    request.app[OAUTH].add_client(_text(body, "client_id"), _text(body, "client_secret"))
    return ok()


async def add_policy(request: web.Request) -> web.Response:
    body = await json_body(request)
    audiences = body.get("audiences")
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise invalid("audiences: must be a list of strings.")
    try:
        jwks = json.loads(_text(body, "jwks_json"))
    except ValueError:
        raise invalid("jwks_json: must be a JWKS document as a JSON string.") from None
    request.app[OAUTH].add_federation_policy(
        _text(body, "client_id", required=False),
        issuer=_text(body, "issuer"),
        audiences=audiences,
        subject=_text(body, "subject"),
        jwks=jwks,
    )
    return ok()


async def revoke(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok({"revoked": request.app[OAUTH].revoke_tokens(_text(body, "client_id", required=False) or None)})


async def settings(request: web.Request) -> web.Response:
    body = await json_body(request)
    seconds = body.get("token_lifetime_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise invalid("token_lifetime_seconds: must be a positive integer.")
    request.app[OAUTH].token_lifetime_s = seconds
    return ok()


async def state(request: web.Request) -> web.Response:
    server = request.app[OAUTH]
    return ok(
        {
            "token_lifetime_seconds": server.token_lifetime_s,
            "issued": server.issued(),
            "token_requests": [[r.grant, r.client_id, r.status, r.error] for r in list(server.token_requests)],
        }
    )


def add_routes(app: web.Application, admin_prefix: str) -> None:
    """The OAuth endpoints, and their controls under ``admin_prefix`` + ``/oauth``."""
    app.router.add_get(DISCOVERY, discovery, allow_head=False)
    app.router.add_get(OPENID_DISCOVERY, discovery, allow_head=False)
    app.router.add_post(TOKEN, token)
    app.router.add_post(f"{admin_prefix}/oauth/clients", add_client)
    app.router.add_post(f"{admin_prefix}/oauth/federation-policies", add_policy)
    app.router.add_post(f"{admin_prefix}/oauth/revoke", revoke)
    app.router.add_post(f"{admin_prefix}/oauth/settings", settings)
    app.router.add_get(f"{admin_prefix}/oauth", state, allow_head=False)
