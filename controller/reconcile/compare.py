"""First-cut drift comparison of desired JobSettings against the live job.

Both sides are normalized the same way before the diff (server-filled defaults, lists keyed by
their key field, response-only and write-only fields dropped, our ownership marker removed);
then deepdiff finds the differences. Rules and sources: ../shared/research/jobs-api-spec.md §4.3
(defaults filled on read, order of tasks and depends_on). The full normalization table is a
separate piece of work; this module keeps the same entry point, ``drift_paths``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff

#: Tag the controller puts on every job it owns, value = the resource's metadata.uid. It lets a
#: restarted controller whose status write was lost find the job instead of creating a second.
OWNER_TAG = "dbjobs-uid"

# Keyed lists (spec §4.3: compared as maps keyed by their key field).
_KEYED_LISTS = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}
# Server defaults on read (spec §4.3, [cloud]/[docs] rows); equal only when the live value is the default.
_JOB_DEFAULTS: dict[str, Any] = {
    "email_notifications": {},
    "webhook_notifications": {},
    "timeout_seconds": 0,
    "max_concurrent_runs": 1,
    "queue": {"enabled": True},
}
_TASK_DEFAULTS: dict[str, Any] = {"run_if": "ALL_SUCCESS", "timeout_seconds": 0, "email_notifications": {}}
_SOURCE_TASKS = ("notebook_task", "spark_python_task", "dbt_task")
_RESPONSE_ONLY = ("format",)


def _drop_empty(value: Any) -> Any:
    """Empty maps and lists count as absent: the API omits them in some answers and echoes them in others."""
    if isinstance(value, Mapping):
        out = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def _normalize_task(task: Mapping[str, Any], has_git_source: bool) -> dict[str, Any]:
    out = dict(task)
    for key, default in _TASK_DEFAULTS.items():
        out.setdefault(key, copy.deepcopy(default))
    source = "GIT" if has_git_source else "WORKSPACE"
    for ttype in _SOURCE_TASKS:
        if isinstance(out.get(ttype), Mapping):
            out[ttype] = {**out[ttype], "source": out[ttype].get("source", source)}
    sql_file = (out.get("sql_task") or {}).get("file")
    if isinstance(sql_file, Mapping):
        out["sql_task"] = {**out["sql_task"], "file": {**sql_file, "source": sql_file.get("source", source)}}
    if isinstance(out.get("depends_on"), list):
        out["depends_on"] = sorted(out["depends_on"], key=lambda d: str(d.get("task_key", "")))
    if isinstance(out.get("new_cluster"), Mapping):
        out["new_cluster"] = {k: v for k, v in out["new_cluster"].items() if k != "apply_policy_default_values"}
    for_each = out.get("for_each_task")
    if isinstance(for_each, Mapping) and isinstance(for_each.get("task"), Mapping):
        out["for_each_task"] = {**for_each, "task": _normalize_task(for_each["task"], has_git_source)}
    return out


def normalize(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings in comparable form: defaults filled, keyed lists as ``{"[key=value]": item}`` maps.

    The input is not modified. Raises nothing: malformed parts are compared as they are.
    """
    out: dict[str, Any] = copy.deepcopy(dict(settings))
    for key in _RESPONSE_ONLY:
        out.pop(key, None)
    for key, default in _JOB_DEFAULTS.items():
        out.setdefault(key, copy.deepcopy(default))
    for trig in ("schedule", "trigger", "continuous"):
        if isinstance(out.get(trig), Mapping):
            out[trig] = {"pause_status": "UNPAUSED", **out[trig]}
    tags = dict(out.get("tags") or {})
    tags.pop(OWNER_TAG, None)
    out["tags"] = tags
    has_git = bool(out.get("git_source"))
    if isinstance(out.get("tasks"), list):
        out["tasks"] = [_normalize_task(t, has_git) if isinstance(t, Mapping) else t for t in out["tasks"]]
    for jc in out.get("job_clusters") or []:
        if isinstance(jc, dict) and isinstance(jc.get("new_cluster"), Mapping):
            jc["new_cluster"] = {k: v for k, v in jc["new_cluster"].items() if k != "apply_policy_default_values"}
    for name, key in _KEYED_LISTS.items():
        items = out.get(name)
        if isinstance(items, list) and all(isinstance(i, Mapping) and key in i for i in items):
            out[name] = {f"[{key}={i[key]}]": i for i in items}
    result: dict[str, Any] = _drop_empty(out)
    return result


def _render(path: list[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.startswith("[") and part.endswith("]"):
            text += part
        else:
            text += f".{part}" if text else str(part)
    return text


def drift_paths(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Paths where ``live`` differs from ``desired``, e.g. ``tasks[task_key=ingest].timeout_seconds``.

    ``desired`` is ``spec.settings``; ``live`` is ``settings`` of a ``jobs/get`` answer with all
    2.2 pages merged. Returns [] when in sync; paths are sorted and unique.
    """
    diff = DeepDiff(normalize(desired), normalize(live), view="tree")
    paths = {_render(level.path(output_format="list")) for levels in diff.values() for level in levels}
    return sorted(paths)
