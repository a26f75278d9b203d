"""Problems a converted job carries that the Jobs API would refuse or misread, found without the API.

These are warnings, never errors: ``dbjobs convert`` keeps the job as written (the CRD admission and the
Jobs API give the final verdict). Rules follow the Jobs API reference (jobs-api-spec §4.4) and the
"dynamic value references" docs:

* a ``job_cluster_key`` must name one of the job's ``job_clusters``; an ``environment_key`` one of
  its ``environments``;
* ``depends_on[].task_key`` must name a task of the same job;
* a task has exactly one task type field (``notebook_task``, ``condition_task``, …);
* a ``git_source`` names exactly one of ``git_branch``, ``git_tag``, ``git_commit`` (Jobs API reference);
* local paths (``./x.py``, dbx ``file://``) only mean something to the deploy tool that uploads them;
* ``{{…}}`` references start with a namespace Databricks substitutes at run time (``job``, ``task``,
  ``tasks``, ``workspace``, ``input``, ``backfill`` or a legacy name such as ``run_id``).
"""

from __future__ import annotations

import re
from typing import Any

from controller.gitops.apiforms import TASK_TYPE_FIELDS
from controller.gitops.conversion import Finding, join_path

DYNAMIC_REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
DYNAMIC_ROOTS = frozenset(
    {
        "job",
        "task",
        "tasks",
        "workspace",
        "input",
        "backfill",
        # Deprecated flat names, still substituted.
        "job_id",
        "run_id",
        "parent_run_id",
        "start_date",
        "start_time",
        "task_retry_count",
        "task_key",
        "is_job_run",
    }
)


def _keys(items: Any, key: str) -> set[Any]:
    return {i.get(key) for i in items if isinstance(i, dict)} if isinstance(items, list) else set()


def _task_problems(
    task: dict[str, Any], path: str, clusters: set[Any], envs: set[Any], task_keys: set[Any]
) -> list[Finding]:
    findings: list[Finding] = []
    kinds = sorted(TASK_TYPE_FIELDS & task.keys())
    if len(kinds) > 1:
        findings.append((path, f"declares several task types ({', '.join(kinds)}); a task has exactly one"))
    cluster = task.get("job_cluster_key")
    if cluster is not None and cluster not in clusters and "${" not in str(cluster):
        findings.append((join_path(path, "job_cluster_key"), f"{cluster!r} is not a key of the job's job_clusters"))
    env = task.get("environment_key")
    if env is not None and env not in envs and "${" not in str(env):
        findings.append((join_path(path, "environment_key"), f"{env!r} is not a key of the job's environments"))
    for i, dep in enumerate(task.get("depends_on") or []):
        dep_key = dep.get("task_key") if isinstance(dep, dict) else None
        if dep_key is not None and dep_key not in task_keys and "${" not in str(dep_key):
            findings.append(
                (join_path(join_path(path, "depends_on"), i), f"task_key {dep_key!r} is not a task of this job")
            )
    nested = task.get("for_each_task")
    if isinstance(nested, dict) and isinstance(nested.get("task"), dict):
        inner = join_path(join_path(path, "for_each_task"), "task")
        findings += _task_problems(nested["task"], inner, clusters, envs, task_keys)
    return findings


def reference_problems(settings: dict[str, Any], origin: str) -> list[Finding]:
    """Dangling keys, multi-typed tasks and a ``git_source`` without a reference (see module doc)."""
    git = settings.get("git_source")
    found: list[Finding] = []
    if isinstance(git, dict) and not any(git.get(r) for r in ("git_branch", "git_tag", "git_commit")):
        message = "names no git_branch, git_tag or git_commit; the Jobs API needs one (an empty variable?)"
        found.append((join_path(origin, "git_source"), message))
    tasks = settings.get("tasks")
    if not isinstance(tasks, list):
        return found
    clusters = _keys(settings.get("job_clusters"), "job_cluster_key")
    envs = _keys(settings.get("environments"), "environment_key")
    task_keys = _keys(tasks, "task_key")
    findings: list[Finding] = found
    for i, task in enumerate(tasks):
        if isinstance(task, dict):
            findings += _task_problems(task, join_path(join_path(origin, "tasks"), i), clusters, envs, task_keys)
    return findings


def dynamic_reference_problems(value: Any, path: str) -> list[Finding]:
    """``{{…}}`` references whose namespace Databricks does not substitute (left as is, reported)."""
    if isinstance(value, str):
        out: list[Finding] = []
        for ref in DYNAMIC_REFERENCE.findall(value):
            root = re.split(r"[.\s\[]", ref, maxsplit=1)[0]
            if root not in DYNAMIC_ROOTS:
                out.append((path, f"{{{{{ref}}}}} is not a Databricks dynamic value reference; left as is"))
        return out
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in dynamic_reference_problems(v, join_path(path, str(k)))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in dynamic_reference_problems(v, join_path(path, i))]
    return []


LOCAL_PATH_PREFIXES = ("./", "../", "file://", "file:fuse://")


def _local_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if value.startswith(LOCAL_PATH_PREFIXES) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _local_paths(v, join_path(path, str(k)))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _local_paths(v, join_path(path, i))]
    return []


def local_path_problems(settings: dict[str, Any], origin: str) -> list[Finding]:
    """One finding per job that uses local paths (``./x.py``, ``../dist/*.whl``, dbx ``file://``).

    The bundle CLI and dbx upload these and rewrite them into workspace paths at deploy time; the Jobs API
    cannot resolve them, so they are reported (once per job, naming the first) and left as written.
    """
    paths = _local_paths(settings, origin)
    if not paths:
        return []
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return [
        (
            paths[0],
            f"local path left as is{more}; the deploy tool (bundle CLI, dbx) rewrites these on upload, "
            "the Jobs API does not",
        )
    ]
