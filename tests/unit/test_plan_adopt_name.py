"""``dbjobs plan`` with ``spec.adopt.name``: against the workspace, the one job of that exact name is the job
adopted (its drift shown), and none, several or another resource's job is ``invalid`` with the controller's own
message and reason; without the workspace the item says it adopts the job of that name; JSON carries
``adoptName``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from controller.databricks.jobs import ListedJob
from controller.gitops.gitcommit import TreeFile
from controller.gitops.manifests import ManifestSet, parse_files
from controller.gitops.plan import Action, ClusterObject, Live, Plan, PlanItem, build_plan
from controller.gitops.plan_render import render_json, render_text
from controller.reconcile.compare import OWNER_TAG, owner_key

pytestmark = pytest.mark.unit
NS = "team"
TASKS = [{"task_key": "main", "notebook_task": {"notebook_path": "/n"}}]


def revision(adopt_name: str) -> ManifestSet:
    doc = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "etl", "namespace": NS},
        "spec": {
            "workspaceRef": {"name": "w"},
            "adopt": {"name": adopt_name},
            "settings": {"name": "etl", "tasks": TASKS},
        },
    }
    return parse_files([TreeFile("jobs/etl.yaml", yaml.safe_dump(doc))], NS)


def listed(job_id: int, name: str, path: str = "/n", **tags: str) -> ListedJob:
    tasks = [{"task_key": "main", "notebook_task": {"notebook_path": path, "source": "WORKSPACE"}}]
    settings: dict[str, Any] = {"name": name, "tasks": tasks, "run_as": {"user_name": "me@example.com"}}
    return ListedJob(job_id, settings | ({"tags": tags} if tags else {}), "me@example.com")


def only(plan: Plan) -> PlanItem:
    (found,) = plan.items
    return found


def test_the_one_job_of_the_name_is_adopted_with_its_drift() -> None:
    jobs = [listed(7, "legacy", "/old"), listed(8, "Legacy"), listed(9, "other")]
    got = only(build_plan(revision("legacy"), live=Live(workspace=jobs)))
    assert (got.action, got.job_id, got.against) == (Action.ADOPT, 7, "workspace")
    assert {c.path for c in got.drift.items} >= {"name", "tasks[task_key=main].notebook_task.notebook_path"}
    assert (
        json.loads(render_json(build_plan(revision("legacy"), live=Live(workspace=jobs))))["items"][0]["adoptName"]
        == "legacy"
    )


@pytest.mark.parametrize(
    ("jobs", "words"),
    [
        ([listed(9, "other")], ['"legacy"', "(0 found)", "(AdoptTargetMissing)"]),
        ([listed(12, "legacy"), listed(11, "legacy")], ["2 jobs", "(11, 12)", "(AdoptTargetAmbiguous)"]),
        ([listed(11, "legacy", **{OWNER_TAG: "else_x-1"})], ["job 11", "(AdoptTargetOwned)"]),
    ],
)
def test_none_several_or_owned_is_invalid_with_the_controllers_reason(jobs: list[ListedJob], words: list[str]) -> None:
    plan = build_plan(revision("legacy"), live=Live(workspace=jobs))
    got = only(plan)
    assert got.action is Action.INVALID and plan.exit_code == 2
    assert all(w in got.problems[0] for w in words), got.problems
    assert "else_x-1" not in got.problems[0]


def test_a_job_already_ours_or_recorded_is_updated_not_adopted_again() -> None:
    ours = listed(5, "etl", **{OWNER_TAG: owner_key("", NS, "etl")})
    got = only(build_plan(revision("legacy"), live=Live(workspace=[ours, listed(6, "legacy"), listed(7, "legacy")])))
    assert (got.action, got.job_id) == (Action.NOOP, 5)
    cluster = {f"{NS}/etl": ClusterObject(f"{NS}/etl", revision("legacy").manifests[f"{NS}/etl"].spec, {"jobId": 6})}
    jobs = [listed(6, "etl"), listed(7, "legacy"), listed(8, "legacy")]
    got = only(build_plan(revision("legacy"), live=Live(workspace=jobs, cluster=cluster)))
    assert (got.action, got.job_id) == (Action.NOOP, 6)  # adopted: the name no longer matters


def test_without_the_workspace_the_item_names_the_job_it_adopts() -> None:
    plan = build_plan(revision("legacy"))
    got = only(plan)
    assert (got.action, got.job_id, got.adopt_name) == (Action.ADOPT, None, "legacy")
    assert 'the job named "legacy" as "etl": adopted as it is' in render_text(plan)
