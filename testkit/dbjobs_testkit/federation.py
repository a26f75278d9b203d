"""Workload identity on the local control plane: the apiserver's ServiceAccount token issuer, as a Databricks
federation policy sees it.

The kube-apiserver publishes its issuer's OIDC discovery document and signing keys
(``GET /.well-known/openid-configuration`` → ``{issuer, jwks_uri, …}``, ``GET /openid/v1/jwks`` → a JWKS;
https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery).
The local control plane refuses anonymous requests, so instead of binding ``system:service-account-issuer-
discovery`` to ``system:unauthenticated`` these are read with the admin's credentials and handed to the emulator as
a federation policy's inline JWKS (a Databricks federation policy may carry ``jwks_json`` for an issuer it cannot
reach: https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-policy).

Tokens come from the apiserver's TokenRequest API (``kubectl create token SA --audience A``); :func:`forge` signs
claims with the apiserver's own service account key, for tokens the apiserver would never issue (already
expired), so the emulator's expiry check is tested on an otherwise valid signature.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
import yaml

from dbjobs_testkit.controlplane import ControlPlane


@dataclass(frozen=True)
class Issuer:
    """The apiserver's ServiceAccount token issuer: ``url`` (the ``iss`` claim) and ``jwks`` (its public keys)."""

    url: str
    jwks: dict[str, Any]


def _admin_context(cp: ControlPlane) -> ssl.SSLContext:
    """TLS with the admin's client certificate (embedded in its kubeconfig)."""
    user = yaml.safe_load(cp.admin_kubeconfig.read_text())["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=str(cp.ca_cert))
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = f"{tmp}/c.pem", f"{tmp}/k.pem"
        with open(cert, "wb") as f:
            f.write(base64.b64decode(user["client-certificate-data"]))
        with open(key, "wb") as f:
            f.write(base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(cert, key)
    return ctx


def issuer(cp: ControlPlane) -> Issuer:
    """The issuer of ``cp``'s ServiceAccount tokens, read from its OIDC discovery document and JWKS."""
    ctx = _admin_context(cp)
    with urllib.request.urlopen(f"{cp.server_url}/.well-known/openid-configuration", context=ctx, timeout=10) as r:
        discovery = json.load(r)
    with urllib.request.urlopen(f"{cp.server_url}/openid/v1/jwks", context=ctx, timeout=10) as r:
        jwks = json.load(r)
    return Issuer(str(discovery["issuer"]), jwks)


def forge(cp: ControlPlane, claims: dict[str, Any]) -> str:
    """A JWT of ``claims`` signed RS256 with ``cp``'s service account signing key under the key id the apiserver
    publishes (so only the claims can make it invalid)."""
    key = (cp.workdir / "pki" / "sa.key").read_bytes()
    kid = issuer(cp).jwks["keys"][0]["kid"]
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def expired_claims(iss: str, audience: str, subject: str, ago_s: int = 3600) -> dict[str, Any]:
    """Claims of a ServiceAccount token that expired ``ago_s`` seconds ago."""
    now = int(time.time())
    return {
        "iss": iss,
        "aud": [audience],
        "sub": subject,
        "iat": now - ago_s - 600,
        "nbf": now - ago_s - 600,
        "exp": now - ago_s,
    }


def tamper(token: str, **claims: Any) -> str:
    """``token`` with some payload claims changed and its signature kept (so it no longer verifies)."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"
