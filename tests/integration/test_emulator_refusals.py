"""Refuse what Databricks refuses: every rule of ``controller/api/refusals.py`` against the emulator over HTTP.

For each rule a job that breaks it is sent to ``jobs/create`` and ``jobs/reset`` through the real
databricks-sdk's HTTP client (raw bodies, so a field the SDK does not know still reaches the server) and the
emulator must refuse it with the real API's error code (``RULES[rule].error_code``: ``INVALID_PARAMETER_VALUE``,
or ``MALFORMED_REQUEST`` for an unknown field) naming the field; the controller's own check finds the same
rule (the two implementations are independent and checked against each other here); and the same job with the
one field fixed is accepted. No job is left behind by a refused create. And a ``run_job_task.job_id`` must name a
job of the workspace (an unresolved ``${resources.jobs.<name>.id}`` is not even parsed), on create and reset.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import DatabricksError

from controller.api.refusals import RULES, refusals
from dbjobs_testkit.emulator import EmulatorServer

pytestmark = pytest.mark.integration
TOKEN = "dapi-refusals"
GIT = {"git_url": "https://github.com/o/r", "git_provider": "gitHub", "git_branch": "main"}

#: ``(rule, settings that break it, field the answer names, the same settings fixed)``.
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "task-type",
        {"name": "j", "tasks": [{"task_key": "a"}]},
        "tasks[0]",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}}]},
    ),
    (
        "task-type",
        {
            "name": "j",
            "tasks": [
                {"task_key": "a", "notebook_task": {"notebook_path": "/a"}, "pipeline_task": {"pipeline_id": "p"}}
            ],
        },
        "tasks[0]",
        {"name": "j", "tasks": [{"task_key": "a", "pipeline_task": {"pipeline_id": "p"}}]},
    ),
    (
        "workspace-path-absolute",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "src/nb"}}]},
        "tasks[0].notebook_task.notebook_path",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/src/nb"}}]},
    ),
    (
        "workspace-path-absolute",
        {"name": "j", "tasks": [{"task_key": "a", "sql_task": {"warehouse_id": "w", "file": {"path": "q.sql"}}}]},
        "tasks[0].sql_task.file.path",
        {"name": "j", "tasks": [{"task_key": "a", "sql_task": {"warehouse_id": "w", "file": {"path": "/q.sql"}}}]},
    ),
    (
        "git-path-relative",
        {"name": "j", "git_source": GIT, "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/nb"}}]},
        "tasks[0].notebook_task.notebook_path",
        {"name": "j", "git_source": GIT, "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb"}}]},
    ),
    (
        "git-source-required",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb", "source": "GIT"}}]},
        "tasks[0].notebook_task.source",
        {
            "name": "j",
            "git_source": GIT,
            "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb", "source": "GIT"}}],
        },
    ),
    (
        "no-file-uri",
        {
            "name": "j",
            "tasks": [
                {"task_key": "a", "existing_cluster_id": "c", "spark_python_task": {"python_file": "file://m.py"}}
            ],
        },
        "tasks[0].spark_python_task.python_file",
        {
            "name": "j",
            "tasks": [
                {"task_key": "a", "existing_cluster_id": "c", "spark_python_task": {"python_file": "dbfs:/m.py"}}
            ],
        },
    ),
    (
        "serverless-environment",
        {"name": "j", "tasks": [{"task_key": "a", "python_wheel_task": {"package_name": "p", "entry_point": "e"}}]},
        "tasks[0]",
        {
            "name": "j",
            "environments": [{"environment_key": "e", "spec": {"client": "1"}}],
            "tasks": [
                {
                    "task_key": "a",
                    "environment_key": "e",
                    "python_wheel_task": {"package_name": "p", "entry_point": "e"},
                }
            ],
        },
    ),
    (
        "task-field",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}, "min_retries": 2}]},
        "tasks[0].min_retries",
        {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}, "max_retries": 2}]},
    ),
    (
        "depends-on-cycle",
        {
            "name": "j",
            "tasks": [
                {"task_key": "a", "depends_on": [{"task_key": "b"}], "notebook_task": {"notebook_path": "/a"}},
                {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}},
            ],
        },
        "depends_on",
        {
            "name": "j",
            "tasks": [
                {"task_key": "a", "notebook_task": {"notebook_path": "/a"}},
                {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}},
            ],
        },
    ),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def client(emu: EmulatorServer) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=emu.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=10))


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for rule, *_ in CASES:
        seen[rule] = seen.get(rule, 0) + 1
        out.append(f"{rule}-{seen[rule]}")
    return out


def test_every_rule_has_a_public_source_and_a_case() -> None:
    assert {c[0] for c in CASES} == set(RULES)
    for rule in RULES.values():
        assert "https://" in rule.source and rule.error_code in ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST")


@pytest.mark.parametrize(("rule", "bad", "field", "good"), CASES, ids=_ids())
def test_the_emulator_refuses_each_rule_with_the_apis_error_code(
    emu: EmulatorServer, client: WorkspaceClient, rule: str, bad: dict[str, Any], field: str, good: dict[str, Any]
) -> None:
    assert rule in {r.rule for r in refusals(bad)}, "the controller's check must find it too"
    assert not refusals(good), refusals(good)
    before = emu.workspace.job_ids()
    with pytest.raises(DatabricksError) as refused:
        client.api_client.do("POST", "/api/2.2/jobs/create", body=copy.deepcopy(bad))
    assert refused.value.error_code == RULES[rule].error_code
    assert field in str(refused.value)
    assert emu.workspace.job_ids() == before
    created = client.api_client.do("POST", "/api/2.2/jobs/create", body=copy.deepcopy(good))
    assert isinstance(created, dict)
    with pytest.raises(DatabricksError) as on_reset:
        client.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": created["job_id"], "new_settings": bad})
    assert on_reset.value.error_code == RULES[rule].error_code


def test_a_run_job_task_must_name_a_job_of_the_workspace(emu: EmulatorServer, client: WorkspaceClient) -> None:
    """Not a rule of ``refusals.py`` (it needs the workspace's jobs): the emulator answers an id naming no job
    with the Jobs API's not-found answer, and a value that is no id (an unresolved reference) as unparsable."""
    nb = {"task_key": "main", "notebook_task": {"notebook_path": "/n"}}
    target = client.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "target", "tasks": [nb]})
    assert isinstance(target, dict)
    missing = max(emu.workspace.job_ids()) + 1

    def job(job_id: Any, nested: bool = False) -> dict[str, Any]:
        task = {"task_key": "run", "run_job_task": {"job_id": job_id}}
        if nested:
            task = {"task_key": "each", "for_each_task": {"inputs": "[1]", "task": {**task, "task_key": "inner"}}}
        return {"name": "runner", "tasks": [task]}

    for body, field in (
        (job(missing), "tasks[0].run_job_task.job_id"),
        (job(missing, nested=True), "tasks[0].for_each_task.task.run_job_task.job_id"),
    ):
        with pytest.raises(DatabricksError) as refused:
            client.api_client.do("POST", "/api/2.2/jobs/create", body=body)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert field in str(refused.value) and f"Job {missing} does not exist" in str(refused.value)
    with pytest.raises(DatabricksError) as unparsable:
        client.api_client.do("POST", "/api/2.2/jobs/create", body=job("${resources.jobs.target.id}"))
    assert unparsable.value.error_code == "MALFORMED_REQUEST"
    created = client.api_client.do("POST", "/api/2.2/jobs/create", body=job(target["job_id"], nested=True))
    assert isinstance(created, dict)
    with pytest.raises(DatabricksError) as on_reset:
        client.api_client.do(
            "POST", "/api/2.2/jobs/reset", body={"job_id": created["job_id"], "new_settings": job(missing)}
        )
    assert on_reset.value.error_code == "INVALID_PARAMETER_VALUE"
