"""`dbjobs-testkit demo` (what `make demo` runs) succeeds and leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbjobs_testkit.harness import REPO_ROOT

pytestmark = pytest.mark.e2e


def _control_plane_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "dbjobs-demo-" in cmdline:
                pids.add(int(entry))
    return pids


def test_demo_runs_end_to_end(corpus_dir: object) -> None:
    before = _control_plane_pids()
    proc = subprocess.run(
        [sys.executable, "-m", "dbjobs_testkit", "demo"], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "demo complete" in out
    assert "Synced=False DriftDetected" in out
    assert "controller reset the job: timeout_seconds back to 0" in out
    synced_line = next(line for line in out.splitlines() if "Synced (" in line)
    real = int(synced_line.split("(")[1].split()[0])
    assert real >= 10, synced_line
    assert _control_plane_pids() - before == set(), "the demo left processes running"
