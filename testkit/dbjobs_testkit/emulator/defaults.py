"""Server-side defaults and ordering applied to job settings on every write (spec §4.3).

The real service returns fields the client never sent (``format``, ``email_notifications``,
``queue``, task ``run_if``...) and reorders keyed lists. Reproducing that is what makes an
emulator useful for drift detection, so every such rule lives in :data:`RULES`, one row per
rule with its source tag from the spec ([cloud] observed, [docs] documented, [TF]/[fake] from
client code or Databricks' own fake). Later work extends the table; nothing else in the
emulator adds defaults.

Settings are stored already normalized, so ``jobs/get`` returns exactly what was stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dbjobs_testkit.emulator.config import EmulatorConfig

Settings = dict[str, Any]
ApiVersion = Literal["2.1", "2.2"]
WriteOp = Literal["create", "reset", "update", "edit"]

#: Task-type objects whose ``source`` defaults from the job's ``git_source`` (path inside the task).
SOURCE_TASK_PATHS: tuple[tuple[str, ...], ...] = (
    ("notebook_task",),
    ("spark_python_task",),
    ("sql_task", "file"),
    ("dbt_task",),
)


@dataclass(frozen=True)
class WriteContext:
    """How the settings are being written.

    ``api_version``: the version in the request path (queue defaults differ, §3.12).
    ``op``: create / reset / update (API calls) or edit (out-of-band, as a UI user).
    ``previous``: the stored settings before this write (None on create).
    ``config``: the workspace's switches for unverified defaults (``config.py``).
    """

    api_version: ApiVersion
    op: WriteOp
    previous: Settings | None = None
    config: EmulatorConfig | None = None


@dataclass(frozen=True)
class Rule:
    """One server-side behaviour: the ``field`` it touches, what it does, where we learned it."""

    field: str
    effect: str
    source: str
    apply: Callable[[Settings, WriteContext], None]


def _set_absent(key: str, value: Any) -> Callable[[Settings, WriteContext], None]:
    def apply(target: Settings, _ctx: WriteContext) -> None:
        if key not in target:
            target[key] = copy.deepcopy(value)

    return apply


def _force(key: str, value: Any) -> Callable[[Settings, WriteContext], None]:
    def apply(target: Settings, _ctx: WriteContext) -> None:
        target[key] = copy.deepcopy(value)

    return apply


def _nested_absent(parent: str, key: str, value: Any) -> Callable[[Settings, WriteContext], None]:
    def apply(target: Settings, _ctx: WriteContext) -> None:
        inner = target.get(parent)
        if isinstance(inner, dict) and key not in inner:
            inner[key] = value

    return apply


def _queue_default(target: Settings, ctx: WriteContext) -> None:
    # 2.2 creates and resets turn queueing on whenever the field is absent (§3.4, §3.12); 2.1
    # writes leave it absent, and a partial update keeps whatever the job had.
    if ctx.api_version == "2.2" and ctx.op in ("create", "reset") and "queue" not in target:
        target["queue"] = {"enabled": True}


def _sticky_run_as(target: Settings, ctx: WriteContext) -> None:
    # Omitting run_as on reset does not clear a run_as set earlier (§3.4, [cloud]).
    if ctx.op == "reset" and "run_as" not in target and ctx.previous and "run_as" in ctx.previous:
        target["run_as"] = copy.deepcopy(ctx.previous["run_as"])


def _drop_apply_policy_default_values(target: Settings, _ctx: WriteContext) -> None:
    clusters = [t.get("new_cluster") for t in _dicts(target.get("tasks"))]
    clusters += [c.get("new_cluster") for c in _dicts(target.get("job_clusters"))]
    for cluster in clusters:
        if isinstance(cluster, dict):
            cluster.pop("apply_policy_default_values", None)


def _default_name(target: Settings, ctx: WriteContext) -> None:
    # OpenAPI says "Untitled"; whether the service echoes it is unverified (§10), so opt-in.
    name = ctx.config.default_job_name if ctx.config else None
    if name is not None and ctx.op in ("create", "reset") and "name" not in target:
        target["name"] = name


#: What Databricks' fake fills into an AWS ``new_cluster`` "to match backend (AWS)" (§4.3).
AWS_CLUSTER_DEFAULTS: Settings = {
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "zone_id": "us-east-1c"},
    "data_security_mode": "SINGLE_USER",
}


def _cloud_cluster_defaults(target: Settings, ctx: WriteContext) -> None:
    if not ctx.config or ctx.config.cloud != "aws":
        return
    clusters = [t.get("new_cluster") for t in _dicts(target.get("tasks"))]
    clusters += [c.get("new_cluster") for c in _dicts(target.get("job_clusters"))]
    for cluster in clusters:
        if not isinstance(cluster, dict):
            continue
        for key, value in AWS_CLUSTER_DEFAULTS.items():
            # A pool decides the node attributes itself, so no aws_attributes are invented for it.
            if key == "aws_attributes" and cluster.get("instance_pool_id"):
                continue
            cluster.setdefault(key, copy.deepcopy(value))


#: Task fields Terraform marks as computed (§4.3), filled only with ``config.computed_task_defaults``.
COMPUTED_TASK_DEFAULTS: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("retry_on_timeout",), False),
    (("spark_jar_task", "run_as_repl"), True),
    (("dbt_task", "schema"), "default"),
)


def _computed_task_defaults(target: Settings, ctx: WriteContext) -> None:
    if not ctx.config or not ctx.config.computed_task_defaults:
        return
    for task in _dicts(target.get("tasks")):
        for path, value in COMPUTED_TASK_DEFAULTS:
            node: Any = task
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            # Only inside a task type the task has: no spark_jar_task is invented for run_as_repl.
            if isinstance(node, dict) and path[-1] not in node:
                node[path[-1]] = value


def _each_task(fn: Callable[[Settings, Settings], None]) -> Callable[[Settings, WriteContext], None]:
    def apply(target: Settings, _ctx: WriteContext) -> None:
        for task in _dicts(target.get("tasks")):
            fn(task, target)

    return apply


def _task_absent(key: str, value: Any) -> Callable[[Settings, WriteContext], None]:
    def fn(task: Settings, _job: Settings) -> None:
        if key not in task:
            task[key] = copy.deepcopy(value)

    return _each_task(fn)


def _task_source(task: Settings, job: Settings) -> None:
    source = "GIT" if job.get("git_source") else "WORKSPACE"
    for path in SOURCE_TASK_PATHS:
        node: Any = task
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "source" not in node:
            node["source"] = source


def _sort_tasks(target: Settings, _ctx: WriteContext) -> None:
    tasks = target.get("tasks")
    if isinstance(tasks, list):
        tasks.sort(key=lambda t: str(t.get("task_key", "")) if isinstance(t, dict) else "")


def _sort_depends_on(task: Settings, _job: Settings) -> None:
    deps = task.get("depends_on")
    if isinstance(deps, list):
        deps.sort(key=lambda d: str(d.get("task_key", "")) if isinstance(d, dict) else "")


def _dicts(value: Any) -> list[Settings]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


RULES: tuple[Rule, ...] = (
    Rule(
        "format", "always MULTI_TASK; a client value is ignored", "[cloud] §3.1, §4.3", _force("format", "MULTI_TASK")
    ),
    Rule("email_notifications", "{} when omitted", "[cloud] §4.3", _set_absent("email_notifications", {})),
    Rule("webhook_notifications", "{} when omitted", "[cloud] §4.3", _set_absent("webhook_notifications", {})),
    Rule("timeout_seconds", "0 when omitted", "[cloud] §4.3", _set_absent("timeout_seconds", 0)),
    Rule("max_concurrent_runs", "1 when omitted", "[docs] §4.3", _set_absent("max_concurrent_runs", 1)),
    Rule(
        "queue",
        "{enabled: true} when omitted on a 2.2 create/reset; absent for 2.1",
        "[docs] §3.12, §3.4",
        _queue_default,
    ),
    Rule("run_as", "kept from the previous settings when a reset omits it", "[cloud] §3.4", _sticky_run_as),
    Rule(
        "schedule.pause_status",
        "UNPAUSED when omitted",
        "[TF defaults] §4.3",
        _nested_absent("schedule", "pause_status", "UNPAUSED"),
    ),
    Rule(
        "trigger.pause_status",
        "UNPAUSED when omitted",
        "[TF defaults] §4.3",
        _nested_absent("trigger", "pause_status", "UNPAUSED"),
    ),
    Rule(
        "continuous.pause_status",
        "UNPAUSED when omitted",
        "[TF defaults] §4.3",
        _nested_absent("continuous", "pause_status", "UNPAUSED"),
    ),
    Rule(
        "*.new_cluster.apply_policy_default_values",
        "accepted on write, never returned",
        "[CLI ignore_remote_changes] §4.3",
        _drop_apply_policy_default_values,
    ),
    Rule(
        "tasks[*].run_if",
        "ALL_SUCCESS when omitted",
        "[TF/CLI backend_defaults; docs example] §4.3",
        _task_absent("run_if", "ALL_SUCCESS"),
    ),
    Rule(
        "tasks[*].timeout_seconds",
        "0 when omitted",
        "[fake, matches AWS backend] §4.3",
        _task_absent("timeout_seconds", 0),
    ),
    Rule(
        "tasks[*].email_notifications",
        "{} when omitted",
        "[fake; TF suppress-diff] §4.3",
        _task_absent("email_notifications", {}),
    ),
    Rule(
        "tasks[*].<notebook|spark_python|sql.file|dbt>.source",
        "GIT if the job has git_source, else WORKSPACE",
        "[docs OpenAPI; TF/CLI] §4.3",
        _each_task(_task_source),
    ),
    Rule(
        "name",
        "config.default_job_name (e.g. Untitled) when a create/reset omits it; off by default",
        "[docs, echo unverified] §4.3, §10",
        _default_name,
    ),
    Rule(
        "*.new_cluster.aws_attributes, data_security_mode",
        "filled when config.cloud == 'aws'",
        "[fake; TF suppress; CLI backend_defaults] §4.3",
        _cloud_cluster_defaults,
    ),
    Rule(
        "tasks[*].retry_on_timeout, spark_jar_task.run_as_repl, dbt_task.schema",
        "false / true / 'default' when config.computed_task_defaults",
        "[TF computed] §4.3",
        _computed_task_defaults,
    ),
    Rule("tasks[*].depends_on", "sorted by task_key", "[CLI PR #4363; fake] §4.3", _each_task(_sort_depends_on)),
    Rule("tasks", "sorted by task_key", "[community reports; TF/CLI] §4.3", _sort_tasks),
)


def normalize_settings(settings: Settings, ctx: WriteContext) -> Settings:
    """A deep copy of ``settings`` with every rule of :data:`RULES` applied, in table order."""
    out = copy.deepcopy(settings)
    for rule in RULES:
        rule.apply(out, ctx)
    return out
