"""References from one DatabricksJob to another by Kubernetes name, where the Jobs API wants a job's id.

A Git manifest cannot know the id of a job that does not exist yet, so wherever ``spec.settings`` takes another
job's id it may instead hold ``${resources.jobs.<DatabricksJob name>.id}``: the Databricks Asset Bundle syntax
(https://docs.databricks.com/aws/en/dev-tools/bundles/variables, "resources.jobs.<key>.id"), with the key being
the name of a DatabricksJob in the same namespace. The whole value must be the reference; the controller replaces
it with that DatabricksJob's ``status.jobId`` before it compares or sends anything
(:mod:`controller.reconcile.references`).

The fields that take a job id (:data:`JOB_ID_FIELDS`, from the SDK's ``JobSettings`` tree):

* ``tasks[i].run_job_task.job_id`` and ``tasks[i].for_each_task.task.run_job_task.job_id`` (an integer,
  ``RunJobTask.job_id``: "ID of the job to trigger");
* ``trigger.job_completion.jobs[j].job_id`` and ``triggers[k].job_completion.jobs[j].job_id`` (a string,
  ``JobCompletionTriggerConfigurationMonitoredJob.job_id``: "The ID of the upstream job").

Shapes: paths are relative to ``spec.settings`` with list indexes (``tasks[2].run_job_task.job_id``), as
:mod:`controller.api.validate` names fields; :class:`JobIdField` carries the path both as text and as parts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: A DatabricksJob name: a DNS-1123 subdomain (metadata.name of a custom resource).
NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#: The whole value of a job-id field that names another DatabricksJob.
REFERENCE_PATTERN = rf"^\$\{{resources\.jobs\.({NAME})\.id\}}$"
#: A string job id (job-completion triggers): digits, or a reference.
STRING_ID_PATTERN = rf"^([0-9]+|\$\{{resources\.jobs\.{NAME}\.id\}})$"
_REFERENCE = re.compile(REFERENCE_PATTERN)

Part = str | int


@dataclass(frozen=True)
class JobIdField:
    """One place in ``spec.settings`` that takes another job's id: its ``parts`` (keys and list indexes), the
    ``value`` written there, and whether the API takes an integer (``numeric``) or a string there."""

    parts: tuple[Part, ...]
    value: Any
    numeric: bool

    @property
    def path(self) -> str:
        """``tasks[2].run_job_task.job_id``."""
        out = ""
        for part in self.parts:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    @property
    def name(self) -> str | None:
        """The DatabricksJob name the value references, None when it is not a reference."""
        return reference_name(self.value)


def reference(name: str) -> str:
    """``${resources.jobs.<name>.id}``: the value that references DatabricksJob ``name``."""
    return f"${{resources.jobs.{name}.id}}"


def reference_name(value: Any) -> str | None:
    """The DatabricksJob name in a reference (the whole value), else None."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, Mapping)] if isinstance(value, list) else []


def _run_job(task: Mapping[str, Any], prefix: tuple[Part, ...]) -> Iterator[JobIdField]:
    block = task.get("run_job_task")
    if isinstance(block, Mapping) and "job_id" in block:
        yield JobIdField((*prefix, "run_job_task", "job_id"), block["job_id"], True)


def _completion(trigger: Any, prefix: tuple[Part, ...]) -> Iterator[JobIdField]:
    completion = trigger.get("job_completion") if isinstance(trigger, Mapping) else None
    if isinstance(completion, Mapping):
        for j, job in _items(completion.get("jobs")):
            if "job_id" in job:
                yield JobIdField((*prefix, "job_completion", "jobs", j, "job_id"), job["job_id"], False)


def job_id_fields(settings: Mapping[str, Any]) -> list[JobIdField]:
    """Every field of ``settings`` (a JobSettings dict) that holds another job's id, in document order."""
    found: list[JobIdField] = []
    for i, task in _items(settings.get("tasks")):
        found += _run_job(task, ("tasks", i))
        inner = task.get("for_each_task")
        inner_task = inner.get("task") if isinstance(inner, Mapping) else None
        if isinstance(inner_task, Mapping):
            found += _run_job(inner_task, ("tasks", i, "for_each_task", "task"))
    found += _completion(settings.get("trigger"), ("trigger",))
    for k, trigger in _items(settings.get("triggers")):
        found += _completion(trigger, ("triggers", k))
    return found


def referenced_names(settings: Mapping[str, Any]) -> frozenset[str]:
    """The names of the DatabricksJobs ``settings`` references."""
    return frozenset(f.name for f in job_id_fields(settings) if f.name is not None)


def syntax_problems(settings: Mapping[str, Any]) -> list[str]:
    """``"<path>: <problem>"`` for each job-id field holding a string that is neither an id nor a reference."""
    found = []
    for f in job_id_fields(settings):
        if not isinstance(f.value, str) or f.name is not None or (not f.numeric and f.value.isdigit()):
            continue
        found.append(
            f"{f.path}: {f.value!r} is neither a job id nor a reference to a DatabricksJob of this namespace "
            f"(write {reference('<name>')})"
        )
    return found


def with_values(settings: Mapping[str, Any], values: Mapping[tuple[Part, ...], Any]) -> dict[str, Any]:
    """A copy of ``settings`` with the value at each path of ``values`` (parts as in :class:`JobIdField`)
    replaced; ``settings`` is not changed."""
    out: dict[str, Any] = copy.deepcopy(dict(settings))
    for parts, value in values.items():
        node: Any = out
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return out
