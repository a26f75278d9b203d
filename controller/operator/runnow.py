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

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from controller.api.meta import RUN_NOW_ANNOTATION, RUN_NOW_PARAMETERS_ANNOTATION
from controller.databricks import jobs
from controller.databricks.errors import DatabricksFailure, ErrorKind
from controller.reconcile.conditions import rfc3339
from controller.reconcile.outcome import Event, Facts, NewStatus
from controller.reconcile.reasons import EventReason

if TYPE_CHECKING:
    from controller.operator.registry import JobResource
    from controller.operator.runtime import WorkspaceRuntime

ANNOTATION = RUN_NOW_ANNOTATION
PARAMETERS_ANNOTATION = RUN_NOW_PARAMETERS_ANNOTATION
HISTORY = 10


def idempotency_token(owner: str, value: str) -> str:
    """``dbjobs-`` + 40 hex chars of sha256(owner/value): stable across restarts and re-installs, <= 64
    chars (Jobs API ``run-now`` ``idempotency_token``)."""
    return "dbjobs-" + hashlib.sha256(f"{owner}/{value}".encode()).hexdigest()[:40]


def pending(res: JobResource) -> str | None:
    """The annotation value that has not triggered a run yet, or None."""
    value = res.annotations.get(ANNOTATION)
    if not value:
        return None
    done = (res.status.get("runNow") or {}).get("value")
    return None if done == value else str(value)


def parameters(annotations: Mapping[str, str]) -> dict[str, str]:
    """``job_parameters`` from ``dbjobs.io/run-now-parameters``; raises ``ValueError`` if malformed."""
    raw = annotations.get(PARAMETERS_ANNOTATION)
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{PARAMETERS_ANNOTATION} must be a JSON object of strings")
    return {str(k): v for k, v in data.items()}


async def step(res: JobResource, new: NewStatus, facts: Facts, runtime: WorkspaceRuntime) -> tuple[NewStatus, bool]:
    """Start the run a pending ``dbjobs.io/run-now`` value asks for, once the job exists; returns the status
    with ``runNow`` recorded (and the Events), and whether to retry later (a transient failure).

    Never for a resource being deleted. A malformed parameters annotation is recorded as handled (a Warning,
    ``runNow.rejected``): a new value with fixed parameters is the retry.
    """
    value = pending(res)
    job_id = new.status.get("jobId")
    if value is None or job_id is None or res.deleting or facts.problem is not None:
        return new, False
    previous = dict(new.status.get("runNow") or {})
    try:
        params = parameters(res.annotations)
    except ValueError as err:
        message = f"{PARAMETERS_ANNOTATION} is not a JSON object of strings ({err}); no run started for {value!r}"
        status = {**new.status, "runNow": {**previous, "value": value, "runId": None, "rejected": message}}
        return NewStatus(status, [*new.events, Event("Warning", EventReason.RUN_NOW_REJECTED, message)]), False
    token = idempotency_token(facts.owner, value)
    try:
        run_id = await runtime.conn.call(lambda c: jobs.run_now(c, int(job_id), token, params))
    except DatabricksFailure as failure:
        if failure.kind in (ErrorKind.TRANSIENT, ErrorKind.UNAUTHORIZED, ErrorKind.RATE_LIMITED):
            return new, True
        message = f"run-now for {ANNOTATION}={value!r} failed: {failure.message}"
        status = {**new.status, "runNow": {**previous, "value": value, "runId": None, "failed": message}}
        return NewStatus(status, [*new.events, Event("Warning", EventReason.RUN_NOW_FAILED, message)]), False
    entry = {"value": value, "runId": run_id, "triggeredTime": rfc3339(facts.now)}
    history = [h for h in previous.get("history") or [] if h.get("value") != value]
    record = {**entry, **({"parameters": params} if params else {}), "history": [entry, *history][:HISTORY]}
    message = f"started run {run_id} for {ANNOTATION}={value!r}"
    return NewStatus(
        {**new.status, "runNow": record}, [*new.events, Event("Normal", EventReason.RUN_TRIGGERED, message)]
    ), False
