"""No secret ever leaves (issue 11, item 3): the whole lifecycle — create, reset, drift corrected, run-now, a refused
credential, delete — through three workspaces whose credentials are sentinel values (a personal access token, an
OAuth client secret, and a ServiceAccount token the apiserver issued for workload identity), then a search of
everything the controller and the ``dbjobs`` command write where others can read it:

* the controller's log, at DEBUG (the SDK's request log included, kept at INFO by the controller; what the
  controller logged about its requests is how it sees the emulator's request log);
* every DatabricksJob and DatabricksWorkspace status, every Event;
* ``/metrics``;
* ``dbjobs export`` error output with a wrong token and a wrong OAuth secret in its environment;
* the emulator's own request log (method, path, status);

none contains a sentinel, the emulator's personal access token, or an OAuth access token the emulator issued.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dbjobs_testkit import federation
from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import REPO_ROOT, ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
PAT = "dapi-sentinel-pat-" + secrets.token_hex(8)
CLIENT_SECRET = "m2m-sentinel-secret-" + secrets.token_hex(8)
AUDIENCE = "dbjobs-leak-test"


def notebook(name: str, path: str = "/x") -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}]}


def labelled_secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    meta = {"name": name, "labels": {"dbjobs.io/credentials": "true"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data}


def workspace(name: str, host: str, auth: dict[str, Any]) -> dict[str, Any]:
    spec = {"host": host, "auth": auth}
    return {"apiVersion": "dbjobs.io/v1alpha1", "kind": "DatabricksWorkspace", "metadata": {"name": name}, "spec": spec}


def status_of(ns: Kubectl, name: str) -> dict[str, Any]:
    return dict((ns.get("databricksjob", name) or {}).get("status") or {})


def synced_at(ns: Kubectl, name: str, generation: int) -> int:
    def done() -> int | None:
        obj = ns.get("databricksjob", name) or {}
        cond = condition(obj, "Synced")
        ok = cond and cond["status"] == "True" and (obj.get("status") or {}).get("observedGeneration", 0) >= generation
        return int(obj["status"]["jobId"]) if ok else None

    return wait_for(done, timeout=90, what=f"{name} Synced at generation {generation}")


def lifecycle(ns: Kubectl, emulator: EmulatorServer, name: str, ws: str) -> None:
    """Create, reset, drift corrected, run-now, delete: every call a reconcile makes, through workspace ``ws``."""
    ns.apply([job_manifest(name, notebook(name), workspace=ws)])
    job_id = synced_at(ns, name, 1)
    ns.apply([job_manifest(name, notebook(name, "/y"), workspace=ws)])
    synced_at(ns, name, 2)
    resets = emulator.workspace.request_count("jobs/reset")
    emulator.workspace.edit_settings(job_id, {"max_concurrent_runs": 7})  # a person in the UI
    wait_for(
        lambda: (
            emulator.workspace.get_settings(job_id).get("max_concurrent_runs") != 7
            and emulator.workspace.request_count("jobs/reset") > resets
        ),
        timeout=60,
        what=f"drift of {name} corrected",
    )
    ns("annotate", "databricksjob", name, "dbjobs.io/run-now=leak-test", "--overwrite")
    wait_for(lambda: (status_of(ns, name).get("runNow") or {}).get("runId"), timeout=60, what=f"run-now of {name}")
    ns("delete", "databricksjob", name, "--wait=false")
    wait_for(lambda: job_id not in emulator.workspace.job_ids(), timeout=60, what=f"job of {name} deleted")


def dbjobs_export_errors(env_extra: dict[str, str], tmp_path: Path) -> str:
    """stderr and stdout of ``dbjobs export`` that fails to authenticate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update({**env_extra, "DATABRICKS_CONFIG_FILE": str(tmp_path / "none.cfg")})
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "export", "--to", str(tmp_path / "out")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode != 0, proc.stdout
    return proc.stdout + proc.stderr


def test_no_credential_leaves_through_logs_status_events_metrics_or_errors(
    ns: Kubectl,
    admin: Kubectl,
    control_plane: ControlPlane,
    emulator: EmulatorServer,
    emulator_token: str,
    controller: ControllerProcess,
    workload_token_file: Path,
    tmp_path: Path,
) -> None:
    namespace = str(ns.namespace)
    emulator.workspace.rotate_token(PAT, keep_old=True)
    client_m2m, client_wi = f"sp-{namespace}", f"wi-{namespace}"
    emulator.oauth.add_client(client_m2m, CLIENT_SECRET)
    ns("create", "serviceaccount", "leak-test")
    issuer = federation.issuer(control_plane)
    subject = f"system:serviceaccount:{namespace}:leak-test"
    emulator.oauth.add_federation_policy(
        client_wi, issuer=issuer.url, audiences=[AUDIENCE], subject=subject, jwks=issuer.jwks
    )
    federated = ns("create", "token", "leak-test", "--audience", AUDIENCE, "--duration", "10m").stdout.strip()
    workload_token_file.write_text(federated)
    ns.apply(
        [
            labelled_secret("pat-sentinel", {"token": PAT}),
            labelled_secret("m2m-sentinel", {"client-id": client_m2m, "client-secret": CLIENT_SECRET}),
            workspace("pat", emulator.url, {"pat": {"secretRef": {"name": "pat-sentinel"}}}),
            workspace("m2m", emulator.url, {"oauthM2M": {"secretRef": {"name": "m2m-sentinel"}}}),
            workspace("wi", emulator.url, {"workloadIdentity": {"clientId": client_wi}}),
        ]
    )
    for ws in ("pat", "m2m", "wi"):
        lifecycle(ns, emulator, f"leak-{ws}", ws)

    # A refused credential: the error path writes messages too.
    ns.apply([job_manifest("leak-refused", notebook("leak-refused"), workspace="m2m")])
    synced_at(ns, "leak-refused", 1)
    emulator.oauth.rotate_secret(client_m2m, "not-the-sentinel")

    def refused() -> bool:
        return (condition(ns.get("databricksjob", "leak-refused"), "Synced") or {}).get("reason") == "Unauthorized"

    wait_for(refused, timeout=60, what="Unauthorized after the secret was revoked")

    sentinels = {"PAT": PAT, "client secret": CLIENT_SECRET, "federated token": federated}
    sentinels["emulator PAT"] = emulator_token
    sentinels.update({f"access token {i}": t for i, t in enumerate(emulator.oauth.access_tokens())})
    log = controller.log_path.read_text(errors="replace")
    assert " DEBUG " in log or '"DEBUG"' in log or "[DEBUG" in log, "the controller must log at DEBUG for this test"
    everything = admin("get", "databricksjobs,databricksworkspaces", "-A", "-o", "json").stdout
    port = controller.extra_env["DBJOBS_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    surfaces = {
        "controller log": log,
        "statuses": json.dumps([o.get("status") for o in json.loads(everything)["items"]]),
        "events": admin("get", "events", "-A", "-o", "json").stdout,
        "/metrics": metrics,
        "dbjobs export, wrong token": dbjobs_export_errors(
            {"DATABRICKS_HOST": emulator.url, "DATABRICKS_TOKEN": PAT + "-wrong"}, tmp_path
        ),
        "dbjobs export, wrong OAuth secret": dbjobs_export_errors(
            {
                "DATABRICKS_HOST": emulator.url,
                "DATABRICKS_CLIENT_ID": client_m2m,
                "DATABRICKS_CLIENT_SECRET": CLIENT_SECRET + "-wrong",
            },
            tmp_path,
        ),
        "emulator request log": json.dumps(emulator.workspace.request_log),
    }
    assert "jobs/reset" in log and "/oidc/v1/token" in log, "the log should show the requests it made"
    leaks = [
        f"{what} in {where}"
        for where, text in surfaces.items()
        for what, value in sentinels.items()
        if value and value in text
    ]
    assert PAT + "-wrong" not in surfaces["dbjobs export, wrong token"]
    assert CLIENT_SECRET not in surfaces["dbjobs export, wrong OAuth secret"]
    assert not leaks, leaks
