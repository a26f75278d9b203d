"""``dbjobs plan`` with references between DatabricksJobs (``controller.gitops.plan_refs``): each item lists what it
depends on and the id it resolves to (from the cluster's status, the workspace's owner tags, or "created by this
plan"), the drift against the live job compares the resolved id (a re-created child shows the id that changes),
a cycle of references and a reference to another workspace are ``invalid`` by field, a reference to nothing is
shown as a wait; and the three renderings carry the dependency."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from controller.api.jobrefs import reference
from controller.databricks.jobs import ListedJob
from controller.gitops.gitcommit import TreeFile
from controller.gitops.manifests import ManifestSet, parse_files
from controller.gitops.plan import Action, ClusterObject, Live, Plan, PlanItem, build_plan
from controller.gitops.plan_render import render_json, render_markdown, render_text
from controller.reconcile.compare import OWNER_TAG, owner_key

pytestmark = pytest.mark.unit
NS = "team"


def settings(name: str, *refs: str) -> dict[str, Any]:
    tasks = [{"task_key": f"run_{r}", "run_job_task": {"job_id": reference(r)}} for r in refs]
    return {"name": name, "tasks": tasks or [{"task_key": "main", "notebook_task": {"notebook_path": "/n"}}]}


def manifest(name: str, *refs: str, workspace: str = "w") -> dict[str, Any]:
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"workspaceRef": {"name": workspace}, "settings": settings(name, *refs)},
    }


def revision(*docs: dict[str, Any]) -> ManifestSet:
    return parse_files([TreeFile(f"jobs/{d['metadata']['name']}.yaml", yaml.safe_dump(d)) for d in docs], NS)


def listed(job_id: int, name: str, run: dict[str, int] | None = None) -> ListedJob:
    """A live job the controller made of ``name`` (its owner tag), running the ids in ``run``."""
    tasks = [{"task_key": f"run_{r}", "run_job_task": {"job_id": i}} for r, i in (run or {}).items()]
    live = {
        "name": name,
        "tasks": tasks or [{"task_key": "main", "notebook_task": {"notebook_path": "/n", "source": "WORKSPACE"}}],
        "tags": {OWNER_TAG: owner_key("", NS, name)},
        "run_as": {"user_name": "me@example.com"},
    }
    return ListedJob(job_id, live, "me@example.com")


def item(plan: Plan, name: str) -> PlanItem:
    return next(i for i in plan.items if i.key == f"{NS}/{name}")


def test_a_job_created_together_with_the_one_it_runs_depends_on_it() -> None:
    plan = build_plan(revision(manifest("parent", "child"), manifest("child")), live=Live(workspace=[]))
    parent = item(plan, "parent")
    assert parent.action is Action.CREATE and item(plan, "child").action is Action.CREATE
    assert [str(d) for d in parent.depends_on] == [
        "child [created by this plan: the job waits for its id (ReferenceNotReady), then is set to it]"
    ]


def test_the_drift_compares_the_resolved_id_from_the_workspace() -> None:
    jobs = [listed(11, "child"), listed(20, "parent", run={"child": 11})]
    plan = build_plan(revision(manifest("parent", "child"), manifest("child")), live=Live(workspace=jobs))
    parent = item(plan, "parent")
    assert parent.action is Action.NOOP and [str(d) for d in parent.depends_on] == ["child (job 11)"]
    # The child's job was re-created in the workspace: the parent is reset to the new id.
    jobs = [listed(12, "child"), listed(20, "parent", run={"child": 11})]
    parent = item(
        build_plan(revision(manifest("parent", "child"), manifest("child")), live=Live(workspace=jobs)), "parent"
    )
    assert parent.action is Action.UPDATE
    assert [(c.path, c.live, c.desired) for c in parent.drift.items] == [
        ("tasks[task_key=run_child].run_job_task.job_id", 11, 12)
    ]


def test_ids_come_from_the_cluster_status_and_cluster_only_jobs_count() -> None:
    cluster = {
        f"{NS}/parent": ClusterObject(f"{NS}/parent", manifest("parent", "elsewhere")["spec"], {"jobId": 20}),
        f"{NS}/elsewhere": ClusterObject(f"{NS}/elsewhere", manifest("elsewhere")["spec"], {"jobId": 33}),
    }
    plan = build_plan(revision(manifest("parent", "elsewhere")), live=Live(cluster=cluster))
    assert [str(d) for d in item(plan, "parent").depends_on] == ["elsewhere (job 33)"]


def test_a_reference_to_nothing_is_shown_as_a_wait_not_an_error() -> None:
    plan = build_plan(revision(manifest("parent", "ghost")))
    (dep,) = item(plan, "parent").depends_on
    assert dep.name == "ghost" and "ReferenceNotFound" in dep.note
    assert plan.exit_code == 1


def test_a_cycle_and_another_workspace_are_invalid_by_field() -> None:
    plan = build_plan(
        revision(manifest("a", "b"), manifest("b", "a"), manifest("c", "d"), manifest("d", workspace="x"))
    )
    for name, words in (("a", "cycle of references a -> b -> a"), ("c", "uses workspace 'x'")):
        found = item(plan, name)
        assert found.action is Action.INVALID
        assert any(p.startswith("spec.settings.tasks[0].run_job_task.job_id:") and words in p for p in found.problems)
    assert plan.exit_code == 2


def test_every_rendering_shows_the_dependency() -> None:
    plan = build_plan(
        revision(manifest("parent", "child"), manifest("child")), live=Live(workspace=[listed(11, "child")])
    )
    assert "      depends on: child (job 11)" in render_text(plan)
    assert "depends on: child (job 11)" in render_markdown(plan)
    doc = json.loads(render_json(plan))
    entry = next(i for i in doc["items"] if i["key"] == f"{NS}/parent")
    assert entry["dependsOn"] == [{"name": "child", "jobId": 11}]


def test_with_only_a_base_revision_an_existing_jobs_id_is_not_guessed() -> None:
    plan = build_plan(revision(manifest("parent", "child"), manifest("child")), base=revision(manifest("child")))
    (dep,) = item(plan, "parent").depends_on
    assert dep.job_id is None and dep.note == "job id not known to this plan"
    # the hint is said once for the plan, not once per dependency
    (hint,) = plan.hints
    assert hint == "job id not known to this plan: the cluster and the workspace know it; give --against to see it"
    assert render_text(plan).count("give --against") == 1
