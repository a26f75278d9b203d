"""Run on demand: the annotation ``dbjobs.io/run-now`` (issue 6 item 4).

Setting it to a new value starts exactly one run through ``jobs/run-now`` with an idempotency
token derived from the resource's owner key (namespace/name, see ``compare.owner_key``) and the value,
so a retry, a second handler, a restarted controller that lost its status write, or a re-installed one
gets the same run back from Databricks instead of a second
one. ``status.runNow`` records which value triggered which run:
``{value, runId, triggeredTime, parameters?, history: [{value, runId, triggeredTime}] (last 10)}``.
Optional job parameters for that run come from ``dbjobs.io/run-now-parameters``, a JSON object of
strings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import kopf

from controller.databricks.client import workspace_client_async
from controller.databricks.errors import ErrorKind, classify
from controller.operator import workspaces
from controller.operator.config import CONFIG
from controller.reconcile.compare import owner_key
from controller.reconcile.conditions import rfc3339

ANNOTATION = "dbjobs.io/run-now"
PARAMETERS_ANNOTATION = "dbjobs.io/run-now-parameters"
HISTORY = 10


def idempotency_token(owner: str, value: str) -> str:
    """``dbjobs-`` + 40 hex chars of sha256(owner/value): stable across restarts and re-installs, <= 64
    chars (Jobs API ``run-now`` ``idempotency_token``)."""
    return "dbjobs-" + hashlib.sha256(f"{owner}/{value}".encode()).hexdigest()[:40]


def pending_value(body: Mapping[str, Any]) -> str | None:
    """The annotation value that has not triggered a run yet, or None."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not value:
        return None
    done = ((body.get("status") or {}).get("runNow") or {}).get("value")
    return None if done == value else str(value)


def parameters(body: Mapping[str, Any]) -> dict[str, str]:
    """``job_parameters`` from ``dbjobs.io/run-now-parameters``; raises ``ValueError`` if malformed."""
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(PARAMETERS_ANNOTATION)
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{PARAMETERS_ANNOTATION} must be a JSON object of strings")
    return {str(k): v for k, v in data.items()}


def _run_now(client: Any, job_id: int, token: str, params: dict[str, str]) -> int:
    response = client.api_client.do(
        "POST",
        "/api/2.2/jobs/run-now",
        body={"job_id": job_id, "idempotency_token": token, **({"job_parameters": params} if params else {})},
    )
    return int(response["run_id"])


async def trigger(body: kopf.Body, patch: kopf.Patch, logger: Any) -> None:
    """Start the run for a pending annotation value (no-op if none); ``kopf.TemporaryError`` to retry."""
    value = pending_value(body)
    if value is None:
        return
    status = body.get("status") or {}
    job_id = status.get("jobId")
    if job_id is None:
        raise kopf.TemporaryError("run-now waits for the job to exist", delay=5)
    meta = body["metadata"]
    try:
        params = parameters(body)
    except ValueError as err:
        # Recorded as handled, so the periodic check does not post the same Warning every poll; a
        # new run-now value (with fixed parameters) is the retry.
        message = f"{PARAMETERS_ANNOTATION} is not a JSON object of strings ({err}); no run started for {value!r}"
        kopf.warn(body, reason="RunNowRejected", message=message)
        patch.status["runNow"] = {**(status.get("runNow") or {}), "value": value, "runId": None, "rejected": message}
        return
    ws = await workspaces.resolve(meta["namespace"], (body.get("spec") or {}).get("workspaceRef", {}).get("name", ""))
    client = await workspace_client_async(ws.host, ws.token)
    token = idempotency_token(owner_key(CONFIG.cluster_name, meta["namespace"], meta["name"]), value)
    try:
        run_id = await asyncio.to_thread(_run_now, client, int(job_id), token, params)
    except Exception as err:
        if classify(err) in (ErrorKind.TRANSIENT, ErrorKind.UNAUTHORIZED):
            raise kopf.TemporaryError(f"run-now failed: {err}", delay=10) from err
        kopf.warn(body, reason="RunNowFailed", message=f"run-now for {ANNOTATION}={value!r} failed: {err}")
        return
    now = rfc3339(dt.datetime.now(dt.UTC))
    entry = {"value": value, "runId": run_id, "triggeredTime": now}
    history = [h for h in (status.get("runNow") or {}).get("history") or [] if h.get("value") != value]
    patch.status["runNow"] = {
        **entry,
        **({"parameters": params} if params else {}),
        "history": [entry, *history][:HISTORY],
    }
    kopf.info(body, reason="RunTriggered", message=f"started run {run_id} for {ANNOTATION}={value!r}")
    logger.info(f"run-now {value!r}: run {run_id} (token {token})")
