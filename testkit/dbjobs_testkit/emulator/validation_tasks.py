"""Task rules the real Jobs API enforces on write, beyond keys and types (issue 12, item 4).

Every rule answers as the API does: 400 ``INVALID_PARAMETER_VALUE`` for settings it refuses, 400
``MALFORMED_REQUEST`` for a body it cannot parse (an unknown field). Messages start with the field path.
The public source of each rule is in the comment above its check; the controller keeps the same rules,
with the same sources, in ``controller/api/refusals.py`` (this module does not import it, so the two
are checked against each other by the tests).

A task's source is its ``source`` field, else ``GIT`` when the job has ``git_source`` and ``WORKSPACE``
otherwise (SDK docstrings of ``NotebookTask.source`` and ``SqlTaskFile.source``); a ``spark_python_task``
without ``source`` reads from the workspace or a cloud URI (``SparkPythonTask.source`` docstring).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from databricks.sdk.service import jobs

from dbjobs_testkit.emulator.errors import MALFORMED_REQUEST, ApiError, invalid

Settings = dict[str, Any]

#: The fields of a Jobs API Task, as the SDK generated from the API's OpenAPI document declares them.
TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(jobs.Task))
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_COMPUTE = ("existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key", "compute")


def check_task_local(task: Settings, path: str) -> None:
    """Rules that need only the task: known fields, no ``file://`` code, an environment on serverless."""
    # Source: the Task fields of the Jobs API (databricks-sdk-py databricks/sdk/service/jobs.py, class Task). A
    # body the API cannot map is answered 400 MALFORMED_REQUEST "Could not parse request object: ..."
    # (databrickslabs/dbx issue 681, databricks/databricks-cli issue 615).
    unknown = _unknown(task, jobs.Task, path)
    if unknown:
        message = f"{unknown}: Could not parse request object: unknown field {unknown.rsplit('.', 1)[-1]!r}"
        raise ApiError(400, MALFORMED_REQUEST, message)
    # Source: SparkPythonTask.python_file docstring (workspace paths and cloud URIs dbfs:/, s3:/, adls:/, gcs:/);
    # the API's "Invalid Python file URI" answer is quoted in learn.microsoft.com/azure/data-factory/
    # data-factory-troubleshoot-guide (Azure Databricks, error 3201).
    for block, field in (("notebook_task", "notebook_path"), ("spark_python_task", "python_file")):
        value = (task.get(block) or {}).get(field) if isinstance(task.get(block), dict) else None
        if isinstance(value, str) and value.lower().startswith("file:"):
            raise invalid(f"{path}.{block}.{field}: Invalid file URI {value!r}: file:// paths are not supported.")
    # Source: Task.environment_key docstring ("required for Python script, Python wheel and dbt tasks when using
    # serverless compute"); databricks/cli bundle/config/validate/job_task_cluster_spec.go.
    needs_env = any(task.get(t) is not None for t in ("spark_python_task", "python_wheel_task", "dbt_task"))
    if needs_env and not any(task.get(c) for c in _COMPUTE):
        raise invalid(f"{path}.environment_key: is required for this task type on serverless compute.")


def _unknown(value: Any, cls: Any, path: str) -> str | None:
    """The path of the first field of ``value`` the SDK type ``cls`` does not declare, at any depth."""
    args = [a for a in typing.get_args(cls) if a is not type(None)]
    if typing.get_origin(cls) in (typing.Union, types.UnionType) and len(args) == 1:
        cls = args[0]
    if dataclasses.is_dataclass(cls) and isinstance(cls, type) and isinstance(value, dict):
        hints = typing.get_type_hints(cls)
        for key, item in value.items():
            found = f"{path}.{key}" if key not in hints else _unknown(item, hints[key], f"{path}.{key}")
            if found:
                return found
    elif typing.get_origin(cls) is list and isinstance(value, list):
        (item_hint,) = typing.get_args(cls)
        for i, item in enumerate(value):
            found = _unknown(item, item_hint, f"{path}[{i}]")
            if found:
                return found
    return None


def _source(block: Any, has_git: bool) -> str:
    explicit = block.get("source") if isinstance(block, dict) else None
    return explicit if isinstance(explicit, str) and explicit else ("GIT" if has_git else "WORKSPACE")


def _check_path(value: Any, source: str, where: str, git_only_if_explicit: bool, explicit: Any) -> None:
    if not isinstance(value, str) or not value or _URI.match(value):
        return
    if source == "WORKSPACE" and not value.startswith("/"):
        # Source: NotebookTask.notebook_path / SqlTaskFile.path / SparkPythonTask.python_file docstrings; the
        # API's text "Only absolute paths are currently supported. Paths must begin with '/'" is quoted in the
        # Azure Data Factory troubleshooting guide (Azure Databricks, error 3201).
        raise invalid(
            f"{where}: Invalid path {value!r}. Only absolute paths are currently supported. Paths must begin with '/'."
        )
    if source == "GIT" and value.startswith("/") and (not git_only_if_explicit or explicit == "GIT"):
        # Source: the same docstrings: "For notebooks stored in a remote repository, the path must be relative".
        raise invalid(f"{where}: Invalid path {value!r}: paths in a Git repository must be relative.")


def check_task_sources(task: Settings, path: str, has_git: bool) -> None:
    """Rules that need the job's ``git_source``: path shapes per source and ``source: GIT`` needing one."""
    sql_file = (task.get("sql_task") or {}).get("file") if isinstance(task.get("sql_task"), dict) else None
    blocks = {
        "notebook_task": (task.get("notebook_task"), "notebook_path", False),
        "sql_task.file": (sql_file, "path", False),
        "spark_python_task": (task.get("spark_python_task"), "python_file", True),
    }
    for name, (block, field, explicit_only) in blocks.items():
        if not isinstance(block, dict):
            continue
        if explicit_only and has_git and not block.get("source"):
            continue  # unset source with git_source: the docstring says WORKSPACE, the read path says GIT
        source = _source(block, has_git and not explicit_only)
        _check_path(block.get(field), source, f"{path}.{name}.{field}", explicit_only, block.get("source"))
    if has_git:
        return
    for name, block in (*((n, b[0]) for n, b in blocks.items()), ("dbt_task", task.get("dbt_task"))):
        if isinstance(block, dict) and block.get("source") == "GIT":
            # Source: Source enum docstring ("GIT: ... retrieved from a Git repository defined in git_source").
            raise invalid(f"{path}.{name}.source: source GIT requires git_source to be set on the job.")


def check_run_job_targets(tasks: list[Settings], exists: Callable[[int], bool]) -> None:
    """Every ``run_job_task.job_id`` (for-each inner tasks included) is an integer naming a job of the workspace.

    Source: a Run Job task triggers "other jobs configured in your Databricks workspace", chosen from the
    workspace's jobs (https://docs.databricks.com/aws/en/jobs/tasks/run-job); ``RunJobTask.job_id`` is an int64
    "ID of the job to trigger" (databricks-sdk-py databricks/sdk/service/jobs.py). The answer for an id naming no
    job is the Jobs API's not-found answer, 400 ``INVALID_PARAMETER_VALUE`` "Job <id> does not exist." (spec §2.3);
    that jobs/create and jobs/reset check the id on write, rather than when the task runs, is not documented: an
    assumption (docs/emulator.md, "Assumptions"). A value that is not an integer (an unresolved
    ``${resources.jobs.<name>.id}``) is a body the API cannot parse: 400 ``MALFORMED_REQUEST``.
    """
    for path, task in inner_tasks(tasks):
        block = task.get("run_job_task")
        if not isinstance(block, dict) or "job_id" not in block:
            continue
        job_id, where = block["job_id"], f"{path}.run_job_task.job_id"
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ApiError(
                400, MALFORMED_REQUEST, f"{where}: Could not parse request object: {job_id!r} is not a job id"
            )
        if not exists(job_id):
            raise invalid(f"{where}: Job {job_id} does not exist.")


def inner_tasks(tasks: list[Settings]) -> list[tuple[str, Settings]]:
    """``(path, task)`` of every task and every ``for_each_task.task`` inside one."""
    out = []
    for i, task in enumerate(tasks):
        out.append((f"tasks[{i}]", task))
        inner = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
        if isinstance(inner, dict):
            out.append((f"tasks[{i}].for_each_task.task", inner))
    return out
