"""Checks of ``spec.settings`` the CRD schema cannot make, run by the controller before any Databricks call.

* Quartz cron syntax and timezone ids: a regular expression cannot say "hour ≤ 23, exactly one of
  day-of-month and day-of-week is ``?``"; the schema only checks the field count. Both are checked behind
  :func:`check_schedule`, the one place that knows which library does it (quartz-cron-checker for the
  expression, the IANA database through :mod:`zoneinfo` and tzdata for the Java timezone id).
* ``depends_on`` naming an existing task, not the task itself, and forming no cycle
  (:func:`dependency_problems`): a CEL rule for it is quadratic in the number of tasks, and at the API's
  limit of 1000 tasks the apiserver's static cost estimate exceeds the per-rule budget by more than 100x, so
  the CRD cannot carry it.
* The refusal rules of :mod:`controller.api.refusals` (each with its public source), for resources admitted
  before the CRD carried the CEL rules that say most of them.
* ``name``: the Jobs API accepts a job without one (every ``JobSettings`` field is optional in
  ``jobs/create`` and ``name`` defaults to ``Untitled``, https://docs.databricks.com/api/workspace/jobs/create),
  and a job with no tasks (``tasks`` is optional there too). dbjobs refuses a missing or empty ``name``
  (the CRD requires it; :data:`NAME_REQUIRED`): ``settings: {}`` or ``name: null`` is nearly always a YAML
  slip, and a job called ``Untitled`` cannot be told from others in the workspace. A name longer than
  4096 bytes in UTF-8 (:data:`NAME_MAX_BYTES`) is refused before any call: the CRD's ``maxLength`` counts
  characters, the API bytes. A job without tasks is
  accepted, as Databricks accepts it.
* A job-id field (``run_job_task.job_id``, a job-completion trigger's ``job_id``) holding a string that is neither
  an id nor a reference ``${resources.jobs.<DatabricksJob name>.id}`` (:mod:`controller.api.jobrefs`): the CRD's
  pattern says the same; whether a reference resolves (and forms no cycle) needs the other DatabricksJobs and is
  judged at reconcile time (:mod:`controller.reconcile.references`).

A finding is a string ``"<path>: <problem>"`` with the path under ``spec.settings``.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from typing import Any

from quartz_cron_checker import validate_cron_string

from controller.api.jobrefs import syntax_problems
from controller.api.refusals import refusals

#: The message for a settings without a name (see the module doc); the CRD says the same at admission.
NAME_REQUIRED = "name: required: dbjobs manages named jobs (Databricks would call this one 'Untitled')"


#: "The maximum length is 4096 bytes in UTF-8 encoding" (``JobSettings.name``,
#: https://docs.databricks.com/api/workspace/jobs/create); 4096 characters of emoji are 16 KB.
NAME_MAX_BYTES = 4096


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_schedule(cron: Any, timezone_id: Any) -> list[tuple[str, str]]:
    """Problems with a Quartz ``cron`` expression and a Java ``timezone_id``: ``[(field, message)]``.

    Field names are ``quartz_cron_expression`` and ``timezone_id``; an empty list means both are valid.
    """
    problems: list[tuple[str, str]] = []
    try:
        if not isinstance(cron, str):
            raise ValueError(f"expected a string, got {type(cron).__name__}")
        validate_cron_string(cron.strip())
    except Exception as err:  # the library raises its own exception types, and ValueError
        problems.append(("quartz_cron_expression", f"{cron!r} is not a valid Quartz cron expression: {err}"))
    if not isinstance(timezone_id, str) or timezone_id not in _timezones():
        problems.append(("timezone_id", f"{timezone_id!r} is not a known timezone id (e.g. Europe/Amsterdam, UTC)"))
    return problems


def _tasks(settings: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tasks = settings.get("tasks")
    return [t for t in tasks if isinstance(t, Mapping)] if isinstance(tasks, list) else []


def dependency_problems(settings: Mapping[str, Any]) -> list[str]:
    """``depends_on`` entries naming no task of the job, or the task itself: ``"<path>: <problem>"``."""
    tasks = _tasks(settings)
    keys = {t.get("task_key") for t in tasks}
    found = []
    for i, task in enumerate(tasks):
        deps = task.get("depends_on")
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            key = dep.get("task_key") if isinstance(dep, Mapping) else None
            if key not in keys:
                found.append(f"tasks[{i}].depends_on[{j}].task_key: {key!r} names no task_key of this job")
            elif key == task.get("task_key"):
                found.append(f"tasks[{i}].depends_on[{j}].task_key: a task cannot depend on itself")
    return found


def validate_settings(settings: Mapping[str, Any]) -> list[str]:
    """Every problem in ``settings`` (a JobSettings dict) that admission could not refuse; [] when valid.

    Order: the name, dangling or self dependencies, the refusal rules (cycles last), the schedule, job ids.
    """
    name = settings.get("name")
    found: list[str] = [] if isinstance(name, str) and name.strip() else [NAME_REQUIRED]
    if isinstance(name, str) and len(name.encode()) > NAME_MAX_BYTES:  # the CRD's maxLength counts characters
        found.append(f"name: {len(name.encode())} bytes in UTF-8; the Jobs API allows {NAME_MAX_BYTES}")
    found += dependency_problems(settings)
    found += [str(r) for r in refusals(settings)]
    schedule = settings.get("schedule")
    if isinstance(schedule, Mapping):
        for field, message in check_schedule(schedule.get("quartz_cron_expression"), schedule.get("timezone_id")):
            found.append(f"schedule.{field}: {message}")
    return found + syntax_problems(settings)
