"""Prometheus metrics of the controller (prometheus-client), served on ``DBJOBS_METRICS_PORT``.

Names follow controller-runtime where a counterpart exists (``*_reconcile_total{result}``,
``*_reconcile_errors_total``, ``*_reconcile_time_seconds``). Per-resource gauges are labelled by
``namespace`` and ``name`` only (one series per DatabricksJob); per-workspace series by ``workspace`` (the
host without scheme). Durations are seconds, times Unix seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from controller.databricks import calls

RECONCILE_TOTAL = Counter("dbjobs_reconcile_total", "Reconciles of DatabricksJobs by result.", ["result"])
RECONCILE_ERRORS = Counter("dbjobs_reconcile_errors_total", "Reconciles that ended in an error.")
RECONCILE_TIME = Histogram("dbjobs_reconcile_time_seconds", "Time of one reconcile, in seconds.")
INTERNAL_ERRORS = Counter(
    "dbjobs_internal_errors_total", "Unexpected exceptions in the controller (bugs), reported as InternalError."
)
STATUS_WRITES = Counter("dbjobs_status_writes_total", "Status patches written, by kind.", ["kind"])
EVENTS = Counter("dbjobs_events_total", "Kubernetes Events emitted, by reason.", ["reason"])
DRIFT_PATHS = Gauge(
    "dbjobs_drift_paths", "Number of paths where the live job differs from spec.settings.", ["namespace", "name"]
)
DRIFT_CORRECTIONS = Counter(
    "dbjobs_drift_corrections_total",
    "Corrections of drift under driftPolicy Correct, by result (converged | not_converging).",
    ["result"],
)
API_REQUESTS = Counter(
    "dbjobs_databricks_requests_total",
    "HTTP requests to Databricks by workspace, endpoint (version and ids cut) and status class (2xx, 4xx, 5xx, "
    "or error when no answer came).",
    ["workspace", "endpoint", "status_class"],
)
RUN_OBSERVATION_CALLS = Counter(
    "dbjobs_run_observation_calls_total", "runs/list calls made to observe runs, by kind (batch | per_job).", ["kind"]
)
RUN_OBSERVATION_LAST_CYCLE = Gauge(
    "dbjobs_run_observation_calls_last_cycle", "runs/list calls of the last observation cycle of any workspace."
)
RUN_CONSECUTIVE_FAILURES = Gauge(
    "dbjobs_run_consecutive_failures", "Failed runs in a row of the job (0 after a success).", ["namespace", "name"]
)
RUN_LAST_SUCCESS = Gauge(
    "dbjobs_run_last_success", "1 if the last counted run succeeded, 0 if it failed.", ["namespace", "name"]
)
RUN_HEALTHY = Gauge("dbjobs_run_healthy", "1 if RunHealthy is True, 0 if False or Unknown.", ["namespace", "name"])
WORKSPACE_CYCLE_TIME = Gauge(
    "dbjobs_workspace_last_cycle_timestamp_seconds", "When the workspace's last observer cycle ended.", ["workspace"]
)
WORKSPACE_CYCLE_SECONDS = Gauge(
    "dbjobs_workspace_cycle_duration_seconds", "Duration of the workspace's last observer cycle.", ["workspace"]
)
WORKSPACE_CYCLE_CALLS = Gauge(
    "dbjobs_workspace_cycle_api_calls", "Databricks requests of the workspace's last observer cycle.", ["workspace"]
)
WORKSPACE_JOBS = Gauge(
    "dbjobs_workspace_jobs", "Jobs in the workspace, by kind (listed | owned).", ["workspace", "kind"]
)
LEADER = Gauge("dbjobs_leader", "1 while this process is the active controller (holds the Lease, or runs alone).")
WORKSPACE_UP = Gauge("dbjobs_workspace_reachable", "1 if the last observer cycle succeeded.", ["workspace"])


THROTTLED = Counter(
    "dbjobs_databricks_throttled_total",
    "429 answers from Databricks, by workspace (each pauses the workspace).",
    ["workspace"],
)


def _count_request(workspace: str, endpoint: str, status_class: str, code: int | None) -> None:
    API_REQUESTS.labels(workspace=workspace, endpoint=endpoint, status_class=status_class).inc()
    if code == 429:
        THROTTLED.labels(workspace=workspace).inc()


calls.add_listener(_count_request)


def serve(port: int, address: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``/metrics`` on ``address:port`` (``DBJOBS_METRICS_BIND_ADDRESS``) in a background thread."""
    start_http_server(port, addr=address, registry=registry)


def record_status(namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Set the per-resource gauges from a status just decided (drift paths, run health)."""
    DRIFT_PATHS.labels(namespace=namespace, name=name).set(int((status.get("drift") or {}).get("count") or 0))
    runs = status.get("runs")
    if isinstance(runs, Mapping):
        RUN_CONSECUTIVE_FAILURES.labels(namespace=namespace, name=name).set(int(runs.get("consecutiveFailures") or 0))
        last = (status.get("lastRun") or {}).get("resultState")
        if last in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
            RUN_LAST_SUCCESS.labels(namespace=namespace, name=name).set(1)
        elif last:
            RUN_LAST_SUCCESS.labels(namespace=namespace, name=name).set(0)
    healthy = next((c for c in status.get("conditions") or [] if c.get("type") == "RunHealthy"), None)
    if healthy is not None:
        RUN_HEALTHY.labels(namespace=namespace, name=name).set(1 if healthy.get("status") == "True" else 0)


def record_cycle(workspace: str, *, ended: float, seconds: float, api_calls: int, reachable: bool,
                 listed: int | None, owned: int | None, runs_calls: tuple[int, int] | None) -> None:  # fmt: skip
    """Set the per-workspace gauges after an observer cycle (``runs_calls``: batch and per-job runs/list calls)."""
    WORKSPACE_CYCLE_TIME.labels(workspace=workspace).set(ended)
    WORKSPACE_CYCLE_SECONDS.labels(workspace=workspace).set(seconds)
    WORKSPACE_CYCLE_CALLS.labels(workspace=workspace).set(api_calls)
    WORKSPACE_UP.labels(workspace=workspace).set(1 if reachable else 0)
    if listed is not None:
        WORKSPACE_JOBS.labels(workspace=workspace, kind="listed").set(listed)
    if owned is not None:
        WORKSPACE_JOBS.labels(workspace=workspace, kind="owned").set(owned)
    if runs_calls is not None:
        RUN_OBSERVATION_CALLS.labels(kind="batch").inc(runs_calls[0])
        RUN_OBSERVATION_CALLS.labels(kind="per_job").inc(runs_calls[1])
        RUN_OBSERVATION_LAST_CYCLE.set(sum(runs_calls))


def forget(namespace: str, name: str) -> None:
    """Drop the per-resource series of a deleted DatabricksJob."""
    for gauge in (DRIFT_PATHS, RUN_CONSECUTIVE_FAILURES, RUN_LAST_SUCCESS, RUN_HEALTHY):
        with contextlib.suppress(KeyError):  # never set for this resource
            gauge.remove(namespace, name)


def record_drift_correction(result: str) -> None:
    """Count one correction (a bounded series of resets) that ended in ``result``."""
    DRIFT_CORRECTIONS.labels(result=result).inc()


class ReconcileTimer:
    """``async with ReconcileTimer() as t:`` around one reconcile: time, and result (``t.failed`` or an
    exception: error; else success), in the controller-runtime style metrics declared above."""

    def __init__(self) -> None:
        self._start = 0.0
        self.failed = False

    async def __aenter__(self) -> ReconcileTimer:
        self._start = time.perf_counter()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        RECONCILE_TIME.observe(time.perf_counter() - self._start)
        if exc is None and not self.failed:
            RECONCILE_TOTAL.labels(result="success").inc()
        else:
            RECONCILE_TOTAL.labels(result="error").inc()
            RECONCILE_ERRORS.inc()
