"""``spec.adopt`` by name (``controller.reconcile.adopt`` and its use in ``outcome.plan``/``settle``): the one job
of an exact name is adopted; none or several is a terminal reason naming the count and the ids, never a guess
and never a write; another resource's job counts but is refused without showing its owner tag; once adopted
(``status.jobId``) the name no longer matters. Also the API shape (exactly one of ``jobId`` and ``name``) and the
observer's index of the names asked for."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller.api.models import ADOPT_RULE, Adopt, DatabricksJobSpec
from controller.databricks.observer import JobIndex, LiveJob
from controller.reconcile import adopt
from controller.reconcile.adopt import MAX_IDS, Named
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.conditions import find_condition
from controller.reconcile.decide import Observation
from controller.reconcile.outcome import Facts, Result, Step, plan, settle
from controller.reconcile.reasons import ConditionType, EventReason, Reason

pytestmark = pytest.mark.unit
OWNER = "team_job-0123456789abcdef"
OTHER = "other-team_thief-fedcba9876543210"
SETTINGS = {"name": "etl", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}


def spec(**adopt_: Any) -> DatabricksJobSpec:
    return DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": SETTINGS, "adopt": adopt_})


def facts(matches: tuple[Named, ...] | None, observation: Observation, status: dict[str, Any] | None = None) -> Facts:
    return Facts(
        spec=spec(name="legacy etl"),
        generation=3,
        owner=OWNER,
        status=status or {},
        host="https://h",
        observation=observation,
        adopt_matches=matches,
    )


# -- the API shape -------------------------------------------------------------------------------------------


def test_adopt_takes_exactly_one_of_job_id_and_name() -> None:
    assert Adopt.model_validate({"name": "x"}).name == "x"
    assert Adopt.model_validate({"jobId": 4}).job_id == 4
    for bad in ({}, {"jobId": 4, "name": "x"}, {"name": ""}):
        with pytest.raises(ValidationError) as err:
            Adopt.model_validate(bad)
        assert "jobId" in str(err.value) or "name" in str(err.value)
    assert ADOPT_RULE == {
        "rule": "has(self.jobId) != has(self.name)",
        "message": "adopt: set exactly one of jobId and name",
    }


# -- the pure choice --------------------------------------------------------------------------------------------


def test_named_matches_the_exact_name_only() -> None:
    jobs: list[tuple[int, dict[str, Any]]] = [
        (5, {"name": "Legacy ETL"}),
        (3, {"name": "legacy etl", "tags": {OWNER_TAG: OTHER}}),
        (9, {"name": "legacy etl "}),
        (1, {"name": "legacy etl"}),
        (2, {}),
    ]
    assert adopt.named(jobs, "legacy etl") == (Named(1), Named(3, OTHER))


def test_one_untagged_job_of_the_name_is_adopted() -> None:
    assert adopt.by_name("etl", (Named(42),), OWNER) == adopt.Target(42)


def test_no_job_of_the_name_is_missing_with_count_zero() -> None:
    target = adopt.by_name("etl", (), OWNER)
    assert target.job_id is None and target.refusal is not None
    assert target.refusal.reason is Reason.ADOPT_TARGET_MISSING
    assert '"etl"' in target.refusal.message and "(0 found)" in target.refusal.message


def test_several_jobs_of_the_name_are_ambiguous_with_the_count_and_sorted_ids() -> None:
    target = adopt.by_name("etl", (Named(30), Named(10, OTHER), Named(20)), OWNER)
    assert target.job_id is None and target.refusal is not None
    assert target.refusal.reason is Reason.ADOPT_TARGET_AMBIGUOUS
    assert "3 jobs" in target.refusal.message and "(10, 20, 30)" in target.refusal.message
    assert OTHER not in target.refusal.message  # another tenant's owner tag is never shown


def test_a_long_list_of_ids_is_capped() -> None:
    many = tuple(Named(i) for i in range(100, 100 + MAX_IDS + 5))
    refusal = adopt.by_name("etl", many, OWNER).refusal
    assert refusal is not None and f"{MAX_IDS + 5} jobs" in refusal.message
    assert f"{100 + MAX_IDS - 1} and 5 more" in refusal.message and str(100 + MAX_IDS) not in refusal.message


def test_the_one_job_of_the_name_managed_by_another_resource_is_owned() -> None:
    refusal = adopt.by_name("etl", (Named(7, OTHER),), OWNER).refusal
    assert refusal is not None and refusal.reason is Reason.ADOPT_TARGET_OWNED
    assert "job 7" in refusal.message and OTHER not in refusal.message


def test_a_job_carrying_our_own_owner_tag_wins_over_others_of_the_name() -> None:
    # Adopted before and status lost (a re-install): that job is ours, not a guess.
    assert adopt.by_name("etl", (Named(5), Named(8, OWNER)), OWNER) == adopt.Target(8)


def test_check_by_job_id_keeps_its_messages() -> None:
    refusal = adopt.check(Adopt(jobId=7), None, None, None, OWNER)
    assert refusal == adopt.Refusal(Reason.ADOPT_TARGET_MISSING, "spec.adopt.jobId 7 does not exist in the workspace")
    refusal = adopt.check(Adopt(jobId=7), None, 7, OTHER, OWNER)
    assert refusal is not None and refusal.reason is Reason.ADOPT_TARGET_OWNED and OTHER not in refusal.message
    assert adopt.check(Adopt(jobId=7), None, 7, None, OWNER) is None


def test_check_by_name_refuses_a_job_gone_since_it_was_listed() -> None:
    refusal = adopt.check(Adopt(name="etl"), (Named(7),), None, None, OWNER)
    assert refusal is not None and refusal.reason is Reason.ADOPT_TARGET_MISSING and "job 7" in refusal.message


# -- through plan and settle ------------------------------------------------------------------------------------


def test_plan_adopts_the_one_job_of_the_name_and_resets_it_to_spec() -> None:
    old = {"name": "legacy etl", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/old"}}]}
    f = facts((Named(42),), Observation(42, old))
    decision = plan(f)
    assert decision.problem is None and decision.step is Step.RESET
    assert decision.body["name"] == "etl" and decision.body["tags"] == {OWNER_TAG: OWNER}
    new = settle(f, decision, Result(job_id=42))
    assert new is not None and new.status["jobId"] == 42


@pytest.mark.parametrize(
    ("matches", "reason", "words"),
    [
        ((), Reason.ADOPT_TARGET_MISSING, ['"legacy etl"', "0 found"]),
        ((Named(11), Named(12)), Reason.ADOPT_TARGET_AMBIGUOUS, ["2 jobs", "(11, 12)"]),
        ((Named(11, OTHER),), Reason.ADOPT_TARGET_OWNED, ["job 11", "another DatabricksJob"]),
    ],
)
def test_plan_refuses_none_several_or_owned_terminally_and_writes_nothing(
    matches: tuple[Named, ...], reason: Reason, words: list[str]
) -> None:
    f = facts(matches, Observation(None, None))
    decision = plan(f)
    assert decision.step is Step.NONE and decision.body == {}  # no create, no reset
    assert decision.problem is not None and decision.problem.reason is reason
    assert all(w in decision.problem.message for w in words), decision.problem.message
    new = settle(f, decision, Result())
    assert new is not None and "jobId" not in new.status
    assert new.status["observedGeneration"] == 3  # terminal: Argo CD stops waiting for this generation
    for ctype in (ConditionType.SYNCED, ConditionType.READY):
        got = find_condition(new.status["conditions"], ctype)
        assert got is not None and (got["status"], got["reason"]) == ("False", reason.value)
    assert [(e.type, e.reason) for e in new.events] == [("Warning", EventReason(reason.value))]


def test_once_adopted_the_name_no_longer_matters() -> None:
    # status.jobId is set: even with no job of that name left (the reset renamed it), the job is managed by id.
    live = {**SETTINGS, "tags": {OWNER_TAG: OWNER}}
    f = facts(None, Observation(42, live), status={"jobId": 42, "observedGeneration": 3})
    decision = plan(f)
    assert decision.problem is None and decision.step is Step.NONE


def test_ambiguity_is_not_refused_again_each_cycle_with_a_new_event() -> None:
    f = facts((Named(11), Named(12)), Observation(None, None))
    first = settle(f, plan(f), Result())
    assert first is not None
    again = facts((Named(11), Named(12)), Observation(None, None), status=first.status)
    second = settle(again, plan(again), Result())
    assert second is not None and second.events == []


# -- the observer's index ------------------------------------------------------------------------------------


def test_index_named_is_none_for_a_name_the_cycle_did_not_look_for() -> None:
    jobs = {1: LiveJob(1, {"name": "etl"}, None), 2: LiveJob(2, {"name": "etl", "tags": {OWNER_TAG: OTHER}}, None)}
    index = JobIndex(jobs, {OTHER: (2,)}, total=5, names=frozenset({"etl"}), by_name={"etl": (1, 2)})
    assert index.named("etl") == (Named(1), Named(2, OTHER))
    assert index.named("other") is None
    assert JobIndex(jobs, names=frozenset({"nope"})).named("nope") == ()
