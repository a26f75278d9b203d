"""Crash points (issue 13 item 2): the controller SIGKILLed at a precise moment of create, reset, drift correction,
run-now, adopt and delete, then restarted; after each kill point every invariant of item 1 is checked.

A *lifecycle* is six kill points on a batch of resources, one per operation, each drawn from its own seed: which of
the batch's requests (the Nth ``jobs/create``, ``jobs/reset``, ``jobs/run-now`` or ``jobs/delete``) and when —
``received`` (before the workspace handles it), ``answered`` (handled and stored, the answer never read) or
``after`` (up to 0.4 s after the answer: the status-write window). The short form runs one lifecycle (6 kill
points), the full form 34 (204). ``DBJOBS_RELIABILITY_SEED=S`` makes the first lifecycle use seed ``S``: the seed
printed for a failing lifecycle replays it with the short form.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from faultkit import (
    InvariantError,
    KillPoint,
    Ledger,
    apply_jobs,
    check_invariants,
    kill_on,
    notebook_job,
    restart_after_kill,
)

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, job_manifest, wait_for

BATCH = 3
OPS = ("create", "reset", "drift", "run-now", "adopt", "delete")
SHORT_LIFECYCLES = 1
FULL_LIFECYCLES = 34


@dataclass
class Tally:
    """Kill points tried and passed per operation, and the seconds to converge after each restart."""

    tried: dict[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)
    converge_s: list[float] = field(default_factory=list)

    def add(self, op: str, ok: bool, took: float | None) -> None:
        self.tried[op] = self.tried.get(op, 0) + 1
        self.passed[op] = self.passed.get(op, 0) + int(ok)
        if took is not None:
            self.converge_s.append(took)

    def summary(self) -> str:
        per = ", ".join(f"{op} {self.passed.get(op, 0)}/{self.tried[op]}" for op in self.tried)
        conv = sorted(self.converge_s) or [0.0]
        return (
            f"kill points passed/tried: {sum(self.passed.values())}/{sum(self.tried.values())} ({per}); "
            f"convergence after restart: median {conv[len(conv) // 2]:.1f}s, max {conv[-1]:.1f}s"
        )


def base_seed() -> int:
    env = os.environ.get("DBJOBS_RELIABILITY_SEED")
    return int(env) if env else random.SystemRandom().randrange(1, 10**6) * 100


def observed(obj: dict[str, Any] | None) -> bool:
    """The controller reconciled the resource's current generation."""
    return bool(obj and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"])


def paused_witness(ns: Kubectl, emulator: EmulatorServer, ledger: Ledger) -> None:
    """A paused resource whose job was edited out of band: its job must never be written to again."""
    apply_jobs(ns, {"witness": notebook_job("witness")})
    check_invariants(ns, emulator, ledger)
    apply_jobs(ns, {"witness": notebook_job("witness")}, paused=True)
    job_id = ledger.job_ids["witness"]
    wait_for(lambda: observed(ns.get("databricksjob", "witness")), timeout=60, what="the paused spec observed")
    emulator.workspace.edit_settings(job_id, {"description": "edited while paused"})
    ledger.paused["witness"] = emulator.workspace.get_settings(job_id)


def act(op: str, ns: Kubectl, emulator: EmulatorServer, ledger: Ledger, names: list[str], lc: int) -> int:
    """Start ``op`` on ``names``; returns how many matching requests it causes (the kill point's N range)."""
    if op == "create":
        apply_jobs(ns, {n: notebook_job(n) for n in names})
    elif op == "reset":
        apply_jobs(ns, {n: notebook_job(n, path=f"/changed-{lc}") for n in names})
    elif op == "drift":
        for n in names:
            emulator.workspace.edit_settings(ledger.job_ids[n], {"name": f"{n}-edited-in-the-ui"})
    elif op == "run-now":
        for n in names:
            ns("annotate", "--overwrite", "databricksjob", n, f"dbjobs.io/run-now=lc-{lc}")
            ledger.runs[n] = ledger.runs.get(n, 0) + 1
    elif op == "adopt":
        adopted = [f"{n}-adopted" for n in names]
        docs = []
        for n in adopted:
            job_id = emulator.workspace.create_job(notebook_job(f"{n}-before", path="/before"), "2.2")
            ledger.job_ids[n] = job_id
            docs.append(job_manifest(n, notebook_job(n, path="/adopted"), adopt={"jobId": job_id}))
        ns.apply(docs)
    elif op == "delete":
        targets = [*names, *(f"{n}-adopted" for n in names)]
        for n in targets:
            ledger.deleted[n] = ledger.job_ids.get(n)
            ledger.runs.pop(n, None)
        ns("delete", "databricksjob", *targets, "--wait=false")
        return len(targets)
    return len(names)


SUFFIX = {"create": "jobs/create", "reset": "jobs/reset", "drift": "jobs/reset", "run-now": "jobs/run-now",
          "adopt": "jobs/reset", "delete": "jobs/delete"}  # fmt: skip


def run_lifecycles(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess, lifecycles: int, seed: int
) -> Tally:
    ledger = Ledger(str(ns.namespace))
    paused_witness(ns, emulator, ledger)
    tally = Tally()
    failures: list[str] = []
    for lc in range(lifecycles):
        lc_seed = seed + lc * len(OPS)
        print(f"lifecycle {lc}: seed {lc_seed} (replay: DBJOBS_RELIABILITY_SEED={lc_seed} make reliability-replay)")
        names = [f"l{lc}-{i}" for i in range(BATCH)]
        for j, op in enumerate(OPS):
            count = BATCH * 2 if op == "delete" else BATCH
            point = KillPoint.draw(op, SUFFIX[op], count, lc_seed + j)
            took: float | None = None
            try:
                with kill_on(emulator, controller, point) as killed:
                    act(op, ns, emulator, ledger, names, lc)
                    restart_after_kill(controller, killed)
                took = check_invariants(ns, emulator, ledger)
                print(f"  ok   {point}: converged {took:.1f}s after the restart")
            except (InvariantError, AssertionError) as err:
                failures.append(f"{point}: {err}")
                print(f"  FAIL {point}: {err}")
                if controller.proc is None:
                    controller.start()
            tally.add(op, took is not None, took)
    print(tally.summary())
    if failures:
        raise AssertionError(f"{len(failures)} kill point(s) broke an invariant:\n" + "\n".join(failures))
    return tally


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_crash_points_short(ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess) -> None:
    tally = run_lifecycles(ns, emulator, controller, SHORT_LIFECYCLES, base_seed())
    assert sum(tally.passed.values()) == len(OPS) * SHORT_LIFECYCLES


@pytest.mark.reliability
@pytest.mark.timeout(4 * 3600)
def test_crash_points_full(ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess) -> None:
    lifecycles = int(os.environ.get("DBJOBS_RELIABILITY_LIFECYCLES", FULL_LIFECYCLES))
    tally = run_lifecycles(ns, emulator, controller, lifecycles, base_seed())
    assert sum(tally.tried.values()) >= 200 or lifecycles < FULL_LIFECYCLES
