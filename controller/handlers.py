"""kopf registration: which watch events reach the manager, and the process around them. No decisions.

DatabricksJob and DatabricksWorkspace watch events feed the manager's registry (no GET per reconcile); the
only kopf handler with state is the delete behind the finalizer ``dbjobs.io/finalizer`` (its progress in
``dbjobs.io/…`` annotations, never in ``status``, which is ours). Standalone mode (no KopfPeering CRDs).
kopf posts no Events of its own: the writer emits them. Runtime settings come from the environment
(:mod:`controller.operator.config`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from controller.api.models import CLUSTER_WORKSPACE_PLURAL, GROUP, JOB_PLURAL, VERSION, WORKSPACE_PLURAL
from controller.operator import healthz, metrics, uninstall
from controller.operator.config import CONFIG
from controller.operator.credentials import load_kube_config
from controller.operator.diffbase import DigestDiffBaseStorage
from controller.operator.healthz import HEARTBEAT_S, Health
from controller.operator.leader import LeaderElectionError, LeaderElector
from controller.operator.logs import configure_logging
from controller.operator.manager import Manager

POLL_INTERVAL_SECONDS = CONFIG.poll_interval_s
FINALIZER = "dbjobs.io/finalizer"
#: Worker threads for blocking calls (databricks-sdk, the Kubernetes client); abandoned on shutdown.
IO_THREADS = 32
#: kopf's own requests (watches, finalizer patches), seconds: a connection must open within CONNECT_TIMEOUT_S, a
#: request complete within REQUEST_TIMEOUT_S, a watch end within its timeout plus WATCH_GRACE_S.
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0
WATCH_GRACE_S = 10.0

log = logging.getLogger(__name__)
#: Whether this process watches every namespace (set by run_operator before kopf starts; tests leave it True).
_CLUSTER_WIDE = {"value": True}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Operator-wide settings, the Kubernetes client, and the manager every handler calls."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="dbjobs.io")
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix="dbjobs.io", key="last-handled-digest")
    settings.peering.standalone = True
    settings.posting.enabled = False  # Events come from our writer only, with reasons from one enum
    # The apiserver ends each watch after server_timeout; a watch still open 10 s later is a dead connection (a
    # dropped NAT entry, a vanished node) that would otherwise hang, unnoticed, for hours (issue 13).
    settings.watching.server_timeout = round(CONFIG.watch_timeout_s)  # the apiserver takes whole seconds
    settings.watching.client_timeout = round(CONFIG.watch_timeout_s) + WATCH_GRACE_S
    settings.watching.connect_timeout = CONNECT_TIMEOUT_S
    settings.networking.connect_timeout = CONNECT_TIMEOUT_S
    settings.networking.request_timeout = REQUEST_TIMEOUT_S
    if CONFIG.watch_namespaces:
        # Named namespaces need no cluster-wide discovery (which a namespaced Role cannot list anyway).
        settings.scanning.disabled = True
    # The last resort if a graceful stop hangs: kopf SIGKILLs its own process after this long.
    settings.process.ultimate_exiting_timeout = CONFIG.shutdown_s + 5
    await asyncio.to_thread(load_kube_config)
    memo["manager"] = Manager(CONFIG, cluster_wide=_CLUSTER_WIDE["value"])


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    manager: Manager = memo["manager"]
    await manager.stop()


@kopf.index(GROUP, VERSION, WORKSPACE_PLURAL)
async def workspaces_listed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """kopf fills every index before any other handler runs: so the manager knows every DatabricksWorkspace before
    the first DatabricksJob event, and never reports an existing workspace as missing at start-up."""
    memo["manager"].workspace_event(body, None)


@kopf.on.event(GROUP, VERSION, WORKSPACE_PLURAL)
async def workspace_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A DatabricksWorkspace was listed, changed or deleted."""
    memo["manager"].workspace_event(body, type)


@kopf.on.event(GROUP, VERSION, JOB_PLURAL)
async def job_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A DatabricksJob was listed, changed (spec, annotations, our own status) or deleted."""
    memo["manager"].job_event(body, type)


async def cluster_workspaces_listed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """As ``workspaces_listed``, for ClusterDatabricksWorkspaces (cluster-wide only: see ``_watch_cluster_kinds``)."""
    memo["manager"].workspace_event(body, None)


async def cluster_workspace_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A ClusterDatabricksWorkspace was listed, changed or deleted."""
    memo["manager"].workspace_event(body, type)


async def namespaces_listed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every Namespace's labels before the first DatabricksJob event (namespaceSelectors decide from them)."""
    memo["manager"].namespace_event(body, None)


async def namespace_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A Namespace was listed, relabelled or deleted."""
    memo["manager"].namespace_event(body, type)


_registered: list[bool] = []


def _watch_cluster_kinds() -> None:
    """Cluster-wide only: watch ClusterDatabricksWorkspaces and Namespaces (indexed first, like workspaces). A
    controller limited to some namespaces (watchNamespaces: namespaced Roles only) registers neither, so it asks the
    apiserver for nothing cluster-scoped; a job there naming a ClusterDatabricksWorkspace shows WorkspaceNotAllowed."""
    if _registered:
        return
    _registered.append(True)
    kopf.index(GROUP, VERSION, CLUSTER_WORKSPACE_PLURAL)(cluster_workspaces_listed)
    kopf.on.event(GROUP, VERSION, CLUSTER_WORKSPACE_PLURAL)(cluster_workspace_event)
    kopf.index("v1", "namespaces")(namespaces_listed)
    kopf.on.event("v1", "namespaces")(namespace_event)


#: The DatabricksJob CRD's name: its deletion is an uninstall that keeps the jobs (issue 13).
JOB_CRD = f"{JOB_PLURAL}.{GROUP}"
#: Passes over the DatabricksJobs when releasing them, one second apart (a concurrent patch fails one pass).
RELEASE_PASSES = 10


async def job_crd_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The DatabricksJob CRD is being deleted (with resources present): release every DatabricksJob's finalizer and
    keep its Databricks job, as ``dbjobs uninstall --jobs keep`` does. kopf stops serving a resource whose CRD is
    terminating, so without this the remaining resources kept the finalizer and the CRD stayed Terminating for
    ever; and deleting a CRD is an uninstall, never a request to delete every production job. A re-install
    with the same namespace/name adopts the kept jobs by their owner tag."""
    deleting = bool(body.get("metadata", {}).get("deletionTimestamp"))
    if not deleting or memo.get("job_crd_deleting"):
        memo["job_crd_deleting"] = deleting
        return
    memo["job_crd_deleting"] = True
    log.warning(f"CRD {JOB_CRD} is being deleted: releasing every DatabricksJob, their Databricks jobs are kept")
    await asyncio.to_thread(_release_all)


def _release_all() -> None:
    for _ in range(RELEASE_PASSES):
        try:
            if uninstall.release_finalizers((), log.info) == 0:
                return
        except Exception as err:  # the CRD gone (404) ends it; a conflicting patch is retried next pass
            if getattr(err, "status", None) == 404:
                return
            log.info(f"releasing DatabricksJobs: {err}; trying again")
        time.sleep(1.0)


def _watch_job_crd() -> None:
    """Cluster-wide only (the ClusterRole lists and watches CRDs): notice the deletion of the DatabricksJob CRD."""
    kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", field="metadata.name", value=JOB_CRD)(
        job_crd_event
    )


@kopf.on.delete(GROUP, VERSION, JOB_PLURAL)
async def on_delete(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    """Deleted: remove the Databricks job (per deletionPolicy) before kopf drops the finalizer; while the CRD itself
    is being deleted, keep the job (see :func:`job_crd_event`)."""
    if memo.get("job_crd_deleting"):
        return
    delay = await memo["manager"].delete(body, retry)
    if delay is not None:
        raise kopf.TemporaryError("the Databricks job is not deleted yet", delay=delay)


def run_operator(*, namespaces: list[str] | None, verbose: bool, liveness: str | None) -> int:
    """Run the operator until SIGINT/SIGTERM; returns the exit code (0 on a clean stop).

    ``namespaces`` (``dbjobs run -n``) add to ``DBJOBS_WATCH_NAMESPACES``; none at all means every
    namespace. ``GET /healthz`` is served from the start (:mod:`controller.operator.healthz`) on ``liveness``
    (``http://HOST:PORT/PATH``), else on ``DBJOBS_HEALTH_PORT``; so is ``/metrics`` (``DBJOBS_METRICS_PORT``).
    With ``DBJOBS_LEADER_ELECTION`` the process first waits as a follower until it holds the Lease
    (:mod:`controller.operator.leader`), exits 1 at once if it loses it, and releases it after a clean stop.
    On SIGTERM the operator stops within ``DBJOBS_SHUTDOWN_SECONDS``: kopf cancels its handlers, and blocking
    calls still in flight (an SDK retry can hold a thread for 30 s) are abandoned rather than awaited. That is
    safe because every action is found again on restart (status, then the job's owner tag).
    """
    configure_logging(level="DEBUG" if verbose else CONFIG.log_level, fmt=CONFIG.log_format)
    try:
        # kopf would retry a broken configuration forever; say what is wrong and stop instead.
        load_kube_config()
    except Exception as err:
        print(f"dbjobs run: no usable Kubernetes configuration (in-cluster or KUBECONFIG): {err}", file=sys.stderr)
        return 2
    watch = sorted({*CONFIG.watch_namespaces, *(namespaces or ())})
    if liveness is None and CONFIG.health_port:
        liveness = f"http://0.0.0.0:{CONFIG.health_port}/healthz"
    log.info(f"dbjobs starting: namespaces={watch or 'all'} poll={POLL_INTERVAL_SECONDS:g}s health={liveness}")
    health = Health()
    try:
        if liveness:
            healthz.serve(health, liveness)
        if CONFIG.metrics_port:  # from the start, so followers are scraped too
            metrics.serve(CONFIG.metrics_port, address=CONFIG.metrics_bind_address)
    except (ValueError, OSError) as err:
        print(f"dbjobs run: cannot serve the health or metrics endpoint: {err}", file=sys.stderr)
        return 2
    elector, code = _await_leadership(health)
    if code is not None:
        return code
    health.lead()
    metrics.LEADER.set(1)
    _CLUSTER_WIDE["value"] = not watch
    if not watch:
        _watch_cluster_kinds()
        _watch_job_crd()
    loop = asyncio.new_event_loop()
    io = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="dbjobs-io")
    loop.set_default_executor(io)  # asyncio.to_thread runs here, so a stop need not wait for it
    _heartbeat(loop, health)
    try:
        kopf.run(loop=loop, clusterwide=not watch, namespaces=watch, standalone=True)
    finally:
        if elector is not None:
            elector.release()
        _abandon_in_flight(io, loop)
    return 0


def _await_leadership(health: Health) -> tuple[LeaderElector | None, int | None]:
    """With ``DBJOBS_LEADER_ELECTION``: follow until this process holds the Lease. Returns the elector (None
    when leader election is off) and, when the process must stop instead of leading, its exit code."""
    if CONFIG.leader_election is None:
        return None, None
    elector = LeaderElector(CONFIG.leader_election).start()
    health.follow(elector.follower_healthy)
    try:
        if not elector.wait_until_leading():
            log.info("dbjobs stopped while following")
            return elector, 0
    except LeaderElectionError as err:
        log.error(f"dbjobs stops: {err}")
        return elector, 1
    return elector, None


def _heartbeat(loop: asyncio.AbstractEventLoop, health: Health) -> None:
    """Tell ``health`` every ``HEARTBEAT_S`` seconds that ``loop`` still turns (from the loop itself)."""

    def beat() -> None:
        health.beat()
        loop.call_later(HEARTBEAT_S, beat)

    loop.call_soon(beat)


def _abandon_in_flight(io: ThreadPoolExecutor, loop: asyncio.AbstractEventLoop) -> None:
    """Stop without waiting for blocking calls still in flight (the interpreter would join them at exit)."""
    io.shutdown(wait=False, cancel_futures=True)
    busy = [t for t in threading.enumerate() if t.name.startswith("dbjobs-io") and t.is_alive()]
    loop.close()
    if busy:
        log.info(f"dbjobs stopped; not waiting for its {len(busy)} worker thread(s) (calls in flight are abandoned)")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log.info("dbjobs stopped")
