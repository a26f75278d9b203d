"""kopf registration: which events call which driver function. No decisions here.

Settings: progress and a digest of the last-handled configuration are kept in ``dbjobs.io/…``
annotations (not in ``status``, which is ours; see ``diffbase``); the finalizer is ``dbjobs.io/finalizer``;
standalone mode (no KopfPeering CRDs to install). The periodic check runs every
``DBJOBS_POLL_INTERVAL_SECONDS`` (default 60).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import kopf

from controller.api.models import GROUP, JOB_PLURAL, VERSION
from controller.operator import driver, health, metrics, runnow, workspaces
from controller.operator.diffbase import DigestDiffBaseStorage

POLL_INTERVAL_SECONDS = float(os.environ.get("DBJOBS_POLL_INTERVAL_SECONDS", "60"))
FINALIZER = "dbjobs.io/finalizer"
#: Port of the Prometheus /metrics endpoint; unset or empty: not served.
METRICS_PORT = os.environ.get("DBJOBS_METRICS_PORT", "")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Operator-wide settings; also loads the Kubernetes client configuration used for Secrets."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="dbjobs.io")
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix="dbjobs.io", key="last-handled-digest")
    settings.peering.standalone = True
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    await asyncio.to_thread(workspaces.load_kube_config)
    if METRICS_PORT:
        metrics.serve(int(METRICS_PORT))


@kopf.on.create(GROUP, VERSION, JOB_PLURAL)
@kopf.on.update(GROUP, VERSION, JOB_PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, JOB_PLURAL)
async def on_change(body: kopf.Body, patch: kopf.Patch, retry: int, logger: Any, **_: Any) -> None:
    """Created, spec changed, or found at operator start: reconcile now."""
    async with metrics.ReconcileTimer():
        await driver.reconcile(body, patch, retry, logger)


@kopf.timer(GROUP, VERSION, JOB_PLURAL, interval=POLL_INTERVAL_SECONDS, initial_delay=POLL_INTERVAL_SECONDS)
async def periodic_check(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    """Re-read the live job: detect drift, re-create a job deleted in the workspace; then run health
    (same patch, so the two never write conditions from different snapshots)."""
    if body["metadata"].get("deletionTimestamp"):
        return
    try:
        async with metrics.ReconcileTimer():
            await driver.reconcile(body, patch, int(kwargs.get("retry", 0)), logger)
    except kopf.TemporaryError as err:
        # kopf drops a timer's patch when the timer raises, which would leave a stale Synced=True
        # through an outage; the next tick is the retry, so report and return instead.
        logger.warning(f"periodic check failed, retrying at the next interval: {err}")
    finally:
        await health.check(body, patch, logger, interval_s=POLL_INTERVAL_SECONDS)


@kopf.on.field(GROUP, VERSION, JOB_PLURAL, field=("metadata", "annotations", runnow.ANNOTATION))
async def on_run_now(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
    """The run-now annotation got a new value: start exactly one run for it."""
    await runnow.trigger(body, patch, logger)


@kopf.on.delete(GROUP, VERSION, JOB_PLURAL)
async def on_delete(body: kopf.Body, retry: int, logger: Any, **_: Any) -> None:
    """Deleted: remove the Databricks job (per deletionPolicy) before kopf drops the finalizer."""
    await driver.delete(body, retry, logger)
    metrics.forget(body["metadata"]["namespace"], body["metadata"]["name"])


def run_operator(*, namespaces: list[str] | None, verbose: bool, liveness: str | None) -> int:
    """Run the operator until SIGINT/SIGTERM; returns the exit code (0 on a clean stop)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        # kopf would retry a broken configuration forever; say what is wrong and stop instead.
        workspaces.load_kube_config()
    except Exception as err:
        print(f"dbjobs run: no usable Kubernetes configuration (in-cluster or KUBECONFIG): {err}", file=sys.stderr)
        return 2
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces or (),
        standalone=True,
        liveness_endpoint=liveness,
    )
    return 0
