"""Pure tests of the emulator's rules: server defaults, validation, update merging, paging."""

from __future__ import annotations

from typing import Any

import pytest

from dbjobs_testkit.emulator.defaults import RULES, WriteContext, normalize_settings
from dbjobs_testkit.emulator.errors import ApiError
from dbjobs_testkit.emulator.paging import decode_token, encode_token, settings_page
from dbjobs_testkit.emulator.settings_ops import merge_update
from dbjobs_testkit.emulator.validation import check_job

pytestmark = pytest.mark.unit

CREATE_22 = WriteContext("2.2", "create")


def nb(key: str, *deps: str, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"task_key": key, "notebook_task": {"notebook_path": f"/{key}"}, **extra}
    if deps:
        task["depends_on"] = [{"task_key": d} for d in deps]
    return task


def test_every_rule_names_its_source() -> None:
    assert all(rule.source.startswith("[") and "§" in rule.source for rule in RULES)


def test_job_level_defaults_on_a_22_create() -> None:
    out = normalize_settings({"name": "n", "format": "SINGLE_TASK"}, CREATE_22)

    assert out == {
        "name": "n",
        "format": "MULTI_TASK",
        "email_notifications": {},
        "webhook_notifications": {},
        "timeout_seconds": 0,
        "max_concurrent_runs": 1,
        "queue": {"enabled": True},
    }


def test_21_writes_and_22_updates_do_not_add_queue() -> None:
    assert "queue" not in normalize_settings({}, WriteContext("2.1", "create"))
    assert "queue" not in normalize_settings({}, WriteContext("2.2", "update", previous={}))
    assert normalize_settings({"queue": {"enabled": False}}, CREATE_22)["queue"] == {"enabled": False}


def test_pause_status_defaults_only_inside_present_blocks() -> None:
    out = normalize_settings({"trigger": {"periodic": {"interval": 1, "unit": "DAYS"}}}, CREATE_22)

    assert out["trigger"]["pause_status"] == "UNPAUSED"
    assert "schedule" not in out and "continuous" not in out


def test_task_defaults_source_and_ordering() -> None:
    settings: dict[str, Any] = {
        "git_source": {"git_url": "https://x", "git_provider": "gitHub", "git_branch": "main"},
        "tasks": [
            nb("b", "z", "a"),
            nb("a"),
            nb("z"),
            {"task_key": "q", "sql_task": {"file": {"path": "q.sql"}, "warehouse_id": "w"}},
            {
                "task_key": "w",
                "python_wheel_task": {"package_name": "p", "entry_point": "e"},
                "new_cluster": {"apply_policy_default_values": True, "num_workers": 2},
            },
        ],
    }

    out = normalize_settings(settings, CREATE_22)

    assert [t["task_key"] for t in out["tasks"]] == ["a", "b", "q", "w", "z"]
    b = out["tasks"][1]
    assert [d["task_key"] for d in b["depends_on"]] == ["a", "z"]
    assert (b["run_if"], b["timeout_seconds"], b["email_notifications"]) == ("ALL_SUCCESS", 0, {})
    assert b["notebook_task"]["source"] == "GIT"
    assert out["tasks"][2]["sql_task"]["file"]["source"] == "GIT"
    assert "source" not in out["tasks"][3]["python_wheel_task"]
    assert out["tasks"][3]["new_cluster"] == {"num_workers": 2}
    assert settings["tasks"][0]["task_key"] == "b"  # the input is not modified


def test_explicit_values_win_over_defaults() -> None:
    out = normalize_settings({"tasks": [nb("a", run_if="ALL_DONE", timeout_seconds=5)]}, CREATE_22)

    assert (out["tasks"][0]["run_if"], out["tasks"][0]["timeout_seconds"]) == ("ALL_DONE", 5)
    assert out["tasks"][0]["notebook_task"]["source"] == "WORKSPACE"


def test_run_as_is_sticky_on_reset_only() -> None:
    previous = {"run_as": {"user_name": "u@x"}}

    assert normalize_settings({}, WriteContext("2.2", "reset", previous))["run_as"] == {"user_name": "u@x"}
    assert "run_as" not in normalize_settings({}, WriteContext("2.2", "edit", previous))


@pytest.mark.parametrize(
    ("settings", "message_start"),
    [
        ({"tasks": [{"notebook_task": {}}]}, "tasks[0].task_key: is required"),
        ({"tasks": [nb("a"), nb("a/b")]}, "tasks[1].task_key:"),
        ({"tasks": [nb("x" * 101)]}, "tasks[0].task_key:"),
        ({"tasks": [nb("a"), nb("a")]}, "tasks[1].task_key: duplicate"),
        ({"tasks": [{"task_key": "a"}]}, "tasks[0]: exactly one task type"),
        ({"tasks": [{"task_key": "a", "notebook_task": {}, "sql_task": {}}]}, "tasks[0]: exactly one task type"),
        ({"tasks": [nb("a", "a")]}, "tasks[0].depends_on[0].task_key: a task cannot depend on itself"),
        ({"tasks": [nb("a", "b"), nb("b", "c"), nb("c", "a")]}, "tasks[0].depends_on: dependency cycle"),
        ({"tasks": [nb("a", job_cluster_key="c")]}, "tasks[0].job_cluster_key:"),
        ({"job_clusters": [{"job_cluster_key": "c"}, {"job_cluster_key": "c"}]}, "job_clusters[1].job_cluster_key"),
        (
            {"schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}, "continuous": {}},
            "continuous: only one of",
        ),
        ({"schedule": {"timezone_id": "UTC"}}, "schedule.quartz_cron_expression: is required"),
        ({"continuous": {"pause_status": "STOPPED"}}, "continuous.pause_status:"),
        ({"max_concurrent_runs": -1}, "max_concurrent_runs:"),
        ({"max_concurrent_runs": True}, "max_concurrent_runs:"),
        ({"tags": {str(i): "" for i in range(26)}}, "tags:"),
        ({"run_as": {"user_name": "a", "service_principal_name": "b"}}, "run_as:"),
        ({"run_as": {}}, "run_as:"),
    ],
)
def test_invalid_settings_are_rejected_naming_the_field(settings: dict[str, Any], message_start: str) -> None:
    with pytest.raises(ApiError) as info:
        check_job(settings)

    assert (info.value.status, info.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert info.value.message.startswith(message_start), info.value.message


def test_valid_settings_pass() -> None:
    check_job(
        {
            "name": "ok",
            "max_concurrent_runs": 0,
            "tags": {"a": "b"},
            "run_as": {"group_name": "g"},
            "job_clusters": [{"job_cluster_key": "c", "new_cluster": {}}],
            "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"},
            "tasks": [nb("a", job_cluster_key="c"), nb("b-1", "a"), nb("c_2", "a", "b-1")],
        }
    )
    check_job({})  # a job with no tasks is valid (§3.1)


def test_update_merges_keyed_arrays_and_removes_entries() -> None:
    stored: dict[str, Any] = {
        "name": "a",
        "tags": {"x": "1"},
        "schedule": {"quartz_cron_expression": "c"},
        "tasks": [nb("a"), nb("b"), nb("c")],
        "parameters": [{"name": "p", "default": "1"}],
    }

    out = merge_update(
        stored,
        {"tags": {"y": "2"}, "tasks": [nb("b", max_retries=1), nb("d")], "parameters": [{"name": "p", "default": "2"}]},
        ["schedule", "tasks/c"],
    )

    assert out["tags"] == {"y": "2"} and "schedule" not in out
    assert [(t["task_key"], t.get("max_retries")) for t in out["tasks"]] == [("a", None), ("b", 1), ("d", None)]
    assert out["parameters"] == [{"name": "p", "default": "2"}]
    assert [t["task_key"] for t in stored["tasks"]] == ["a", "b", "c"]


def test_settings_page_slices_and_omits_exhausted_arrays() -> None:
    settings = {"name": "n", "tasks": list(range(150)), "parameters": list(range(5))}

    first, more_after_first = settings_page(settings, 0, 100)
    second, more_after_second = settings_page(settings, 1, 100)

    assert first == {"name": "n", "tasks": list(range(100)), "parameters": list(range(5))} and more_after_first
    assert second == {"tasks": list(range(100, 150))} and not more_after_second


def test_page_tokens_round_trip_and_reject_foreign_tokens() -> None:
    assert decode_token(encode_token("jobs", 42), "jobs") == 42
    for bad in ("", "not-base64!", encode_token("runs", 1)):
        with pytest.raises(ApiError, match="page_token"):
            decode_token(bad, "jobs")
