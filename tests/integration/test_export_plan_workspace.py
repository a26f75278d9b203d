"""``dbjobs export`` and ``dbjobs plan --against workspace`` against the emulator, through the real databricks-sdk.

The workspace is configured as a user configures the SDK (``DATABRICKS_HOST``/``DATABRICKS_TOKEN``). Jobs of
several shapes are created (our examples, a 150-task job that ``jobs/list`` pages, an explicit ``run_as``, a
job another DatabricksJob already manages); export writes one manifest each (the managed one skipped), and
each exported manifest compares in sync with its live job. The plan of those manifests adopts every job with
no change; after one edit in a manifest it shows that edit by field; a manifest whose owner tag a job
carries is found and compared; one adopting a job that does not exist is invalid (exit 2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.service.jobs import JobSettings

from controller.cli import main
from controller.reconcile.compare import OWNER_TAG, owner_key
from controller.reconcile.drift import compare
from dbjobs_testkit.emulator import EmulatorServer

pytestmark = pytest.mark.integration
TOKEN = "dapi-export"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((REPO_ROOT / "manifests" / "examples").glob("*.yaml")):
        docs += [
            d["spec"]["settings"]
            for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "DatabricksJob"
        ]
    return docs


def _wide() -> dict[str, Any]:
    tasks = [{"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": f"/wide/{i}"}} for i in range(150)]
    return {"name": "wide", "tasks": tasks, "run_as": {"user_name": "robot@example.com"}}


@pytest.fixture()
def workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatorServer, WorkspaceClient, dict[int, Any]]]:
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    with EmulatorServer(token=TOKEN) as emu:
        monkeypatch.setenv("DATABRICKS_HOST", emu.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        client = WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat"))
        ids = {}
        for settings in [*_examples(), _wide()]:
            ids[client.jobs.create(**_create_args(settings)).job_id] = settings
        managed = {**_examples()[0], "name": "managed", "tags": {OWNER_TAG: owner_key("", "team-a", "managed")}}
        ids[client.jobs.create(**_create_args(managed)).job_id] = managed
        yield emu, client, ids


def _create_args(settings: dict[str, Any]) -> dict[str, Any]:
    body = JobSettings.from_dict(settings)
    return {name: getattr(body, name) for name in body.__dataclass_fields__ if name in settings}


def _manifests(directory: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(directory.glob("*.yaml"))}


def test_export_writes_manifests_that_compare_in_sync(
    workspace: tuple[EmulatorServer, WorkspaceClient, dict[int, Any]], tmp_path: Path
) -> None:
    emu, client, ids = workspace
    assert main(["export", "--to", str(tmp_path), "--namespace", "team-a"]) == 0  # the managed job is skipped: no error
    manifests = _manifests(tmp_path)
    assert len(manifests) == len(ids) - 1
    for name, doc in manifests.items():
        job_id = doc["spec"]["adopt"]["jobId"]
        job = client.jobs.get(job_id)
        live = job.settings.as_dict() if job.settings else {}
        assert compare(doc["spec"]["settings"], live, owner=job.creator_user_name).in_sync, name
        assert "format" not in doc["spec"]["settings"] and "queue" not in doc["spec"]["settings"]
    assert len(manifests["wide"]["spec"]["settings"]["tasks"]) == 150
    assert manifests["wide"]["spec"]["settings"]["run_as"] == {"user_name": "robot@example.com"}
    writes = sum(emu.workspace.request_count(p, "POST") for p in ("jobs/create", "jobs/reset", "jobs/update"))
    assert writes == len(ids)  # only this test's own creates: export wrote nothing


def test_plan_against_the_workspace(
    workspace: tuple[EmulatorServer, WorkspaceClient, dict[int, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, ids = workspace
    main(["export", "--to", str(tmp_path), "--namespace", "team-a"])
    capsys.readouterr()
    code = main(["plan", str(tmp_path), "--against", "workspace", "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exitCode"] == 1
    assert {i["action"] for i in doc["items"]} == {"adopt"} and all(not i["changes"] for i in doc["items"])
    edited = tmp_path / "wide.yaml"
    manifest = yaml.safe_load(edited.read_text())
    manifest["spec"]["settings"]["max_concurrent_runs"] = 5
    edited.write_text(yaml.safe_dump(manifest))
    managed_id = next(i for i, s in ids.items() if s["name"] == "managed")
    managed = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "managed", "namespace": "team-a"},
        "spec": {"workspaceRef": {"name": "default"}, "settings": {**ids[managed_id], "tags": {}}},
    }
    (tmp_path / "managed.yaml").write_text(yaml.safe_dump(managed))
    main(["plan", str(tmp_path), "--against", "workspace", "--output", "json"])
    items = {i["key"]: i for i in json.loads(capsys.readouterr().out)["items"]}
    assert items["team-a/wide"]["changes"] == [{"path": "max_concurrent_runs", "desired": 5, "live": 1}]
    assert items["team-a/managed"]["action"] == "no-op" and items["team-a/managed"]["jobId"] == managed_id
    ghost = {**manifest, "metadata": {"name": "ghost", "namespace": "team-a"}}
    ghost["spec"] = {**manifest["spec"], "adopt": {"jobId": 999999}}
    (tmp_path / "ghost.yaml").write_text(yaml.safe_dump(ghost))
    assert main(["plan", str(tmp_path), "--against", "workspace"]) == 2
    assert "spec.adopt.jobId: job 999999 does not exist in the workspace" in capsys.readouterr().out
