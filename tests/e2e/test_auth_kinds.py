"""Every kind of ``DatabricksWorkspace.spec.auth`` end to end on the local control plane (issue 11, item 2): the
controller process creates and resets a job through a workspace authenticated by

* ``oauthM2M`` (a service principal's client id and secret from a Secret): a secret rotated in place (the
  emulator's and the Secret's) is used on the next call without a restart; a revoked secret gives
  ``Unauthorized`` naming the client and the OAuth error, with no retry storm (the emulator's token requests
  are counted);
* ``workloadIdentity``: a ServiceAccount token the real kube-apiserver issued (``kubectl create token
  --audience``), verified by the emulator against the apiserver's published keys, issuer, audience and subject;
  a tampered or expired token gives ``Unauthorized``; a service principal the platform did not allow in the
  namespace gives ``IdentityNotAllowed`` and nothing is sent;
* ``auth.pat`` (the same as ``tokenSecretRef``, which every other test uses).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbjobs_testkit import federation
from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
AUDIENCE = "dbjobs-e2e"


def notebook(name: str, path: str = "/x") -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}]}


def workspace(name: str, host: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksWorkspace",
        "metadata": {"name": name},
        "spec": {"host": host, "auth": auth},
    }


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"dbjobs.io/credentials": "true"}},
        "stringData": data,
    }


def synced(ns: Kubectl, name: str, generation: int = 1) -> int:
    """The job id once ``name`` is Synced at ``generation``."""

    def done() -> int | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        ok = obj and cond and cond["status"] == "True" and obj["status"].get("observedGeneration", 0) >= generation
        return int(obj["status"]["jobId"]) if ok else None  # type: ignore[index]

    return wait_for(done, timeout=60, what=f"{name} Synced at generation {generation}")


def refused(ns: Kubectl, name: str, reason: str, saying: str = "") -> str:
    """The Synced message once ``name`` shows ``reason`` with ``saying`` in its message."""

    def shown() -> str | None:
        cond = condition(ns.get("databricksjob", name), "Synced")
        ok = cond and cond["reason"] == reason and saying in str(cond["message"])
        return str(cond["message"]) if ok else None  # type: ignore[index]

    return wait_for(shown, timeout=60, what=f"{name} Synced=False {reason} saying {saying!r}")


def create_and_reset(ns: Kubectl, emulator: EmulatorServer, name: str, ws: str) -> int:
    """Create a job through workspace ``ws``, then change it: returns its id after the reset."""
    ns.apply([job_manifest(name, notebook(name), workspace=ws)])
    job_id = synced(ns, name)
    ns.apply([job_manifest(name, notebook(name, "/y"), workspace=ws)])
    synced(ns, name, generation=2)
    assert emulator.workspace.get_settings(job_id)["tasks"][0]["notebook_task"]["notebook_path"] == "/y"
    return job_id


def test_auth_pat_is_the_same_as_token_secret_ref(
    ns: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess
) -> None:
    auth = {"pat": {"secretRef": {"name": "default-token", "key": "token"}}}
    ns.apply([workspace("pat", emulator.url, auth)])
    create_and_reset(ns, emulator, "via-pat", "pat")


def test_oauth_m2m_creates_resets_and_follows_a_rotated_secret(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    client = f"sp-{ns.namespace}"
    emulator.oauth.add_client(client, "first-secret")
    ns.apply([secret("m2m", {"client-id": client, "client-secret": "first-secret"})])
    ns.apply([workspace("m2m", emulator.url, {"oauthM2M": {"secretRef": {"name": "m2m"}}})])
    job_id = create_and_reset(ns, emulator, "via-m2m", "m2m")
    assert any(r.client_id == client and r.error is None for r in emulator.oauth.token_requests)

    # Rotated in place: the old secret and its tokens are revoked, the Secret is updated; no restart.
    emulator.oauth.rotate_secret(client, "second-secret")
    ns.apply([secret("m2m", {"client-id": client, "client-secret": "second-secret"})])
    ns.apply([job_manifest("via-m2m", notebook("via-m2m", "/z"), workspace="m2m")])
    synced(ns, "via-m2m", generation=3)
    assert emulator.workspace.get_settings(job_id)["tasks"][0]["notebook_task"]["notebook_path"] == "/z"


def test_a_revoked_oauth_secret_is_unauthorized_without_a_retry_storm(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    client = f"sp-{ns.namespace}"
    emulator.oauth.add_client(client, "valid-secret")
    ns.apply([secret("m2m", {"client-id": client, "client-secret": "valid-secret"})])
    ns.apply([workspace("m2m", emulator.url, {"oauthM2M": {"secretRef": {"name": "m2m"}}})])
    ns.apply([job_manifest("revoked", notebook("revoked"), workspace="m2m")])
    synced(ns, "revoked")
    emulator.oauth.rotate_secret(client, "someone-elses-secret")  # revoked: the Secret still has the old one
    # The token it holds is refused first (403), then the token endpoint refuses the secret (invalid_client).
    message = refused(ns, "revoked", "Unauthorized", "invalid_client")
    assert f"OAuth client {client}" in message and "refused the workspace's credential" in message, message
    assert "valid-secret" not in message
    began = time.monotonic()
    before = sum(1 for r in emulator.oauth.token_requests if r.client_id == client)
    ws_ready = condition(ns.get("databricksworkspace", "m2m"), "Reachable")
    assert ws_ready is not None and ws_ready["reason"] == "Unauthorized", ws_ready
    wait_for(lambda: time.monotonic() - began > 30, timeout=40, what="30 s of refusals", interval=1.0)
    tries = sum(1 for r in emulator.oauth.token_requests if r.client_id == client) - before
    # Backoff 5 s doubling: about 3 cycles in 30 s (each one discovery + one token request); 2 s polling would be 15.
    assert tries <= 6, f"{tries} token requests in 30 s after the refusal"


@pytest.fixture()
def service_account(admin: Kubectl, ns: Kubectl) -> str:
    """A ServiceAccount (created by hand: this control plane runs no controller-manager); its subject."""
    ns("create", "serviceaccount", "dbjobs-controller")
    return f"system:serviceaccount:{ns.namespace}:dbjobs-controller"


def issue_token(ns: Kubectl) -> str:
    """A token the apiserver issued for the ServiceAccount (TokenRequest API), for the workload audience."""
    return ns("create", "token", "dbjobs-controller", "--audience", AUDIENCE, "--duration", "10m").stdout.strip()


def test_workload_identity_with_a_token_the_apiserver_issued(
    ns: Kubectl,
    control_plane: ControlPlane,
    emulator: EmulatorServer,
    controller: ControllerProcess,
    workload_token_file: Path,
    service_account: str,
) -> None:
    issuer = federation.issuer(control_plane)
    client = f"wi-{ns.namespace}"
    emulator.oauth.add_federation_policy(
        client, issuer=issuer.url, audiences=[AUDIENCE], subject=service_account, jwks=issuer.jwks
    )
    token = issue_token(ns)
    workload_token_file.write_text(token)
    ns.apply([workspace("wi", emulator.url, {"workloadIdentity": {"clientId": client}})])
    create_and_reset(ns, emulator, "via-wi", "wi")
    assert any(r.grant == "token-exchange" and r.client_id == client for r in emulator.oauth.token_requests)

    # A tampered token (another subject, the signature kept): refused at the next exchange.
    workload_token_file.write_text(federation.tamper(token, sub="system:serviceaccount:kube-system:admin"))
    emulator.oauth.revoke_tokens(client)
    refused(ns, "via-wi", "Unauthorized", "signature does not verify")

    # Signed by the apiserver's own key, but expired.
    claims = federation.expired_claims(issuer.url, AUDIENCE, service_account)
    workload_token_file.write_text(federation.forge(control_plane, claims))
    ns.apply([job_manifest("via-wi", notebook("via-wi", "/z"), workspace="wi")])
    refused(ns, "via-wi", "Unauthorized", "has expired")

    # A fresh token from the apiserver: back in business without a restart.
    workload_token_file.write_text(issue_token(ns))
    synced(ns, "via-wi", generation=3)


def test_workload_identity_needs_the_platforms_permission(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    before = len(emulator.oauth.token_requests)
    ns.apply([workspace("wi", emulator.url, {"workloadIdentity": {"clientId": "platform-admin-sp"}})])
    ns.apply([job_manifest("borrowed", notebook("borrowed"), workspace="wi")])
    message = refused(ns, "borrowed", "IdentityNotAllowed")
    assert "DBJOBS_WORKLOAD_IDENTITY_CLIENTS" in message and "platform-admin-sp" in message
    assert not [r for r in emulator.oauth.token_requests[before:] if r.client_id == "platform-admin-sp"]


def test_auth_and_token_secret_ref_are_exclusive(ns: Kubectl) -> None:
    both = workspace("both", "https://dbc-1.cloud.databricks.com", {"pat": {"secretRef": {"name": "x"}}})
    both["spec"]["tokenSecretRef"] = {"name": "x"}
    denied = ns("apply", "-f", "-", stdin=yaml.safe_dump(both), check=False)
    assert denied.returncode != 0 and "exactly one of auth and tokenSecretRef" in denied.stderr
    two = workspace(
        "two",
        "https://dbc-1.cloud.databricks.com",
        {"pat": {"secretRef": {"name": "x"}}, "workloadIdentity": {"clientId": "sp-y"}},
    )
    denied = ns("apply", "-f", "-", stdin=yaml.safe_dump(two), check=False)
    assert denied.returncode != 0 and "exactly one of pat, oauthM2M, workloadIdentity" in denied.stderr
