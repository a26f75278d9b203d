"""Smoke run of the soak benchmark (``python -m benchmarks.soak``, issue 13 item 5) for one minute at 50 resources:
it must produce every figure, apply every kind of churn, and end with each live resource synced and one job per
resource. Memory flatness is printed, not asserted here: one minute says nothing about a leak (the 30-minute run
and its figures are in docs/reliability.md, "Soak").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Every figure of the soak, as a path into its JSON.
FIGURES = [
    ("converge", "seconds"),
    ("churn", "ops"),
    ("churn", "faults_injected"),
    ("churn", "synced_reasons_seen"),
    ("calls", "total"),
    ("calls", "by"),
    ("k8s_requests", "writes"),
    ("memory", "rss_series_mb"),
    ("memory", "whole_run", "growth_mb"),
    ("memory", "last_window", "growth_mb"),
    ("memory", "last_window", "slope_mb_per_min"),
    ("memory", "last_window", "flat"),
    ("memory", "cpu_s"),
    ("errors", "log", "other"),
    ("errors", "warning_events"),
    ("end_state", "settled"),
    ("end_state", "jobs_in_workspace"),
]


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_soak_benchmark_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--n", "50", "--minutes", "1", "--interval", "5", "--ops-per-minute", "60", "--fault-every", "20"]
    args += ["--sample-every", "2", "--workdir", str(tmp_path / "work"), "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=560
    )
    assert out.exists(), f"no JSON written:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())
    missing = [".".join(p) for p in FIGURES if _dig(data, p) is None]
    assert missing == [], f"figures missing from the JSON: {missing}"
    ops = data["churn"]["ops"]
    assert {"spec_change", "out_of_band", "delete", "create"} <= set(ops), ops
    assert data["churn"]["faults_injected"] >= 2
    end = data["end_state"]
    assert end["settled"], end
    assert end["duplicates_or_leaks"] == 0 and end["lost_jobs"] == 0, end
    assert end["jobs_in_workspace"] == end["expected_resources"], end
    assert data["errors"]["log"]["other"] == 0, data["errors"]["log"]["samples"]
    assert len(data["memory"]["rss_series_mb"]) >= 10
    for label in ("RSS last", "churn ops", "Warning Events", "end state"):
        assert label in proc.stdout, f"the printed table lacks {label!r}:\n{proc.stdout}"
