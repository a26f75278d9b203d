"""Hostile manifests against the admission and validation code in process (issue 13 item 4, the fast tier): hypothesis
draws manifests of every category of ``tests/hostile.py``; :func:`controller.api.admission.manifest_problems` (what
``dbjobs plan`` reports, the CRD's checks in Python) never raises and names a field in every problem; the controller's
pre-call checks (:func:`controller.api.validate.validate_settings`) never raise on what the schema admits; each
category gets the verdict it should (deep nesting and duplicate keys refused, cycles and dangling ``depends_on``
found, 1,000 tasks admitted and 1,001 refused, a 4,096-character name of 16 KB refused before any call).

``make test`` runs :data:`SLICE` examples; ``make reliability`` (marker ``reliability``) :data:`FULL`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hostile import CATEGORIES, base_settings, examples, manifest, many_tasks, nested
from hypothesis import HealthCheck, given, settings

from controller.api.admission import MAX_DEPTH, manifest_problems
from controller.api.validate import NAME_MAX_BYTES, validate_settings

SLICE, FULL = 200, 5000
FIELD_PREFIXES = ("spec.", "metadata.", "apiVersion")
CONTROLLER = "(the controller reports InvalidSpec)"


def _named(doc: dict[str, Any]) -> dict[str, Any]:
    doc["metadata"]["name"] = "hostile"
    return doc


def check(example: tuple[str, dict[str, Any]]) -> None:
    category, doc = example
    problems = manifest_problems(_named(doc))
    assert all(isinstance(p, str) and p.startswith(FIELD_PREFIXES) for p in problems), (category, problems)
    if not [p for p in problems if CONTROLLER not in p]:  # admitted: the controller checks it before any call
        found = validate_settings(doc["spec"]["settings"])
        assert all(isinstance(p, str) for p in found)
    if category in ("deep", "duplicate-key"):  # a "mutated" value may happen to fit (a string for a string)
        assert problems, f"{category}: admitted: {doc['spec']['settings']!r:.500}"


@pytest.mark.unit
@settings(max_examples=SLICE, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(examples())
def test_admission_and_validation_never_raise_and_name_a_field(example: tuple[str, dict[str, Any]]) -> None:
    check(example)


@pytest.mark.reliability
@settings(max_examples=FULL, deadline=None, suppress_health_check=list(HealthCheck))
@given(examples())
def test_admission_and_validation_full_run(example: tuple[str, dict[str, Any]]) -> None:
    check(example)


@pytest.mark.unit
def test_every_category_is_drawn() -> None:
    assert set(CATEGORIES) == {
        "schema",
        "task",
        "mutated",
        "unicode",
        "huge",
        "many-tasks",
        "depends-on",
        "deep",
        "duplicate-key",
        "schedule",
    }


def _problems(s: dict[str, Any]) -> list[str]:
    return manifest_problems(_named(manifest(s)))


@pytest.mark.unit
def test_a_thousand_tasks_are_admitted_and_one_more_is_refused() -> None:
    assert _problems(many_tasks(1000)) == []
    assert any("spec.settings.tasks" in p and "too long" in p for p in _problems(many_tasks(1001)))


@pytest.mark.unit
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_nesting_deeper_than_any_field_is_refused_without_recursing(depth: int) -> None:
    s = base_settings()
    inner = {"task_key": "inner", "for_each_task": {"inputs": "[1]", "task": nested(depth)}}
    s["tasks"] = [{"task_key": "outer", "for_each_task": {"inputs": "[1]", "task": inner}}]
    assert any("levels deep" in p for p in _problems(s))


@pytest.mark.unit
def test_a_nested_for_each_task_admits_nothing_free_form() -> None:
    s = base_settings()
    inner = {"task_key": "inner", "for_each_task": {"inputs": "[1]", "task": {"task_key": "x"}}}
    s["tasks"] = [{"task_key": "outer", "for_each_task": {"inputs": "[1]", "task": inner}}]
    assert any("for_each_task.task.for_each_task.task" in p for p in _problems(s))


@pytest.mark.unit
def test_duplicate_list_keys_are_reported_as_the_apiserver_words_them() -> None:
    s = base_settings()
    s["tasks"].append(dict(s["tasks"][0]))
    assert 'spec.settings.tasks[1]: Duplicate value: {"task_key":"main"}' in _problems(s)


@pytest.mark.unit
def test_a_name_of_4096_characters_but_more_bytes_is_refused_before_any_call() -> None:
    assert validate_settings(base_settings("n" * NAME_MAX_BYTES)) == []
    found = validate_settings(base_settings("🦆" * NAME_MAX_BYTES))
    assert found == [f"name: {4 * NAME_MAX_BYTES} bytes in UTF-8; the Jobs API allows {NAME_MAX_BYTES}"]


@pytest.mark.unit
@pytest.mark.parametrize("tasks", [-1, "x", {"a": 1}, [{"task_key": []}], [{"task_key": "a", "depends_on": 5}]])
def test_wrong_types_in_tasks_are_findings_not_crashes(tasks: Any) -> None:
    s = base_settings()
    s["tasks"] = tasks
    assert _problems(s)
