"""The workspace's OAuth authorization server: service principals' OAuth secrets, federation policies, and the
short-lived access tokens it issues (which the API then accepts as bearer tokens).

What Databricks documents, and what this does:

* Discovery (RFC 8414): ``GET /oidc/.well-known/oauth-authorization-server`` → ``{issuer, authorization_endpoint,
  token_endpoint, …}`` (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-m2m, "workspace-level OAuth
  endpoints").
* Client credentials (RFC 6749 §4.4): ``POST /oidc/v1/token`` form ``grant_type=client_credentials``,
  ``scope=all-apis``, the client authenticated by HTTP Basic (or ``client_id``/``client_secret`` in the form) →
  ``{"access_token", "token_type": "Bearer", "expires_in": 3600, "scope"}``; a wrong client or secret → 401
  ``{"error": "invalid_client", "error_description"}`` (RFC 6749 §5.2).
* Token exchange (RFC 8693 §2.1): the same endpoint with ``grant_type=urn:ietf:params:oauth:grant-type:
  token-exchange``, ``subject_token=<JWT>``, ``subject_token_type=urn:ietf:params:oauth:token-type:jwt`` and
  ``client_id`` (a service principal federation policy; without it, an account-wide one). The JWT must be
  signed with RS256 or ES256 by a key of the policy's issuer (its JWKS, given inline as a policy's
  ``jwks_json`` may be), carry the policy's issuer, one of its audiences and its subject, and not be expired
  (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-policy). The Databricks token lives no
  longer than the federated one ("the lifetime of each access token is derived from the lifetime of the
  federated token", https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-exchange). A refused
  subject token → 400 ``{"error": "invalid_request", "error_description"}`` (RFC 8693 §2.2.2).

Times are wall-clock epoch seconds (the SDK computes expiry from ``expires_in`` on its own clock). Every public
method takes one lock: the HTTP server thread and a test call them at once. No error description contains a
credential.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
CLIENT_CREDENTIALS = "client_credentials"
#: What Databricks accepts for federated tokens (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-exchange).
ALGORITHMS = ("RS256", "ES256")
DEFAULT_LIFETIME_S = 3600


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: ``status``, ``error`` and ``description``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class FederationPolicy:
    """A federation policy: tokens of ``issuer``, for one of ``audiences``, with subject ``subject``, signed by a
    key of ``jwks`` (a JWKS document), may act as service principal ``client_id`` ("" = account-wide)."""

    client_id: str
    issuer: str
    audiences: tuple[str, ...]
    subject: str
    jwks: dict[str, Any]


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint: ``grant`` (``client_credentials`` | ``token-exchange``), the client
    id it named, the HTTP status answered, the OAuth error (None when a token was issued) and when (epoch s)."""

    grant: str
    client_id: str
    status: int
    error: str | None
    at: float


@dataclass
class _Issued:
    client_id: str
    expires_at: float


@dataclass
class OAuthServer:
    """See the module docstring. ``token_lifetime_s``: lifetime of issued access tokens (Databricks: one hour)."""

    token_lifetime_s: int = DEFAULT_LIFETIME_S
    clients: dict[str, str] = field(default_factory=dict)  # client id -> OAuth secret
    policies: list[FederationPolicy] = field(default_factory=list)
    token_requests: list[TokenRequest] = field(default_factory=list)
    #: Seconds each access token the API accepted still had to live (the refresh measurements read this).
    accepted_remaining_s: list[float] = field(default_factory=list)
    #: Access tokens presented after they expired (or after a revocation) and refused.
    refused_expired: int = 0
    _tokens: dict[str, _Issued] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # ---- test controls ------------------------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Give service principal ``client_id`` an OAuth secret (replacing the one it had)."""
        with self._lock:
            self.clients[client_id] = client_secret

    def rotate_secret(self, client_id: str, new_secret: str, *, revoke_tokens: bool = True) -> None:
        """Replace the client's secret; its access tokens are revoked too unless ``revoke_tokens`` is False (an
        admin who deletes a leaked secret also wants what it minted gone)."""
        with self._lock:
            self.clients[client_id] = new_secret
            if revoke_tokens:
                self.revoke_tokens(client_id)

    def add_federation_policy(
        self, client_id: str, *, issuer: str, audiences: list[str] | tuple[str, ...], subject: str, jwks: dict[str, Any]
    ) -> None:
        """Let tokens of ``issuer`` for ``audiences`` with ``subject``, signed by a key in ``jwks``, act as
        ``client_id`` (its policies are replaced)."""
        with self._lock:
            self.policies = [p for p in self.policies if p.client_id != client_id]
            self.policies.append(FederationPolicy(client_id, issuer, tuple(audiences), subject, dict(jwks)))

    def revoke_tokens(self, client_id: str | None = None) -> int:
        """Revoke every access token (of ``client_id`` when given); returns how many."""
        with self._lock:
            gone = [t for t, i in self._tokens.items() if client_id is None or i.client_id == client_id]
            for token in gone:
                del self._tokens[token]
            return len(gone)

    def access_tokens(self) -> list[str]:
        """Every access token issued and not revoked (a leak test looks for them in what the client wrote)."""
        with self._lock:
            return list(self._tokens)

    def issued(self, grant: str | None = None) -> int:
        """Tokens issued so far (by ``grant`` when given)."""
        with self._lock:
            return sum(1 for r in self.token_requests if r.error is None and grant in (None, r.grant))

    # ---- the API's side ---------------------------------------------------------------------------------------

    def accepts(self, access_token: str) -> bool | None:
        """True: a live token we issued; False: one we issued that has expired or was revoked; None: not ours."""
        now = time.time()
        with self._lock:
            issued = self._tokens.get(access_token)
            if issued is None:
                return None
            if issued.expires_at <= now:
                self.refused_expired += 1
                return False
            self.accepted_remaining_s.append(issued.expires_at - now)
            return True

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Answer one token request (``form`` fields, ``basic`` the HTTP Basic client id and secret). Raises
        :class:`OAuthError`."""
        grant = form.get("grant_type", "")
        client_id = basic[0] if basic else form.get("client_id", "")
        try:
            if grant == CLIENT_CREDENTIALS:
                secret = basic[1] if basic else form.get("client_secret", "")
                answer = self._client_credentials(client_id, secret, form.get("scope") or "all-apis")
            elif grant == TOKEN_EXCHANGE:
                answer = self._exchange(form, client_id)
            else:
                raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant_type {grant[:80]!r}.")
        except OAuthError as err:
            self._note(grant, client_id, err.status, err.error)
            raise
        self._note(grant, client_id, 200, None)
        return answer

    def _client_credentials(self, client_id: str, secret: str, scope: str) -> dict[str, Any]:
        with self._lock:
            known = self.clients.get(client_id)
        if known is None or not secrets.compare_digest(known.encode(), secret.encode()):
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        return self._issue(client_id, self.token_lifetime_s, scope)

    def _exchange(self, form: dict[str, str], client_id: str) -> dict[str, Any]:
        if form.get("subject_token_type") != JWT_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", f"subject_token_type must be {JWT_TOKEN_TYPE}.")
        subject_token = form.get("subject_token") or ""
        if not subject_token:
            raise OAuthError(400, "invalid_request", "subject_token is required.")
        claims = verify_federated(subject_token, self._policies_of(client_id))
        lifetime = min(self.token_lifetime_s, int(float(claims["exp"]) - time.time()))
        return self._issue(client_id, max(1, lifetime), form.get("scope") or "all-apis")

    def _policies_of(self, client_id: str) -> list[FederationPolicy]:
        with self._lock:
            found = [p for p in self.policies if p.client_id == client_id]
        if not found:
            whose = f"service principal {client_id}" if client_id else "the account"
            raise OAuthError(400, "invalid_request", f"No federation policy of {whose} exists.")
        return found

    def _issue(self, client_id: str, lifetime_s: int, scope: str) -> dict[str, Any]:
        token = "emu-oauth-" + secrets.token_hex(24)  # opaque to the client
        with self._lock:
            self._tokens[token] = _Issued(client_id, time.time() + lifetime_s)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime_s, "scope": scope}

    def _note(self, grant: str, client_id: str, status: int, error: str | None) -> None:
        short = "token-exchange" if grant == TOKEN_EXCHANGE else grant
        with self._lock:
            self.token_requests.append(TokenRequest(short, client_id, status, error, time.time()))


def verify_federated(token: str, policies: list[FederationPolicy]) -> dict[str, Any]:
    """The claims of federated JWT ``token`` when one of ``policies`` accepts it: an RS256/ES256 signature by a key
    of the policy's JWKS (by ``kid``), its issuer, one of its audiences, ``exp`` in the future, its subject.
    Raises :class:`OAuthError` (400 ``invalid_request``) saying which check failed."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError(400, "invalid_request", "The subject token is not a JWT.") from None
    if header.get("alg") not in ALGORITHMS:
        raise OAuthError(400, "invalid_request", f"The subject token must be signed with {' or '.join(ALGORITHMS)}.")
    issuer = str(unverified.get("iss", ""))
    candidates = [p for p in policies if p.issuer == issuer]
    if not candidates:
        raise OAuthError(400, "invalid_request", f"No federation policy trusts the issuer {issuer[:200]!r}.")
    last = "no policy matched"
    for policy in candidates:
        try:
            claims = _verify(token, header, policy)
        except OAuthError as err:
            last = err.description
            continue
        return claims
    raise OAuthError(400, "invalid_request", last)


def _verify(token: str, header: dict[str, Any], policy: FederationPolicy) -> dict[str, Any]:
    try:
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(policy.jwks).keys}
    except jwt.PyJWTError as err:
        raise OAuthError(400, "invalid_request", f"The federation policy's JWKS is unusable: {err}") from None
    key = keys.get(header.get("kid"))
    if key is None:
        raise OAuthError(400, "invalid_request", "The subject token's key id is not among the issuer's keys.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(ALGORITHMS),
            audience=list(policy.audiences),
            issuer=policy.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError(400, "invalid_request", "The subject token has expired.") from None
    except jwt.InvalidAudienceError:
        raise OAuthError(400, "invalid_request", "The subject token's audience is not one of the policy's.") from None
    except jwt.InvalidSignatureError:
        raise OAuthError(400, "invalid_request", "The subject token's signature does not verify.") from None
    except jwt.PyJWTError as err:
        raise OAuthError(400, "invalid_request", f"The subject token is invalid: {err}") from None
    if claims.get("sub") != policy.subject:
        raise OAuthError(400, "invalid_request", "The subject token's subject does not match the policy's subject.")
    return claims
