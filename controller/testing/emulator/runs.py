"""Job runs, first version: one run goes PENDING -> RUNNING -> TERMINATED/SUCCESS on a clock (spec §5).

A run's state is not stored but derived from its start time, the phase durations fixed when
it was created (:class:`RunTiming`) and the current time of the workspace clock, so a
``ManualClock`` lets a test step a run through its states and zero durations make a run
finish at once. Cancelling fixes the end (TERMINATED/CANCELED). Both the legacy ``state`` and
the current ``status`` objects are always present and consistent (§5.2-§5.4). Times and
durations are epoch milliseconds / milliseconds (§5.5).

Not yet modelled: queueing and ``max_concurrent_runs``, failures, retries, repairs, per-task
scheduling along ``depends_on`` (all tasks share the run's phase).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

Json = dict[str, Any]

#: Task fields copied from the job into each task run (the type-specific body and compute).
_TASK_FIELDS_EXCLUDED = frozenset({"email_notifications", "webhook_notifications", "notification_settings"})


@dataclass(frozen=True)
class RunTiming:
    """How long a new run spends in each phase, in milliseconds (both 0: terminated at once)."""

    pending_ms: int = 500
    running_ms: int = 1500


@dataclass
class RunRecord:
    """A stored run. ``start_time``/``cancel_time`` are epoch ms; the phase lengths are ms;
    ``seq`` orders runs by creation."""

    run_id: int
    job_id: int
    run_name: str
    creator_user_name: str
    start_time: int
    pending_ms: int
    running_ms: int
    tasks: list[Json] = field(default_factory=list)
    job_parameters: list[Json] = field(default_factory=list)
    overriding_parameters: Json = field(default_factory=dict)
    seq: int = 0
    trigger: str = "ONE_TIME"
    cancel_time: int | None = None
    idempotency_token: str | None = None

    @property
    def natural_end(self) -> int:
        """When the run ends successfully unless cancelled first (epoch ms)."""
        return self.start_time + self.pending_ms + self.running_ms

    def end_time(self, now_ms: int) -> int:
        """Epoch ms of the end, or 0 while the run is active (§5.5)."""
        if self.cancel_time is not None and self.cancel_time < self.natural_end:
            return self.cancel_time
        return self.natural_end if now_ms >= self.natural_end else 0

    def is_active(self, now_ms: int) -> bool:
        return self.end_time(now_ms) == 0

    def cancel(self, now_ms: int) -> None:
        """Cancel now; a no-op for a run that has already ended (§3.10)."""
        if self.is_active(now_ms):
            self.cancel_time = now_ms

    def state_and_status(self, now_ms: int) -> tuple[Json, Json]:
        """The ``state`` (RunState) and ``status`` (RunStatus) objects at ``now_ms``."""
        end = self.end_time(now_ms)
        if end and self.cancel_time == end and end < self.natural_end:
            message = "Run cancelled."
            return (
                {
                    "life_cycle_state": "TERMINATED",
                    "result_state": "CANCELED",
                    "state_message": message,
                    "user_cancelled_or_timedout": True,
                },
                {
                    "state": "TERMINATED",
                    "termination_details": {"code": "USER_CANCELED", "type": "SUCCESS", "message": message},
                },
            )
        if end:
            return (
                {
                    "life_cycle_state": "TERMINATED",
                    "result_state": "SUCCESS",
                    "state_message": "",
                    "user_cancelled_or_timedout": False,
                },
                {"state": "TERMINATED", "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""}},
            )
        phase = "PENDING" if now_ms < self.start_time + self.pending_ms else "RUNNING"
        message = "Waiting for cluster" if phase == "PENDING" else ""
        return (
            {"life_cycle_state": phase, "state_message": message, "user_cancelled_or_timedout": False},
            {"state": phase},
        )

    def to_api(self, now_ms: int, host_url: str, include_tasks: bool = True) -> Json:
        """The ``Run`` object of ``runs/get`` (``include_tasks=False``: the ``BaseRun`` of ``runs/list``)."""
        state, status = self.state_and_status(now_ms)
        end = self.end_time(now_ms)
        out: Json = {
            "job_id": self.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "original_attempt_run_id": self.run_id,
            "attempt_number": 0,
            "run_name": self.run_name,
            "run_type": "JOB_RUN",
            "trigger": self.trigger,
            "creator_user_name": self.creator_user_name,
            "run_page_url": f"{host_url}/#job/{self.job_id}/run/{self.run_id}",
            "state": state,
            "status": status,
            "start_time": self.start_time,
            "end_time": end,
            # Multi-task runs report 0 at run level and the total in run_duration (§5.5).
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
            "run_duration": end - self.start_time if end else 0,
            "queue_duration": 0,
            "format": "MULTI_TASK",
        }
        if self.job_parameters:
            out["job_parameters"] = copy.deepcopy(self.job_parameters)
        if self.overriding_parameters:
            out["overriding_parameters"] = copy.deepcopy(self.overriding_parameters)
        if include_tasks:
            out["tasks"] = [self._task_run(t, state, status, end, host_url) for t in self.tasks]
        return out

    def _task_run(self, task: Json, state: Json, status: Json, end: int, host_url: str) -> Json:
        out = {k: copy.deepcopy(v) for k, v in task.items() if k not in _TASK_FIELDS_EXCLUDED}
        out.update(
            {
                "state": copy.deepcopy(state),
                "status": copy.deepcopy(status),
                "start_time": self.start_time,
                "end_time": end,
                "setup_duration": min(self.pending_ms, end - self.start_time) if end else 0,
                "execution_duration": max(0, end - self.start_time - self.pending_ms) if end else 0,
                "cleanup_duration": 0,
                "run_duration": end - self.start_time if end else 0,
                "attempt_number": 0,
                "run_page_url": f"{host_url}/#job/{self.job_id}/run/{task['run_id']}",
            }
        )
        return out

    def to_dict(self) -> Json:
        """Plain JSON for the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Json) -> RunRecord:
        return cls(**data)


def task_runs(tasks: list[Json], run_ids: list[int]) -> list[Json]:
    """The per-task entries of a new run: each job task's settings plus its own ``run_id``."""
    return [{**copy.deepcopy(task), "run_id": rid} for task, rid in zip(tasks, run_ids, strict=True)]


def resolve_job_parameters(definitions: list[Json], overrides: dict[str, Any]) -> list[Json]:
    """``job_parameters`` of a run: each definition with its ``default`` and resolved ``value`` (§5.6)."""
    resolved = []
    for definition in definitions:
        name = definition.get("name")
        default = definition.get("default", "")
        value = overrides.get(name, default) if isinstance(name, str) else default
        resolved.append({"name": name, "default": default, "value": value})
    return resolved
