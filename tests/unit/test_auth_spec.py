"""``DatabricksWorkspace.spec.auth`` (issue 11, item 2) without a cluster: the API model (``tokenSecretRef`` as the
shorthand of ``auth.pat``, exactly one kind), what :func:`controller.operator.credentials.resolve` reads for each
kind (and what it refuses before reading anything), the platform's workload identity setting, and that a
credential's ``repr`` and sharing key never show a secret."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller.api.models import DatabricksWorkspaceSpec
from controller.databricks.auth import OAUTH_M2M, PAT, WORKLOAD_IDENTITY, Auth
from controller.operator.config import ConfigError, ControllerConfig
from controller.operator.credentials import CredentialError, SecretCache, WorkloadIdentity, resolve, secret_name
from controller.operator.observation import identity
from controller.operator.registry import Registry
from controller.reconcile.reasons import Reason

pytestmark = pytest.mark.unit
HOST = "https://dbc-1.cloud.databricks.com"
ALLOWED = ("https://*.cloud.databricks.com",)


class FakeSecrets(SecretCache):
    """Secrets from a dict; records what was read."""

    def __init__(self, data: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.data = data
        self.read: list[tuple[str, str]] = []

    def token(self, namespace: str, name: str, key: str, workspace: str, field: str = "spec.tokenSecretRef") -> str:
        self.read.append((name, key))
        return self.data[(name, key)]


def registry_with(spec: dict[str, Any]) -> Registry:
    registry = Registry()
    body = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksWorkspace",
        "metadata": {"namespace": "team-a", "name": "ws", "uid": "u1", "generation": 1},
        "spec": spec,
    }
    registry.workspace_event(body, "ADDED")
    return registry


def test_token_secret_ref_is_the_shorthand_of_auth_pat() -> None:
    old = DatabricksWorkspaceSpec.model_validate({"host": HOST, "tokenSecretRef": {"name": "t"}})
    new = DatabricksWorkspaceSpec.model_validate({"host": HOST, "auth": {"pat": {"secretRef": {"name": "t"}}}})
    assert old.effective_auth == new.effective_auth


@pytest.mark.parametrize(
    "spec",
    [
        {"host": HOST},
        {"host": HOST, "tokenSecretRef": {"name": "t"}, "auth": {"pat": {"secretRef": {"name": "t"}}}},
        {"host": HOST, "auth": {}},
        {"host": HOST, "auth": {"pat": {"secretRef": {"name": "t"}}, "workloadIdentity": {"clientId": "c"}}},
    ],
)
def test_exactly_one_credential(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        DatabricksWorkspaceSpec.model_validate(spec)


def test_resolve_reads_each_kind_from_its_secret() -> None:
    secrets = FakeSecrets({("pat", "token"): "dapi-1", ("sp", "client-id"): "cid", ("sp", "client-secret"): "cs"})
    pat = resolve(registry_with({"host": HOST, "tokenSecretRef": {"name": "pat"}}), secrets, "team-a", "ws", ALLOWED)
    assert pat.auth == Auth(PAT, token="dapi-1")
    m2m_spec = {"host": HOST, "auth": {"oauthM2M": {"secretRef": {"name": "sp"}}}}
    m2m = resolve(registry_with(m2m_spec), secrets, "team-a", "ws", ALLOWED)
    assert m2m.auth == Auth(OAUTH_M2M, client_id="cid", client_secret="cs")
    assert secret_name(m2m_spec) == "sp" and secret_name({"host": HOST, "tokenSecretRef": {"name": "pat"}}) == "pat"


def test_workload_identity_reads_no_secret_and_needs_the_platforms_permission() -> None:
    secrets = FakeSecrets({})
    spec = {"host": HOST, "auth": {"workloadIdentity": {"clientId": "sp-team-a"}}}
    allowed = WorkloadIdentity("/var/run/token", (("team-*", "sp-team-*"),))
    creds = resolve(registry_with(spec), secrets, "team-a", "ws", ALLOWED, allowed)
    assert creds.auth == Auth(WORKLOAD_IDENTITY, client_id="sp-team-a", token_file="/var/run/token")
    for workload in (None, WorkloadIdentity("/t", (("team-b", "*"),)), WorkloadIdentity("/t", (("*", "sp-b"),))):
        with pytest.raises(CredentialError) as err:
            resolve(registry_with(spec), secrets, "team-a", "ws", ALLOWED, workload)
        assert err.value.problem.reason is Reason.IDENTITY_NOT_ALLOWED
        assert "DBJOBS_WORKLOAD_IDENTITY_CLIENTS" in err.value.problem.message
    assert secrets.read == [] and secret_name(spec) is None


def test_a_host_outside_the_allow_list_reads_no_secret_of_any_kind() -> None:
    secrets = FakeSecrets({})
    spec = {"host": "https://evil.example.com", "auth": {"oauthM2M": {"secretRef": {"name": "sp"}}}}
    with pytest.raises(CredentialError) as err:
        resolve(registry_with(spec), secrets, "team-a", "ws", ALLOWED)
    assert err.value.problem.reason is Reason.HOST_NOT_ALLOWED and secrets.read == []


def test_no_secret_in_repr_or_sharing_key() -> None:
    creds = [
        Auth(PAT, token="dapi-secret-1"),
        Auth(OAUTH_M2M, client_id="cid", client_secret="oauth-secret-1"),
        Auth(OAUTH_M2M, client_id="cid", client_secret="oauth-secret-2"),
        Auth(WORKLOAD_IDENTITY, client_id="cid", token_file="/t"),
    ]
    keys = {identity(HOST, a) for a in creds}
    assert len(keys) == len(creds)  # a rotated secret is another identity: a new connection, a new token
    assert identity(HOST, Auth(PAT, token="x")) == identity(HOST + "/", Auth(PAT, token="x"))
    for auth in creds:
        text = repr(auth) + str(identity(HOST, auth)) + auth.describe()
        assert "secret-1" not in text and "secret-2" not in text


def test_the_sdk_gets_explicit_settings_per_kind() -> None:
    assert Auth(PAT, token="t").config_kwargs(HOST) == {"auth_type": "pat", "token": "t"}
    m2m = Auth(OAUTH_M2M, client_id="c", client_secret="s").config_kwargs(HOST + "/")
    assert (
        m2m["auth_type"] == "oauth-m2m"
        and m2m["discovery_url"] == f"{HOST}/oidc/.well-known/oauth-authorization-server"
    )
    wif = Auth(WORKLOAD_IDENTITY, client_id="c", token_file="/t").config_kwargs(HOST)
    assert wif["auth_type"] == "file-oidc" and wif["oidc_token_filepath"] == "/t" and wif["client_id"] == "c"


def test_workload_identity_settings() -> None:
    cfg = ControllerConfig.from_env({"DBJOBS_WORKLOAD_IDENTITY_CLIENTS": "team-a=1111, team-*=2222"})
    assert cfg.workload_identity_clients == (("team-a", "1111"), ("team-*", "2222"))
    assert cfg.workload_identity_token_file == "/var/run/secrets/dbjobs.io/workload-identity/token"
    assert ControllerConfig.from_env({}).workload_identity_clients == ()
    with pytest.raises(ConfigError, match="DBJOBS_WORKLOAD_IDENTITY_CLIENTS"):
        ControllerConfig.from_env({"DBJOBS_WORKLOAD_IDENTITY_CLIENTS": "team-a"})
