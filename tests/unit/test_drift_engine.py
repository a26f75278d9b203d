"""The drift engine's rules one by one, the bounded status report, and the correction bound."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from controller.api.models import DriftPolicy
from controller.reconcile.decide import Observation, Verb, decide
from controller.reconcile.drift import ABSENT, compare, write_only_values
from controller.reconcile.reasons import Reason
from controller.reconcile.report import (
    MAX_CORRECTION_ATTEMPTS,
    MAX_ITEMS,
    MAX_PATHS,
    MAX_VALUE_CHARS,
    CorrectionStep,
    correction_step,
    drift_status,
    explicit_settings,
    held_not_converging,
)
from controller.reconcile.rules import RULES, unsourced

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def job(*tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "j", "tasks": list(tasks), **extra}


def nb(key: str, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "notebook_task": {"notebook_path": f"/Shared/{key}"}, **extra}


def test_every_rule_has_a_source() -> None:
    assert all(r.source for r in RULES)
    print("rules without a public source:", [f"{r.scope}:{r.field}" for r in unsourced()])


def test_nested_scalar_is_named_by_key_with_values() -> None:
    desired = job(nb("ingest", notebook_task={"notebook_path": "/x", "base_parameters": {"date": "a"}}))
    live = job(nb("ingest", notebook_task={"notebook_path": "/x", "base_parameters": {"date": "b"}}))
    (item,) = compare(desired, live).items
    assert item.path == "tasks[task_key=ingest].notebook_task.base_parameters.date"
    assert (item.desired, item.live) == ("a", "b")


def test_for_each_inner_task_gets_task_rules_and_reports_inside() -> None:
    inner = {"task_key": "it", "notebook_task": {"notebook_path": "/nb"}}
    desired = job({"task_key": "loop", "for_each_task": {"inputs": "[1]", "task": inner}})
    live_inner = {**inner, "run_if": "ALL_DONE", "notebook_task": {"notebook_path": "/nb", "source": "WORKSPACE"}}
    live = job({"task_key": "loop", "for_each_task": {"inputs": "[1]", "task": live_inner}})
    assert compare(desired, live).paths == ["tasks[task_key=loop].for_each_task.task.run_if"]


def test_default_is_equal_only_to_its_own_value() -> None:
    assert compare(job(nb("t")), job(nb("t", run_if="ALL_SUCCESS"))).in_sync
    assert compare(job(nb("t")), job(nb("t", run_if="ALL_DONE"))).paths == ["tasks[task_key=t].run_if"]
    paused = {"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC"}
    assert compare(job(schedule=paused), job(schedule={**paused, "pause_status": "UNPAUSED"})).in_sync
    assert compare(job(schedule=paused), job(schedule={**paused, "pause_status": "PAUSED"})).paths == [
        "schedule.pause_status"
    ]


def test_false_equals_absent_and_queue_default() -> None:
    assert compare(job(), job(notification_settings={"no_alert_for_skipped_runs": False})).in_sync
    assert compare(job(), job(queue={"enabled": True})).in_sync
    assert compare(job(), job(queue={"enabled": False})).paths == ["queue.enabled"]


def test_source_default_follows_git_source() -> None:
    git = {"git_url": "https://x", "git_provider": "GitHub", "git_branch": "main"}
    desired = job(nb("t"), git_source={**git, "git_provider": "gitHub"})
    live = job(nb("t", notebook_task={"notebook_path": "/Shared/t", "source": "GIT"}), git_source=git)
    assert compare(desired, live).in_sync
    # git_source removed from the spec: the stale GIT source is drift, and the write says WORKSPACE.
    assert compare(job(nb("t")), live).paths == ["git_source", "tasks[task_key=t].notebook_task.source"]
    assert explicit_settings(job(nb("t")))["tasks"][0]["notebook_task"]["source"] == "WORKSPACE"


def test_sets_keyed_lists_and_ordered_lists() -> None:
    desired = job(nb("t"), email_notifications={"on_failure": ["a@x", "b@x"]})
    assert compare(desired, job(nb("t"), email_notifications={"on_failure": ["b@x", "a@x"]})).in_sync
    hooks = {"on_start": [{"id": "1"}, {"id": "2"}]}
    assert compare(
        job(webhook_notifications=hooks), job(webhook_notifications={"on_start": [{"id": "2"}, {"id": "1"}]})
    ).in_sync
    params = [{"name": "a", "default": ""}, {"name": "b", "default": "x"}]
    assert compare(job(parameters=params), job(parameters=params[::-1])).in_sync
    assert compare(job(parameters=params), job(parameters=[{"name": "a"}, params[1]])).paths == [
        "parameters[name=a].default"
    ]
    py = {"python_file": "/f.py", "parameters": ["--a", "--b"]}
    report = compare(
        job({"task_key": "p", "spark_python_task": py}),
        job({"task_key": "p", "spark_python_task": {**py, "parameters": ["--b", "--a"]}}),
    )
    assert report.paths == ["tasks[task_key=p].spark_python_task.parameters"]


def test_map_keys_with_dots_use_brackets() -> None:
    cluster = {"spark_version": "15.4.x", "num_workers": 1, "spark_conf": {"spark.x": "1"}}
    live = {**cluster, "spark_conf": {"spark.x": "2"}}
    assert compare(job(new_cluster=cluster), job(new_cluster=live)).paths == ["new_cluster.spark_conf['spark.x']"]


def test_run_as_defaults_to_owner_and_compares_the_principal() -> None:
    assert compare(job(), job(run_as={"user_name": "me@x"}), owner="me@x").in_sync
    assert compare(job(), job(run_as={"user_name": "other@x"}), owner="me@x").paths == ["run_as"]
    assert compare(job(run_as={"service_principal_name": "u-1"}), job(run_as={"user_name": "u-1"})).in_sync
    assert explicit_settings(job(), owner="me@x")["run_as"] == {"user_name": "me@x"}
    assert "run_as" not in explicit_settings(job())


def test_write_only_fields_compare_with_last_applied_never_with_a_read() -> None:
    cluster = {"spark_version": "15.4.x", "num_workers": 1, "policy_id": "p", "apply_policy_default_values": True}
    desired = job(job_clusters=[{"job_cluster_key": "c", "new_cluster": cluster}])
    live = job(
        job_clusters=[
            {
                "job_cluster_key": "c",
                "new_cluster": {k: v for k, v in cluster.items() if k != "apply_policy_default_values"},
            }
        ]
    )
    applied = write_only_values(desired)
    path = "job_clusters[job_cluster_key=c].new_cluster.apply_policy_default_values"
    assert applied == {path: True}
    assert compare(desired, live).in_sync  # not tracked: not compared
    assert compare(desired, live, applied_write_only=applied).in_sync
    (item,) = compare(desired, live, applied_write_only={path: False}).items
    assert (item.path, item.desired, item.live, item.write_only) == (path, True, False, True)
    (item,) = compare(desired, live, applied_write_only={}).items
    assert item.live is ABSENT


def test_status_drift_is_bounded_and_values_truncated() -> None:
    many = {f"k{i:02d}": "v" * 500 for i in range(30)}
    report = compare(job(tags={"a": "1"}), job(tags={"a": "1", **many}))
    out = drift_status(report, {"a": 1})
    assert out["detected"] is True and out["count"] == 30
    assert len(out["paths"]) == MAX_PATHS and len(out["items"]) == MAX_ITEMS
    assert all(len(i["live"]) <= MAX_VALUE_CHARS and "desired" not in i for i in out["items"])
    assert out["items"][0] == {"path": "tags.k00", "writeOnly": False, "live": json.dumps("v" * 500)[:199] + "…"}
    assert "lastCheckedTime" not in out and out["appliedWriteOnly"] == {"a": 1}
    assert "appliedWriteOnly" not in drift_status(compare(job(), job()))


def test_correction_is_bounded() -> None:
    assert correction_step(1, []) is CorrectionStep.CONVERGED
    assert correction_step(1, ["run_as"]) is CorrectionStep.RETRY
    assert correction_step(MAX_CORRECTION_ATTEMPTS, ["run_as"]) is CorrectionStep.GIVE_UP
    # Simulate a field the workspace keeps whatever we send: the loop ends after the bound.
    attempts = 0
    while True:
        attempts += 1
        if correction_step(attempts, ["run_as"]) is not CorrectionStep.RETRY:
            break
    assert attempts == MAX_CORRECTION_ATTEMPTS


def test_stuck_paths_are_held_until_spec_or_drift_changes() -> None:
    live = job(run_as={"user_name": "other@x"})
    status = {
        "jobId": 7,
        "observedGeneration": 2,
        "conditions": [
            {"type": "Synced", "status": "False", "reason": Reason.DRIFT_NOT_CONVERGING.value, "observedGeneration": 2}
        ],
        "drift": {"count": 1, "paths": ["run_as"]},
    }

    def verb(live: dict[str, Any], generation: int = 2) -> Verb:
        obs = Observation(7, live)
        return decide(job(), obs, status=status, generation=generation, drift_policy=DriftPolicy.CORRECT).verb

    assert held_not_converging(status, 2, ["run_as"])
    assert verb(live) is Verb.HOLD_NOT_CONVERGING
    assert verb({**live, "max_concurrent_runs": 5}) is Verb.RESET  # new drift: new attempts
    assert verb(live, generation=3) is Verb.RESET  # new spec: new attempts
