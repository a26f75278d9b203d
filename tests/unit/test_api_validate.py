"""``validate_settings``: what admission cannot check (Quartz syntax, timezone ids, dangling or cyclic
depends_on, the refusal rules, a missing name).

Aspects: valid schedules from the corpus pass; each kind of bad cron / timezone / dependency gives one
finding that names its path; a cycle is found before any call; ``settings: {}`` and ``name: null`` are
refused; operator-field defaults live in the model, not the CRD.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.models import DatabricksJobSpec
from controller.api.validate import NAME_REQUIRED, check_schedule, validate_settings

pytestmark = pytest.mark.unit


def _job(**extra: Any) -> dict[str, Any]:
    return {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}], **extra}


@pytest.mark.parametrize(
    "cron", ["0 0 2 * * ?", "16 59 23 ? * Mon", "0 0/30 * * * ?", "0 15 10 ? * 6L 2026", "0 0 0 ? * 2#1"]
)
def test_valid_quartz_expressions_pass(cron: str) -> None:
    assert check_schedule(cron, "Europe/Amsterdam") == []


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 0 2 * *", "6 or 7"),
        ("61 0 2 * * ?", "second"),
        ("0 0 25 * * ?", "hour"),
        ("0 0 2 * * *", "?"),
        ("0 0 2 ? * 8", "day_of_week"),
        (7, "string"),
    ],
)
def test_invalid_quartz_expressions_name_the_field(cron: Any, fragment: str) -> None:
    ((field, message),) = check_schedule(cron, "UTC")
    assert field == "quartz_cron_expression" and fragment in message


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "europe/amsterdam", None])
def test_unknown_timezones_are_refused(tz: Any) -> None:
    ((field, _),) = check_schedule("0 0 2 * * ?", tz)
    assert field == "timezone_id"


def test_validate_settings_paths() -> None:
    settings = _job(schedule={"quartz_cron_expression": "0 0 2 * *", "timezone_id": "Nowhere/City"})
    settings["tasks"].append(
        {
            "task_key": "b",
            "depends_on": [{"task_key": "zz"}, {"task_key": "b"}],
            "notebook_task": {"notebook_path": "/b"},
        }
    )
    found = validate_settings(settings)  # dependency problems included
    assert [f.split(":")[0] for f in found] == [
        "tasks[1].depends_on[0].task_key",
        "tasks[1].depends_on[1].task_key",
        "schedule.quartz_cron_expression",
        "schedule.timezone_id",
    ]


def test_valid_settings_have_no_findings() -> None:
    settings = _job(schedule={"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "Europe/Amsterdam"})
    settings["tasks"].append(
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "sql_task": {"query": {"query_id": "q"}}}
    )
    assert validate_settings(settings) == []


def test_a_dependency_cycle_is_found_naming_the_cycle() -> None:
    settings = _job()
    settings["tasks"][0]["depends_on"] = [{"task_key": "b"}]
    settings["tasks"].append(
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}}
    )
    (finding,) = validate_settings(settings)
    assert finding.startswith("tasks[0].depends_on: ") and "a -> b -> a" in finding


@pytest.mark.parametrize("settings", [{}, {"name": None}, {"name": ""}, {"name": "  ", "tasks": []}])
def test_a_job_without_a_name_is_refused_one_without_tasks_is_not(settings: dict[str, Any]) -> None:
    assert validate_settings(settings) == [NAME_REQUIRED]
    assert validate_settings({**settings, "name": "n"}) == []


def test_operator_defaults_are_applied_in_code() -> None:
    spec = DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": _job()})
    assert spec.paused is False and spec.adopt is None
    assert spec.health_policy.consecutive_failures == 1
    assert spec.health_policy.affects_ready is False
    full = DatabricksJobSpec.model_validate(
        {
            "workspaceRef": {"name": "w"},
            "healthPolicy": {"consecutiveFailures": 3, "maxRunDurationSeconds": 60, "affectsReady": True},
            "adopt": {"jobId": 42},
            "paused": True,
        }
    )
    assert full.health_policy.consecutive_failures == 3 and full.adopt and full.adopt.job_id == 42
