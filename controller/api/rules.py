"""Admission rules layered on the SDK-derived ``spec.settings`` schema: limits, keyed lists and CEL.

One table per kind of rule, each entry with its source. Paths are relative to ``spec.settings`` with
``[]`` for list items (``tasks[].depends_on``); class rules apply wherever the SDK class appears, so the
task inside ``for_each_task`` gets the same checks as a top-level task.

List bounds serve two purposes: they are the Jobs API's own limits (jobs-api-spec §4.4/§4.5), and they
bound the apiserver's static CEL cost estimate, which multiplies each rule by the largest list it can
iterate. Where the API documents no limit but a rule iterates the list, the bound is marked "(cost)".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from databricks.sdk.service import jobs

from controller.api.jobrefs import REFERENCE_PATTERN, STRING_ID_PATTERN

Schema = dict[str, Any]

#: ``[\w\-]`` spelled out: the apiserver's Go regexp reads ``\w`` as ASCII only, Python's ``re`` (``dbjobs plan``)
#: as any Unicode letter; spelled out, both refuse a non-ASCII key alike.
KEY_PATTERN = r"^[A-Za-z0-9_\-]+$"
#: A Quartz expression has 6 or 7 whitespace-separated fields; the full syntax is checked in code.
#: Whitespace spelled out as Go's ``\s`` (ASCII) means it: Python's ``\s`` also takes Unicode spaces (see KEY_PATTERN).
CRON_SHAPE = r"^[\t\n\f\r ]*[^\t\n\f\r ]+([\t\n\f\r ]+[^\t\n\f\r ]+){5,6}[\t\n\f\r ]*$"

#: ``x-kubernetes-list-type: map`` keys: duplicates refused, server-side apply merges items by key.
LIST_MAP_KEYS: dict[str, str] = {
    "tasks": "task_key",  # unique within a job (OpenAPI TaskKey)
    "job_clusters": "job_cluster_key",  # unique within a job (OpenAPI)
    "parameters": "name",  # job parameter names are unique (SDK JobParameterDefinition)
    "environments": "environment_key",  # referenced by key from tasks (SDK JobEnvironment)
}

#: Fields ``spec.settings`` must set. The Jobs API needs none of them; dbjobs requires a name (the reason is in
#: controller/api/validate.py), so ``settings: {}`` and ``name: null`` are refused at admission.
SETTINGS_REQUIRED = ["name"]

#: Extra schema keywords by settings path: ``{path: {keyword: value}}``.
PATH_LIMITS: dict[str, Schema] = {
    # SDK docstring: 4096 bytes UTF-8; at least 1: dbjobs requires a name (controller/api/validate.py).
    "name": {"minLength": 1, "maxLength": 4096},
    "description": {"maxLength": 27700},  # SDK docstring
    "tasks": {"maxItems": 1000},  # Jobs API 2.2 write limit (docs)
    "job_clusters": {"maxItems": 100},  # OpenAPI 2.1 maxItems
    "environments": {"maxItems": 100},  # (cost) no documented limit
    "environment_variables": {"maxItems": 10},  # SDK docstring
    # docs: at most 25 tags; the controller adds its own dbjobs-owner tag, which leaves 24.
    "tags": {"maxProperties": 24},
    "max_concurrent_runs": {"minimum": 0, "maximum": 1000},  # docs
    "timeout_seconds": {"minimum": 0},
    "schedule.quartz_cron_expression": {"pattern": CRON_SHAPE, "maxLength": 256},
    "schedule.timezone_id": {"minLength": 1, "maxLength": 64},
    "trigger.periodic.interval": {"minimum": 1},  # TF validation
    "git_source.git_url": {"maxLength": 300},  # OpenAPI
    "git_source.git_branch": {"maxLength": 255},
    "git_source.git_tag": {"maxLength": 255},
    "git_source.git_commit": {"maxLength": 64},
}

#: Extra keywords by ``(SDK class, field)``, wherever the class appears.
CLASS_FIELD_LIMITS: dict[tuple[type, str], Schema] = {
    (jobs.Task, "task_key"): {"minLength": 1, "maxLength": 100, "pattern": KEY_PATTERN},
    (jobs.Task, "depends_on"): {"maxItems": 100},  # (cost)
    (jobs.Task, "description"): {"maxLength": 4096},
    (jobs.Task, "max_retries"): {"minimum": -1},  # -1 = retry forever
    (jobs.Task, "timeout_seconds"): {"minimum": 0},
    (jobs.Task, "job_cluster_key"): {"minLength": 1, "maxLength": 100, "pattern": KEY_PATTERN},
    (jobs.TaskDependency, "task_key"): {"minLength": 1, "maxLength": 100, "pattern": KEY_PATTERN},
    (jobs.TaskDependency, "outcome"): {"enum": ["true", "false"]},  # SDK docstring: condition outcomes
    (jobs.JobCluster, "job_cluster_key"): {"minLength": 1, "maxLength": 100, "pattern": KEY_PATTERN},
    (jobs.JobEnvironment, "environment_key"): {"minLength": 1, "maxLength": 100},
    (jobs.JobParameterDefinition, "name"): {"minLength": 1, "maxLength": 255, "pattern": r"^[A-Za-z0-9_\-.]+$"},
}
# Webhook destinations: at most 3 per event (OpenAPI).
for _field in jobs.WebhookNotifications.__dataclass_fields__:
    CLASS_FIELD_LIMITS[(jobs.WebhookNotifications, _field)] = {"maxItems": 3}


#: The fields that take another job's id: ``(SDK class, field) -> the API takes an integer there``. Besides an id,
#: dbjobs admits a reference ``${resources.jobs.<DatabricksJob name>.id}`` (controller/api/jobrefs.py), resolved by
#: the controller; ``spec.settings`` keeps the Jobs API's fields, only these values may be a reference too.
JOB_ID_FIELDS: dict[tuple[type, str], bool] = {
    (jobs.RunJobTask, "job_id"): True,
    (jobs.JobCompletionTriggerConfigurationMonitoredJob, "job_id"): False,
}
_REFERENCE_DOC = (
    " With dbjobs, also `${resources.jobs.<name>.id}`: the job of the DatabricksJob `<name>` in this namespace and "
    "workspace (the bundle syntax), resolved by the controller to that DatabricksJob's status.jobId; the job waits "
    "with Synced=False reason ReferenceNotReady until it has one."
)


def job_id_schema(numeric: bool, schema: Schema) -> Schema:
    """The schema of a job-id field (see :data:`JOB_ID_FIELDS`): an integer or a reference where the API takes an
    integer (``x-kubernetes-int-or-string`` with a pattern for the string), digits or a reference where it takes
    a string."""
    description = str(schema.get("description", "")) + _REFERENCE_DOC
    if not numeric:
        return {**schema, "pattern": STRING_ID_PATTERN, "description": description}
    return {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": REFERENCE_PATTERN,
        "description": description,
    }


def task_type_fields() -> list[str]:
    """The ``Task`` fields that name a task type (``notebook_task``, ``for_each_task``, …), from the SDK."""
    return [f for f in jobs.Task.__dataclass_fields__ if f.endswith("_task")]


def _count(fields: list[str]) -> str:
    # A list of booleans filtered to the true ones: constant cost, one term per field.
    return "[" + ", ".join(f"has(self.{f})" for f in fields) + "].filter(x, x).size()"


def _task_rules() -> list[Schema]:
    # Each rule's public source is in controller/api/refusals.py (RULES), which checks the same in Python.
    types_ = task_type_fields()
    compute = ["existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key", "compute"]
    return [
        {
            "rule": f"{_count(types_)} == 1",
            "message": "a task must set exactly one task type (one of " + ", ".join(types_) + ")",
        },
        {  # refusals: no-file-uri
            "rule": "(!has(self.notebook_task) || !self.notebook_task.notebook_path.startsWith('file:')) && "
            "(!has(self.spark_python_task) || !self.spark_python_task.python_file.startsWith('file:'))",
            "message": "notebook_path / python_file must not be a file:// URI (a file on the deploying machine): "
            "give a workspace path, a cloud URI or a path in the job's git_source",
        },
        {  # refusals: serverless-environment
            "rule": "!(has(self.spark_python_task) || has(self.python_wheel_task) || has(self.dbt_task)) || "
            + " || ".join(f"has(self.{c})" for c in compute),
            "message": "a spark_python_task, python_wheel_task or dbt_task without a cluster runs on serverless "
            "compute and needs an environment_key",
        },
    ]


def class_rules(cls: type) -> list[Schema]:
    """CEL rules on every object of SDK class ``cls``."""
    if cls is jobs.Task:
        return _task_rules()
    if cls is jobs.JobRunAs:
        return [
            {
                "rule": f"{_count(['user_name', 'service_principal_name', 'group_name'])} == 1",
                "message": "run_as must set exactly one of user_name, service_principal_name, group_name",
            }
        ]
    if cls is jobs.GitSource:
        return [
            {
                "rule": f"{_count(['git_branch', 'git_tag', 'git_commit'])} <= 1",
                "message": "git_source may set at most one of git_branch, git_tag, git_commit",
            }
        ]
    return []


def _sourced_path_ok(task: str) -> str:
    """CEL: ``task``'s notebook and SQL file paths fit their source (GIT: relative; WORKSPACE: absolute)."""
    parts = []
    for block, path, source in (
        (f"{task}.notebook_task", f"{task}.notebook_task.notebook_path", f"{task}.notebook_task.source"),
        (f"{task}.sql_task.file", f"{task}.sql_task.file.path", f"{task}.sql_task.file.source"),
    ):
        guard = f"has({block})" if "sql_task" not in block else f"has({task}.sql_task) && has({block})"
        is_git = f"(has({source}) ? {source} == 'GIT' : has(self.git_source))"
        parts.append(f"(!({guard}) || ({is_git} ? !{path}.startsWith('/') : {path}.startsWith('/')))")
    return " && ".join(parts)


def _git_source_ok(task: str) -> str:
    """CEL: no ``source: GIT`` on ``task`` (callers allow it when the job has a git_source)."""
    parts = []
    for block, source in (
        (f"{task}.notebook_task", f"{task}.notebook_task.source"),
        (f"{task}.spark_python_task", f"{task}.spark_python_task.source"),
        (f"{task}.dbt_task", f"{task}.dbt_task.source"),
    ):
        parts.append(f"!(has({block}) && has({source}) && {source} == 'GIT')")
    sql = f"{task}.sql_task"
    parts.append(f"!(has({sql}) && has({sql}.file) && has({sql}.file.source) && {sql}.file.source == 'GIT')")
    return " && ".join(parts)


def _each_task(check: Callable[[str], str]) -> str:
    """CEL: ``check`` holds for every task and every for-each inner task."""
    inner = "t.for_each_task.task"
    return f"!has(self.tasks) || self.tasks.all(t, {check('t')} && (!has(t.for_each_task) || {check(inner)}))"


def settings_rules() -> list[Schema]:
    """CEL rules on ``spec.settings`` that relate fields across the job (each names its field)."""
    return [
        {  # refusals: workspace-path-absolute, git-path-relative
            "rule": _each_task(_sourced_path_ok),
            "message": "tasks[].notebook_task.notebook_path / sql_task.file.path: a WORKSPACE path must be absolute "
            "(start with /), a GIT path (the job has git_source, or source: GIT) relative to the repository root",
            "fieldPath": ".tasks",
        },
        {  # refusals: git-source-required
            "rule": "has(self.git_source) || " + _each_task(_git_source_ok),
            "message": "tasks[]: source GIT needs the job's git_source",
            "fieldPath": ".tasks",
        },
        {
            "rule": f"{_count(['schedule', 'continuous', 'trigger'])} <= 1",
            "message": "at most one of schedule, continuous and trigger may be set",
        },
        {
            # The owner tag is the controller's (how a restarted controller finds its job); a user
            # value would be overwritten silently.
            "rule": "!has(self.tags) || !('dbjobs-owner' in self.tags)",
            "message": "tags.dbjobs-owner is reserved for the controller's owner tag",
            "fieldPath": ".tags",
        },
        {
            "rule": "!has(self.tasks) || self.tasks.all(t, !has(t.job_cluster_key) || "
            "(has(self.job_clusters) && self.job_clusters.exists(c, c.job_cluster_key == t.job_cluster_key)))",
            "message": "tasks[].job_cluster_key must name a job_clusters[].job_cluster_key of this job",
            "fieldPath": ".tasks",
        },
        {
            "rule": "!has(self.tasks) || self.tasks.all(t, !has(t.environment_key) || "
            "(has(self.environments) && self.environments.exists(e, e.environment_key == t.environment_key)))",
            "message": "tasks[].environment_key must name an environments[].environment_key of this job",
            "fieldPath": ".tasks",
        },
    ]
