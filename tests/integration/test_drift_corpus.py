"""No false drift, no missed drift: every real job of the corpus through the emulator and the real SDK.

For each job that ``dbjobs convert`` turns into a manifest and the emulator accepts: create it
(``jobs/create`` through databricks-sdk over HTTP), read it back (``jobs/get``, every 2.2 page)
and the report must be empty. Then each user-set scalar is changed out of band (as a UI user
would: the emulator's ``edit_settings`` replaces the top-level key holding it) and the report must
name exactly that path. Counts are printed (``-s``) and asserted.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.service.jobs import JobSettings

from controller.databricks import jobs
from controller.databricks.connection import WorkspaceConnection
from controller.gitops.convert import ConversionError, convert_file
from controller.reconcile.drift import compare
from controller.reconcile.normalize import render_key
from controller.reconcile.rules import Kind, Scope, rules_of
from dbjobs_testkit.emulator import ApiError, EmulatorServer

pytestmark = pytest.mark.integration
TOKEN = "dapi-drift-corpus"
#: List fields compared by key (rules.py), and the key field of each.
KEYED = {r.field.rsplit(".", 1)[-1]: str(r.value) for r in rules_of(Kind.KEYED_LIST)}
WRITE_ONLY = {r.field.rsplit(".", 1)[-1] for r in rules_of(Kind.WRITE_ONLY)}
NOT_RETURNED = {r.field for r in rules_of(Kind.RESPONSE_ONLY, Scope.JOB)}
ALTERNATIVES = {
    "ALL_SUCCESS": "ALL_DONE",
    "ALL_DONE": "ALL_SUCCESS",
    "UNPAUSED": "PAUSED",
    "PAUSED": "UNPAUSED",
    "WORKSPACE": "GIT",
    "GIT": "WORKSPACE",
    "BUNDLE": None,  # deployment.kind has one value: nothing valid to change it to
}
Step = tuple[str, Any]


def _shared_conftest() -> Any:
    # tests/conftest.py decides where the corpus is; loaded by path (several modules are named conftest).
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("dbjobs_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_files = _shared_conftest().corpus_files  # ("key", name) | ("keyed", (field, value)) | ("index", i)


@pytest.fixture(autouse=True)
def _scrub_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN, seed=11) as server:
        yield server


def scalars(node: Any, steps: list[Step]) -> Iterator[list[Step]]:
    """Locators of every user-set scalar below ``node`` (keys of keyed lists excluded: changing one is a rename)."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from scalars(value, [*steps, ("key", name)])
    elif isinstance(node, list):
        field = steps[-1][1] if steps and steps[-1][0] == "key" else None
        key = KEYED.get(str(field))
        for i, item in enumerate(node):
            if key and isinstance(item, dict) and key in item:
                for sub in scalars({k: v for k, v in item.items() if k != key}, []):
                    yield [*steps, ("keyed", (key, item[key])), *sub]
            else:
                yield from scalars(item, [*steps, ("index", i)])
    elif node is not None:
        yield steps


def expected_path(steps: list[Step]) -> str:
    """The path the report must name: keyed elements by key; an ordered list or set as a whole;
    ``run_as`` as its principal (D15)."""
    if steps[0][1] == "run_as":
        return "run_as"
    text = ""
    for kind, value in steps:
        if kind == "index":
            break
        text += f"[{value[0]}={value[1]}]" if kind == "keyed" else render_key(str(value))
    return text.lstrip(".")


def locate(node: Any, steps: list[Step]) -> Any:
    """The container holding the leaf of ``steps`` in ``node`` (keyed elements found by key)."""
    for kind, value in steps[:-1]:
        if kind == "keyed":
            node = next(i for i in node if isinstance(i, dict) and i.get(value[0]) == value[1])
        else:
            node = node[value]
    return node


def mutated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return ALTERNATIVES.get(str(value), f"{value}-changed")


def corpus_jobs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in corpus_files():
        try:
            result = convert_file(path)
        except ConversionError:
            yield path.name, {}
            continue
        for m in result.manifests:
            yield f"{path.name}:{m['metadata']['name']}", m["spec"]["settings"]


def test_corpus_no_false_drift_no_missed_drift(corpus_dir: Any, emu: EmulatorServer) -> None:
    client = WorkspaceConnection(emu.url, TOKEN).client()
    counts = dict(files=len(corpus_files()), jobs=0, unconvertible=0, sdk_dropped=0, refused=0, compared=0)
    counts.update(mutations=0, mutations_refused=0, misses=0, false_positives=0)
    problems: list[str] = []
    for name, settings in corpus_jobs():
        if not settings:
            counts["unconvertible"] += 1
            continue
        counts["jobs"] += 1
        try:
            # What a client can send: the SDK drops fields and values its JobSettings does not know
            # (a misspelt field, a lower-case enum); compared as sent, the rest is admission's job.
            sendable = JobSettings.from_dict(copy.deepcopy(settings)).as_dict()
            if compare(settings, sendable).paths:
                counts["sdk_dropped"] += 1
                print(f"dropped by the SDK: {name}: {compare(settings, sendable).paths}")
            settings = sendable
            job_id = jobs.create(client, settings)
        except Exception as err:  # the emulator refuses what Databricks would refuse
            counts["refused"] += 1
            print(f"refused by the emulator: {name}: {str(err).splitlines()[0][:160]}")
            continue
        counts["compared"] += 1
        report = compare(settings, jobs.get_settings(client, job_id))
        if not report.in_sync:
            counts["false_positives"] += len(report.items)
            problems.append(f"false drift in {name}: {report.items}")
        for steps in scalars(settings, []):
            top, leaf = steps[0][1], steps[-1]
            if top in NOT_RETURNED or any(k == "key" and v in WRITE_ONLY for k, v in steps):
                continue
            stored = emu.workspace.get_settings(job_id)
            if top not in stored:
                counts["not_stored"] = counts.get("not_stored", 0) + 1
                continue
            edited = {top: copy.deepcopy(stored[top])}
            holder = locate(edited, steps)
            old = holder[leaf[1]]
            if mutated(old) is None:
                counts["no_valid_alternative"] = counts.get("no_valid_alternative", 0) + 1
                continue
            holder[leaf[1]] = mutated(old)
            counts["mutations"] += 1
            try:
                emu.workspace.edit_settings(job_id, edited)
            except ApiError:
                counts["mutations_refused"] += 1
                continue
            paths = compare(settings, jobs.get_settings(client, job_id)).paths
            want = expected_path(steps)
            if want not in paths:
                counts["misses"] += 1
                problems.append(f"missed {want} in {name}: {paths}")
            counts["false_positives"] += len([p for p in paths if p != want])
            if [p for p in paths if p != want]:
                problems.append(f"extra paths for {want} in {name}: {paths}")
            emu.workspace.edit_settings(job_id, {top: stored[top]})
    print(f"corpus drift counts: {counts}")
    assert counts["compared"] > 0 and counts["mutations"] > 0
    assert not problems, "\n".join(problems[:40])


def test_reads_over_100_tasks_are_complete(emu: EmulatorServer) -> None:
    client = WorkspaceConnection(emu.url, TOKEN).client()
    tasks = [{"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": f"/n/{i}"}} for i in range(150)]
    settings = {"name": "wide", "tasks": tasks, "parameters": [{"name": f"p{i}", "default": ""} for i in range(120)]}
    job_id = jobs.create(client, settings)
    gets = emu.workspace.request_count("jobs/get", "GET")
    live = jobs.get_settings(client, job_id)
    assert emu.workspace.request_count("jobs/get", "GET") - gets == 2  # two 2.2 pages, merged by the SDK
    assert live is not None and len(live["tasks"]) == 150 and len(live["parameters"]) == 120
    assert compare(settings, live).in_sync
    stored = emu.workspace.get_settings(job_id)["tasks"]
    stored[-1]["notebook_task"]["notebook_path"] = "/moved"
    emu.workspace.edit_settings(job_id, {"tasks": stored})
    assert compare(settings, jobs.get_settings(client, job_id)).paths == [
        "tasks[task_key=t149].notebook_task.notebook_path"
    ]
