"""The controller's Prometheus endpoint, scraped as Prometheus would (prometheus-client's own parser)."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e


def scrape(port: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def test_metrics_endpoint_reports_reconciles_api_calls_and_per_job_gauges(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    port = controller.extra_env["DBJOBS_METRICS_PORT"]
    name = "measured"
    ns.apply(
        [job_manifest(name, {"name": name, "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/m"}}]})]
    )

    def checked() -> bool:
        obj = ns.get("databricksjob", name)
        return bool(condition(obj, "Synced") and condition(obj, "RunHealthy"))

    wait_for(checked, timeout=60, what=f"{name} synced and health-checked")
    labels = {"namespace": ns.namespace or "", "name": name}

    def gauges_present() -> dict[str, list[tuple[dict[str, str], float]]] | None:
        samples = scrape(port)
        names = ("dbjobs_drift_paths", "dbjobs_run_healthy")
        present = all(any(lbl == labels for lbl, _ in samples.get(n, [])) for n in names)
        return samples if present else None

    samples = wait_for(gauges_present, timeout=30, what="per-job gauges for the new job")
    successes = [v for lbl, v in samples["dbjobs_reconcile_total"] if lbl.get("result") == "success"]
    assert successes and successes[0] >= 1
    assert samples["dbjobs_reconcile_time_seconds_count"][0][1] >= 1
    host = emulator.url.split("://", 1)[1]
    creates = [v for lbl, v in samples["dbjobs_databricks_requests_total"]
               if lbl == {"workspace": host, "endpoint": "jobs/create", "status_class": "2xx"}]  # fmt: skip
    assert creates and creates[0] >= 1
    cycles = [v for lbl, v in samples["dbjobs_workspace_cycle_api_calls"] if lbl == {"workspace": host}]
    assert cycles and cycles[0] >= 1, "the observer's calls per cycle are exported per workspace"
    assert [v for lbl, v in samples["dbjobs_drift_paths"] if lbl == labels] == [0.0]
    # NoRuns is Unknown, which the gauge reports as not healthy (0).
    assert [v for lbl, v in samples["dbjobs_run_healthy"] if lbl == labels] == [0.0]
