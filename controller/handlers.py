"""kopf registration: which events call which driver function, and the process around them. No decisions.

Settings: progress and a digest of the last-handled configuration are kept in ``dbjobs.io/…``
annotations (not in ``status``, which is ours; see ``diffbase``); the finalizer is ``dbjobs.io/finalizer``;
standalone mode (no KopfPeering CRDs to install). Runtime settings (poll interval, namespaces, logging,
metrics, health, shutdown budget) come from the environment: :mod:`controller.operator.config`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from controller.api.models import GROUP, JOB_PLURAL, VERSION
from controller.operator import driver, health, metrics, runnow, workspaces
from controller.operator.config import CONFIG
from controller.operator.diffbase import DigestDiffBaseStorage
from controller.operator.logs import configure_logging

POLL_INTERVAL_SECONDS = CONFIG.poll_interval_s
FINALIZER = "dbjobs.io/finalizer"
#: Worker threads for blocking calls (databricks-sdk, the Kubernetes client); abandoned on shutdown.
IO_THREADS = 32

log = logging.getLogger(__name__)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Operator-wide settings; also loads the Kubernetes client configuration used for Secrets."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="dbjobs.io")
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix="dbjobs.io", key="last-handled-digest")
    settings.peering.standalone = True
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # The last resort if a graceful stop hangs: kopf SIGKILLs its own process after this long.
    settings.process.ultimate_exiting_timeout = CONFIG.shutdown_s + 5
    await asyncio.to_thread(workspaces.load_kube_config)
    if CONFIG.metrics_port:
        metrics.serve(CONFIG.metrics_port, address=CONFIG.metrics_bind_address)


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
        logger.warning(f"periodic check failed (status says why), retrying in {POLL_INTERVAL_SECONDS:g}s: {err}")
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
    """Run the operator until SIGINT/SIGTERM; returns the exit code (0 on a clean stop).

    ``namespaces`` (``dbjobs run -n``) add to ``DBJOBS_WATCH_NAMESPACES``; none at all means every
    namespace. ``liveness`` overrides the endpoint ``DBJOBS_HEALTH_PORT`` would give. On SIGTERM the
    operator stops within ``DBJOBS_SHUTDOWN_SECONDS``: kopf cancels its handlers, and blocking calls
    still in flight (an SDK retry can hold a thread for 30 s) are abandoned rather than awaited. That is
    safe because every action is found again on restart (status, then the job's owner tag).
    """
    configure_logging(level="DEBUG" if verbose else CONFIG.log_level, fmt=CONFIG.log_format)
    try:
        # kopf would retry a broken configuration forever; say what is wrong and stop instead.
        workspaces.load_kube_config()
    except Exception as err:
        print(f"dbjobs run: no usable Kubernetes configuration (in-cluster or KUBECONFIG): {err}", file=sys.stderr)
        return 2
    watch = sorted({*CONFIG.watch_namespaces, *(namespaces or ())})
    if liveness is None and CONFIG.health_port:
        liveness = f"http://0.0.0.0:{CONFIG.health_port}/healthz"
    log.info(f"dbjobs starting: namespaces={watch or 'all'} poll={POLL_INTERVAL_SECONDS:g}s health={liveness}")
    loop = asyncio.new_event_loop()
    io = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="dbjobs-io")
    loop.set_default_executor(io)  # asyncio.to_thread runs here, so a stop need not wait for it
    try:
        kopf.run(loop=loop, clusterwide=not watch, namespaces=watch, standalone=True, liveness_endpoint=liveness)
    finally:
        _abandon_in_flight(io, loop)
    return 0


def _abandon_in_flight(io: ThreadPoolExecutor, loop: asyncio.AbstractEventLoop) -> None:
    """Stop without waiting for blocking calls still in flight (the interpreter would join them at exit)."""
    io.shutdown(wait=False, cancel_futures=True)
    busy = [t for t in threading.enumerate() if t.name.startswith("dbjobs-io") and t.is_alive()]
    loop.close()
    if busy:
        log.info(f"dbjobs stopped; abandoning {len(busy)} blocking call(s) still in flight")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log.info("dbjobs stopped")
