"""Schemas of the operator's own fields (camelCase, Kubernetes conventions) and of ``status``.

Hand-written here because they are ours, not the Jobs API's; the pydantic models in
:mod:`controller.api.models` read the same fields. No ``default:`` anywhere: a schema default would
appear in the live object and Argo CD would report it as a diff (argo-cd issue 11139), so defaults are
applied in code. Status sub-objects that other parts of the controller fill (``drift``, ``lastRun``,
``runs``, ``runNow``) list the properties known today and preserve unknown ones, so a field added by
those parts is never pruned by the apiserver.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _s(description: str, **kw: Any) -> Schema:
    return {"type": "string", "description": description, **kw}


def _i(description: str, **kw: Any) -> Schema:
    return {"type": "integer", "format": "int64", "description": description, **kw}


def _b(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def _time(description: str) -> Schema:
    return _s(description, format="date-time")


def _obj(description: str, props: Schema, *, open_: bool = False, required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": props}
    if required:
        schema["required"] = required
    if open_:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def operator_fields() -> Schema:
    """``spec`` properties other than ``settings``."""
    return {
        "workspaceRef": {
            **_obj(
                "The DatabricksWorkspace (in this namespace) the job lives in. Required and immutable: to "
                "move a job to another workspace, create a new DatabricksJob.",
                {"name": _s("Name of a DatabricksWorkspace in the same namespace.", minLength=1, maxLength=253)},
                required=["name"],
            ),
            # A changed reference would leave the old job running in the old workspace while status
            # points at a new one; refusing the change keeps one resource = one job.
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "workspaceRef is immutable; create a new DatabricksJob"}
            ],
        },
        "driftPolicy": _s(
            "What to do when the live job differs from spec.settings: Correct (reset it to spec.settings; "
            "the default) or Report (record the difference in status.drift and leave the job as it is).",
            enum=["Correct", "Report"],
        ),
        "deletionPolicy": _s(
            "What happens to the Databricks job when this resource is deleted: Delete (the default) or "
            "Orphan (leave the job in the workspace).",
            enum=["Delete", "Orphan"],
        ),
        "paused": _b(
            "When true the controller makes no change to the Databricks job (no create, reset or delete of "
            "it on spec changes or drift) and only observes. Default false."
        ),
        "healthPolicy": _obj(
            "When the job's runs make it unhealthy (condition RunHealthy). All fields optional; defaults "
            "are applied by the controller.",
            {
                "consecutiveFailures": _i(
                    "Consecutive failed runs that make RunHealthy=False. Default 1.", minimum=1, maximum=1000
                ),
                "missedScheduleCounts": _b(
                    "Whether a scheduled run that did not start when the schedule says it should have makes "
                    "RunHealthy=False (reason RunOverdue). Default true."
                ),
                "missedScheduleGraceSeconds": _i(
                    "How late (seconds) a scheduled run may start before it counts as missed. Default: half "
                    "the schedule's period, at most 600.",
                    minimum=0,
                ),
                "maxRunDurationSeconds": _i(
                    "A run taking longer than this many seconds makes RunHealthy=False. Unset: no limit.", minimum=1
                ),
                "affectsReady": _b(
                    "Whether RunHealthy=False also makes Ready=False (Argo CD then shows Degraded). Default "
                    "false: configuration sync and run health stay separate signals."
                ),
            },
        ),
        "adopt": _obj(
            "Take over an existing Databricks job instead of creating one: the controller resets that job "
            "to spec.settings and manages it from then on.",
            {"jobId": _i("The id of the existing job in the workspace.", minimum=1)},
            required=["jobId"],
        ),
    }


def _condition() -> Schema:
    return _obj(
        "One condition in the Kubernetes metav1.Condition shape.",
        {
            "type": _s("Ready, Synced, Drifted or RunHealthy.", maxLength=316),
            "status": _s("True, False or Unknown.", enum=["True", "False", "Unknown"]),
            "observedGeneration": _i("The metadata.generation this condition was set for.", minimum=0),
            "lastTransitionTime": _time("When status last changed (not updated when only reason/message change)."),
            "reason": _s("CamelCase reason from the controller's closed vocabulary.", maxLength=1024, minLength=1),
            "message": _s("What happened and what to do about it, for a person.", maxLength=32768),
        },
        required=["type", "status", "lastTransitionTime", "reason", "message"],
    )


def status_schema() -> Schema:
    """``status`` of a DatabricksJob, written only by the controller."""
    return _obj(
        "What the controller observed. Written only by the controller.",
        {
            "observedGeneration": _i("The metadata.generation this status describes.", minimum=0),
            "jobId": _i("The Databricks job id."),
            "jobUrl": _s("The job's page in the workspace UI."),
            "conditions": {
                "type": "array",
                "description": "Ready, Synced, Drifted and RunHealthy, in metav1.Condition shape.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": _condition(),
            },
            "drift": _obj(
                "The last drift check.",
                {
                    "detected": _b("True when the live job differs from spec.settings."),
                    "count": _i("Number of differing paths."),
                    "paths": {
                        "type": "array",
                        "description": "The first differing paths, e.g. tasks[task_key=ingest].timeout_seconds.",
                        "items": {"type": "string"},
                    },
                    "lastCheckedTime": _time("When the live job was last compared."),
                },
                open_=True,
            ),
            "lastRun": _obj(
                "The most recent run of the job.",
                {
                    "runId": _i("Databricks run id."),
                    "lifeCycleState": _s("Run life-cycle state, e.g. RUNNING, TERMINATED."),
                    "resultState": _s("Result state once finished, e.g. SUCCESS, FAILED."),
                    "stateMessage": _s("The state message Databricks reports."),
                    "startTime": _time("When the run started."),
                    "endTime": _time("When the run ended."),
                    "durationSeconds": _i("Run duration in seconds."),
                    "runPageUrl": _s("The run's page in the workspace UI."),
                    "trigger": _s("What started the run, e.g. PERIODIC, ONE_TIME."),
                },
                open_=True,
            ),
            "runs": _obj(
                "Summary of recent runs over the observation window.",
                {
                    "succeeded": _i("Successful runs in the window."),
                    "failed": _i("Failed runs in the window."),
                    "consecutiveFailures": _i("Failed runs since the last success."),
                    "lastSuccessTime": _time("When the last successful run ended."),
                    "successRate": {"type": "number", "description": "succeeded / (succeeded + failed)."},
                },
                open_=True,
            ),
            "runNow": _obj(
                "Runs started through the dbjobs.io/run-now annotation.",
                {
                    "value": _s("The annotation value that triggered the last run."),
                    "runId": _i("The run it started."),
                },
                open_=True,
            ),
        },
    )


def printer_columns() -> list[Schema]:
    """``kubectl get dbjobs`` columns; the ones after AGE only with ``-o wide``."""

    def cond(ctype: str, field: str = "status") -> str:
        return f'.status.conditions[?(@.type=="{ctype}")].{field}'

    return [
        {"name": "Job ID", "type": "integer", "format": "int64", "jsonPath": ".status.jobId"},
        {"name": "Ready", "type": "string", "jsonPath": cond("Ready")},
        {"name": "Synced", "type": "string", "jsonPath": cond("Synced")},
        {"name": "Drift", "type": "string", "jsonPath": cond("Drifted")},
        {"name": "Last Run", "type": "string", "jsonPath": ".status.lastRun.resultState"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": cond("Synced", "reason")},
        {"name": "Run Health", "type": "string", "priority": 1, "jsonPath": cond("RunHealthy", "reason")},
        {"name": "Workspace", "type": "string", "priority": 1, "jsonPath": ".spec.workspaceRef.name"},
        {"name": "URL", "type": "string", "priority": 1, "jsonPath": ".status.jobUrl"},
    ]
