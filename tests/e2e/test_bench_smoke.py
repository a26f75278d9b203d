"""Smoke run of the scale benchmark (``python -m benchmarks.scale``) at a small N: it must produce every figure.

Benchmarks print figures; this test asserts none of them against a threshold (a 2-core machine shared with other
builds times nothing reliably). The real runs and their table are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Every figure of issue 10 item 7, as a path into one size's JSON.
FIGURES = [
    ("steady", "databricks_calls"),
    ("steady", "databricks_by_endpoint"),
    ("baseline", "calls"),
    ("steady", "k8s_reads"),
    ("steady", "k8s_writes"),
    ("open", "seconds"),
    ("limited", "seconds"),
    ("limited", "throttled"),
    ("limited", "throttled_share"),
    ("drift", "p50_s"),
    ("drift", "p99_s"),
    ("git_change", "p50_s"),
    ("git_change", "p99_s"),
    ("memory", "rss_mb"),
    ("steady", "cpu_s_per_cycle"),
]


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_scale_benchmark_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["--n", "20", "--interval", "5", "--warmup", "1", "--cycles", "2", "--drift-sample", "5"]
    args += ["--git-sample", "5", "--workdir", str(tmp_path / "work"), "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert proc.returncode == 0, f"benchmark failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())
    run = data["runs"]["20"]
    assert run["errors"] == {}
    missing = [".".join(p) for p in FIGURES if _dig(run, p) is None]
    assert missing == [], f"figures missing from the JSON: {missing}"
    assert run["steady"]["databricks_by_endpoint"], "no Databricks call was counted in a steady cycle"
    assert run["drift"]["samples"] == 5 and run["git_change"]["samples"] == 5
    assert set(data["targets"]) and data["machine"]["cpus"]
    table = proc.stdout
    for label in ("Databricks calls / steady cycle", "Kubernetes writes", "drift detected", "Git change", "RSS"):
        assert label in table, f"the printed table lacks {label!r}:\n{table}"
