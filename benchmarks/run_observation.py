"""API calls per cycle to observe the runs of N jobs: batched (controller/databricks/runs.py) vs
one ``runs/list?job_id=`` per job. A script that prints figures, not a timed test:

    .venv/bin/python benchmarks/run_observation.py [N ...]      # default: 10 100 1000

Against the emulator on a ManualClock, every job scheduled hourly (staggered by minute) and the
controller polling every 60 s. "first cycle" includes the one-off per-job history call per job;
"steady cycle" is the average over the next hour of 60-s cycles (runs start and finish meanwhile).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from controller.databricks.runs import RunObserver, per_job_calls
from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming

TOKEN = "bench"
T0 = 1_767_225_600_000
POLL_MS = 60_000


def measure(n: int) -> tuple[int, float, int]:
    """(first-cycle calls, mean steady-cycle calls, per-job calls per cycle) for ``n`` jobs."""
    clock = ManualClock(start_ms=T0)
    with EmulatorServer(token=TOKEN, clock=clock, run_timing=RunTiming(30_000, 240_000), seed=1) as emu:
        for name in list(os.environ):
            if name.startswith("DATABRICKS_"):
                del os.environ[name]
        client = WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat"))
        ws = emu.workspace
        jobs = []
        for i in range(n):
            settings = {
                "name": f"job-{i}",
                "schedule": {"quartz_cron_expression": f"0 {i % 60} * * * ?", "timezone_id": "UTC"},
                "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}],
            }
            jobs.append(ws.create_job(settings, "2.2"))
        clock.advance(3_600_000)  # an hour of history: every job ran once
        observer = RunObserver(window=20)
        first = observer.refresh(client, jobs, now_ms=clock.now_ms())
        assert first is not None
        steady = []
        for _ in range(60):
            clock.advance(POLL_MS)
            stats = observer.refresh(client, jobs, now_ms=clock.now_ms(), force=True)
            assert stats is not None
            steady.append(stats.total)
        naive = per_job_calls(client, jobs)
        return first.total, sum(steady) / len(steady), naive


def main(argv: list[str]) -> int:
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)  # the host-metadata probe warning
    sizes = [int(a) for a in argv] or [10, 100, 1000]
    print(f"{'jobs':>6} {'batched first':>14} {'batched steady':>15} {'per-job':>8}")
    for n in sizes:
        started = time.monotonic()
        first, steady, naive = measure(n)
        print(f"{n:>6} {first:>14} {steady:>15.1f} {naive:>8}   ({time.monotonic() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
