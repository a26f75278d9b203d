"""Observation at scale (issue 10 item 7): the controller as its own process against a real kube-apiserver + etcd
(with an audit log) and the Jobs API emulator, for N DatabricksJobs. Prints one table and writes JSON.

    .venv/bin/python -m benchmarks.scale --n 100 1000 3000 --interval 20 --json bench.json

Per N, two fresh stacks (control plane, emulator, controller; see ``scale_env``):

1. *open*: the workspace's request budget set high (``--open-budget``) so the controller, not its budget, is
   measured. ``kubectl apply --server-side`` of N resources → all ``Synced=True``; then ``--warmup`` cycles are
   skipped and ``--cycles`` steady cycles measured (Databricks calls by endpoint, Kubernetes requests from the
   audit log, CPU); drift latency (``--drift-sample`` jobs with ``driftPolicy: Report``, edited out of band at
   random moments over two intervals); Git-change latency (``--git-sample`` spec patches, same spread); RSS; and
   the per-resource baseline against the same emulator.
2. *limited*: the emulator allows 20 ``jobs/create`` a second (429 + ``Retry-After: 1`` beyond) and the
   workspace's budget is ``--limited-budget`` (default 20 requests/s, burst 20: the limit a platform team would
   configure). Apply → all ``Synced=True``, against the bound N/20 s, with the 429s.

A script that prints figures, not a timed test (docs/benchmarks.md has the latest table and how to reproduce it).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import scale_phases as phases
from benchmarks.scale_env import Stack, job_manifests, job_name
from benchmarks.scale_report import machine, table, verdicts
from benchmarks.scale_watch import Watcher

T = TypeVar("T")
CREATE_LIMIT = 20.0


def _budget(text: str) -> tuple[float, int]:
    rate, _, burst = text.partition(":")
    return float(rate), int(burst or max(1, round(float(rate))))


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[100, 1000, 3000], help="numbers of DatabricksJobs")
    p.add_argument("--interval", type=float, default=20.0, help="DBJOBS_POLL_INTERVAL_SECONDS (default 20)")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--warmup", type=int, default=2, help="cycles skipped after convergence (default 2)")
    p.add_argument("--cycles", type=int, default=3, help="steady cycles measured (default 3)")
    p.add_argument("--drift-sample", type=int, default=40, help="jobs edited out of band (default 40)")
    p.add_argument("--git-sample", type=int, default=30, help="spec changes from Git (default 30)")
    p.add_argument("--open-budget", type=_budget, default=(500.0, 100), help="RPS:BURST of the open run")
    p.add_argument("--limited-budget", type=_budget, default=(20.0, 20), help="RPS:BURST of the limited run")
    p.add_argument(
        "--no-leader-election", dest="leader_election", action="store_false", help="run without a Lease (default: on)"
    )
    p.add_argument("--controller-src", type=Path, help="run the controller package of this tree (default: ours)")
    p.add_argument("--workdir", type=Path, help="logs and data here (kept); default: a temporary directory")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def phase(errors: dict[str, str], name: str, fn: Callable[[], T]) -> T | None:
    """Run one measurement; a failure is recorded (the table shows what was measured) and None returned."""
    say(f"  {name} …")
    began = time.monotonic()
    try:
        result = fn()
    except Exception as err:
        errors[name] = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        say(f"  {name} FAILED: {errors[name]}")
        traceback.print_exc(file=sys.stderr)
        return None
    say(f"  {name} done in {time.monotonic() - began:.0f}s")
    return result


def run_size(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed * 100_003 + n)
    drift_idx = sorted(rng.sample(range(n), min(n // 2, args.drift_sample)))
    others = [i for i in range(n) if i not in set(drift_idx)]
    git_idx = sorted(rng.sample(others, min(len(others), args.git_sample)))
    docs = job_manifests(n, set(drift_idx))
    out: dict[str, Any] = {"n": n, "drift_sample": len(drift_idx), "git_sample": len(git_idx)}
    errors: dict[str, str] = {}
    out["errors"] = errors

    say(f"N={n}: open run (budget {args.open_budget[0]:g}/s, burst {args.open_budget[1]})")
    with Stack(
        workdir / f"n{n}-open", args.interval, args.open_budget, args.controller_src, args.leader_election
    ) as stack:
        watcher = Watcher(stack.api)
        watcher.start()
        stall = max(120.0, 6 * args.interval)
        converge = phases.converge
        out["open"] = phase(errors, "converge", lambda: converge(stack, watcher, docs, 300 + n * 0.5, stall))
        if out["open"] is not None:
            out["steady"] = phase(
                errors, "steady", lambda: phases.steady(stack, args.interval, args.warmup, args.cycles)
            )
            out["memory_after_steady_mb"] = round(stack.proc().rss_mb, 1)
            names = [job_name(i) for i in drift_idx]
            out["drift"] = phase(errors, "drift", lambda: phases.drift(stack, watcher, names, args.interval, rng))
            names = [job_name(i) for i in git_idx]
            out["git_change"] = phase(
                errors, "git", lambda: phases.git_change(stack, watcher, names, args.interval, rng)
            )
            sample = stack.proc()
            out["memory"] = {"rss_mb": round(sample.rss_mb, 1), "hwm_mb": round(sample.hwm_mb, 1)}
            ids = [v.job_id for v in watcher.snapshot().values() if v.job_id is not None]
            stack.controller.stop()  # the emulator's log then holds the baseline's calls only
            out["baseline"] = phase(errors, "baseline", lambda: phases.baseline(stack, ids))
        watcher.stop()

    say(f"N={n}: limited run (jobs/create at {CREATE_LIMIT:g}/s; budget {args.limited_budget[0]:g}/s)")
    with Stack(
        workdir / f"n{n}-limited", args.interval, args.limited_budget, args.controller_src, args.leader_election
    ) as stack:
        stack.emu.workspace.set_rate_limit("jobs/create", CREATE_LIMIT, retry_after=1, method="POST")
        watcher = Watcher(stack.api)
        watcher.start()
        timeout = 300 + 4 * n / CREATE_LIMIT
        stall = max(120.0, 6 * args.interval)
        out["limited"] = phase(
            errors, "converge-limited", lambda: phases.converge(stack, watcher, docs, timeout, stall)
        )
        watcher.stop()
    return out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # SIGTERM (and SIGINT, also when a shell started us in the background) unwinds through every Stack's exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)  # the host-metadata probe warning
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dbjobs-bench-"))
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "interval_s": args.interval,
        "settings": {
            "warmup_cycles": args.warmup,
            "cycles": args.cycles,
            "open_budget": list(args.open_budget),
            "limited_budget": list(args.limited_budget),
            "create_limit_per_s": CREATE_LIMIT,
            "controller_source": str(args.controller_src or "this checkout"),
            "leader_election": args.leader_election,
        },
        "runs": {},
    }
    runs: dict[int, dict[str, Any]] = {}
    try:
        for n in args.n:
            began = time.monotonic()
            runs[n] = run_size(n, args, workdir)
            runs[n]["wall_seconds"] = round(time.monotonic() - began)
            result["runs"] = {str(k): v for k, v in runs.items()}
            if args.json:  # after every size, so a long run that dies keeps what it measured
                args.json.write_text(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result["targets"] = verdicts(runs, args.interval)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(table(runs, args.interval))
    return 1 if any(r.get("errors") for r in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
