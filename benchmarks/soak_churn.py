"""The moving parts of the soak (``benchmarks.soak``): a steady churn of changes against a running
:class:`~benchmarks.scale_env.Stack`, a sampler of the controller's memory, and the readings taken afterwards
(memory flatness, errors in the controller's log, Warning Events, the jobs left in the workspace).

Churn operations, one every ``60 / ops_per_minute`` seconds, chosen at random with fixed weights:

* ``spec_change`` — a merge patch of ``spec.settings.tags.rev`` (a change from Git → ``jobs/reset``);
* ``out_of_band`` — the job's ``name`` edited in the workspace (drift → the controller corrects it);
* ``delete`` — the DatabricksJob deleted (→ ``jobs/delete``, the finalizer released);
* ``create`` — a new DatabricksJob (→ ``jobs/create``); deletes and creates keep the population near N;
* every ``fault_every`` seconds one injected fault: ``jobs/reset`` answers 503 ``TEMPORARILY_UNAVAILABLE`` once
  (the only errors the run is allowed to show).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from benchmarks.scale_env import GROUP, NAMESPACE, PLURAL, VERSION, Stack, job_manifests, job_name, proc_sample
from benchmarks.scale_watch import Watcher

WEIGHTS = {"spec_change": 4, "out_of_band": 3, "delete": 2, "create": 2}


@dataclass
class Churn:
    """Applies the churn operations; ``live`` is the set of DatabricksJob names that should exist."""

    stack: Stack
    watcher: Watcher
    rng: random.Random
    live: set[str]
    next_index: int
    ops: Counter[str] = field(default_factory=Counter)
    failed_ops: Counter[str] = field(default_factory=Counter)
    faults_injected: int = 0
    deleted: list[str] = field(default_factory=list)
    _rev: int = 0

    def step(self) -> str:
        """One operation (chosen by :data:`WEIGHTS`); returns its name. A refused call is counted, not raised."""
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        try:
            done = getattr(self, f"_{kind}")()
        except ApiException as err:
            self.failed_ops[f"{kind} {err.status}"] += 1
            return kind
        self.ops[kind if done else f"{kind} (skipped)"] += 1
        return kind

    def inject_fault(self) -> None:
        self.stack.emu.workspace.inject_fault(
            "jobs/reset", 503, "TEMPORARILY_UNAVAILABLE", "soak: injected", count=1, method="POST"
        )
        self.faults_injected += 1

    def _pick(self) -> str | None:
        return self.rng.choice(sorted(self.live)) if self.live else None

    def _spec_change(self) -> bool:
        name = self._pick()
        if name is None:
            return False
        self._rev += 1
        body = {"spec": {"settings": {"tags": {"rev": str(self._rev)}}}}
        self.stack.api.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name, body)
        return True

    def _out_of_band(self) -> bool:
        name = self._pick()
        view = self.watcher.view(name) if name else None
        if view is None or view.job_id is None or view.job_id not in set(self.stack.emu.workspace.job_ids()):
            return False
        self.stack.emu.workspace.edit_settings(view.job_id, {"name": f"edited-out-of-band-{self.rng.random():.6f}"})
        return True

    def _delete(self) -> bool:
        name = self._pick()
        if name is None:
            return False
        self.stack.api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
        self.live.discard(name)
        self.deleted.append(name)
        return True

    def _create(self) -> bool:
        doc = job_manifests(self.next_index + 1, set())[-1]
        self.next_index += 1
        self.stack.api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, doc)
        self.live.add(job_name(self.next_index - 1))
        return True


@dataclass
class MemorySampler:
    """Samples the controller's RSS (MB) and CPU seconds every ``every`` seconds in a thread."""

    pid: int
    every: float
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (epoch s, rss MB, cpu s)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="soak-rss", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                s = proc_sample(self.pid)
            except OSError:  # the process is gone: the run reports it
                return
            self.samples.append((s.at, s.rss_mb, s.cpu_s))
            self._stop.wait(self.every)


def _slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (epoch s, MB) points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    slope = statistics.linear_regression([t for t, _ in points], [v for _, v in points]).slope
    return slope * 60


def flatness(samples: list[tuple[float, float, float]], window_s: float, noise_mb: float) -> dict[str, Any]:
    """RSS over the last ``window_s`` seconds of ``samples``: median of its first and last tenth, growth between
    them, the least-squares slope, and ``flat``: growth and slope times window within ``noise_mb``."""
    if not samples:
        return {"samples": 0, "flat": False}
    end = samples[-1][0]
    window = [(t, rss) for t, rss, _ in samples if t >= end - window_s]
    tenth = max(1, len(window) // 10)
    first = statistics.median(v for _, v in window[:tenth])
    last = statistics.median(v for _, v in window[-tenth:])
    slope = _slope_per_minute(window)
    span_min = (window[-1][0] - window[0][0]) / 60
    return {
        "window_s": round(window[-1][0] - window[0][0]),
        "samples": len(window),
        "start_mb": round(first, 1),
        "end_mb": round(last, 1),
        "min_mb": round(min(v for _, v in window), 1),
        "max_mb": round(max(v for _, v in window), 1),
        "growth_mb": round(last - first, 1),
        "slope_mb_per_min": round(slope, 3),
        "noise_mb": noise_mb,
        "flat": abs(last - first) <= noise_mb and abs(slope * span_min) <= noise_mb,
    }


_LEVEL = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback")
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def log_errors(path: Path, since: float = 0.0) -> dict[str, Any]:
    """ERROR / CRITICAL lines and tracebacks of the controller's log written at or after ``since`` (epoch s; lines
    without a time stamp belong to the line before): ``{count, injected, other, samples}``. An error line naming the
    injected fault (503 / TEMPORARILY_UNAVAILABLE / "soak: injected") is ``injected``. Before the churn, kopf may log
    a 429 "storage is (re)initializing" of the just-created CRD: not counted then."""
    lines, at = [], 0.0
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        stamp = _STAMP.match(line)
        if stamp:
            at = time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S"))
        if at >= since and _LEVEL.search(line):
            lines.append(line)
    injected = [ln for ln in lines if "soak: injected" in ln or "TEMPORARILY_UNAVAILABLE" in ln or " 503" in ln]
    other = [ln for ln in lines if ln not in injected]
    return {"count": len(lines), "injected": len(injected), "other": len(other), "samples": other[:10]}


def warning_events(stack: Stack) -> dict[str, int]:
    """Warning Events of the namespace by reason (kubectl, as the admin)."""
    out = stack.admin("get", "events", "-n", NAMESPACE, "--field-selector", "type=Warning", "-o", "json")
    reasons: Counter[str] = Counter()
    for item in json.loads(out.stdout).get("items") or []:
        reasons[str(item.get("reason"))] += int(item.get("count") or 1)
    return dict(sorted(reasons.items()))


def synced_reasons(stack: Stack) -> Counter[str]:
    """``"<Synced status>/<reason>"`` over every DatabricksJob of the namespace right now."""
    items = stack.api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL).get("items") or []
    found: Counter[str] = Counter()
    for obj in items:
        cond: dict[str, Any] = next(
            (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Synced"), {}
        )
        found[f"{cond.get('status', 'None')}/{cond.get('reason', 'None')}"] += 1
    return found
