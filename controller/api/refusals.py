"""What the Jobs API refuses in a ``JobSettings``, found without calling it: one table of rules, each with its
public source and the error code the API answers with.

The same rules are enforced in three places: ``dbjobs convert`` refuses a job that breaks one (no manifest
is written for it), the CRD refuses what a CEL rule can say (:mod:`controller.api.rules`), and the
controller reports the rest as ``InvalidSpec`` before any call (:mod:`controller.api.validate`). The test
emulator refuses each with the same error code (``dbjobs_testkit.emulator.validation_tasks``).

A task's *source* (where its code comes from) is the task type's ``source`` field when set, otherwise ``GIT``
when the job has a ``git_source`` and ``WORKSPACE`` when it has not (the SDK docstrings of
``NotebookTask.source`` and ``SqlTaskFile.source``). Values holding a bundle reference (``${…}``) can be
skipped (``skip_references``): ``dbjobs convert`` reports those separately, as known only at deploy time.

Shapes: :func:`refusals` takes a JobSettings mapping and returns :class:`Refusal` values whose ``path`` is
relative to the settings (``tasks[2].notebook_task.notebook_path``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from databricks.sdk.service import jobs

#: The error code the Jobs API answers every settings refusal below with (HTTP 400); an unknown field is a
#: request the API cannot parse, answered ``MALFORMED_REQUEST`` (see :data:`RULES`).
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
MALFORMED_REQUEST = "MALFORMED_REQUEST"

_SDK_JOBS = "https://github.com/databricks/databricks-sdk-py/blob/v0.162.0/databricks/sdk/service/jobs.py"
_API_CREATE = "https://docs.databricks.com/api/workspace/jobs/create"
_OPENAPI_21 = (
    "https://github.com/PrefectHQ/prefect/blob/main/src/integrations/prefect-databricks/"
    "prefect_databricks/schemas/jobs-2.1-aws.yaml"
)
_ADF_GUIDE = "https://learn.microsoft.com/azure/data-factory/data-factory-troubleshoot-guide#azure-databricks"


@dataclass(frozen=True)
class Rule:
    """One refusal rule: ``rule`` id, what it says, where that is written down, the API's error code."""

    rule: str
    summary: str
    source: str
    error_code: str = INVALID_PARAMETER_VALUE


RULES: dict[str, Rule] = {
    r.rule: r
    for r in (
        Rule(
            "task-type",
            "a task sets exactly one task type (notebook_task, spark_python_task, ...)",
            f"{_OPENAPI_21} (JobTaskSettings: 'This field may not be specified in conjunction with ...'); "
            f"{_API_CREATE} (tasks[]: one task type per task)",
        ),
        Rule(
            "workspace-path-absolute",
            "a WORKSPACE notebook_path / sql_task.file.path / python_file is absolute (starts with /) or a URI",
            f"{_SDK_JOBS} (NotebookTask.notebook_path, SqlTaskFile.path); the API's answer 'Invalid notebook_path: "
            f"... Only absolute paths are currently supported. Paths must begin with /' is quoted in {_ADF_GUIDE}",
        ),
        Rule(
            "git-path-relative",
            "a GIT notebook_path / sql_task.file.path / python_file is relative to the repository root",
            f"{_SDK_JOBS} (NotebookTask.notebook_path, SparkPythonTask.python_file, SqlTaskFile.path: "
            "'For notebooks stored in a remote repository, the path must be relative')",
        ),
        Rule(
            "git-source-required",
            "source: GIT needs a git_source on the job",
            f"{_SDK_JOBS} (Source: 'GIT: ... retrieved from a Git repository defined in git_source'); "
            "https://docs.databricks.com/aws/en/jobs/configure-job#git (the job's Git reference)",
        ),
        Rule(
            "no-file-uri",
            "python_file / notebook_path is not a file:// URI (a path on the deploying machine)",
            f"{_SDK_JOBS} (SparkPythonTask.python_file: workspace paths and cloud URIs dbfs:/, s3:/, adls:/, gcs:/); "
            f"the API's answer 'Invalid Python file URI' is quoted in {_ADF_GUIDE}",
        ),
        Rule(
            "serverless-environment",
            "a spark_python_task / python_wheel_task / dbt_task without compute names an environment_key",
            f"{_SDK_JOBS} (Task.environment_key: 'required for Python script, Python wheel and dbt tasks when "
            "using serverless compute'); https://github.com/databricks/cli/blob/main/bundle/config/validate/"
            "job_task_cluster_spec.go",
        ),
        Rule(
            "task-field",
            "every field of a task (and of the objects inside it) is a field of the Jobs API Task",
            f"{_SDK_JOBS} (class Task); requests the API cannot parse are answered MALFORMED_REQUEST "
            "'Could not parse request object: ...' (https://github.com/databrickslabs/dbx/issues/681)",
            MALFORMED_REQUEST,
        ),
        Rule(
            "depends-on-cycle",
            "tasks' depends_on form no cycle",
            f"{_API_CREATE} (depends_on: 'the graph of task dependencies ...'); "
            "https://docs.databricks.com/aws/en/jobs/run-if (a job is a directed acyclic graph of tasks)",
        ),
    )
}

TASK_TYPES = tuple(f.name for f in dataclasses.fields(jobs.Task) if f.name.endswith("_task"))
TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(jobs.Task))
#: Task types whose code lives at a path that depends on the source: ``(type, path field inside it)``.
_SOURCED_PATHS = (("notebook_task", ("notebook_path",)), ("sql_task", ("file", "path")))
_SOURCE_FIELDS = (
    ("notebook_task", ("source",)),
    ("spark_python_task", ("source",)),
    ("sql_task", ("file", "source")),
    ("dbt_task", ("source",)),
)
_NEED_ENVIRONMENT = ("spark_python_task", "python_wheel_task", "dbt_task")
_COMPUTE = ("existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key", "compute")


@dataclass(frozen=True)
class Refusal:
    """``path`` (under ``spec.settings``) breaks rule ``rule``; ``message`` says how, for a person."""

    path: str
    rule: str
    message: str

    @property
    def source(self) -> str:
        """The public source of the rule (a URL and the passage)."""
        return RULES[self.rule].source

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _get(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def iter_tasks(settings: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path, task)`` of every task, the tasks inside ``for_each_task`` included (after their parent)."""
    tasks = settings.get("tasks")
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, Mapping):
            continue
        yield f"tasks[{i}]", task
        inner = _get(task, ("for_each_task", "task"))
        if isinstance(inner, Mapping):
            yield f"tasks[{i}].for_each_task.task", inner


def task_source(task: Mapping[str, Any], task_type: str, has_git: bool) -> str:
    """``GIT`` or ``WORKSPACE``: where ``task``'s code of ``task_type`` comes from (see the module doc)."""
    keys = dict(_SOURCE_FIELDS).get(task_type, ("source",))
    explicit = _get(task.get(task_type), keys)
    if isinstance(explicit, str) and explicit:
        return explicit
    return "GIT" if has_git else "WORKSPACE"


def _unwrap(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return args[0] if optional and len(args) == 1 else hint


def unknown_fields(value: Any, cls: Any, path: str) -> list[tuple[str, str, str]]:
    """``(path, field, class name)`` of every field of ``value`` that the SDK type ``cls`` (a dataclass, or a
    list or optional of one) does not declare, at every level; free-form maps are not descended."""
    cls = _unwrap(cls)
    if dataclasses.is_dataclass(cls) and isinstance(cls, type) and isinstance(value, Mapping):
        hints = _hints(cls)
        found = []
        for key, item in value.items():
            if key not in hints:
                found.append((f"{path}.{key}", str(key), cls.__name__))
            else:
                found += unknown_fields(item, hints[key], f"{path}.{key}")
        return found
    if typing.get_origin(cls) is list and isinstance(value, list):
        (item_hint,) = typing.get_args(cls)
        return [f for i, v in enumerate(value) for f in unknown_fields(v, item_hint, f"{path}[{i}]")]
    return []


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _task_shape(path: str, task: Mapping[str, Any]) -> list[Refusal]:
    found = []
    kinds = [t for t in TASK_TYPES if task.get(t) is not None]
    if len(kinds) != 1:
        what = f"sets {len(kinds)} task types ({', '.join(kinds)})" if kinds else "sets no task type"
        found.append(Refusal(path, "task-type", f"{what}; a task sets exactly one of {', '.join(TASK_TYPES)}"))
    for where, key, cls in unknown_fields(task, jobs.Task, path):
        found.append(Refusal(where, "task-field", f"{key!r} is not a field of a Jobs API {cls}"))
    if any(task.get(t) is not None for t in _NEED_ENVIRONMENT) and not any(task.get(c) for c in _COMPUTE):
        found.append(
            Refusal(
                path,
                "serverless-environment",
                "runs on serverless compute (no cluster) and so needs an environment_key naming one of the "
                "job's environments",
            )
        )
    return found


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: ``(task type, path keys, the source follows git_source when unset)``: for a ``spark_python_task`` the SDK
#: docstring says an unset source reads from the workspace, while the drift observations (reconcile/rules.py,
#: D07) show GIT when the job has a git_source; with that doubt, its path is only checked when the source is
#: explicit or the job has no git_source.
_CODE_PATHS = (
    ("notebook_task", ("notebook_path",), True),
    ("sql_task", ("file", "path"), True),
    ("spark_python_task", ("python_file",), False),
)


def _task_paths(path: str, task: Mapping[str, Any], has_git: bool, skip_references: bool) -> list[Refusal]:
    found = []
    for task_type, keys, follows_git_source in _CODE_PATHS:
        value = _get(task.get(task_type), keys)
        if not isinstance(value, str) or not value or (skip_references and _is_reference(value)):
            continue
        if _URI.match(value):
            continue  # a cloud URI (dbfs:/, s3:/ ...) or file:// (its own rule)
        explicit = _get(task.get(task_type), (*keys[:-1], "source"))
        if not follows_git_source and has_git and not explicit:
            continue
        source = task_source(task, task_type, has_git and follows_git_source)
        where = ".".join((path, task_type, *keys))
        if source == "WORKSPACE" and not value.startswith("/"):
            message = f"{value!r}: a workspace path must be absolute (start with /)"
            found.append(Refusal(where, "workspace-path-absolute", message))
        elif source == "GIT" and value.startswith("/") and (follows_git_source or explicit == "GIT"):
            found.append(
                Refusal(where, "git-path-relative", f"{value!r}: a path in the job's Git repository must be relative")
            )
    return found + _file_uris(path, task)


def _file_uris(path: str, task: Mapping[str, Any]) -> list[Refusal]:
    found = []
    for keys in (("notebook_task", "notebook_path"), ("spark_python_task", "python_file")):
        value = _get(task, keys)
        if isinstance(value, str) and value.lower().startswith("file:"):
            found.append(
                Refusal(
                    ".".join((path, *keys)),
                    "no-file-uri",
                    f"{value!r} is a file on the deploying machine (dbx uploads those); give the workspace path, "
                    "a cloud URI or a path in the job's git_source",
                )
            )
    return found


def _git_source_needed(path: str, task: Mapping[str, Any], has_git: bool) -> list[Refusal]:
    if has_git:
        return []
    found = []
    for task_type, keys in _SOURCE_FIELDS:
        if _get(task.get(task_type), keys) == "GIT":
            found.append(
                Refusal(
                    ".".join((path, task_type, *keys)),
                    "git-source-required",
                    "source GIT needs the job's git_source (git_url, git_provider and a branch, tag or commit)",
                )
            )
    return found


def dependency_cycle(settings: Mapping[str, Any]) -> list[str] | None:
    """One cycle of ``depends_on`` as task keys (``[a, b, a]``), or None when the tasks form a DAG.

    Dependencies naming no task are ignored here (reported elsewhere). Iterative, linear in tasks + edges.
    """
    listed = settings.get("tasks")  # a wrong type (dbjobs plan checks manifests the apiserver never saw) is no DAG
    tasks = [t for t in listed if isinstance(t, Mapping)] if isinstance(listed, list) else []
    graph: dict[Any, list[Any]] = {}
    for task in tasks:
        deps = task.get("depends_on")
        deps = deps if isinstance(deps, list) else []
        if isinstance(task.get("task_key"), str):
            graph[task["task_key"]] = [d.get("task_key") for d in deps if isinstance(d, Mapping)]
    state: dict[Any, int] = {}  # 1 = on the current path, 2 = done
    for start in graph:
        if state.get(start):
            continue
        path: list[Any] = []
        stack: list[tuple[Any, int]] = [(start, 0)]
        while stack:
            node, child = stack.pop()
            if child == 0:
                state[node] = 1
                path.append(node)
            deps = [
                d for d in graph.get(node, []) if isinstance(d, str) and d in graph and d != node
            ]  # self: elsewhere
            if child < len(deps):
                stack.append((node, child + 1))
                nxt = deps[child]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def _cycle(settings: Mapping[str, Any]) -> list[Refusal]:
    cycle = dependency_cycle(settings)
    if cycle is None:
        return []
    index = {t.get("task_key"): i for i, t in enumerate(settings.get("tasks") or []) if isinstance(t, Mapping)}
    return [
        Refusal(
            f"tasks[{index[cycle[0]]}].depends_on",
            "depends-on-cycle",
            "dependency cycle " + " -> ".join(str(k) for k in cycle),
        )
    ]


def refusals(settings: Mapping[str, Any], *, skip_references: bool = False) -> list[Refusal]:
    """Every rule of :data:`RULES` that ``settings`` breaks, in task order, the cycle last; [] when none."""
    has_git = settings.get("git_source") is not None
    found: list[Refusal] = []
    for path, task in iter_tasks(settings):
        found += _task_shape(path, task)
        found += _task_paths(path, task, has_git, skip_references)
        found += _git_source_needed(path, task, has_git)
    return found + _cycle(settings)
