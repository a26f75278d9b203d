"""Soak (issue 13 item 5): N DatabricksJobs for M minutes under a steady churn of spec changes, out-of-band edits,
deletes, creates and a few injected 503s, against the controller as its own process (a real kube-apiserver + etcd
and the Jobs API emulator: :class:`~benchmarks.scale_env.Stack`). Prints the figures and writes JSON.

    .venv/bin/python -m benchmarks.soak --n 500 --minutes 30 --json soak.json

Figures: the controller's RSS over the run and over the last ``--flat-window`` minutes (start, end, growth, slope,
``flat`` within ``--noise-mb``), CPU, the churn applied (by operation), Databricks calls by endpoint and status,
Kubernetes requests of the controller (audit log), errors (ERROR lines of the controller's log apart from the
injected faults, Warning Events by reason, Synced reasons seen while churning), and the end state once the churn
stops: every live resource ``Synced=True`` at its generation with its job named as the spec says, every deleted one
gone, the workspace holding exactly one job per live resource (no duplicate, no leak).

A script that prints figures, not a timed test (``tests/e2e/test_soak_smoke.py`` runs it for one minute).
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
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import scale_phases as phases
from benchmarks import soak_churn as churn
from benchmarks.scale_env import GROUP, NAMESPACE, PLURAL, VERSION, Stack, job_manifests, job_name, split_requests
from benchmarks.scale_report import machine
from benchmarks.scale_watch import Watcher
from dbjobs_testkit.harness import wait_for

#: Warning Events the churn causes on purpose: out-of-band edits are drift, the injected 503 an ApiError (when it
#: outlasts the SDK's retries).
INJECTED_EVENTS = frozenset({"DriftDetected", "ApiError"})


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="DatabricksJobs kept alive (default 500)")
    p.add_argument("--minutes", type=float, default=30.0, help="how long the churn runs (default 30)")
    p.add_argument("--ops-per-minute", type=float, default=30.0, help="churn operations a minute (default 30)")
    p.add_argument("--fault-every", type=float, default=120.0, help="seconds between injected 503s (default 120)")
    p.add_argument("--interval", type=float, default=20.0, help="DBJOBS_POLL_INTERVAL_SECONDS (default 20)")
    p.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    p.add_argument("--flat-window", type=float, default=20.0, help="minutes at the end RSS must be flat over")
    p.add_argument("--noise-mb", type=float, default=8.0, help="RSS change counted as noise (default 8 MB)")
    p.add_argument("--controller-src", type=Path, help="run the controller package of this tree (default: ours)")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--workdir", type=Path, help="logs and data here (kept); default: a temporary directory")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def churn_for(ch: churn.Churn, args: argparse.Namespace) -> dict[str, Any]:
    """Run the churn for ``--minutes``; the Synced reasons are read once a minute meanwhile."""
    period, began = 60.0 / args.ops_per_minute, time.monotonic()
    end, next_fault, next_look = began + args.minutes * 60, began + args.fault_every / 2, began + 60
    seen: Counter[str] = Counter()
    steps = 0
    while (now := time.monotonic()) < end:
        ch.step()
        steps += 1
        if now >= next_fault:
            ch.inject_fault()
            next_fault += args.fault_every
        if now >= next_look:
            seen.update(churn.synced_reasons(ch.stack))
            next_look += 60
        time.sleep(max(0.0, began + period * steps - time.monotonic()))
    return {
        "seconds": round(time.monotonic() - began),
        "ops": dict(sorted(ch.ops.items())),
        "ops_refused": dict(sorted(ch.failed_ops.items())),
        "faults_injected": ch.faults_injected,
        "synced_reasons_seen": dict(sorted(seen.items())),
    }


def _job_of(obj: dict[str, Any]) -> int | None:
    job_id = (obj.get("status") or {}).get("jobId")
    return int(job_id) if job_id is not None else None


def _settled(stack: Stack, live: set[str]) -> bool:
    items = stack.api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL).get("items") or []
    by_name = {o["metadata"]["name"]: o for o in items}
    if set(by_name) != live:
        return False
    jobs = set(stack.emu.workspace.job_ids())
    for obj in by_name.values():
        status = obj.get("status") or {}
        synced: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Synced"), {})
        if synced.get("status") != "True" or status.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
        job_id = _job_of(obj)
        if job_id is None or job_id not in jobs:
            return False
        if stack.emu.workspace.get_settings(job_id).get("name") != obj["spec"]["settings"]["name"]:
            return False
    return True


def end_state(stack: Stack, live: set[str], timeout: float) -> dict[str, Any]:
    """After the churn: wait for every live resource to be Synced at its generation with its job as the spec
    says and every deleted one gone; then count the jobs in the workspace against the live resources."""
    began = time.monotonic()
    settled = True
    try:
        wait_for(lambda: _settled(stack, live), timeout=timeout, what="every DatabricksJob settled", interval=2)
    except TimeoutError:
        settled = False
    items = stack.api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL).get("items") or []
    ids = [_job_of(o) for o in items]
    jobs = set(stack.emu.workspace.job_ids())
    return {
        "settled": settled,
        "settle_seconds": round(time.monotonic() - began, 1),
        "resources": len(items),
        "expected_resources": len(live),
        "jobs_in_workspace": len(jobs),
        "duplicates_or_leaks": len(jobs - {i for i in ids if i is not None}),
        "lost_jobs": sum(1 for i in ids if i is None or i not in jobs),
    }


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    out: dict[str, Any] = {}
    with Stack(workdir, args.interval, (500.0, 100), args.controller_src, True) as stack:
        # Churn deletes far more than the deletion guard's default 10 per 10 minutes: raise it for this namespace.
        guard = {"spec": {"deletionGuard": {"maxDeletions": 100_000, "windowSeconds": 60}}}
        stack.api.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "databricksworkspaces", "default", guard)
        watcher = Watcher(stack.api)
        watcher.start()
        docs = job_manifests(args.n, set())
        say(f"applying {args.n} DatabricksJobs …")
        out["converge"] = phases.converge(stack, watcher, docs, 300 + args.n, max(120.0, 6 * args.interval))
        sampler = churn.MemorySampler(stack.controller.pid, args.sample_every)
        sampler.start()
        log_start = len(stack.emu.workspace.request_log)
        audit_start = time.time()
        ch = churn.Churn(stack, watcher, rng, {job_name(i) for i in range(args.n)}, args.n)
        say(f"churning for {args.minutes:g} min at {args.ops_per_minute:g} ops/min …")
        out["churn"] = churn_for(ch, args)
        out["calls"] = phases.calls_by_endpoint(stack.emu.workspace.request_log[log_start:])
        out["k8s_requests"] = split_requests(stack.audit.between(audit_start, time.time()))
        say("churn over; waiting for the end state …")
        out["end_state"] = end_state(stack, ch.live, 120 + 6 * args.interval)
        sampler.stop()
        out["memory"] = memory_figures(sampler.samples, args)
        out["errors"] = {
            "log": churn.log_errors(stack.controller.log_path, since=audit_start),
            "warning_events": churn.warning_events(stack),
        }
        watcher.stop()
    return out


def memory_figures(samples: list[tuple[float, float, float]], args: argparse.Namespace) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}
    window = min(args.flat_window, args.minutes * 2 / 3) * 60
    return {
        "rss_series_mb": [[round(t - samples[0][0]), round(rss, 1)] for t, rss, _ in samples],
        "whole_run": churn.flatness(samples, float("inf"), args.noise_mb),
        "last_window": churn.flatness(samples, window, args.noise_mb),
        "cpu_s": round(samples[-1][2] - samples[0][2], 1),
        "cpu_share": round((samples[-1][2] - samples[0][2]) / max(1.0, samples[-1][0] - samples[0][0]), 3),
    }


def verdict(out: dict[str, Any]) -> list[str]:
    """What failed (empty: the soak passed)."""
    failed = []
    if not out.get("memory", {}).get("last_window", {}).get("flat"):
        failed.append("RSS not flat over the last window")
    end = out.get("end_state", {})
    if not end.get("settled") or end.get("duplicates_or_leaks") or end.get("lost_jobs"):
        failed.append(f"end state: {end}")
    log = out.get("errors", {}).get("log", {})
    if log.get("other"):
        failed.append(f"{log['other']} error lines besides the injected faults")
    events = out.get("errors", {}).get("warning_events", {})
    unexpected = {k: v for k, v in events.items() if k not in INJECTED_EVENTS}
    if unexpected:
        failed.append(f"Warning Events besides the injected ones: {unexpected}")
    return failed


def table(out: dict[str, Any], args: argparse.Namespace) -> str:
    mem, last = out.get("memory", {}), out.get("memory", {}).get("last_window", {})
    rows = [
        ("resources / minutes", f"{args.n} / {args.minutes:g}"),
        ("converge (s)", out.get("converge", {}).get("seconds")),
        ("churn ops", out.get("churn", {}).get("ops")),
        ("faults injected", out.get("churn", {}).get("faults_injected")),
        ("Databricks calls", out.get("calls", {}).get("total")),
        ("Kubernetes writes", out.get("k8s_requests", {}).get("writes")),
        ("RSS whole run (MB)", _range(mem.get("whole_run", {}))),
        (f"RSS last {last.get('window_s', 0) / 60:.1f} min (MB)", _range(last)),
        ("RSS slope (MB/min)", last.get("slope_mb_per_min")),
        ("RSS flat", last.get("flat")),
        ("CPU (s, share of a core)", f"{mem.get('cpu_s')} / {mem.get('cpu_share')}"),
        ("error lines (injected / other)", _errors(out)),
        ("Warning Events", out.get("errors", {}).get("warning_events")),
        ("end state", out.get("end_state")),
    ]
    return "\n".join(f"{k:<32} {v}" for k, v in rows)


def _range(f: dict[str, Any]) -> str:
    return f"{f.get('start_mb')} → {f.get('end_mb')} (min {f.get('min_mb')}, max {f.get('max_mb')})"


def _errors(out: dict[str, Any]) -> str:
    log = out.get("errors", {}).get("log", {})
    return f"{log.get('injected')} / {log.get('other')}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dbjobs-soak-"))
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}
    result["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json"}
    try:
        result.update(soak(args, workdir))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result["failed"] = verdict(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(table(result, args))
    print("PASS" if not result["failed"] else f"FAIL: {result['failed']}")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
