"""Prometheus metrics of the controller (prometheus-client), served on ``DBJOBS_METRICS_PORT``.

Names follow controller-runtime where a counterpart exists (``*_reconcile_total{result}``,
``*_reconcile_errors_total``, ``*_reconcile_time_seconds``). Per-resource gauges are labelled by
``namespace`` and ``name`` only, so cardinality is one series per DatabricksJob.
"""

from __future__ import annotations

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
    for gauge in (DRIFT_PATHS,):
        try:
            gauge.remove(namespace, name)
        except KeyError:
            pass


def serve(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``/metrics`` on ``port`` (0.0.0.0) in a background thread."""
    start_http_server(port, registry=registry)


# --- drift engine (issue 4) ----------------------------------------------------------------------
DRIFT_CORRECTIONS = Counter(
    "dbjobs_drift_corrections_total",
    "Corrections of drift under driftPolicy Correct, by result (converged | not_converging).",
    ["result"],
)


def record_drift_correction(result: str) -> None:
    """Count one correction (a bounded series of resets) that ended in ``result``."""
    DRIFT_CORRECTIONS.labels(result=result).inc()
