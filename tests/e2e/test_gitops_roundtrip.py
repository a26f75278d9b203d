"""The Git side end to end: export from the emulator → commit → apply to the control plane → the controller
adopts every job with zero drift and zero writes to Databricks; and ``dbjobs plan --against cluster``.

The export runs as a user runs it (the ``dbjobs`` command, the workspace from ``DATABRICKS_HOST``/``TOKEN``),
committing on a new branch of a Git repository made with gitpython; the manifests are read back from that
branch and applied with kubectl; the controller (its own process) must adopt each job (``status.jobId`` the
exported id, ``Synced=True``, no drift) while the emulator records no ``jobs/create``, ``reset``, ``update``
or ``delete`` for the whole round trip, also over the next drift checks. The numbers are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import REPO_ROOT, ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
WRITES = ("jobs/create", "jobs/reset", "jobs/update", "jobs/delete")
ACTOR = git.Actor("Dev", "dev@example.com")


def _examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((REPO_ROOT / "manifests" / "examples").glob("*.yaml")):
        docs += [
            d["spec"]["settings"]
            for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "DatabricksJob"
        ]
    return docs


def _made_in_the_ui(prefix: str) -> list[dict[str, Any]]:
    wide = [{"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": f"/wide/{i}"}} for i in range(120)]
    jobs = [{**s, "name": f"{prefix}-{s['name']}"} for s in _examples()]
    jobs.append({"name": f"{prefix}-wide", "tasks": wide, "max_concurrent_runs": 3, "tags": {"team": "data"}})
    return jobs


def _writes(emulator: EmulatorServer) -> int:
    return sum(emulator.workspace.request_count(path, "POST") for path in WRITES)


def _dbjobs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _env(emulator: EmulatorServer, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    return {**env, "DATABRICKS_HOST": emulator.url, "DATABRICKS_TOKEN": token, **extra}


def test_export_commit_apply_adopts_every_job_with_zero_drift_and_zero_writes(
    ns: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess, tmp_path: Path
) -> None:
    namespace = str(ns.namespace)
    ids = [emulator.workspace.create_job(s, "2.2") for s in _made_in_the_ui(namespace)]
    repo = git.Repo.init(tmp_path / "gitops", initial_branch="main")
    (tmp_path / "gitops" / "README.md").write_text("jobs\n")
    repo.index.add(["README.md"])
    repo.index.commit("start", author=ACTOR, committer=ACTOR)
    writes_before = _writes(emulator)
    resets_before = emulator.workspace.request_count("jobs/reset", "POST")

    picked = [a for job_id in ids for a in ("--job-id", str(job_id))]
    export = _dbjobs(
        "export", *picked, "--namespace", namespace, "--to", "clusters/prod/jobs", "--repo", str(repo.working_tree_dir),
        "--branch", "import-jobs", "--commit", env=_env(emulator, emulator_token),
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    branch = repo.heads["import-jobs"].commit
    assert repo.active_branch.name == "main" and not (tmp_path / "gitops" / "clusters").exists()
    texts = [
        (branch.tree / "clusters/prod/jobs" / blob.name).data_stream.read().decode()
        for blob in (branch.tree / "clusters/prod/jobs").blobs
    ]
    manifests = [yaml.safe_load(t) for t in texts]
    assert sorted(m["spec"]["adopt"]["jobId"] for m in manifests) == sorted(ids)

    ns.apply(manifests)
    names = {m["metadata"]["name"]: m["spec"]["adopt"]["jobId"] for m in manifests}

    def adopted() -> dict[str, Any] | None:
        objs = {}
        for name in names:
            obj = ns.get("databricksjob", name)
            synced = condition(obj, "Synced")
            if not obj or not synced or synced["status"] != "True" or obj["status"].get("jobId") != names[name]:
                return None
            objs[name] = obj
        return objs

    try:
        objs = wait_for(adopted, timeout=90, what=f"{len(names)} exported jobs adopted and Synced")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n--- controller log ---\n{controller.log_tail()}") from err
    lists = emulator.workspace.request_count("jobs/list", "GET")
    wait_for(lambda: emulator.workspace.request_count("jobs/list", "GET") >= lists + 2, timeout=60,
             what="two more observer cycles (a drift check of every adopted job each)")  # fmt: skip
    objs = adopted() or objs
    drift = {name: (obj["status"].get("drift") or {}).get("count", 0) for name, obj in objs.items()}
    writes = _writes(emulator) - writes_before
    print(json.dumps({"jobsExported": len(manifests), "adopted": len(objs), "drift": drift, "writes": writes}))
    assert all(count == 0 for count in drift.values()), drift
    assert all(condition(o, "Drifted")["status"] == "False" for o in objs.values())  # type: ignore[index]
    assert emulator.workspace.request_count("jobs/reset", "POST") == resets_before
    assert writes == 0, emulator.workspace.request_counts()


def test_plan_against_the_cluster_names_creates_updates_and_deletes(
    ns: Kubectl, control_plane: ControlPlane, emulator: EmulatorServer, emulator_token: str,
    controller: ControllerProcess, tmp_path: Path,
) -> None:  # fmt: skip
    namespace = str(ns.namespace)
    notebook = {"task_key": "main", "notebook_task": {"notebook_path": "/x"}}
    ns.apply(
        [
            job_manifest("stays", {"name": "stays", "tasks": [notebook]}),
            job_manifest("goes", {"name": "goes", "tasks": [notebook]}, deletionPolicy="Orphan"),
        ]
    )

    def both_synced() -> bool:
        return all(
            (condition(ns.get("databricksjob", n), "Synced") or {}).get("status") == "True" for n in ("stays", "goes")
        )

    wait_for(both_synced, timeout=60, what="two jobs Synced")
    changed = job_manifest("stays", {"name": "stays", "tasks": [{**notebook, "timeout_seconds": 60}]})
    new = job_manifest("arrives", {"name": "arrives", "tasks": [notebook]})
    for doc in (changed, new):
        doc["metadata"]["namespace"] = namespace
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump_all([changed, new]))
    env = _env(emulator, emulator_token, KUBECONFIG=str(control_plane.admin_kubeconfig))
    for against in (["--against", "cluster"], ["--against", "cluster", "--against", "workspace"]):
        proc = _dbjobs("plan", str(tmp_path / "jobs.yaml"), *against, "--output", "json", env=env)
        assert proc.returncode == 1, proc.stderr
        items = {i["key"]: i for i in json.loads(proc.stdout)["items"]}
        assert items[f"{namespace}/arrives"]["action"] == "create"
        assert (
            items[f"{namespace}/goes"]["action"] == "delete"
            and items[f"{namespace}/goes"]["deletionPolicy"] == "Orphan"
        )
        stays = items[f"{namespace}/stays"]
        assert stays["action"] == "update" and stays["against"] == ("workspace" if len(against) > 2 else "cluster")
        assert [c["path"] for c in stays["changes"]] == ["tasks[task_key=main].timeout_seconds"]
