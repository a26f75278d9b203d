"""Validation of job settings on write (spec §4.4).

Every failure raises 400 ``INVALID_PARAMETER_VALUE`` with a message that starts with the
offending field's path in the request, e.g. ``tasks[2].task_key: ...``. The real service's
texts for these cases are not public (§10), so only the code and the field name are meant to
be relied on.

:func:`check_fields` covers rules that look at one entry at a time; :func:`check_job` adds the
rules that relate entries (unique keys, dependencies, cluster references). ``jobs/update``
runs the first on the partial request and the second on the merged result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dbjobs_testkit.emulator.errors import invalid
from dbjobs_testkit.emulator.validation_blocks import check_blocks
from dbjobs_testkit.emulator.validation_tasks import TASK_FIELDS, check_task_local, check_task_sources, inner_tasks

Settings = dict[str, Any]

KEY_PATTERN = re.compile(r"^[\w\-]+$", re.ASCII)
MAX_KEY_LENGTH = 100
MAX_TASKS = 1000
MAX_TAGS = 25
MAX_CONCURRENT_RUNS = 1000
MAX_NAME_BYTES = 4096
PAUSE_STATUSES = frozenset({"PAUSED", "UNPAUSED"})
RUN_AS_PRINCIPALS = ("user_name", "service_principal_name", "group_name")
SCHEDULING_FIELDS = ("schedule", "trigger", "continuous")

#: The task-type fields of a Task (§4.1), from the SDK's Task (generated from the API's OpenAPI document);
#: a task must set exactly one of them.
TASK_TYPES = frozenset(f for f in TASK_FIELDS if f.endswith("_task"))


def check_job(settings: Settings) -> None:
    """All rules for a complete JobSettings object; raises ``ApiError`` (400) on the first failure."""
    check_fields(settings)
    tasks = _list(settings, "tasks")
    clusters = _list(settings, "job_clusters")
    _check_unique(tasks, "tasks", "task_key")
    _check_unique(clusters, "job_clusters", "job_cluster_key")
    cluster_keys = {c["job_cluster_key"] for c in clusters}
    task_keys = {t["task_key"] for t in tasks}
    for i, task in enumerate(tasks):
        ref = task.get("job_cluster_key")
        if ref is not None and ref not in cluster_keys:
            raise invalid(f"tasks[{i}].job_cluster_key: no job cluster with job_cluster_key '{ref}' in job_clusters.")
        for j, dep in enumerate(task.get("depends_on") or []):
            if dep["task_key"] == task["task_key"]:
                raise invalid(f"tasks[{i}].depends_on[{j}].task_key: a task cannot depend on itself.")
            if dep["task_key"] not in task_keys:
                raise invalid(f"tasks[{i}].depends_on[{j}].task_key: no task with task_key '{dep['task_key']}'.")
    _check_acyclic(tasks)
    has_git = settings.get("git_source") is not None
    for path, task in inner_tasks(tasks):
        check_task_sources(task, path, has_git)


def check_fields(settings: Settings) -> None:
    """Rules that need only one entry at a time (types, patterns, ranges, enums)."""
    name = settings.get("name")
    if name is not None and (not isinstance(name, str) or len(name.encode()) > MAX_NAME_BYTES):
        raise invalid(f"name: must be a string of at most {MAX_NAME_BYTES} bytes.")
    tasks = _list(settings, "tasks")
    if len(tasks) > MAX_TASKS:
        raise invalid(f"tasks: a job can have at most {MAX_TASKS} tasks, got {len(tasks)}.")
    for path, task in inner_tasks(tasks):
        _check_task(task, path)
    for i, cluster in enumerate(_list(settings, "job_clusters")):
        _check_key(cluster, "job_cluster_key", f"job_clusters[{i}]")
    _check_scheduling(settings)
    _check_int_range(settings, "max_concurrent_runs", 0, MAX_CONCURRENT_RUNS, "max_concurrent_runs")
    _check_int_range(settings, "timeout_seconds", 0, None, "timeout_seconds")
    tags = settings.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise invalid("tags: must be an object of string keys and values.")
        if len(tags) > MAX_TAGS:
            raise invalid(f"tags: at most {MAX_TAGS} tags are allowed, got {len(tags)}.")
    _check_run_as(settings)
    check_blocks(settings)


def _check_task(task: Settings, path: str) -> None:
    check_task_local(task, path)
    _check_key(task, "task_key", path)
    types = sorted(t for t in TASK_TYPES.intersection(task) if task[t] is not None)
    if len(types) != 1:
        # Source: Jobs API 2.1 OpenAPI, JobTaskSettings ("This field may not be specified in conjunction with
        # ..."; PrefectHQ/prefect src/integrations/prefect-databricks/prefect_databricks/schemas/jobs-2.1-aws.yaml).
        found = ", ".join(types) if types else "none"
        raise invalid(f"{path}: exactly one task type must be set (found: {found}).")
    deps = task.get("depends_on")
    if deps is not None:
        if not isinstance(deps, list):
            raise invalid(f"{path}.depends_on: must be an array.")
        for j, dep in enumerate(deps):
            if not isinstance(dep, dict) or not isinstance(dep.get("task_key"), str):
                raise invalid(f"{path}.depends_on[{j}].task_key: is required.")
    _check_int_range(task, "timeout_seconds", 0, None, f"{path}.timeout_seconds")
    ref = task.get("job_cluster_key")
    if ref is not None and not isinstance(ref, str):
        raise invalid(f"{path}.job_cluster_key: must be a string.")


def _check_key(entry: Settings, field: str, path: str) -> None:
    value = entry.get(field)
    where = f"{path}.{field}"
    if value is None:
        raise invalid(f"{where}: is required.")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY_LENGTH:
        raise invalid(f"{where}: must be a string of 1 to {MAX_KEY_LENGTH} characters.")
    if not KEY_PATTERN.match(value):
        raise invalid(f"{where}: '{value}' does not match the pattern ^[\\w\\-]+$.")


def _check_scheduling(settings: Settings) -> None:
    present = [f for f in SCHEDULING_FIELDS if settings.get(f) is not None]
    if len(present) > 1:
        raise invalid(f"{present[1]}: only one of schedule, trigger or continuous can be set (got {present}).")
    if settings.get("triggers") is not None and present:
        raise invalid(f"triggers: cannot be combined with {present[0]}.")
    for field in present:
        block = settings[field]
        if not isinstance(block, dict):
            raise invalid(f"{field}: must be an object.")
        pause = block.get("pause_status")
        if pause is not None and pause not in PAUSE_STATUSES:
            raise invalid(f"{field}.pause_status: must be one of PAUSED, UNPAUSED (got {pause!r}).")
    schedule = settings.get("schedule")
    if isinstance(schedule, dict):
        for key in ("quartz_cron_expression", "timezone_id"):
            value = schedule.get(key)
            if not isinstance(value, str) or not value.strip():
                raise invalid(f"schedule.{key}: is required.")


def _check_run_as(settings: Settings) -> None:
    run_as = settings.get("run_as")
    if run_as is None:
        return
    if not isinstance(run_as, dict):
        raise invalid("run_as: must be an object.")
    set_fields = [p for p in RUN_AS_PRINCIPALS if run_as.get(p)]
    if len(set_fields) != 1:
        raise invalid(
            "run_as: exactly one of user_name, service_principal_name or group_name must be set "
            f"(got {set_fields or 'none'})."
        )


def _check_int_range(obj: Settings, field: str, low: int, high: int | None, path: str) -> None:
    value = obj.get(field)
    if value is None:
        return
    # bool is an int in Python but not in JSON schemas.
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{path}: must be an integer {bound} (got {value!r}).")


def _check_unique(entries: Iterable[Settings], array: str, field: str) -> None:
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry[field] in seen:
            raise invalid(f"{array}[{i}].{field}: duplicate {field} '{entry[field]}'.")
        seen.add(entry[field])


def _check_acyclic(tasks: list[Settings]) -> None:
    index = {t["task_key"]: i for i, t in enumerate(tasks)}
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks}
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        # Iterative DFS; `path` holds the current chain so the message can show the cycle.
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, child = stack.pop()
            if child == 0:
                path.append(node)
                on_path.add(node)
            deps = graph[node]
            if child < len(deps):
                stack.append((node, child + 1))
                nxt = deps[child]
                if nxt in on_path:
                    cycle = [*path[path.index(nxt) :], nxt]
                    raise invalid(f"tasks[{index[nxt]}].depends_on: dependency cycle {' -> '.join(cycle)}.")
                if nxt not in done:
                    stack.append((nxt, 0))
            else:
                path.pop()
                on_path.discard(node)
                done.add(node)


def _list(settings: Settings, field: str) -> list[Settings]:
    value = settings.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{field}: must be an array.")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid(f"{field}[{i}]: must be an object.")
    return value
