"""How one connection authenticates: :class:`Auth`, and the databricks-sdk ``Config`` settings of each kind.

Kinds (``DatabricksWorkspace.spec.auth``, :mod:`controller.api.auth`) and the SDK credentials strategy each uses
(databricks-sdk 0.162, ``databricks/sdk/credentials_provider.py``):

* ``pat`` — ``pat_auth``: ``Authorization: Bearer <token>``.
* ``oauth-m2m`` — ``oauth_service_principal``: reads the workspace's OAuth discovery document
  (``GET {host}/oidc/.well-known/oauth-authorization-server`` → ``{token_endpoint, …}``), then
  ``POST token_endpoint`` form ``grant_type=client_credentials&scope=all-apis`` with HTTP Basic client
  authentication → ``{access_token, token_type, expires_in}``
  (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-m2m).
* ``file-oidc`` — ``file_oidc``: reads a JWT from a file (the projected ServiceAccount token, re-read at every
  refresh, so the kubelet's rotation is picked up) and ``POST token_endpoint`` form
  ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=<jwt>&subject_token_type=
  urn:ietf:params:oauth:token-type:jwt&client_id=<service principal>&scope=all-apis`` (RFC 8693;
  https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-exchange).

The SDK caches each access token and refreshes it before it expires: in the background once half its lifetime
has passed, and blocking when less than 40 s is left (``databricks/sdk/oauth.py``, ``Refreshable``, ``Token``).
The discovery URL is given explicitly: the SDK 0.162 otherwise derives it from ``/.well-known/databricks-config``,
which not every workspace serves.

A token endpoint that refuses (``ValueError`` in the SDK) or a token file that cannot be read surfaces as
:class:`CredentialRefused`, so the caller reports ``Unauthorized`` instead of a bug. No secret is ever part of a
``repr``, a message or :meth:`Auth.identity`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import (
    CredentialsStrategy,
    file_oidc,
    oauth_service_principal,
    pat_auth,
)

PAT, OAUTH_M2M, WORKLOAD_IDENTITY = "pat", "oauth-m2m", "file-oidc"
#: The workspace's OAuth authorization server metadata (RFC 8414), relative to the host.
DISCOVERY_PATH = "/oidc/.well-known/oauth-authorization-server"
_STRATEGIES: dict[str, Any] = {PAT: pat_auth, OAUTH_M2M: oauth_service_principal, WORKLOAD_IDENTITY: file_oidc}


@dataclass(frozen=True)
class Auth:
    """One credential: ``kind`` (``pat`` | ``oauth-m2m`` | ``file-oidc``), and what it needs: ``token`` (pat),
    ``client_id`` and ``client_secret`` (oauth-m2m), ``client_id`` and ``token_file`` (file-oidc: the path of a
    JWT the controller may read). Secrets are left out of ``repr`` and equality is over every field (a rotated
    secret is another credential)."""

    kind: str
    token: str = field(default="", repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    token_file: str = ""

    @classmethod
    def pat(cls, token: str) -> Auth:
        return cls(PAT, token=token)

    def identity(self) -> str:
        """A digest naming this credential (SHA-256, hex): safe in a dict key, a log line or a metric, and the
        same for two workspaces that use the same credential."""
        material = "\0".join((self.kind, self.token, self.client_id, self.client_secret, self.token_file))
        return hashlib.sha256(material.encode()).hexdigest()

    def describe(self) -> str:
        """What a person may read about this credential: the kind and the client id, never a secret."""
        if self.kind == PAT:
            return "a personal access token"
        if self.kind == OAUTH_M2M:
            return f"OAuth client {self.client_id} (oauthM2M)"
        return f"service principal {self.client_id} (workloadIdentity, token file {self.token_file})"

    def config_kwargs(self, host: str) -> dict[str, Any]:
        """The SDK ``Config`` fields of this credential for workspace ``host`` (explicit, so stray
        ``DATABRICKS_*`` variables add nothing)."""
        if self.kind == PAT:
            return {"auth_type": PAT, "token": self.token}
        discovery = host.rstrip("/") + DISCOVERY_PATH
        if self.kind == OAUTH_M2M:
            return {
                "auth_type": OAUTH_M2M,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "discovery_url": discovery,
            }
        if self.kind == WORKLOAD_IDENTITY:
            return {
                "auth_type": WORKLOAD_IDENTITY,
                "client_id": self.client_id,
                "oidc_token_filepath": self.token_file,
                "discovery_url": discovery,
            }
        raise ValueError(f"unknown auth kind {self.kind!r}")

    def strategy(self) -> CredentialsStrategy:
        """The SDK's strategy of this kind, its failures to get a token raised as :class:`CredentialRefused`."""
        return _Guarded(_STRATEGIES[self.kind], self)


class CredentialRefused(Exception):
    """The credential could not be turned into an access token: the token endpoint refused it (an OAuth error
    such as ``invalid_client``), or the federated token file is missing or empty. ``str()`` says which, with the
    server's error code and description and never the credential."""


class _Guarded(CredentialsStrategy):
    """An SDK credentials strategy whose failures to produce headers become :class:`CredentialRefused`."""

    def __init__(self, inner: Any, auth: Auth) -> None:
        self._inner = inner
        self._auth = auth

    def auth_type(self) -> str:
        return str(self._inner.auth_type())

    def __call__(self, cfg: Config) -> Callable[[], dict[str, str]]:
        provider = self._inner(cfg)
        if provider is None:  # file-oidc: the token file is missing or empty
            raise ValueError(f"cannot authenticate with {self._auth.describe()}: the token is missing or empty")
        what = self._auth.describe()

        def headers() -> dict[str, str]:
            try:
                return dict(provider())
            except (ValueError, NotImplementedError) as err:  # retrieve_token's OAuth error, a bad token file
                raise CredentialRefused(f"the workspace refused {what}: {_first_line(err)}") from None

        return headers


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
