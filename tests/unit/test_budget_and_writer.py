"""The pieces around the reconcile loop, below e2e: the request budget (token bucket, workspace-wide pause,
fair and pausable creations), Retry-After parsing, the writer's merge patch (status written only where it
changed), and the registry (what counts as a change that needs a reconcile now; our own status overlaid until
the watch echoes it)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from controller.databricks.budget import MAX_PAUSE_S, FairGate, RequestBudget, TokenBucket
from controller.databricks.calls import endpoint_of, retry_after_seconds
from controller.operator.registry import Registry
from controller.operator.writer import merge_patch

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fair_gate_serves_waiting_namespaces_in_turn() -> None:
    async def scenario() -> list[str]:
        gate = FairGate(1)
        order: list[str] = []
        release = asyncio.Event()

        async def first() -> None:
            async with gate.hold("a"):
                await release.wait()

        async def one(key: str) -> None:
            async with gate.hold(key):
                order.append(key)

        holder = asyncio.create_task(first())
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(one(k)) for k in ("a", "a", "a", "b", "c")]
        await asyncio.sleep(0)
        assert gate.waiting() == 5
        release.set()
        await asyncio.gather(holder, *waiters)
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c", "a", "a"]


def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    async def scenario() -> list[str]:
        gate = FairGate(1)
        order: list[str] = []
        release = asyncio.Event()

        async def hold() -> None:
            async with gate.hold("x"):
                await release.wait()

        async def one(key: str) -> None:
            async with gate.hold(key):
                order.append(key)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        gone = asyncio.create_task(one("gone"))
        kept = asyncio.create_task(one("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        release.set()
        await asyncio.gather(holder, kept, return_exceptions=True)
        return order

    assert asyncio.run(scenario()) == ["kept"]


def test_pause_is_workspace_wide_capped_and_never_shortened() -> None:
    clock = Clock()
    budget = RequestBudget(clock=clock)
    budget.pause(30)
    assert budget.paused_for() == 30
    budget.pause(5)
    assert budget.paused_for() == 30
    budget.pause(10_000)
    assert budget.paused_for() == MAX_PAUSE_S
    clock.now += MAX_PAUSE_S + 1
    assert budget.paused_for() == 0


def test_creation_limit_pauses_creations_doubling_until_one_succeeds() -> None:
    clock = Clock()
    budget = RequestBudget(clock=clock)
    assert [budget.creation_limited() for _ in range(6)] == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0]
    assert budget.creations_paused_for() == 900.0
    assert budget.paused_for() == 0, "other calls go on while creations wait"
    budget.creation_succeeded()
    assert budget.creation_limited() == 60.0


def test_throttles_are_counted_in_a_window() -> None:
    clock = Clock()
    budget = RequestBudget(clock=clock)
    for _ in range(3):
        budget.note_throttled()
    assert budget.throttled_recently() == 3
    clock.now += 601
    assert budget.throttled_recently() == 0


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    async def scenario() -> float:
        budget, bucket = RequestBudget(), TokenBucket(rate=20, burst=5)
        start = time.monotonic()
        for _ in range(15):
            await budget.acquire(bucket)
        return time.monotonic() - start

    took = asyncio.run(scenario())
    assert 0.4 <= took < 2.0, took  # 5 at once, then 10 more at 20/s: about 0.5 s


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after_seconds(when) or 0) <= 31


def test_endpoints_lose_versions_and_ids() -> None:
    assert endpoint_of("/api/2.2/jobs/runs/list?limit=25") == "jobs/runs/list"
    assert endpoint_of("/api/2.0/permissions/jobs/123") == "permissions/jobs/{id}"


def test_merge_patch_writes_only_what_changed() -> None:
    old = {"jobId": 1, "drift": {"count": 2, "appliedWriteOnly": {"a": 1, "b": 2}}, "lastRun": {"endTime": "x"}}
    new = {"jobId": 1, "drift": {"count": 0, "appliedWriteOnly": {"a": 1}}, "runs": {"window": 0}}
    assert merge_patch(old, old) == {}
    assert merge_patch(old, new) == {
        "drift": {"count": 0, "appliedWriteOnly": {"b": None}},
        "lastRun": None,
        "runs": {"window": 0},
    }


def body(rv: str, generation: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": "u1",
            "namespace": "ns",
            "name": "j",
            "generation": generation,
            "resourceVersion": rv,
            **meta,
        },
        "spec": {"workspaceRef": {"name": "w"}},
        "status": {"observedGeneration": 0},
    }


def test_registry_reconciles_now_only_for_changes_from_people() -> None:
    reg = Registry()
    assert reg.job_event(body("1"), None)[1] is True  # new to us
    assert reg.job_event(body("2"), "MODIFIED")[1] is False  # our own status write echoed back
    assert reg.job_event(body("3", generation=2), "MODIFIED")[1] is True  # a spec change from Git
    assert reg.job_event(body("4", generation=2, annotations={"dbjobs.io/run-now": "1"}), "MODIFIED")[1] is True
    assert reg.job_event(body("5", generation=2, deletionTimestamp="now"), "MODIFIED")[1] is False
    assert reg.job_event(body("6"), "DELETED") == (None, False)
    assert reg.job("u1") is None


def test_registry_overlays_the_status_we_wrote_until_the_watch_catches_up() -> None:
    reg = Registry()
    reg.job_event(body("10"), None)
    reg.wrote("u1", "12", {"observedGeneration": 1})
    res = reg.job("u1")
    assert res is not None and res.status == {"observedGeneration": 1}
    reg.job_event({**body("12"), "status": {"observedGeneration": 1, "jobId": 5}}, "MODIFIED")
    res = reg.job("u1")
    assert res is not None and res.status == {"observedGeneration": 1, "jobId": 5}
