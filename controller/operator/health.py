"""Run health of one DatabricksJob, on the periodic check: observe runs (batched per workspace),
decide (pure, ``controller.reconcile.health``), write ``status.lastRun``, ``status.runs``,
``RunHealthy`` and, only under ``healthPolicy.affectsReady``, the gated ``Ready``.

Called after the drift reconcile in the same kopf timer and with the same ``patch``, so the two
never write ``status.conditions`` from different snapshots; conditions the drift driver put in
the patch are the base. A pending ``dbjobs.io/run-now`` value is also caught up here (e.g. one
set while the controller was down).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import kopf

from controller.databricks import calls
from controller.databricks.client import workspace_client_async
from controller.databricks.runs import RunObserver
from controller.operator import metrics, runnow, workspaces
from controller.reconcile import health
from controller.reconcile.conditions import Condition, find_condition, merge_conditions
from controller.reconcile.reasons import ConditionType

_observers: dict[str, RunObserver] = {}
_jobs: dict[str, set[int]] = {}
calls.add_listener(metrics.record_api_request)


def observer_for(host: str, min_interval_s: float) -> RunObserver:
    """The run observer of one workspace host (one per process)."""
    if host not in _observers:
        _observers[host] = RunObserver(window=health.DEFAULT_WINDOW, min_interval_s=min_interval_s)
    return _observers[host]


def _creation_ms(meta: Mapping[str, Any]) -> int:
    raw = meta.get("creationTimestamp")
    if not raw:
        return 0
    return int(dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp() * 1000)


async def check(body: kopf.Body, patch: kopf.Patch, logger: Any, *, interval_s: float) -> None:
    """Refresh run health of ``body``; logs and returns on workspace or API trouble (the drift
    driver reports those), so a failing run observation never blocks anything else."""
    meta, status = body["metadata"], body.get("status") or {}
    spec: Mapping[str, Any] = body.get("spec") or {}
    job_id = status.get("jobId")
    if job_id is None:
        return
    try:
        ws = await workspaces.resolve(meta["namespace"], (spec.get("workspaceRef") or {}).get("name", ""))
    except Exception as err:  # reported by the drift driver
        logger.debug(f"run health skipped: {err}")
        return
    client = await workspace_client_async(ws.host, ws.token)
    observer = observer_for(ws.host, min_interval_s=interval_s * 0.8)
    wanted = _jobs.setdefault(ws.host, set())
    wanted.add(int(job_id))
    try:
        stats = await asyncio.to_thread(observer.refresh, client, sorted(wanted))
        extra = await asyncio.to_thread(observer.ensure_known, client, int(job_id))
    except Exception as err:
        logger.warning(f"run observation failed: {err}")
        return
    if stats is not None:
        metrics.record_observation(stats.batch, stats.per_job + extra)
    elif extra:
        metrics.record_observation(0, extra)

    runs = observer.runs(int(job_id))
    now_ms = time.time_ns() // 1_000_000
    policy = health.HealthPolicy.from_spec(spec)
    cond = health.run_healthy(
        runs,
        policy,
        now_ms=now_ms,
        schedule=(spec.get("settings") or {}).get("schedule"),
        since_ms=_creation_ms(meta),
    )
    base = patch.status.get("conditions") or status.get("conditions")
    updates: list[Condition] = [cond]
    config_ready = health.config_ready(base)
    if config_ready is not None:
        updates.append(health.gate_ready(config_ready, cond, policy))
    new_conditions = merge_conditions(
        base, updates, generation=int(meta.get("generation") or 0), now=dt.datetime.now(dt.UTC)
    )
    if new_conditions != status.get("conditions"):
        patch.status["conditions"] = new_conditions
    # Status is merge-patched: keys the new objects lack must be nulled, or a RUNNING run would keep
    # the previous run's resultState and endTime (and a re-created job its old lastRun).
    last = health.last_run(runs[0], now_ms) if runs else None
    patch.status["lastRun"] = health.replacing(status.get("lastRun"), last)
    patch.status["runs"] = health.replacing(status.get("runs"), health.window_stats(runs))
    counted = [r for r in runs if health.outcome(r) in ("success", "failure")]
    metrics.record_run_health(
        meta["namespace"],
        meta["name"],
        consecutive_failures=health.consecutive_failures(runs),
        last_success=(health.outcome(counted[0]) == "success") if counted else None,
        healthy=cond.status == "True",
    )
    previous = find_condition(status.get("conditions"), ConditionType.RUN_HEALTHY)
    if previous is None or previous.get("reason") != cond.reason.value:
        kopf.event(
            body,
            type="Normal" if cond.status != "False" else "Warning",
            reason=cond.reason.value,
            message=cond.message,
        )
    if runnow.pending_value(body) is not None:
        await runnow.trigger(body, patch, logger)
