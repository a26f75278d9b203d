"""Prometheus metrics of the controller (prometheus-client), served on ``DBJOBS_METRICS_PORT``.

Names follow controller-runtime where a counterpart exists (``*_reconcile_total{result}``,
``*_reconcile_errors_total``, ``*_reconcile_time_seconds``). Per-resource gauges are labelled by
``namespace`` and ``name`` only, so cardinality is one series per DatabricksJob.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

RECONCILE_TOTAL = Counter("dbjobs_reconcile_total", "Reconciles of DatabricksJobs by result.", ["result"])
RECONCILE_ERRORS = Counter("dbjobs_reconcile_errors_total", "Reconciles that ended in an error.")
RECONCILE_TIME = Histogram("dbjobs_reconcile_time_seconds", "Time of one reconcile, in seconds.")
DRIFT_PATHS = Gauge(
    "dbjobs_drift_paths", "Number of paths where the live job differs from spec.settings.", ["namespace", "name"]
)


def record_drift(namespace: str, name: str, count: int) -> None:
    """Set the drift gauge of one DatabricksJob (0 = in sync)."""
    DRIFT_PATHS.labels(namespace=namespace, name=name).set(count)


def forget(namespace: str, name: str) -> None:
    """Drop the per-resource series of a deleted DatabricksJob."""
    for gauge in (DRIFT_PATHS, RUN_CONSECUTIVE_FAILURES, RUN_LAST_SUCCESS, RUN_HEALTHY):
        with contextlib.suppress(KeyError):  # never set for this resource
            gauge.remove(namespace, name)


def serve(port: int, address: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``/metrics`` on ``address:port`` (``DBJOBS_METRICS_BIND_ADDRESS``) in a background thread."""
    start_http_server(port, addr=address, registry=registry)


DRIFT_CORRECTIONS = Counter(
    "dbjobs_drift_corrections_total",
    "Corrections of drift under driftPolicy Correct, by result (converged | not_converging).",
    ["result"],
)


def record_drift_correction(result: str) -> None:
    """Count one correction (a bounded series of resets) that ended in ``result``."""
    DRIFT_CORRECTIONS.labels(result=result).inc()


API_REQUESTS = Counter(
    "dbjobs_databricks_requests_total",
    "HTTP requests to Databricks by endpoint (version and ids cut) and status class (2xx, 4xx, 5xx).",
    ["endpoint", "status_class"],
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


def record_api_request(endpoint: str, status_class: str) -> None:
    """Count one Databricks HTTP response (a listener of ``controller.databricks.calls``)."""
    API_REQUESTS.labels(endpoint=endpoint, status_class=status_class).inc()


def record_observation(batch: int, per_job: int) -> None:
    """Count the calls of one run-observation cycle."""
    RUN_OBSERVATION_CALLS.labels(kind="batch").inc(batch)
    RUN_OBSERVATION_CALLS.labels(kind="per_job").inc(per_job)
    RUN_OBSERVATION_LAST_CYCLE.set(batch + per_job)


def record_run_health(namespace: str, name: str, *, consecutive_failures: int, last_success: bool | None,
                      healthy: bool) -> None:  # fmt: skip
    """Set the run-health gauges of one DatabricksJob (``last_success`` None: no counted run yet)."""
    RUN_CONSECUTIVE_FAILURES.labels(namespace=namespace, name=name).set(consecutive_failures)
    if last_success is not None:
        RUN_LAST_SUCCESS.labels(namespace=namespace, name=name).set(1 if last_success else 0)
    RUN_HEALTHY.labels(namespace=namespace, name=name).set(1 if healthy else 0)


class ReconcileTimer:
    """``async with ReconcileTimer():`` around one reconcile: time, result (success | error) and
    errors, in the controller-runtime style metrics declared above."""

    def __init__(self) -> None:
        self._start = 0.0

    async def __aenter__(self) -> ReconcileTimer:
        self._start = time.perf_counter()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        RECONCILE_TIME.observe(time.perf_counter() - self._start)
        if exc is None:
            RECONCILE_TOTAL.labels(result="success").inc()
        else:
            # A TemporaryError is kopf's requeue-after-failure: an error in controller-runtime's terms.
            RECONCILE_TOTAL.labels(result="error").inc()
            RECONCILE_ERRORS.inc()
