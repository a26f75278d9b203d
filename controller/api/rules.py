"""Admission rules layered on the SDK-derived ``spec.settings`` schema: limits, keyed lists and CEL.

One table per kind of rule, each entry with its source. Paths are relative to ``spec.settings`` with
``[]`` for list items (``tasks[].depends_on``); class rules apply wherever the SDK class appears, so the
task inside ``for_each_task`` gets the same checks as a top-level task.

List bounds serve two purposes: they are the Jobs API's own limits (jobs-api-spec §4.4/§4.5), and they
bound the apiserver's static CEL cost estimate, which multiplies each rule by the largest list it can
iterate. Where the API documents no limit but a rule iterates the list, the bound is marked "(cost)".
"""

from __future__ import annotations

from typing import Any

from databricks.sdk.service import jobs

Schema = dict[str, Any]

KEY_PATTERN = r"^[\w\-]+$"
#: A Quartz expression has 6 or 7 whitespace-separated fields; the full syntax is checked in code.
CRON_SHAPE = r"^\s*\S+(\s+\S+){5,6}\s*$"

#: ``x-kubernetes-list-type: map`` keys: duplicates refused, server-side apply merges items by key.
LIST_MAP_KEYS: dict[str, str] = {
    "tasks": "task_key",  # unique within a job (OpenAPI TaskKey)
    "job_clusters": "job_cluster_key",  # unique within a job (OpenAPI)
    "parameters": "name",  # job parameter names are unique (SDK JobParameterDefinition)
    "environments": "environment_key",  # referenced by key from tasks (SDK JobEnvironment)
}

#: Extra schema keywords by settings path: ``{path: {keyword: value}}``.
PATH_LIMITS: dict[str, Schema] = {
    "name": {"maxLength": 4096},  # SDK docstring: 4096 bytes UTF-8
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
    (jobs.JobParameterDefinition, "name"): {"minLength": 1, "maxLength": 255, "pattern": r"^[\w\-.]+$"},
}
# Webhook destinations: at most 3 per event (OpenAPI).
for _field in jobs.WebhookNotifications.__dataclass_fields__:
    CLASS_FIELD_LIMITS[(jobs.WebhookNotifications, _field)] = {"maxItems": 3}


def task_type_fields() -> list[str]:
    """The ``Task`` fields that name a task type (``notebook_task``, ``for_each_task``, …), from the SDK."""
    return [f for f in jobs.Task.__dataclass_fields__ if f.endswith("_task")]


def _count(fields: list[str]) -> str:
    # A list of booleans filtered to the true ones: constant cost, one term per field.
    return "[" + ", ".join(f"has(self.{f})" for f in fields) + "].filter(x, x).size()"


def class_rules(cls: type) -> list[Schema]:
    """CEL rules on every object of SDK class ``cls``."""
    if cls is jobs.Task:
        types_ = task_type_fields()
        return [
            {
                "rule": f"{_count(types_)} == 1",
                "message": "a task must set exactly one task type (one of " + ", ".join(types_) + ")",
            }
        ]
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


def settings_rules() -> list[Schema]:
    """CEL rules on ``spec.settings`` that relate fields across the job (each names its field)."""
    return [
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
