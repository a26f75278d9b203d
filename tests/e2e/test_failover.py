"""Two replicas, one active: leader election on a Lease between two controller processes.

* the leader reconciles while the follower answers ``GET /healthz`` 200 (role ``follower``) and acts on
  nothing; SIGKILL of the leader (by PID): the follower takes the Lease once it expires and acts on a spec
  change made right after the kill (``jobs/reset``), with no second job (owner tag) and the change applied;
  the times from the kill to the Lease changing hands and to the first action are printed;
* SIGTERM of the leader: it stops cleanly (exit 0) and releases the Lease, so the follower takes over well
  before the (long) lease duration would have let it, and acts on a change made right after the signal;
  SIGTERM of a follower: it exits 0 at once and the leader keeps the Lease;
* a leader whose Lease is taken from it exits 1 within the renew deadline (it never acts beside another).

The session's controller is stopped meanwhile (tests/e2e/leader_fixtures.py). Timings are loose on purpose:
the test machine has 2 shared cores, the apiserver and etcd included.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from collections.abc import Callable

import pytest
from leader_fixtures import (
    Candidate,
    Start,
    Timing,
    await_leader,
    candidates_fixture,  # noqa: F401  (the fixture `candidates`)
    lease_access,
    lease_holder,
    notebook_job,
    owned_jobs,
    role,
    synced,
)

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import Kubectl, wait_for

pytestmark = pytest.mark.e2e
SHORT = Timing(lease_s=5, renew_s=4, retry_s=1)
LONG = Timing(lease_s=30, renew_s=20, retry_s=1)
LEASE = "dbjobs-failover"


def first_true(checks: dict[str, Callable[[], bool]], since: float, timeout: float) -> dict[str, float]:
    """Poll every check until all held once; seconds from ``since`` to the first time each held."""
    seen: dict[str, float] = {}

    def all_seen() -> bool:
        for what, check in checks.items():
            if what not in seen and check():
                seen[what] = time.monotonic() - since
        return len(seen) == len(checks)

    wait_for(all_seen, timeout=timeout, what=f"{sorted(checks)} (seen so far: {seen})", interval=0.1)
    return seen


def leader_and_follower(start: Start, admin: Kubectl, ns: Kubectl, timing: Timing) -> tuple[Candidate, Candidate]:
    """Start ``a``; once it leads, start ``b`` and wait until it follows (healthy, waiting, inactive)."""
    namespace = str(ns.namespace)
    a = start("ctrl-a", namespace=namespace, lease=LEASE, timing=timing)
    await_leader(admin, namespace, LEASE, a)
    b = start("ctrl-b", namespace=namespace, lease=LEASE, timing=timing)
    wait_for(lambda: role(b) == "follower", timeout=60, what="ctrl-b answering /healthz 200 as a follower")
    wait_for(lambda: "follows" in b.log(), timeout=30, what="ctrl-b reading the Lease held by ctrl-a")
    return a, b


def patch_path(ns: Kubectl, name: str, path: str) -> None:
    settings = notebook_job(name, path)["spec"]["settings"]
    ns("patch", "databricksjob", name, "--type=merge", "-p", json.dumps({"spec": {"settings": settings}}))


def assert_one_job_with(emulator: EmulatorServer, ns: Kubectl, name: str, job_id: int, path: str) -> None:
    assert owned_jobs(emulator, str(ns.namespace), name) == [job_id], "a second job was created"
    task = emulator.workspace.get_settings(job_id)["tasks"][0]
    assert task["notebook_task"]["notebook_path"] == path, "the change made during the hand-over was lost"


def assert_acted_only_as_leader(candidate: Candidate) -> None:
    """No reconcile line of ``candidate`` comes before the line saying it holds the Lease."""
    lines = candidate.log().splitlines()
    leading = next(i for i, line in enumerate(lines) if "holds Lease" in line)
    early = [line for line in lines[:leading] if "created job" in line or "reset job" in line]
    assert not early, f"{candidate.name} acted while following: {early}"


def test_sigkill_of_the_leader_hands_over_after_the_lease(
    ns: Kubectl, admin: Kubectl, emulator: EmulatorServer, candidates: Start
) -> None:
    admin.apply(lease_access(str(ns.namespace)))
    a, b = leader_and_follower(candidates, admin, ns, SHORT)
    ns.apply([notebook_job("failover")])
    job_id = synced(ns, "failover")["status"]["jobId"]
    assert "created job" in a.log() and "created job" not in b.log(), "only the leader acts"
    assert role(b) == "follower"

    resets = emulator.workspace.request_count("jobs/reset", "POST")
    killed = time.monotonic()
    os.kill(a.pid, signal.SIGKILL)
    patch_path(ns, "failover", "/v2")  # a Git change arriving while nobody leads
    times = first_true(
        {
            "lease": lambda: lease_holder(admin, str(ns.namespace), LEASE).startswith("ctrl-b_"),
            "reset": lambda: emulator.workspace.request_count("jobs/reset", "POST") > resets,
        },
        since=killed,
        timeout=90,
    )
    print(
        f"\nSIGKILL of the leader (lease {SHORT.lease_s}s, retry {SHORT.retry_s}s): the follower holds the Lease "
        f"after {times['lease']:.1f}s and acts (jobs/reset of the change made right after the kill) after "
        f"{times['reset']:.1f}s"
    )
    synced(ns, "failover", generation=2)
    assert_one_job_with(emulator, ns, "failover", job_id, "/v2")
    sent = emulator.workspace.request_count("jobs/reset", "POST") - resets
    print(f"jobs/reset calls for the one change: {sent}")
    assert sent == 1, f"{sent} jobs/reset for one change (a reconcile planned from the index's copy from before it)"
    assert_acted_only_as_leader(b)
    assert times["lease"] >= SHORT.lease_s - SHORT.retry_s - 1, "the follower took a Lease that had not expired"
    assert times["reset"] < SHORT.lease_s + 45, times


def test_sigterm_of_the_leader_releases_the_lease_for_a_fast_hand_over(
    ns: Kubectl, admin: Kubectl, emulator: EmulatorServer, candidates: Start
) -> None:
    admin.apply(lease_access(str(ns.namespace)))
    a, b = leader_and_follower(candidates, admin, ns, LONG)
    ns.apply([notebook_job("handover")])
    job_id = synced(ns, "handover")["status"]["jobId"]

    resets = emulator.workspace.request_count("jobs/reset", "POST")
    assert a.proc.proc is not None
    popen = a.proc.proc
    signalled = time.monotonic()
    popen.terminate()  # SIGTERM, as the kubelet sends it on a rollout or a drain
    patch_path(ns, "handover", "/v2")
    times = first_true(
        {
            "exit": lambda: popen.poll() is not None,
            "lease": lambda: lease_holder(admin, str(ns.namespace), LEASE).startswith("ctrl-b_"),
            "reset": lambda: emulator.workspace.request_count("jobs/reset", "POST") > resets,
        },
        since=signalled,
        timeout=60,
    )
    print(
        f"\nSIGTERM of the leader (lease {LONG.lease_s}s): it exits after {times['exit']:.1f}s, the follower holds "
        f"the Lease after {times['lease']:.1f}s and acts (jobs/reset) after {times['reset']:.1f}s"
    )
    assert popen.returncode == 0, a.proc.log_tail()
    assert "released Lease" in a.log(), a.proc.log_tail()
    assert times["lease"] < LONG.lease_s / 2, f"the hand-over waited for the lease to expire: {times}"
    synced(ns, "handover", generation=2)
    assert_one_job_with(emulator, ns, "handover", job_id, "/v2")
    assert_acted_only_as_leader(b)

    # A follower stops at once on SIGTERM, and the leader keeps the Lease.
    c = candidates("ctrl-c", namespace=str(ns.namespace), lease=LEASE, timing=LONG)
    wait_for(lambda: role(c) == "follower", timeout=60, what="ctrl-c answering /healthz 200 as a follower")
    assert c.proc.proc is not None
    c.proc.proc.terminate()
    assert c.proc.proc.wait(timeout=10) == 0, c.proc.log_tail()
    assert "stopped while following" in c.log()
    assert lease_holder(admin, str(ns.namespace), LEASE).startswith("ctrl-b_")


def test_a_leader_that_loses_its_lease_exits_at_once(ns: Kubectl, admin: Kubectl, candidates: Start) -> None:
    namespace = str(ns.namespace)
    admin.apply(lease_access(namespace))
    a = candidates("ctrl-a", namespace=namespace, lease=LEASE, timing=SHORT)
    await_leader(admin, namespace, LEASE, a)
    assert a.proc.proc is not None
    popen = a.proc.proc
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    taken = time.monotonic()
    Kubectl(admin.kubeconfig, namespace)(
        "patch",
        "lease",
        LEASE,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"holderIdentity": "intruder", "renewTime": now}}),
    )
    wait_for(lambda: popen.poll() is not None, timeout=SHORT.renew_s + 20, what="the leader exiting after the loss")
    took, code = time.monotonic() - taken, popen.returncode
    print(f"\nLease taken from the leader: it exits {code} after {took:.1f}s (renew deadline {SHORT.renew_s}s)")
    assert code == 1, a.proc.log_tail()
    assert "lost Lease" in a.log(), a.proc.log_tail()
