"""Credentials beyond tokens, through the real databricks-sdk against the emulator's OAuth endpoints (issue 11,
item 2): OAuth M2M (client credentials) and workload identity (RFC 8693 token exchange of a signed JWT read from a
file), each through :class:`controller.databricks.connection.WorkspaceConnection` as the controller uses it.

Covers: the documented discovery and token shapes; a refused secret, a tampered, expired or foreign-subject
federated token and a missing token file give ``Unauthorized`` with a message naming the cause and never the
credential; short-lived tokens are refreshed before they expire (measured: no API call ever carries an expired
token); a revoked access token is replaced on the next call; the SDK's debug log carries no credential.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.databricks.auth import OAUTH_M2M, WORKLOAD_IDENTITY, Auth
from controller.databricks.connection import WorkspaceConnection
from controller.databricks.errors import DatabricksFailure, ErrorKind
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import wait_for

pytestmark = pytest.mark.integration
SECRET = "m2m-secret-sentinel-0c41d"
ISSUER = "https://kubernetes.example.test"
AUDIENCE = "dbjobs-test"
SUBJECT = "system:serviceaccount:dbjobs-system:dbjobs"


@pytest.fixture()
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token="pat-unused") as server:
        server.oauth.add_client("sp-m2m", SECRET)
        yield server


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}


def federated(key: rsa.RSAPrivateKey, *, lifetime_s: int = 600, **override: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": [AUDIENCE], "sub": SUBJECT, "iat": now, "nbf": now, "exp": now + lifetime_s}
    return jwt.encode({**claims, **override}, key, algorithm="RS256", headers={"kid": "k1"})


def call(conn: WorkspaceConnection) -> Any:
    """One jobs/list through the connection, as the controller makes it."""
    return asyncio.run(conn.run(lambda client: list(client.jobs.list(limit=1))))


def refused(conn: WorkspaceConnection) -> DatabricksFailure:
    with pytest.raises(DatabricksFailure) as err:
        call(conn)
    assert err.value.kind is ErrorKind.UNAUTHORIZED, err.value.message
    return err.value


def test_discovery_and_token_have_the_documented_shapes(emu: EmulatorServer) -> None:
    discovery = requests.get(f"{emu.url}/oidc/.well-known/oauth-authorization-server", timeout=10).json()
    assert discovery["token_endpoint"] == f"{emu.url}/oidc/v1/token"
    assert discovery["issuer"] == f"{emu.url}/oidc"
    answer = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "all-apis"},
        auth=("sp-m2m", SECRET),
        timeout=10,
    )
    body = answer.json()
    assert answer.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "all-apis" and body["access_token"]
    jobs = requests.get(
        f"{emu.url}/api/2.2/jobs/list", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    )
    assert jobs.status_code == 200
    wrong = requests.post(
        discovery["token_endpoint"], data={"grant_type": "client_credentials"}, auth=("sp-m2m", "x"), timeout=10
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_oauth_m2m_works_and_a_wrong_secret_is_unauthorized(emu: EmulatorServer) -> None:
    assert call(WorkspaceConnection(emu.url, Auth(OAUTH_M2M, client_id="sp-m2m", client_secret=SECRET))) == []
    assert emu.oauth.issued("client_credentials") == 1
    failure = refused(WorkspaceConnection(emu.url, Auth(OAUTH_M2M, client_id="sp-m2m", client_secret="nope")))
    assert "OAuth client sp-m2m" in failure.message and "invalid_client" in failure.message
    assert "nope" not in failure.message and SECRET not in failure.message


def test_short_lived_tokens_are_refreshed_before_they_expire(emu: EmulatorServer) -> None:
    """The SDK renews a token once less than 40 s of it is left; with 45 s tokens every call after the first 5 s
    of a token's life gets a new one, and the workspace never sees an expired token."""
    emu.oauth.token_lifetime_s = 45
    conn = WorkspaceConnection(emu.url, Auth(OAUTH_M2M, client_id="sp-m2m", client_secret=SECRET))

    def renewed_twice() -> bool:
        call(conn)
        return emu.oauth.issued() >= 3

    wait_for(renewed_twice, timeout=60, what="two renewals of a 45 s token", interval=1.0)
    assert emu.oauth.refused_expired == 0
    assert min(emu.oauth.accepted_remaining_s) > 30  # renewed with more than half its life left


def test_a_revoked_access_token_is_replaced_on_the_next_call(emu: EmulatorServer) -> None:
    conn = WorkspaceConnection(emu.url, Auth(OAUTH_M2M, client_id="sp-m2m", client_secret=SECRET))
    call(conn)
    emu.oauth.revoke_tokens("sp-m2m")
    refused(conn)  # the revoked token is refused once...
    call(conn)  # ...and the next call fetches a new one
    assert emu.oauth.issued() == 2


@pytest.fixture()
def token_file(tmp_path: Path, emu: EmulatorServer, signing_key: rsa.RSAPrivateKey) -> Path:
    emu.oauth.add_federation_policy(
        "sp-wi", issuer=ISSUER, audiences=[AUDIENCE], subject=SUBJECT, jwks=jwks_of(signing_key)
    )
    path = tmp_path / "token"
    path.write_text(federated(signing_key))
    return path


def wi(emu: EmulatorServer, path: Path) -> WorkspaceConnection:
    return WorkspaceConnection(emu.url, Auth(WORKLOAD_IDENTITY, client_id="sp-wi", token_file=str(path)))


def test_workload_identity_exchanges_a_signed_token(
    emu: EmulatorServer, token_file: Path, signing_key: rsa.RSAPrivateKey
) -> None:
    assert call(wi(emu, token_file)) == []
    assert emu.oauth.token_requests[-1].grant == "token-exchange" and emu.oauth.issued("token-exchange") == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("tampered", "signature does not verify"),
        ("expired", "has expired"),
        ("subject", "subject does not match"),
        ("audience", "audience is not one of the policy's"),
        ("issuer", "No federation policy trusts the issuer"),
        ("foreign key", "signature does not verify"),
    ],
)
def test_workload_identity_refuses_a_bad_token(
    emu: EmulatorServer, token_file: Path, signing_key: rsa.RSAPrivateKey, change: str, why: str
) -> None:
    good = token_file.read_text()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "tampered": good[: good.rindex(".")] + "." + ("A" * 40),
        "expired": federated(signing_key, exp=int(time.time()) - 60),
        "subject": federated(signing_key, sub="system:serviceaccount:team-b:thief"),
        "audience": federated(signing_key, aud=["someone-else"]),
        "issuer": federated(signing_key, iss="https://evil.example.test"),
        "foreign key": federated(other),
    }[change]
    token_file.write_text(bad)
    failure = refused(wi(emu, token_file))
    assert why in failure.message and "service principal sp-wi" in failure.message
    assert bad not in failure.message
    assert emu.oauth.token_requests[-1].status == 400


def test_a_missing_token_file_is_unauthorized(emu: EmulatorServer, tmp_path: Path) -> None:
    failure = refused(wi(emu, tmp_path / "absent"))
    assert "token is missing or empty" in failure.message


def test_the_token_file_is_read_again_at_each_renewal(
    emu: EmulatorServer, token_file: Path, signing_key: rsa.RSAPrivateKey
) -> None:
    """The kubelet rotates the projected token in place: a renewal exchanges whatever the file holds now."""
    emu.oauth.token_lifetime_s = 41  # renewed at every call 1 s into its life
    conn = wi(emu, token_file)
    call(conn)
    token_file.write_text(federated(signing_key, sub="system:serviceaccount:team-b:thief"))

    def renewed_from_the_new_file() -> bool:
        try:
            call(conn)
        except DatabricksFailure as failure:
            return "subject does not match" in failure.message  # the new file's (foreign) subject, refused
        return False

    wait_for(renewed_from_the_new_file, timeout=20, what="a renewal that exchanges the new file", interval=0.5)


def test_the_sdk_debug_log_carries_no_credential(
    emu: EmulatorServer, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    call(WorkspaceConnection(emu.url, Auth(OAUTH_M2M, client_id="sp-m2m", client_secret=SECRET)))
    call(wi(emu, token_file))
    text = caplog.text
    assert "GET /api/2.2/jobs/list" in text  # the SDK did log its requests at DEBUG
    for secret in (SECRET, token_file.read_text(), *emu.oauth.access_tokens()):
        assert secret not in text
