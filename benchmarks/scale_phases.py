"""The measurements of one scale run, each a function over a running :class:`~benchmarks.scale_env.Stack`:

* :func:`converge` — one ``kubectl apply`` of N resources to all ``Synced=True``, with the Databricks calls
  (and 429s) made meanwhile;
* :func:`steady` — whole observer cycles (cycle end to cycle end, as ``/metrics`` reports them): Databricks calls
  by endpoint from the emulator's request log, Kubernetes requests from the audit log, controller CPU;
* :func:`drift` — out-of-band edits at random moments to ``Drifted=True``;
* :func:`git_change` — spec patches at random moments to the ``jobs/reset`` that applies them;
* :func:`baseline` — what the per-resource design made per cycle: one ``jobs/get`` and one
  ``runs/list?job_id=`` per job, made against the same emulator.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from benchmarks.scale_env import ProcSample, Stack, metric, scrape, split_requests
from benchmarks.scale_watch import Watcher
from controller.databricks.runs import per_job_calls
from dbjobs_testkit.harness import wait_for

_JOBS_PATH = re.compile(r"^/api/2\.\d+/(?P<endpoint>(jobs|permissions/jobs)(/.*)?)$")
CYCLE_GAUGE = "dbjobs_workspace_last_cycle_timestamp_seconds"


def calls_by_endpoint(entries: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """``{total, throttled, by: {"GET jobs/list": n}, statuses: {"POST jobs/create": {"429": n}}}`` over Jobs API
    requests of an emulator log slice (the SDK's host-metadata probe is not a Jobs call)."""
    by: dict[str, int] = {}
    statuses: dict[str, dict[str, int]] = {}
    for method, path, status in entries:
        match = _JOBS_PATH.match(path)
        if not match:
            continue
        key = f"{method} {match['endpoint']}"
        by[key] = by.get(key, 0) + 1
        per = statuses.setdefault(key, {})
        per[str(status)] = per.get(str(status), 0) + 1
    throttled = sum(s.get("429", 0) for s in statuses.values())
    return {"total": sum(by.values()), "throttled": throttled, "by": dict(sorted(by.items())), "statuses": statuses}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_figures(values: Sequence[float]) -> dict[str, Any]:
    return {
        "samples": len(values),
        "p50_s": round(percentile(values, 50), 3),
        "p99_s": round(percentile(values, 99), 3),
        "max_s": round(max(values), 3),
        "values_s": [round(v, 3) for v in values],
    }


# -- convergence ---------------------------------------------------------------------------------------------
class Stalled(RuntimeError):
    """The controller made no progress for a long time (the message says what it was doing meanwhile)."""


def converge(
    stack: Stack, watcher: Watcher, docs: list[dict[str, Any]], timeout: float, stall: float
) -> dict[str, Any]:
    """Apply ``docs`` in one ``kubectl apply --server-side`` and wait until every one shows ``Synced=True``.
    Raises ``Stalled`` when no resource turned Synced for ``stall`` seconds after kubectl finished."""
    names = [d["metadata"]["name"] for d in docs]
    log_start = len(stack.emu.workspace.request_log)
    began = time.time()
    apply_s = stack.apply(docs)
    deadline = began + timeout
    last_count, last_change, last_proc = -1, time.time(), stack.proc()
    while (synced := watcher.count(lambda v: v.synced, names)) < len(names):
        now = time.time()
        if synced != last_count:
            last_count, last_change, last_proc = synced, now, stack.proc()
        elif now - last_change > stall:
            raise Stalled(_stall_report(stack, synced, len(names), now - last_change, last_proc, log_start))
        if now > deadline:
            raise TimeoutError(f"{synced}/{len(names)} Synced=True after {timeout:.0f}s\n{stack.log_tail()}")
        time.sleep(0.5)
    views = watcher.snapshot()
    done = max(views[n].first_synced_at or began for n in names)
    calls = calls_by_endpoint(stack.emu.workspace.request_log[log_start:])
    jobs_in_workspace = len(stack.emu.workspace.job_ids())
    return {
        "seconds": round(done - began, 2),
        "kubectl_apply_seconds": round(apply_s, 2),
        # when the watch saw the first and the last resource arrive: kubectl's own pace
        "first_resource_s": round(min(views[n].seen_at for n in names) - began, 2),
        "last_resource_s": round(max(views[n].seen_at for n in names) - began, 2),
        "calls": calls,
        "throttled": calls["throttled"],
        "throttled_share": round(calls["throttled"] / calls["total"], 4) if calls["total"] else 0.0,
        "jobs_in_workspace": jobs_in_workspace,
        "duplicates": jobs_in_workspace - len(names),
    }


def _stall_report(stack: Stack, synced: int, total: int, idle: float, before: ProcSample, log_start: int) -> str:
    cpu = stack.proc().cpu_s - before.cpu_s
    cycle = metric(scrape(stack.metrics_url), CYCLE_GAUGE)
    age = f"{time.time() - cycle:.0f}s ago" if cycle else "never"
    calls = calls_by_endpoint(stack.emu.workspace.request_log[log_start:])["total"]
    stacks = stack.python_stacks()
    return (
        f"no progress for {idle:.0f}s at {synced}/{total} Synced=True: the controller used {cpu:.2f} CPU s "
        f"meanwhile, its last observer cycle ended {age}, {calls} Databricks calls since the apply"
        + (f"; its Python stacks: {stacks}" if stacks else "")
    )


# -- steady cycles ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CycleMark:
    """The moment the controller reported a cycle's end: its own time (``ended``), what the emulator had logged
    and the controller had used by the time the benchmark saw it."""

    ended: float
    log_len: int
    proc: ProcSample
    cycle_calls: float | None
    cycle_seconds: float | None


def next_cycle(stack: Stack, after: float, timeout: float, expected_in: float = 0.0) -> CycleMark:
    """Wait for the controller to report a cycle that ended after ``after`` (epoch seconds). ``expected_in``:
    seconds after ``after`` before which no cycle can end, slept through (each scrape costs the controller CPU,
    which would count in its CPU per cycle)."""
    time.sleep(max(0.0, after + expected_in - time.time()))

    def ended() -> dict[str, float] | None:
        samples = scrape(stack.metrics_url)
        value = metric(samples, CYCLE_GAUGE)
        return samples if value is not None and value > after else None

    samples = wait_for(ended, timeout=timeout, what="the next observer cycle", interval=0.1)
    return CycleMark(
        ended=float(metric(samples, CYCLE_GAUGE) or 0.0),
        log_len=len(stack.emu.workspace.request_log),
        proc=stack.proc(),
        cycle_calls=metric(samples, "dbjobs_workspace_cycle_api_calls"),
        cycle_seconds=metric(samples, "dbjobs_workspace_cycle_duration_seconds"),
    )


def steady(stack: Stack, interval: float, warmup: int, cycles: int) -> dict[str, Any]:
    """Skip ``warmup`` cycles after convergence, then measure ``cycles`` whole cycles (end to end)."""
    timeout = 6 * interval + 120
    mark = next_cycle(stack, time.time(), timeout)  # a cycle seen as it ends, so its marks are fresh
    for _ in range(warmup):
        mark = next_cycle(stack, mark.ended, timeout, interval - 1)
    marks = [mark]
    for _ in range(cycles):
        marks.append(next_cycle(stack, marks[-1].ended, timeout, interval - 1))
    time.sleep(1.0)  # the audit log is written as requests complete
    log = stack.emu.workspace.request_log
    per_cycle: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(marks):
        calls = calls_by_endpoint(log[a.log_len : b.log_len])
        k8s = split_requests(stack.audit.between(a.ended, b.ended))
        per_cycle.append(
            {
                "seconds": round(b.ended - a.ended, 2),
                "observer_seconds": b.cycle_seconds,
                "observer_calls_metric": b.cycle_calls,
                "databricks": calls,
                "kubernetes": k8s,
                "cpu_s": round(b.proc.cpu_s - a.proc.cpu_s, 2),
                "rss_mb": round(b.proc.rss_mb, 1),
            }
        )
    endpoints = sorted({k for c in per_cycle for k in c["databricks"]["by"]})
    return {
        "cycles": per_cycle,
        "databricks_calls": statistics.median(c["databricks"]["total"] for c in per_cycle),
        "databricks_calls_max": max(c["databricks"]["total"] for c in per_cycle),
        "databricks_by_endpoint": {
            e: statistics.median(c["databricks"]["by"].get(e, 0) for c in per_cycle) for e in endpoints
        },
        "k8s_reads": statistics.median(c["kubernetes"]["reads"] for c in per_cycle),
        "k8s_writes": statistics.median(c["kubernetes"]["writes"] for c in per_cycle),
        "k8s_writes_max": max(c["kubernetes"]["writes"] for c in per_cycle),
        "k8s_lease_writes": statistics.median(c["kubernetes"]["lease_writes"] for c in per_cycle),
        "k8s_lease_reads": statistics.median(c["kubernetes"]["lease_reads"] for c in per_cycle),
        "cycles_with_writes": sum(1 for c in per_cycle if c["kubernetes"]["writes"]),
        "cpu_s_per_cycle": round(statistics.median(c["cpu_s"] for c in per_cycle), 2),
        "cycle_seconds": round(statistics.median(c["seconds"] for c in per_cycle), 2),
        "observer_seconds": statistics.median(c["observer_seconds"] or 0.0 for c in per_cycle),
    }


# -- drift and Git-change latency ----------------------------------------------------------------------------
def _moments(count: int, window: float, rng: random.Random) -> list[float]:
    """``count`` offsets spread at random over ``window`` seconds (so every phase of the cycle is sampled)."""
    return sorted(rng.uniform(0, window) for _ in range(count))


def drift(stack: Stack, watcher: Watcher, names: list[str], interval: float, rng: random.Random) -> dict[str, Any]:
    """Out-of-band edits (``timeout_seconds``) of jobs with ``driftPolicy: Report``, at random moments over two
    intervals; latency = edit to the watch seeing ``Drifted=True``."""
    ws = stack.emu.workspace
    edited: dict[str, float] = {}
    began = time.time()
    for k, (offset, name) in enumerate(zip(_moments(len(names), 2 * interval, rng), names, strict=True)):
        time.sleep(max(0.0, began + offset - time.time()))
        view = watcher.view(name)
        assert view is not None and view.job_id is not None, f"{name} has no job id"
        edited[name] = time.time()
        ws.edit_settings(view.job_id, {"timeout_seconds": 4000 + k})

    def detected() -> bool:
        return all((v := watcher.view(n)) is not None and (v.drifted_at or 0.0) >= t for n, t in edited.items())

    wait_for(detected, timeout=4 * interval + 120, what="Drifted=True on every edited job", interval=0.1)
    latencies = [(watcher.view(n).drifted_at or 0.0) - t for n, t in edited.items()]  # type: ignore[union-attr]
    return latency_figures(latencies)


def git_change(stack: Stack, watcher: Watcher, names: list[str], interval: float, rng: random.Random) -> dict[str, Any]:
    """Patches of ``spec.settings.timeout_seconds`` at random moments over two intervals; latency = from just
    before the patch is sent to the moment the emulator holds the new value (its ``jobs/reset`` was served)."""
    ws = stack.emu.workspace
    resets_before = calls_by_endpoint(ws.request_log)["by"].get("POST jobs/reset", 0)
    plan = list(zip(_moments(len(names), 2 * interval, rng), names, strict=True))
    pending: dict[int, tuple[int, float]] = {}  # job id -> (expected value, patch time)
    latencies: list[float] = []
    began = time.time()
    deadline = began + 2 * interval + 4 * interval + 120
    k = 0
    while (plan or pending) and time.time() < deadline:
        if plan and time.time() >= began + plan[0][0]:
            _, name = plan.pop(0)
            view = watcher.view(name)
            assert view is not None and view.job_id is not None, f"{name} has no job id"
            value = 7000 + k
            k += 1
            sent = time.time()
            pending[view.job_id] = (value, sent)
            stack.patch_settings(name, {"timeout_seconds": value})
        for job_id, (value, sent) in list(pending.items()):
            if ws.get_settings(job_id).get("timeout_seconds") == value:
                latencies.append(time.time() - sent)
                del pending[job_id]
        time.sleep(0.01)
    if pending or plan:
        raise TimeoutError(f"{len(pending) + len(plan)} spec change(s) never reached the workspace\n{stack.log_tail()}")
    figures = latency_figures(latencies)
    figures["resets"] = calls_by_endpoint(ws.request_log)["by"].get("POST jobs/reset", 0) - resets_before
    return figures


# -- the per-resource baseline ---------------------------------------------------------------------------------
def baseline(stack: Stack, job_ids: list[int]) -> dict[str, Any]:
    """One cycle of the old design against the same emulator: ``jobs/get`` and ``runs/list?job_id=`` per job."""
    for name in [k for k in os.environ if k.startswith("DATABRICKS_")]:
        del os.environ[name]
    client = WorkspaceClient(config=Config(host=stack.emu.url, token=stack.token, auth_type="pat"))
    log_start = len(stack.emu.workspace.request_log)
    began = time.monotonic()
    for job_id in job_ids:
        client.jobs.get(job_id)
    per_job_calls(client, job_ids)
    seconds = time.monotonic() - began
    calls = calls_by_endpoint(stack.emu.workspace.request_log[log_start:])
    return {"calls": calls["total"], "by": calls["by"], "seconds": round(seconds, 2)}
