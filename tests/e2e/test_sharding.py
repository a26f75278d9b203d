"""Sharding by namespace: two controllers with disjoint ``DBJOBS_WATCH_NAMESPACES`` (two chart releases with
their own ``watchNamespaces``), each leading its own Lease in a shared namespace, run side by side. Each
reconciles exactly its namespaces' jobs (its log never names the other's), neither touches a namespace no
shard watches, and every job exists once in the workspace."""

from __future__ import annotations

import secrets

import pytest
from leader_fixtures import (
    Start,
    Timing,
    await_leader,
    candidates_fixture,  # noqa: F401  (the fixture `candidates`)
    lease_access,
    notebook_job,
    owned_jobs,
    synced,
)

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import Kubectl, wait_for, workspace_manifests

pytestmark = pytest.mark.e2e
TIMING = Timing(lease_s=15, renew_s=10, retry_s=2)


def namespace(admin: Kubectl, emulator: EmulatorServer, token: str, prefix: str) -> Kubectl:
    name = f"{prefix}-{secrets.token_hex(3)}"
    admin("create", "namespace", name)
    ns = Kubectl(admin.kubeconfig, namespace=name)
    ns.apply(workspace_manifests(name, emulator.url, token))
    return ns


def test_two_controllers_split_the_namespaces(
    admin: Kubectl, emulator: EmulatorServer, emulator_token: str, candidates: Start
) -> None:
    leases = str(namespace(admin, emulator, emulator_token, "shard-ops").namespace)
    admin.apply(lease_access(leases))
    team_a, team_b, unwatched = (namespace(admin, emulator, emulator_token, p) for p in ("team-a", "team-b", "team-c"))
    shards = {
        "shard-a": (team_a, candidates("shard-a", namespace=leases, lease="dbjobs-a", timing=TIMING, **watch(team_a))),
        "shard-b": (team_b, candidates("shard-b", namespace=leases, lease="dbjobs-b", timing=TIMING, **watch(team_b))),
    }
    for lease, (_, shard) in zip(("dbjobs-a", "dbjobs-b"), shards.values(), strict=True):
        await_leader(admin, leases, lease, shard)
    for ns in (team_a, team_b, unwatched):
        ns.apply([notebook_job("nightly")])
    job_ids = {str(ns.namespace): synced(ns, "nightly")["status"]["jobId"] for ns in (team_a, team_b)}
    # Two more observer cycles of both shards: time enough to have touched team-c if either ever would.
    lists = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(
        lambda: emulator.workspace.request_count("jobs/list", "GET") >= lists + 4,
        timeout=30,
        what="two more observer cycles of both shards",
    )

    for name, (own, shard) in shards.items():
        log = shard.log()
        assert f"[{own.namespace}/nightly] created job" in log, f"{name} did not reconcile its namespace"
        others = [str(ns.namespace) for ns in (team_a, team_b, unwatched) if ns is not own]
        assert not [n for n in others if f"[{n}/" in log], f"{name} acted outside its namespaces"
    assert not (unwatched.get("databricksjob", "nightly").get("status") or {}), "an unwatched namespace moved"
    for namespace_name, job_id in job_ids.items():
        assert owned_jobs(emulator, namespace_name, "nightly") == [job_id]
    assert owned_jobs(emulator, str(unwatched.namespace), "nightly") == []


def watch(ns: Kubectl) -> dict[str, str]:
    return {"DBJOBS_WATCH_NAMESPACES": str(ns.namespace)}
