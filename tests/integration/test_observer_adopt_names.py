"""The observer's index of ``spec.adopt.name`` and the one-call lookup by name, with the real databricks-sdk against
the emulator over HTTP: a cycle keeps every job whose ``settings.name`` is exactly a wanted name (another
resource's too, with its owner tag), and only those beyond the owned and wanted ids; ``jobs/list?name=`` is
case-insensitive (Jobs API), so the exact comparison is ours."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from controller.databricks.jobs import listed_by_name
from controller.databricks.observer import list_jobs
from controller.reconcile import adopt
from controller.reconcile.adopt import Named
from controller.reconcile.compare import OWNER_TAG
from dbjobs_testkit.emulator import EmulatorServer

pytestmark = pytest.mark.integration

TOKEN = "dapi-test-token"
TASKS = [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceClient]:
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):  # other settings would add auth methods or a profile
            monkeypatch.delenv(name)
    with EmulatorServer(token=TOKEN) as server:
        yield WorkspaceClient(config=Config(host=server.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=20))


def _create(client: WorkspaceClient, name: str, **tags: str) -> int:
    body = {"name": name, "tasks": TASKS, **({"tags": tags} if tags else {})}
    answer = client.api_client.do("POST", "/api/2.2/jobs/create", body=body)
    assert isinstance(answer, dict)
    return int(answer["job_id"])


def test_a_cycle_keeps_the_jobs_of_wanted_names_and_counts_the_rest(client: WorkspaceClient) -> None:
    plain = _create(client, "legacy")
    owned = _create(client, "legacy", **{OWNER_TAG: "ns_other-0123"})
    upper = _create(client, "LEGACY")
    other = _create(client, "unrelated")
    gates: list[int] = []

    index, calls = list_jobs(client, lambda: gates.append(1), wanted=(), names={"legacy", "absent"})

    assert index.total == 4 and calls == len(gates) == 1
    assert set(index.jobs) == {plain, owned}  # LEGACY and unrelated are only counted
    # by id; the emulator's ids are random, so the order of these two is not the order they were made in
    assert index.named("legacy") == tuple(sorted((Named(plain), Named(owned, "ns_other-0123")), key=lambda n: n.job_id))
    assert index.named("absent") == ()
    assert index.named("LEGACY") is None  # not looked for: the driver asks the workspace
    assert upper not in index.jobs and other not in index.jobs
    assert index.jobs[plain].settings["tasks"][0]["task_key"] == "main"  # kept in full (expand_tasks)


def test_the_lookup_by_name_is_one_call_and_exact_after_the_filter(client: WorkspaceClient) -> None:
    lower, upper = _create(client, "nightly"), _create(client, "NIGHTLY")
    _create(client, "nightly-2")
    gates: list[int] = []

    listed = listed_by_name(client, lambda: gates.append(1), "nightly")

    assert sorted(job_id for job_id, _ in listed) == sorted([lower, upper])  # the API's filter ignores case
    assert adopt.named(listed, "nightly") == (Named(lower),)
    assert len(gates) == 1
