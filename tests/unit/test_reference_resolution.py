"""References to other DatabricksJobs (``${resources.jobs.<name>.id}``), pure: the syntax and the job-id fields
(``controller.api.jobrefs``), the resolution (``controller.reconcile.references``: resolved ids, missing, not ready,
self, cycles, another workspace, nested for-each and job-completion triggers) and how a reconcile uses it
(``controller.reconcile.outcome``): drift on the resolved id, a changed id applied whatever the policy, the wait as
``ReferenceNotReady``, a cycle as ``InvalidSpec`` by field that clears when the other job changes, and
``status.references``/``status.dependsOn``."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from controller.api.jobrefs import job_id_fields, reference, reference_name, referenced_names, syntax_problems
from controller.api.models import DatabricksJobSpec
from controller.api.validate import validate_settings
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.conditions import find_condition
from controller.reconcile.decide import Observation, Verb
from controller.reconcile.drift import DriftReport
from controller.reconcile.outcome import Facts, Problem, Result, Step, plan, settle
from controller.reconcile.reasons import ConditionType, EventReason, Reason
from controller.reconcile.references import Peer, resolve

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
OWNER = "team_parent-0123456789abcdef"


def run_job(key: str, target: Any) -> dict[str, Any]:
    return {"task_key": key, "run_job_task": {"job_id": target}}


def parent(*tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "parent", "tasks": list(tasks) or [run_job("run_child", reference("child"))], **extra}


def peers(**ids: int | None) -> dict[str, Peer]:
    return {name: Peer(job_id, frozenset(), "w") for name, job_id in ids.items()}


# -- syntax and fields ---------------------------------------------------------------------------------------


def test_every_field_that_takes_a_job_id_is_found_with_its_path() -> None:
    settings = {
        "tasks": [
            run_job("a", 1),
            {"task_key": "b", "for_each_task": {"inputs": "[1]", "task": run_job("b_inner", reference("x"))}},
        ],
        "trigger": {"job_completion": {"jobs": [{"workspace_id": "1", "job_id": reference("y")}]}},
        "triggers": [{"job_completion": {"jobs": [{"workspace_id": "1", "job_id": "42"}]}}],
    }
    found = [(f.path, f.numeric, f.name) for f in job_id_fields(settings)]
    assert found == [
        ("tasks[0].run_job_task.job_id", True, None),
        ("tasks[1].for_each_task.task.run_job_task.job_id", True, "x"),
        ("trigger.job_completion.jobs[0].job_id", False, "y"),
        ("triggers[0].job_completion.jobs[0].job_id", False, None),
    ]
    assert referenced_names(settings) == {"x", "y"}


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("${resources.jobs.nightly-etl.id}", "nightly-etl"),
        ("${resources.jobs.a.b.id}", "a.b"),
        ("${resources.jobs.Nightly.id}", None),  # not a Kubernetes name
        ("${resources.jobs.nightly_etl.id}", None),  # a bundle key, not a Kubernetes name
        ("x ${resources.jobs.a.id}", None),  # the whole value, or nothing
        (123, None),
    ],
)
def test_a_reference_is_the_whole_value_naming_a_kubernetes_name(value: Any, name: str | None) -> None:
    assert reference_name(value) == name


def test_a_string_that_is_neither_an_id_nor_a_reference_is_reported_by_field() -> None:
    settings = parent(run_job("a", "${resources.jobs.Bad_Name.id}"), run_job("b", reference("ok")))
    settings["trigger"] = {"job_completion": {"jobs": [{"workspace_id": "1", "job_id": "123"}]}}
    assert syntax_problems(settings) == [
        "tasks[0].run_job_task.job_id: '${resources.jobs.Bad_Name.id}' is neither a job id nor a reference to a "
        "DatabricksJob of this namespace (write ${resources.jobs.<name>.id})"
    ]
    assert any(p.startswith("tasks[0].run_job_task.job_id:") for p in validate_settings(settings))


# -- resolution ----------------------------------------------------------------------------------------------


def test_settings_without_references_are_returned_as_they_are() -> None:
    settings = parent(run_job("a", 7))
    assert resolve(settings, name="parent", workspace="w", peers={}).settings is settings


def test_references_resolve_to_ints_where_the_api_takes_ints_and_text_where_it_takes_text() -> None:
    settings = parent(
        run_job("a", reference("child")),
        {"task_key": "each", "for_each_task": {"inputs": "[1]", "task": run_job("inner", reference("other"))}},
        trigger={"job_completion": {"jobs": [{"workspace_id": "9", "job_id": reference("child")}]}},
    )
    before = copy.deepcopy(settings)
    found = resolve(settings, name="parent", workspace="w", peers=peers(child=11, other=22))
    assert found.reason is None
    assert found.settings["tasks"][0]["run_job_task"]["job_id"] == 11
    assert found.settings["tasks"][1]["for_each_task"]["task"]["run_job_task"]["job_id"] == 22
    assert found.settings["trigger"]["job_completion"]["jobs"][0]["job_id"] == "11"
    assert [(r.field, r.name, r.job_id) for r in found.references] == [
        ("tasks[0].run_job_task.job_id", "child", 11),
        ("tasks[1].for_each_task.task.run_job_task.job_id", "other", 22),
        ("trigger.job_completion.jobs[0].job_id", "child", 11),
    ]
    assert settings == before  # the input is not changed


def test_a_missing_reference_is_reference_not_found_naming_the_field() -> None:
    found = resolve(parent(), name="parent", workspace="w", peers=peers(other=1))
    assert found.reason is Reason.REFERENCE_NOT_FOUND
    assert "spec.settings.tasks[0].run_job_task.job_id: ${resources.jobs.child.id}: no DatabricksJob 'child'" in (
        found.message
    )


def test_a_reference_to_a_job_without_an_id_waits() -> None:
    found = resolve(parent(), name="parent", workspace="w", peers=peers(child=None))
    assert found.reason is Reason.REFERENCE_NOT_READY
    assert "spec.settings.tasks[0].run_job_task.job_id" in found.message and "has no job id yet" in found.message


def test_a_nested_for_each_reference_waits_like_a_top_level_one() -> None:
    inner = {"task_key": "each", "for_each_task": {"inputs": "[1]", "task": run_job("i", reference("child"))}}
    found = resolve(parent(inner), name="parent", workspace="w", peers=peers(child=None))
    assert found.reason is Reason.REFERENCE_NOT_READY
    assert "spec.settings.tasks[0].for_each_task.task.run_job_task.job_id" in found.message


def test_a_reference_to_itself_is_invalid() -> None:
    found = resolve(parent(run_job("me", reference("parent"))), name="parent", workspace="w", peers=peers(parent=5))
    assert found.reason is Reason.INVALID_SPEC
    assert "spec.settings.tasks[0].run_job_task.job_id: ${resources.jobs.parent.id} names this DatabricksJob" in (
        found.message
    )


@pytest.mark.parametrize(
    ("graph", "chain"),
    [
        ({"child": {"parent"}}, "parent -> child -> parent"),
        ({"child": {"grandchild"}, "grandchild": {"parent"}}, "parent -> child -> grandchild -> parent"),
    ],
)
def test_a_cycle_through_this_job_is_invalid_and_named_by_field(graph: dict[str, set[str]], chain: str) -> None:
    known = {n: Peer(1, frozenset(refs), "w") for n, refs in graph.items()}  # ids do not make a cycle resolvable
    found = resolve(parent(), name="parent", workspace="w", peers=known)
    assert found.reason is Reason.INVALID_SPEC
    assert (
        f"spec.settings.tasks[0].run_job_task.job_id: ${{resources.jobs.child.id}} closes a cycle of references {chain}"
        in (found.message)
    )


def test_a_cycle_further_down_is_not_this_jobs_problem() -> None:
    known = {"child": Peer(None, frozenset({"grandchild"}), "w"), "grandchild": Peer(None, frozenset({"child"}), "w")}
    assert resolve(parent(), name="parent", workspace="w", peers=known).reason is Reason.REFERENCE_NOT_READY


def test_a_job_of_another_workspace_is_invalid() -> None:
    found = resolve(parent(), name="parent", workspace="w", peers={"child": Peer(3, frozenset(), "other")})
    assert found.reason is Reason.INVALID_SPEC and "uses workspace 'other'" in found.message


def test_the_most_severe_problem_names_the_reason_and_every_field_is_told() -> None:
    settings = parent(run_job("a", reference("later")), run_job("b", reference("gone")), run_job("c", reference("me")))
    found = resolve(settings, name="me", workspace="w", peers=peers(later=None))
    assert found.reason is Reason.INVALID_SPEC
    assert [r for r, _ in found.findings] == [
        Reason.REFERENCE_NOT_READY,
        Reason.REFERENCE_NOT_FOUND,
        Reason.INVALID_SPEC,
    ]
    assert all(f"tasks[{i}].run_job_task.job_id" in found.message for i in range(3))


# -- in a reconcile ------------------------------------------------------------------------------------------


def spec(settings: dict[str, Any], **extra: Any) -> DatabricksJobSpec:
    return DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": settings, **extra})


def live(child_id: int) -> dict[str, Any]:
    return {
        "name": "parent",
        "tasks": [{**run_job("run_child", child_id), "run_if": "ALL_SUCCESS", "timeout_seconds": 0}],
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
        "queue": {"enabled": True},
        "email_notifications": {},
        "webhook_notifications": {},
        "run_as": {"user_name": "me@example.com"},
        "tags": {OWNER_TAG: OWNER},
    }


def seen(child_id: int) -> Observation:
    """The parent job as the workspace holds it, running ``child_id``."""
    return Observation(500, live(child_id), owner="me@example.com")


def facts(status: dict[str, Any] | None = None, child: int | None = 11, **kw: Any) -> Facts:
    base: dict[str, Any] = {
        "spec": spec(parent()),
        "generation": 1,
        "owner": OWNER,
        "status": status or {},
        "host": "https://h",
        "now": NOW,
        "name": "parent",
        "peers": peers(child=child),
    }
    return Facts(**{**base, **kw})


def synced_status(child_id: int, generation: int = 1) -> dict[str, Any]:
    """The status after parent was applied with child = ``child_id``."""
    first = facts(observation=Observation(None, None), child=child_id, generation=generation)
    new = settle(first, plan(first), Result(job_id=500))
    assert new is not None
    return new.status


def test_the_job_is_created_with_the_resolved_id_and_records_the_dependency() -> None:
    f = facts(observation=Observation(None, None))
    decision = plan(f)
    assert decision.step is Step.CREATE
    assert decision.body["tasks"][0]["run_job_task"]["job_id"] == 11
    new = settle(f, decision, Result(job_id=500))
    assert new is not None
    assert new.status["references"] == [{"field": "tasks[0].run_job_task.job_id", "name": "child", "jobId": 11}]
    assert new.status["dependsOn"] == "child"


def test_drift_compares_the_resolved_id() -> None:
    status = synced_status(11)
    same = plan(facts(status, observation=seen(11)))
    assert same.plan is not None and same.plan.verb is Verb.NOTHING
    edited = plan(facts(status, observation=seen(99), spec=spec(parent(), driftPolicy="Report")))
    assert edited.plan is not None and edited.plan.verb is Verb.REPORT_DRIFT
    assert edited.plan.drift == ["tasks[task_key=run_child].run_job_task.job_id"]


def test_a_re_created_child_is_applied_as_a_change_of_the_desired_settings_even_under_report() -> None:
    status = synced_status(11)
    moved = facts(status, child=12, observation=seen(11), spec=spec(parent(), driftPolicy="Report"))
    decision = plan(moved)
    assert decision.step is Step.RESET and decision.plan is not None and decision.plan.spec_changed
    assert decision.body["tasks"][0]["run_job_task"]["job_id"] == 12
    new = settle(moved, decision, Result(job_id=500, after=DriftReport(), attempts=1))
    assert new is not None and new.status["references"][0]["jobId"] == 12
    assert [e.reason for e in new.events] == [EventReason.JOB_RESET]


def test_waiting_for_the_child_is_reference_not_ready_without_a_generation_and_without_a_call() -> None:
    f = facts(child=None, observation=Observation(None, None))
    decision = plan(f)
    assert decision.step is Step.NONE and decision.problem is not None
    assert decision.problem.reason is Reason.REFERENCE_NOT_READY and decision.problem.retry is False
    new = settle(f, decision, Result())
    assert new is not None
    synced = find_condition(new.status["conditions"], ConditionType.SYNCED)
    ready = find_condition(new.status["conditions"], ConditionType.READY)
    assert synced is not None and synced["reason"] == "ReferenceNotReady" and synced["status"] == "False"
    assert ready is not None and ready["reason"] == "ReferenceNotReady"
    assert "observedGeneration" not in new.status
    assert new.status["dependsOn"] == "child" and new.status["references"] == [
        {"field": "tasks[0].run_job_task.job_id", "name": "child"}
    ]
    assert [(e.type, e.reason) for e in new.events] == [("Normal", EventReason.REFERENCE_NOT_READY)]


def test_a_cycle_is_invalid_spec_for_this_generation_and_clears_when_the_other_job_changes() -> None:
    looped = {"child": Peer(11, frozenset({"parent"}), "w")}
    f = facts(observation=seen(11), peers=looped, status=synced_status(11))
    decision = plan(f)
    assert decision.problem is not None and decision.problem.reason is Reason.INVALID_SPEC
    new = settle(f, decision, Result())
    assert new is not None and new.status["observedGeneration"] == 1
    synced = find_condition(new.status["conditions"], ConditionType.SYNCED)
    assert synced is not None and "closes a cycle of references parent -> child -> parent" in synced["message"]
    # The child drops its reference back: the same generation of parent is not held as invalid.
    fixed = facts(new.status, observation=seen(11))
    after = plan(fixed)
    assert after.problem is None and not after.unchanged and after.plan is not None
    done = settle(fixed, after, Result())
    assert done is not None
    assert find_condition(done.status["conditions"], ConditionType.SYNCED)["reason"] == "UpToDate"  # type: ignore[index]


def test_a_refused_generation_is_held_until_a_reference_resolves_to_another_id() -> None:
    f = facts(synced_status(11), child=12, observation=seen(11), generation=2)
    refused = settle(f, plan(f), Result(failure=Problem(Reason.INVALID_SPEC, "Databricks refused", retry=False)))
    assert refused is not None and refused.status["references"][0]["jobId"] == 12
    assert plan(facts(refused.status, child=12, observation=seen(11), generation=2)).unchanged
    again = plan(facts(refused.status, child=13, observation=seen(11), generation=2))
    assert again.step is Step.RESET


def test_a_transient_failure_keeps_the_references_last_applied() -> None:
    status = synced_status(11)
    f = facts(status, child=12, observation=seen(11))
    failed = settle(f, plan(f), Result(failure=Problem(Reason.API_ERROR, "boom")))
    assert failed is not None and failed.status["references"][0]["jobId"] == 11
    assert plan(facts(failed.status, child=12, observation=seen(11))).step is Step.RESET


def test_removing_the_last_reference_removes_the_status_fields() -> None:
    f = facts(synced_status(11), spec=spec(parent(run_job("run_child", 11))), observation=seen(11))
    new = settle(f, plan(f), Result())
    assert new is not None and "references" not in new.status and "dependsOn" not in new.status
