"""``DatabricksWorkspace.spec.auth``: how dbjobs authenticates to a workspace, exactly one of

* ``pat``: ``{secretRef: {name, key?}}`` — a personal access token in a Secret (``spec.tokenSecretRef`` is the
  older spelling of the same and stays valid);
* ``oauthM2M``: ``{secretRef: {name}, clientIdKey?, clientSecretKey?}`` — a service principal's OAuth client id
  and secret in a Secret; the SDK's ``oauth-m2m`` flow (client credentials grant at the workspace's
  ``/oidc/v1/token``; https://docs.databricks.com/aws/en/dev-tools/auth/oauth-m2m);
* ``workloadIdentity``: ``{clientId}`` — no secret: the controller's projected Kubernetes ServiceAccount token is
  exchanged for a short-lived Databricks token (RFC 8693 token exchange at ``/oidc/v1/token``) under a federation
  policy of service principal ``clientId`` (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-exchange,
  https://docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-policy). The platform decides which
  namespaces may use which service principal (``DBJOBS_WORKLOAD_IDENTITY_CLIENTS``).

Every Secret must opt in (label ``dbjobs.io/credentials: "true"``) and live in the workspace's namespace.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from controller.api.meta import ApiModel

_SECRET_OPT_IN = (
    'The Secret must opt in with the label dbjobs.io/credentials: "true" (or be of type '
    "dbjobs.io/databricks-credentials): the controller never reads another Secret."
)


class SecretKeyRef(ApiModel):
    """``{name, key?}`` of a ``Secret`` in the same namespace (``SecretKeySelector``)."""

    name: str = Field(min_length=1, max_length=253, description="Secret name (in this namespace).")
    key: str = Field(default="token", min_length=1, max_length=253, description="Key in the Secret (default: token).")


class SecretRef(ApiModel):
    """``{name}`` of a ``Secret`` in the same namespace."""

    name: str = Field(min_length=1, max_length=253, description="Secret name (in this namespace).")


class PatAuth(ApiModel):
    """``auth.pat``: ``{secretRef: {name, key?}}``."""

    secret_ref: SecretKeyRef = Field(
        alias="secretRef", description=f"The Secret and key holding a personal access token. {_SECRET_OPT_IN}"
    )


class OAuthM2MAuth(ApiModel):
    """``auth.oauthM2M``: ``{secretRef: {name}, clientIdKey?, clientSecretKey?}``."""

    secret_ref: SecretRef = Field(
        alias="secretRef",
        description=f"The Secret holding the service principal's OAuth client id and secret. {_SECRET_OPT_IN}",
    )
    client_id_key: str = Field(
        default="client-id",
        min_length=1,
        max_length=253,
        alias="clientIdKey",
        description="Key of the client id (the service principal's application id). Default: client-id.",
    )
    client_secret_key: str = Field(
        default="client-secret",
        min_length=1,
        max_length=253,
        alias="clientSecretKey",
        description="Key of the OAuth secret. Default: client-secret.",
    )


class WorkloadIdentityAuth(ApiModel):
    """``auth.workloadIdentity``: ``{clientId}``."""

    client_id: str = Field(
        min_length=1,
        max_length=256,
        alias="clientId",
        description="Application id of the Databricks service principal whose federation policy trusts the "
        "controller's ServiceAccount (issuer: the cluster's service account issuer; subject: "
        "system:serviceaccount:NAMESPACE:NAME; audience: the chart's auth.workloadIdentity.audience). No secret: "
        "the controller exchanges its projected ServiceAccount token for a short-lived Databricks token. The "
        "platform allows it per namespace (DBJOBS_WORKLOAD_IDENTITY_CLIENTS, chart auth.workloadIdentity."
        "allowedClients).",
    )


class WorkspaceAuth(ApiModel):
    """``spec.auth``: exactly one of ``pat``, ``oauthM2M``, ``workloadIdentity``."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "How dbjobs authenticates to the workspace: exactly one of pat, oauthM2M, workloadIdentity.",
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.pat), has(self.oauthM2M), has(self.workloadIdentity)].filter(x, x).size() == 1",
                    "message": "auth: set exactly one of pat, oauthM2M, workloadIdentity",
                }
            ],
        }
    )

    pat: PatAuth | None = Field(default=None, description="A personal access token from a Secret.")
    oauth_m2m: OAuthM2MAuth | None = Field(
        default=None,
        alias="oauthM2M",
        description="A service principal's OAuth client id and secret from a Secret (OAuth machine-to-machine).",
    )
    workload_identity: WorkloadIdentityAuth | None = Field(
        default=None,
        alias="workloadIdentity",
        description="No secret: the controller's Kubernetes ServiceAccount token, exchanged through Databricks "
        "OIDC token federation for a short-lived token of a service principal.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> WorkspaceAuth:
        if sum(x is not None for x in (self.pat, self.oauth_m2m, self.workload_identity)) != 1:
            raise ValueError("auth: set exactly one of pat, oauthM2M, workloadIdentity")
        return self


def auth_of(token_secret_ref: SecretKeyRef | None, auth: WorkspaceAuth | None) -> WorkspaceAuth:
    """The workspace's auth, ``tokenSecretRef`` read as ``auth.pat``. Raises ``ValueError`` for none or both."""
    if auth is not None and token_secret_ref is None:
        return auth
    if auth is None and token_secret_ref is not None:
        return WorkspaceAuth(pat=PatAuth(secretRef=token_secret_ref))
    raise ValueError("set exactly one of spec.auth and spec.tokenSecretRef")


#: The CEL rule of ``DatabricksWorkspace.spec``: ``tokenSecretRef`` or ``auth``, never both or neither.
SPEC_AUTH_RULE: dict[str, Any] = {
    "rule": "has(self.tokenSecretRef) != has(self.auth)",
    "message": "set exactly one of auth and tokenSecretRef (the older spelling of auth.pat)",
}
