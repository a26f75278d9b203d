"""The normalization table: every rule the drift engine applies, each with where we learned it.

A rule says how one field (or list) behaves on the Jobs API 2.2 read path. ``normalize.py``
interprets the table; nothing else in the engine knows a field name. Sources point into
../shared/research/drift-cases.md (case ids ``Dnn`` and its "General normalization rules"
sections) and ../shared/research/jobs-api-spec.md (``§n``); rules marked ``NO_PUBLIC_SOURCE``
are our own judgement, listed by :func:`unsourced`.

Scopes (where ``field`` is looked up, as a dotted path inside that object):

* ``response``: the top level of a ``jobs/get`` answer;
* ``job``: ``settings``;
* ``task``: every task, top-level and ``for_each_task.task`` (D40);
* ``cluster``: every ``new_cluster`` (``job_clusters[*]``, tasks, for_each inner tasks and the
  legacy 2.0 top-level one);
* ``any``: every object.

Kinds:

* ``default``: the server fills ``value`` when the field is absent; both sides get it, so absent
  equals ``value`` and nothing else (never "absent desired = ignore live", D06/D12);
* ``conditional``: a default computed from the rest of the object (named in ``value``);
* ``server-chosen``: the workspace picks a value when the user did not: any live value is accepted
  while desired omits the field, a desired value is compared normally (D17/D18);
* ``response-only``: never compared;
* ``write-only``: accepted on write, never returned: compared with what the controller last
  applied, never with a read;
* ``keyed-list``: compared as a map by the key field in ``value``; paths name elements
  ``[key=value]``;
* ``set-list``: order carries no meaning (sorted before comparing);
* ``ordered-list``: order matters; compared and reported as a whole;
* ``equivalence``: spellings that mean the same (``value`` names the canonical form);
* ``empty``: ``{}``, ``[]`` and null count as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

NO_PUBLIC_SOURCE = "no public source: our judgement"


class Kind(StrEnum):
    """How a field behaves on read (see the module docstring)."""

    DEFAULT = "default"
    CONDITIONAL = "conditional"
    SERVER_CHOSEN = "server-chosen"
    RESPONSE_ONLY = "response-only"
    WRITE_ONLY = "write-only"
    KEYED_LIST = "keyed-list"
    SET_LIST = "set-list"
    ORDERED_LIST = "ordered-list"
    EQUIVALENCE = "equivalence"
    EMPTY = "empty"


class Scope(StrEnum):
    """Which objects a rule's ``field`` is looked up in."""

    RESPONSE = "response"
    JOB = "job"
    TASK = "task"
    CLUSTER = "cluster"
    ANY = "any"


@dataclass(frozen=True)
class Rule:
    """One row: ``field`` (dotted, in ``scope``) behaves as ``kind``; ``value`` per kind.

    ``explicit_on_write``: the controller sends this default itself on create/reset, because the
    server's own choice (sticky or version dependent) could otherwise win over the spec.
    """

    scope: Scope
    field: str
    kind: Kind
    source: str
    value: Any = None
    explicit_on_write: bool = False


_NOTIFY = ("on_start", "on_success", "on_failure", "on_duration_warning_threshold_exceeded")
_NOTIFY_ALL = (*_NOTIFY, "on_streaming_backlog_exceeded")
#: Task types whose ``source`` defaults from the job's ``git_source`` (D07, spec §4.3).
SOURCE_FIELDS = ("notebook_task.source", "spark_python_task.source", "sql_task.file.source", "dbt_task.source")
#: Conditional-default names understood by ``normalize.py``.
GIT_OR_WORKSPACE = "GIT if the job has git_source, else WORKSPACE"
OWNER = "the job owner (creator_user_name), when known"
ZERO_UNLESS_AUTOSCALE = "0 unless autoscale is set"
SAME_AS = "same as field "  # + the field name

RULES: tuple[Rule, ...] = (
    # --- response-only (D38, spec §4.2) -------------------------------------------------------
    *(
        Rule(Scope.RESPONSE, name, Kind.RESPONSE_ONLY, "D38; spec §4.2")
        for name in (
            "job_id",
            "created_time",
            "creator_user_name",
            "run_as_user_name",
            "run_as_owner",
            "effective_budget_policy_id",
            "effective_usage_policy_id",
            "trigger_state",
            "trigger_details",
            "has_more",
            "next_page_token",
            "path",
        )
    ),
    Rule(Scope.JOB, "format", Kind.RESPONSE_ONLY, "D09, D38; spec §4.2"),
    Rule(Scope.JOB, "deployment.version_id", Kind.RESPONSE_ONLY, "drift-cases §4 (changes every bundle deploy), D36"),
    # --- write-only (drift-cases §3) ------------------------------------------------------------
    Rule(Scope.CLUSTER, "apply_policy_default_values", Kind.WRITE_ONLY, "D24; spec §4.3"),
    Rule(Scope.JOB, "trigger.table_update.condition", Kind.WRITE_ONLY, "drift-cases §3 (D29)"),
    # Legacy single-task retry fields: dropped on multi-task jobs only (value: needs `tasks`).
    *(
        Rule(Scope.JOB, name, Kind.WRITE_ONLY, "D30", value="when tasks is set")
        for name in ("max_retries", "retry_on_timeout", "min_retry_interval_millis")
    ),
    Rule(Scope.JOB, "access_control_list", Kind.WRITE_ONLY, "drift-cases §3 (create only; Permissions API)"),
    # --- job defaults (drift-cases §1, spec §4.3) -----------------------------------------------
    Rule(Scope.JOB, "name", Kind.DEFAULT, "drift-cases §1 (OpenAPI default; echo unverified)", "Untitled"),
    Rule(Scope.JOB, "max_concurrent_runs", Kind.DEFAULT, "D11; spec §4.3 [docs]", 1),
    Rule(Scope.JOB, "timeout_seconds", Kind.DEFAULT, "D05; spec §4.3 [cloud]", 0),
    Rule(Scope.JOB, "email_notifications", Kind.DEFAULT, "D04; spec §4.3 [cloud]", {}),
    Rule(Scope.JOB, "webhook_notifications", Kind.DEFAULT, "D04; spec §4.3 [cloud]", {}),
    Rule(Scope.JOB, "email_notifications.no_alert_for_skipped_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.JOB, "notification_settings.no_alert_for_skipped_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.JOB, "notification_settings.no_alert_for_canceled_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    *(
        Rule(Scope.JOB, f"{block}.pause_status", Kind.DEFAULT, "D12; spec §4.3 [TF defaults]", "UNPAUSED", True)
        for block in ("schedule", "trigger", "continuous")
    ),
    # 2.2 creates/resets turn queueing on when omitted (§3.12); a 2.0/2.1 job has no queue at all,
    # which we cannot tell from a read, so absent on either side also counts as the 2.2 default.
    Rule(Scope.JOB, "queue", Kind.DEFAULT, "D10; spec §3.12, §3.4 [docs]", {"enabled": True}, True),
    Rule(Scope.JOB, "run_as", Kind.CONDITIONAL, "D15, D16; spec §3.4 (sticky across reset)", OWNER, True),
    Rule(Scope.JOB, "run_as", Kind.EQUIVALENCE, "D15 (compare the principal, not its shape)", "principal"),
    Rule(Scope.JOB, "git_source.git_provider", Kind.EQUIVALENCE, "drift-cases §5 (D41, medium)", "lower-case"),
    # --- task defaults ----------------------------------------------------------------------------
    Rule(Scope.TASK, "run_if", Kind.DEFAULT, "D06; spec §4.3", "ALL_SUCCESS"),
    Rule(Scope.TASK, "timeout_seconds", Kind.DEFAULT, "D05; spec §4.3 [fake]", 0),
    Rule(Scope.TASK, "email_notifications", Kind.DEFAULT, "D04; spec §4.3 [fake]", {}),
    Rule(Scope.TASK, "email_notifications.no_alert_for_skipped_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.TASK, "notification_settings.no_alert_for_skipped_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.TASK, "notification_settings.no_alert_for_canceled_runs", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.TASK, "notification_settings.alert_on_last_attempt", Kind.DEFAULT, "drift-cases §1 (D39)", False),
    Rule(Scope.TASK, "retry_on_timeout", Kind.DEFAULT, "drift-cases §1; spec §4.3 [TF computed]", False),
    Rule(Scope.TASK, "spark_jar_task.run_as_repl", Kind.DEFAULT, "D27; spec §4.3", True),
    Rule(Scope.TASK, "dbt_task.schema", Kind.DEFAULT, "D28 (indirect: Terraform default)", "default"),
    *(
        Rule(Scope.TASK, name, Kind.CONDITIONAL, "D07, D08, D40; spec §4.3", GIT_OR_WORKSPACE, True)
        for name in SOURCE_FIELDS
    ),
    # --- cluster defaults -------------------------------------------------------------------------
    *(
        Rule(Scope.CLUSTER, block, Kind.SERVER_CHOSEN, "D17, D18 (only user-set subfields compared)")
        for block in ("aws_attributes", "azure_attributes", "gcp_attributes")
    ),
    Rule(Scope.CLUSTER, "enable_elastic_disk", Kind.SERVER_CHOSEN, "D20 (cloud dependent)"),
    Rule(Scope.CLUSTER, "enable_local_disk_encryption", Kind.SERVER_CHOSEN, "D20"),
    Rule(Scope.CLUSTER, "data_security_mode", Kind.SERVER_CHOSEN, "drift-cases §1 (D22)"),
    Rule(Scope.CLUSTER, "node_type_id", Kind.SERVER_CHOSEN, "D21 (from the pool)", "when instance_pool_id is set"),
    Rule(Scope.CLUSTER, "driver_node_type_id", Kind.SERVER_CHOSEN, "D21", "when instance_pool_id is set"),
    Rule(Scope.CLUSTER, "driver_instance_pool_id", Kind.CONDITIONAL, "D21", SAME_AS + "instance_pool_id"),
    Rule(Scope.CLUSTER, "driver_node_type_id", Kind.CONDITIONAL, "D21", SAME_AS + "node_type_id"),
    Rule(
        Scope.CLUSTER, "*", Kind.SERVER_CHOSEN, "drift-cases §1 (D25: policy-supplied fields)", "when policy_id is set"
    ),
    Rule(Scope.CLUSTER, "num_workers", Kind.CONDITIONAL, "D26", ZERO_UNLESS_AUTOSCALE),
    Rule(
        Scope.CLUSTER,
        "spark_conf.spark.databricks.delta.preview.enabled",
        Kind.DEFAULT,
        "D23 (legacy/UI default; key-level)",
        "true",
    ),
    Rule(Scope.CLUSTER, "spark_env_vars.PYSPARK_PYTHON", Kind.DEFAULT, "D23", "/databricks/python3/bin/python3"),
    Rule(
        Scope.CLUSTER,
        "data_security_mode",
        Kind.EQUIVALENCE,
        "drift-cases §5 (D22)",
        {"DATA_SECURITY_MODE_DEDICATED": "SINGLE_USER", "DATA_SECURITY_MODE_STANDARD": "USER_ISOLATION"},
    ),
    Rule(
        Scope.CLUSTER,
        "first_on_demand",
        Kind.EQUIVALENCE,
        "drift-cases §1 (D19: coerced to >= 1 on single-node)",
        "at least 1 on single-node clusters",
    ),
    # --- lists ------------------------------------------------------------------------------------
    Rule(Scope.JOB, "tasks", Kind.KEYED_LIST, "D02, D31, D33; spec §4.3", "task_key"),
    Rule(Scope.TASK, "depends_on", Kind.KEYED_LIST, "D01; spec §4.3", "task_key"),
    Rule(Scope.JOB, "job_clusters", Kind.KEYED_LIST, "drift-cases §2; spec §4.3", "job_cluster_key"),
    Rule(Scope.JOB, "environments", Kind.KEYED_LIST, "drift-cases §2; spec §4.3", "environment_key"),
    Rule(Scope.JOB, "parameters", Kind.KEYED_LIST, "drift-cases §2 (D35); spec §4.3", "name"),
    *(
        Rule(scope, f"webhook_notifications.{event}", Kind.KEYED_LIST, "drift-cases §2; spec §4.3", "id")
        for scope in (Scope.JOB, Scope.TASK)
        for event in _NOTIFY_ALL
    ),
    *(
        Rule(scope, f"email_notifications.{event}", Kind.SET_LIST, "drift-cases §2 (order carries no meaning)")
        for scope in (Scope.JOB, Scope.TASK)
        for event in _NOTIFY_ALL
    ),
    Rule(Scope.TASK, "libraries", Kind.ORDERED_LIST, "D34 (install order)"),
    *(
        Rule(Scope.TASK, f"{ttype}.parameters", Kind.ORDERED_LIST, "D34 wire (positional arguments)")
        for ttype in ("spark_python_task", "python_wheel_task", "spark_jar_task", "spark_submit_task")
    ),
    Rule(Scope.TASK, "dbt_task.commands", Kind.ORDERED_LIST, "D28, D34"),
    Rule(Scope.CLUSTER, "init_scripts", Kind.ORDERED_LIST, "D34 wire"),
    Rule(Scope.JOB, "trigger.table_update.table_names", Kind.ORDERED_LIST, "drift-cases §2 (unproven: kept ordered)"),
    # Any other list: kept in order (a reorder we cannot explain is reported, never hidden).
    Rule(Scope.ANY, "<other lists>", Kind.ORDERED_LIST, NO_PUBLIC_SOURCE),
    Rule(Scope.ANY, "{} [] null", Kind.EMPTY, "D04; drift-cases §5"),
)


def rules_of(kind: Kind, scope: Scope | None = None) -> list[Rule]:
    """The rows of ``kind`` (in ``scope`` when given), in table order."""
    return [r for r in RULES if r.kind is kind and (scope is None or r.scope is scope)]


def unsourced() -> list[Rule]:
    """Rules without a public source (to be confirmed against a workspace)."""
    return [r for r in RULES if r.source == NO_PUBLIC_SOURCE]
