"""Real clients nobody on this team wrote, against the emulator (issue 3 item 6), and every JSON
answer they received validated against the official Jobs 2.1 OpenAPI document.

Clients (built and cached by ``make clients`` / ``hack/build-clients.sh``):

* the current databricks-sdk of the project's venv (in process);
* databricks-sdk 0.100.0 in its own venv (before 0.101: no start-up host-metadata probe), driven
  by ``clients/sdk_driver.py`` as a subprocess;
* the official Go SDK (databricks-sdk-go) through ``clients/gosdk`` — the Go module proxy refuses
  the source of ``github.com/databricks/cli``, so this program makes the CLI's calls instead;
* the legacy Python ``databricks-cli`` 0.18.0 in its own venv (Jobs 2.0 and 2.1 paths).

A missing client fails the test with the command that builds it; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clients.openapi_check import OpenApiChecker
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.service import jobs

from dbjobs_testkit.emulator import EmulatorServer, RunTiming

pytestmark = pytest.mark.integration

TOKEN = "dapi-real-clients"
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("DBJOBS_CACHE", str(Path.home() / ".cache" / "dbjobs"))) / "clients"
BUILD_HINT = "run `make clients` (bash hack/build-clients.sh) to build the client cache"
CLIENT_TIMEOUT_S = 120


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.fail(f"{what} is missing: {path} does not exist; {BUILD_HINT}")
    return path


def go_driver() -> Path:
    src = HERE / "clients" / "gosdk"
    digest = hashlib.sha256((src / "go.mod").read_bytes() + (src / "main.go").read_bytes()).hexdigest()[:16]
    return _need(CACHE / f"gosdk-{digest}" / "bin" / "gosdkdriver", "the Go SDK driver")


@pytest.fixture(scope="module")
def checker() -> OpenApiChecker:
    return OpenApiChecker(_need(CACHE / "openapi" / "jobs-2.1-aws.yaml", "the Jobs 2.1 OpenAPI document"))


@pytest.fixture
def emu(checker: OpenApiChecker) -> Iterator[EmulatorServer]:
    # Runs end at once, so every client's run-now-and-wait returns on its first poll.
    with EmulatorServer(token=TOKEN, run_timing=RunTiming(pending_ms=0, running_ms=0), seed=11) as server:
        server.workspace.capture_responses()
        yield server
        captured = list(server.workspace.captured or [])
    checked, problems = checker.problems(captured)
    assert not problems, "answers that break the Jobs 2.1 OpenAPI document:\n" + "\n".join(problems[:20])
    assert checked > 0, "no answer of this test could be validated against the OpenAPI document"


#: The legacy databricks-cli keeps only the host name of DATABRICKS_HOST and drops the port, so it
#: is pointed at a name it cannot resolve and reaches the emulator as its HTTP proxy instead.
LEGACY_HOST = "http://emulated-workspace.invalid"


def client_env(emu: EmulatorServer, *, via_proxy: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_") and "proxy" not in k.lower()}
    env.update(DATABRICKS_HOST=emu.url, DATABRICKS_TOKEN=TOKEN, HOME=str(CACHE / "home"))
    if via_proxy:
        env.update(DATABRICKS_HOST=LEGACY_HOST, HTTP_PROXY=emu.url, http_proxy=emu.url)
    return env


def run_client(argv: list[str], emu: EmulatorServer, *, via_proxy: bool = False) -> str:
    (CACHE / "home").mkdir(parents=True, exist_ok=True)
    env = client_env(emu, via_proxy=via_proxy)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert done.returncode == 0, f"{argv[0]} {argv[1:4]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_json(argv: list[str], emu: EmulatorServer, *, via_proxy: bool = False) -> Any:
    return json.loads(run_client(argv, emu, via_proxy=via_proxy))


def notebook_task(key: str) -> dict[str, Any]:
    return {
        "task_key": key,
        "notebook_task": {"notebook_path": f"/Shared/{key}"},
        "existing_cluster_id": "0923-164208-abcd",
    }


def test_current_sdk_full_cycle(emu: EmulatorServer) -> None:
    w = WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=30))
    task = jobs.Task.from_dict(notebook_task("a"))
    job_id = w.jobs.create(name="current-sdk", tasks=[task]).job_id
    assert job_id is not None
    assert [j.job_id for j in w.jobs.list(name="current-sdk", expand_tasks=True)] == [job_id]
    w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="current-sdk", tasks=[task], max_concurrent_runs=2))
    w.jobs.update(job_id, new_settings=jobs.JobSettings(timeout_seconds=60))
    run = w.jobs.run_now_and_wait(job_id)
    assert run.state is not None and run.state.result_state == jobs.RunResultState.SUCCESS
    assert next(iter(w.jobs.list_runs(job_id=job_id, expand_tasks=True))).run_id == run.run_id
    perms = w.jobs.get_permissions(str(job_id))
    assert perms.object_id == f"/jobs/{job_id}"
    w.jobs.delete(job_id)


def test_old_sdk_in_its_own_venv(emu: EmulatorServer) -> None:
    python = _need(CACHE / "sdk-0.100.0" / "bin" / "python", "databricks-sdk 0.100.0")
    out = run_json([str(python), str(HERE / "clients" / "sdk_driver.py"), emu.url, TOKEN], emu)
    user = emu.workspace.user_name
    assert out["sdk_version"] == "0.100.0"
    assert out["user"] == user and out["iam_ok"]
    assert out["format"] == "MULTI_TASK" and out["listed"] == [out["job_id"]]
    assert (out["name_after"], out["timeout_after"], out["tags_after"]) == ("old-sdk-reset", 600, None)
    assert out["run_result"] == "SUCCESS"
    assert out["acl_after_put"] == sorted([f"{user}:IS_OWNER:False", "users:CAN_VIEW:False", "admins:CAN_MANAGE:True"])
    assert "users:CAN_MANAGE_RUN:False" in out["acl_after_patch"]
    assert out["levels"] == ["CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW", "IS_OWNER"]
    assert emu.workspace.job_ids() == []
    # SDKs before 0.101 make no start-up call (§1.2).
    assert not [p for _, p, _ in emu.workspace.request_log if p.startswith("/.well-known")]


def test_go_sdk_driver_makes_the_cli_calls(emu: EmulatorServer) -> None:
    drv = str(go_driver())
    settings = {"name": "go-sdk", "tasks": [notebook_task("b"), notebook_task("a")]}
    job_id = run_json([drv, "jobs", "create", json.dumps(settings)], emu)["job_id"]
    got = run_json([drv, "jobs", "get", str(job_id)], emu)
    assert [t["task_key"] for t in got["settings"]["tasks"]] == ["a", "b"]
    assert got["settings"]["queue"] == {"enabled": True}
    assert [j["job_id"] for j in run_json([drv, "jobs", "list", "go-sdk"], emu)] == [job_id]
    run_client(
        [drv, "jobs", "reset", str(job_id), json.dumps({"name": "go-sdk-2", "tasks": [notebook_task("a")]})], emu
    )
    assert emu.workspace.get_settings(job_id)["name"] == "go-sdk-2"
    run_client([drv, "jobs", "update", str(job_id), json.dumps({"timeout_seconds": 30})], emu)
    assert emu.workspace.get_settings(job_id)["timeout_seconds"] == 30
    run = run_json([drv, "jobs", "run-now", str(job_id)], emu)
    assert run["state"]["result_state"] == "SUCCESS"
    assert isinstance(run_json([drv, "jobs", "run-now", str(job_id), "--no-wait"], emu)["run_id"], int)
    raw = run_json([drv, "api", "get", f"/api/2.2/jobs/get?job_id={job_id}"], emu)
    assert raw["job_id"] == job_id and isinstance(raw["created_time"], int)
    acl = [{"user_name": emu.workspace.user_name, "permission_level": "IS_OWNER"}]
    perms = run_json([drv, "jobs", "set-permissions", str(job_id), json.dumps(acl)], emu)
    assert perms["object_type"] == "job"
    run_client([drv, "jobs", "delete", str(job_id)], emu)
    assert emu.workspace.job_ids() == []


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_legacy_databricks_cli(emu: EmulatorServer, version: str) -> None:
    cli = str(_need(CACHE / "databricks-cli-0.18.0" / "bin" / "databricks", "databricks-cli 0.18.0"))
    v = ["--version", version]
    settings: dict[str, Any] = (
        {"name": "legacy", "existing_cluster_id": "0923-164208-abcd", "notebook_task": {"notebook_path": "/Shared/x"}}
        if version == "2.0"
        else {"name": "legacy", "tasks": [notebook_task("a")]}
    )
    job_id = run_json([cli, "jobs", "create", "--json", json.dumps(settings), *v], emu, via_proxy=True)["job_id"]
    got = run_json([cli, "jobs", "get", "--job-id", str(job_id), *v], emu, via_proxy=True)
    assert got["settings"]["name"] == "legacy" and "queue" not in got["settings"]
    listing = run_json([cli, "jobs", "list", "--output", "JSON", *v], emu, via_proxy=True)
    assert [j["job_id"] for j in listing["jobs"]] == [job_id]
    run_client(
        [cli, "jobs", "reset", "--job-id", str(job_id), "--json", json.dumps({**settings, "name": "l2"}), *v],
        emu,
        via_proxy=True,
    )
    assert emu.workspace.get_settings(job_id)["name"] == "l2"
    run = run_json([cli, "jobs", "run-now", "--job-id", str(job_id), *v], emu, via_proxy=True)
    assert isinstance(run["run_id"], int)
    run_client([cli, "jobs", "delete", "--job-id", str(job_id), *v], emu, via_proxy=True)
    assert emu.workspace.job_ids() == []
    paths = {p.split("/jobs/")[0] for _, p, _ in emu.workspace.request_log if "/jobs/" in p}
    assert paths == {f"/api/{version}"}
