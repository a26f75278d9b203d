"""``DatabricksJob.status``: what the controller observed, written only by the controller.

Shape (camelCase; every key optional, a merge patch deletes a key by writing null)::

    {observedGeneration, jobId, jobUrl,
     conditions: [metav1.Condition],                     # Ready, Synced, Drifted, RunHealthy
     drift:   {detected, count, paths, items: [{path, desired?, live?, writeOnly}], appliedWriteOnly?},
     lastRun: {runId, lifeCycleState, resultState?, stateMessage, startTime, endTime?, durationSeconds,
               runPageUrl, trigger},
     runs:    {window, succeeded, failed, consecutiveFailures, lastSuccessTime?, successRate?},
     runNow:  {value, runId, triggeredTime, parameters?, history: [{value, runId, triggeredTime}], rejected?},
     references: [{field, name, jobId?}], dependsOn}

Sources of each part: ``drift`` from ``controller.reconcile.report.drift_status``; ``lastRun`` and ``runs`` from
``controller.reconcile.health.last_run`` / ``window_stats``; ``runNow`` from ``controller.operator.runnow``. Those
four are :class:`~controller.api.meta.OpenModel`: a key their writers add is kept, never pruned. ``references`` and
``dependsOn`` from ``controller.reconcile.references`` (references to other DatabricksJobs in ``spec.settings``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from controller.api.meta import CONDITIONS_LIST, ApiModel, Condition, OpenModel


class JobCondition(Condition):
    """A condition of a ``DatabricksJob``: ``type`` Ready, Synced, Drifted or RunHealthy."""

    type: str = Field(max_length=316, description="Ready, Synced, Drifted or RunHealthy.")


class DriftItem(ApiModel):
    """One differing path of ``status.drift.items``: ``{path, desired?, live?, writeOnly}``; values are JSON text
    cut to 200 characters, a side where the field is absent has no key."""

    path: str = Field(description="The differing path, e.g. tasks[task_key=ingest].timeout_seconds.")
    desired: str | None = Field(
        default=None,
        description="The value in spec.settings, as JSON text (cut). Absent when spec.settings does not set it.",
    )
    live: str | None = Field(
        default=None,
        description="The value in the live job, as JSON text (cut). Absent when the live job does not have it.",
    )
    write_only: bool = Field(
        default=False,
        alias="writeOnly",
        description="True for a field the Jobs API accepts but never returns: compared with what was last sent.",
    )


class DriftStatus(OpenModel):
    """``status.drift``: the last drift check (see ``controller.reconcile.report``)."""

    detected: bool | None = Field(default=None, description="True when the live job differs from spec.settings.")
    count: int | None = Field(default=None, description="Number of differing paths.")
    paths: list[str] = Field(
        default_factory=list,
        description="The first differing paths, e.g. tasks[task_key=ingest].timeout_seconds.",
    )
    items: list[Annotated[DriftItem, Field(description="A differing path with the desired and the live value.")]] = (
        Field(default_factory=list, description="The first differences with their desired and live values.")
    )
    applied_write_only: dict[str, Any] | None = Field(
        default=None,
        alias="appliedWriteOnly",
        description="The write-only fields (path: value) last sent to Databricks, to compare the next write with.",
    )


class LastRun(OpenModel):
    """``status.lastRun``: the most recent run (see ``controller.reconcile.health.last_run``)."""

    run_id: int | None = Field(default=None, alias="runId", description="Databricks run id.")
    life_cycle_state: str | None = Field(
        default=None, alias="lifeCycleState", description="Run life-cycle state, e.g. RUNNING, TERMINATED."
    )
    result_state: str | None = Field(
        default=None, alias="resultState", description="Result state once finished, e.g. SUCCESS, FAILED."
    )
    state_message: str | None = Field(
        default=None, alias="stateMessage", description="The state message Databricks reports."
    )
    start_time: dt.datetime | None = Field(default=None, alias="startTime", description="When the run started.")
    end_time: dt.datetime | None = Field(default=None, alias="endTime", description="When the run ended.")
    duration_seconds: int | None = Field(default=None, alias="durationSeconds", description="Run duration in seconds.")
    run_page_url: str | None = Field(
        default=None, alias="runPageUrl", description="The run's page in the workspace UI."
    )
    trigger: str | None = Field(default=None, description="What started the run, e.g. PERIODIC, ONE_TIME.")


class RunsSummary(OpenModel):
    """``status.runs``: recent runs (see ``controller.reconcile.health.window_stats``)."""

    window: int | None = Field(default=None, ge=0, description="How many recent runs this summary covers.")
    succeeded: int | None = Field(default=None, description="Successful runs in the window.")
    failed: int | None = Field(default=None, description="Failed runs in the window.")
    consecutive_failures: int | None = Field(
        default=None, alias="consecutiveFailures", description="Failed runs since the last success."
    )
    last_success_time: dt.datetime | None = Field(
        default=None, alias="lastSuccessTime", description="When the last successful run ended."
    )
    success_rate: float | None = Field(
        default=None, ge=0, le=1, alias="successRate", description="succeeded / (succeeded + failed)."
    )


class RunNowEntry(ApiModel):
    """One entry of ``status.runNow.history``: ``{value, runId, triggeredTime}``."""

    value: str = Field(description="The dbjobs.io/run-now value.")
    run_id: int | None = Field(default=None, alias="runId", description="The run it started.")
    triggered_time: dt.datetime | None = Field(
        default=None, alias="triggeredTime", description="When the run was started."
    )


class RunNowStatus(OpenModel):
    """``status.runNow``: runs started through the annotation (see ``controller.operator.runnow``)."""

    value: str | None = Field(default=None, description="The annotation value that triggered the last run.")
    run_id: int | None = Field(default=None, alias="runId", description="The run it started.")
    triggered_time: dt.datetime | None = Field(
        default=None, alias="triggeredTime", description="When that run was started."
    )
    parameters: dict[str, str] | None = Field(
        default=None, description="The job parameters of that run (dbjobs.io/run-now-parameters)."
    )
    history: list[Annotated[RunNowEntry, Field(description="A value and the run it started.")]] = Field(
        default_factory=list, description="The last 10 values and the runs they started, newest first."
    )
    rejected: str | None = Field(
        default=None, description="Why the last value started no run (malformed dbjobs.io/run-now-parameters)."
    )


class ReferenceEntry(ApiModel):
    """One entry of ``status.references``: ``{field, name, jobId?}``."""

    field: str = Field(
        description="The field of spec.settings holding the reference, e.g. tasks[0].run_job_task.job_id."
    )
    name: str = Field(description="The DatabricksJob it names, in this namespace.")
    job_id: int | None = Field(
        default=None,
        alias="jobId",
        description="The job id it was last resolved to and applied with; absent while it cannot be resolved.",
    )


class DatabricksJobStatus(ApiModel):
    """``DatabricksJob.status`` (see the module docstring for the shape and who writes each part)."""

    model_config = ConfigDict(
        json_schema_extra={"description": "What the controller observed. Written only by the controller."}
    )

    observed_generation: int | None = Field(
        default=None, ge=0, alias="observedGeneration", description="The metadata.generation this status describes."
    )
    job_id: int | None = Field(default=None, alias="jobId", description="The Databricks job id.")
    job_url: str | None = Field(default=None, alias="jobUrl", description="The job's page in the workspace UI.")
    conditions: list[JobCondition] = Field(
        default_factory=list,
        description="Ready, Synced, Drifted and RunHealthy, in metav1.Condition shape.",
        json_schema_extra=CONDITIONS_LIST,
    )
    drift: DriftStatus | None = Field(default=None, description="The last drift check.")
    last_run: LastRun | None = Field(default=None, alias="lastRun", description="The most recent run of the job.")
    runs: RunsSummary | None = Field(default=None, description="Summary of recent runs over the observation window.")
    run_now: RunNowStatus | None = Field(
        default=None, alias="runNow", description="Runs started through the dbjobs.io/run-now annotation."
    )
    references: list[Annotated[ReferenceEntry, Field(description="A reference and the job id it resolved to.")]] = (
        Field(
            default_factory=list,
            description="The references of spec.settings to other DatabricksJobs (${resources.jobs.<name>.id}) "
            "and the job ids they were resolved to.",
        )
    )
    depends_on: str | None = Field(
        default=None,
        alias="dependsOn",
        description="The DatabricksJobs spec.settings references, comma-separated (the Depends On column).",
    )
