"""Job runs: the stored record and the state machine of spec §5.

A run's state is not stored but derived from fixed facts and the workspace clock: when it was
created (``start_time``), when it left the queue (``dequeue_time``), how long it pends and runs
(fixed at creation from the test's script or :class:`RunTiming`), its scripted outcome, and an
end forced by a cancel or a test. So a ``ManualClock`` steps a run through QUEUED -> PENDING ->
RUNNING -> terminal and nothing ever sleeps. Both the legacy ``state`` and the current
``status`` objects are always present and consistent (table of §5.4). Times are epoch ms,
durations ms (§5.5).

Not modelled: TERMINATING (0 ms), task ordering along ``depends_on`` (all task runs share the
run's phases), retries and ``WAITING_FOR_RETRY``, repair history.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

Json = dict[str, Any]

#: Task fields copied from the job into each task run (the type-specific body and compute).
_TASK_FIELDS_EXCLUDED = frozenset({"email_notifications", "webhook_notifications", "notification_settings"})


class Outcome(StrEnum):
    """How a run ends (what a test scripts). SKIPPED is not scriptable: it comes from concurrency."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"  # one task fails; tasks downstream of it are skipped
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"  # as if a user cancelled it when it would have ended
    INTERNAL_ERROR = "INTERNAL_ERROR"  # platform failure
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class RunTiming:
    """How long a new run spends in each phase, in milliseconds (both 0: terminated at once)."""

    pending_ms: int = 500
    running_ms: int = 1500


@dataclass(frozen=True)
class RunScript:
    """The scripted fate of one future run of a job.

    ``pending_ms`` / ``running_ms``: phase lengths in ms (None: the workspace's ``RunTiming``);
    ``running_ms=-1`` runs until a test finishes or cancels it. ``failed_task``: the task_key
    that fails for ``FAILED`` (None: the first task). ``message``: the failure text.
    """

    outcome: Outcome = Outcome.SUCCESS
    pending_ms: int | None = None
    running_ms: int | None = None
    failed_task: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, value: Any) -> RunScript:
        """From an ``Outcome``, its name, a ``RunScript`` or a JSON object with the same fields."""
        if isinstance(value, RunScript):
            return value
        if isinstance(value, str):
            return cls(Outcome(value.upper()))
        if isinstance(value, dict):
            known = {k: value[k] for k in ("pending_ms", "running_ms", "failed_task", "message") if k in value}
            return cls(Outcome(str(value.get("outcome", "SUCCESS")).upper()), **known)
        raise ValueError(f"not a run script: {value!r}")


#: Ends forever: ``running_ms`` of a run that waits for a test (or a cancel) to end it.
UNTIL_FINISHED = -1


@dataclass
class RunRecord:
    """A stored run. Times epoch ms, lengths ms; ``seq`` orders runs by creation.

    ``queued``: the run waited for a slot; ``dequeue_time`` is when it got one (None: still
    waiting). ``forced_end``/``forced_outcome``: an end set by ``runs/cancel`` or a test.
    ``timeout_ms``: the job's ``timeout_seconds`` at creation (0: none).
    """

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
    cancel_time: int | None = None  # kept for state files of the first version
    idempotency_token: str | None = None
    run_type: str = "JOB_RUN"
    outcome: str = Outcome.SUCCESS.value
    failed_task: str | None = None
    message: str | None = None
    queued: bool = False
    dequeue_time: int | None = None
    forced_end: int | None = None
    forced_outcome: str | None = None
    timeout_ms: int = 0
    max_concurrent_runs: int = 1
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.cancel_time is not None and self.forced_end is None:
            self.forced_end, self.forced_outcome = self.cancel_time, Outcome.CANCELED.value

    # ---- timeline ------------------------------------------------------------------------------

    @property
    def exec_start(self) -> int | None:
        """When the run left the queue (= ``start_time`` unless queued); None while queued."""
        return self.dequeue_time if self.queued else self.start_time

    def _natural(self) -> tuple[int | None, str]:
        """(end by the script or the job timeout, outcome then); end None = not yet known."""
        start = self.exec_start
        if self.outcome == Outcome.SKIPPED:
            return self.start_time, Outcome.SKIPPED.value
        if start is None:
            return None, self.outcome
        end = None if self.running_ms == UNTIL_FINISHED else start + self.pending_ms + self.running_ms
        if self.timeout_ms and (end is None or end - start > self.timeout_ms):
            return start + self.timeout_ms, Outcome.TIMEDOUT.value
        return end, self.outcome

    def end_and_outcome(self, now_ms: int) -> tuple[int, str]:
        """(epoch ms of the end or 0 while active, final outcome) at ``now_ms``."""
        end, outcome = self._natural()
        if self.forced_end is not None and (end is None or self.forced_end < end):
            return self.forced_end, self.forced_outcome or Outcome.CANCELED.value
        if end is not None and now_ms >= end:
            return end, outcome
        return 0, outcome

    def end_time(self, now_ms: int) -> int:
        """Epoch ms of the end, or 0 while the run is active (§5.5)."""
        return self.end_and_outcome(now_ms)[0]

    def next_end(self) -> int | None:
        """When the run will end unless something forces it earlier (None: not scheduled)."""
        end, _ = self._natural()
        if self.forced_end is not None and (end is None or self.forced_end < end):
            return self.forced_end
        return end

    def is_active(self, now_ms: int) -> bool:
        return self.end_time(now_ms) == 0

    def force_end(self, now_ms: int, outcome: Outcome) -> None:
        """End now with ``outcome``; a no-op for a run that has already ended (§3.10)."""
        if self.is_active(now_ms):
            self.forced_end, self.forced_outcome = now_ms, outcome.value

    def cancel(self, now_ms: int) -> None:
        """Cancel now (``runs/cancel``); a no-op for an ended run."""
        self.force_end(now_ms, Outcome.CANCELED)

    # ---- wire form -----------------------------------------------------------------------------

    def state_and_status(self, now_ms: int) -> tuple[Json, Json]:
        """The ``state`` (RunState) and ``status`` (RunStatus) objects at ``now_ms`` (§5.2-§5.4)."""
        end, outcome = self.end_and_outcome(now_ms)
        if end:
            return terminal_state(outcome, self._failure_message(), self.max_concurrent_runs)
        if self.exec_start is None:
            reason = f"Queued due to reaching maximum concurrent runs of {self.max_concurrent_runs}."
            return (
                {"life_cycle_state": "QUEUED", "state_message": "", "user_cancelled_or_timedout": False,
                 "queue_reason": reason},
                {"state": "QUEUED", "queue_details": {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": reason}},
            )  # fmt: skip
        phase = "PENDING" if now_ms < self.exec_start + self.pending_ms else "RUNNING"
        message = "Waiting for cluster" if phase == "PENDING" else ""
        return (
            {"life_cycle_state": phase, "state_message": message, "user_cancelled_or_timedout": False},
            {"state": phase},
        )

    def _failure_message(self) -> str:
        key = self.failed_task or (self.tasks[0]["task_key"] if self.tasks else "main")
        text = self.message or "Workload failed, see run output for details"
        if self.outcome == Outcome.INTERNAL_ERROR:
            return self.message or "The run failed because of an internal error of the emulated platform."
        downstream = " This caused all downstream tasks to get skipped." if downstream_of(self.tasks, key) else ""
        return f"Task {key} failed with message: {text}.{downstream}"

    def to_api(self, now_ms: int, host_url: str, include_tasks: bool = True) -> Json:
        """The ``Run`` object of ``runs/get`` (``include_tasks=False``: the ``BaseRun`` of ``runs/list``)."""
        state, status = self.state_and_status(now_ms)
        end, outcome = self.end_and_outcome(now_ms)
        started = self.exec_start
        out: Json = {
            "job_id": self.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "original_attempt_run_id": self.run_id,
            "attempt_number": 0,
            "run_name": self.run_name,
            "run_type": self.run_type,
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
            "run_duration": end - (started if started is not None else end) if end else 0,
            "queue_duration": (started - self.start_time) if started is not None else 0,
            "format": "MULTI_TASK",
        }
        if self.run_type == "SUBMIT_RUN":
            out["run_page_url"] = f"{host_url}/#job/run/{self.run_id}"
        if self.job_parameters:
            out["job_parameters"] = copy.deepcopy(self.job_parameters)
        if self.overriding_parameters:
            out["overriding_parameters"] = copy.deepcopy(self.overriding_parameters)
        if include_tasks:
            out["tasks"] = [self._task_run(t, state, status, end, outcome, host_url) for t in self.tasks]
        return out

    def _task_run(self, task: Json, state: Json, status: Json, end: int, outcome: str, host_url: str) -> Json:
        out = {k: copy.deepcopy(v) for k, v in task.items() if k not in _TASK_FIELDS_EXCLUDED}
        if end and outcome == Outcome.FAILED:
            key = self.failed_task or (self.tasks[0]["task_key"] if self.tasks else "")
            state, status = task_failure_state(task.get("task_key"), key, downstream_of(self.tasks, key))
        started = self.exec_start if self.exec_start is not None else self.start_time
        out.update(
            {
                "state": copy.deepcopy(state),
                "status": copy.deepcopy(status),
                "start_time": started if self.exec_start is not None else 0,
                "end_time": end,
                "setup_duration": min(self.pending_ms, end - started) if end else 0,
                "execution_duration": max(0, end - started - self.pending_ms) if end else 0,
                "cleanup_duration": 0,
                "run_duration": end - started if end else 0,
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
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def terminal_state(outcome: str, failure_message: str, max_concurrent: int) -> tuple[Json, Json]:
    """``state`` and ``status`` of an ended job run, per the table of §5.4 (inferred rows marked
    in docs/emulator.md)."""

    def pair(life: str, result: str, message: str, user: bool, code: str, ttype: str) -> tuple[Json, Json]:
        return (
            {"life_cycle_state": life, "result_state": result, "state_message": message,
             "user_cancelled_or_timedout": user},
            {"state": "TERMINATED", "termination_details": {"code": code, "type": ttype, "message": message}},
        )  # fmt: skip

    if outcome == Outcome.SUCCESS:
        return pair("TERMINATED", "SUCCESS", "", False, "SUCCESS", "SUCCESS")
    if outcome == Outcome.FAILED:
        # A failed task makes the *job* run INTERNAL_ERROR/FAILED (cloud-recorded, §5.4).
        return pair("INTERNAL_ERROR", "FAILED", failure_message, False, "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
    if outcome == Outcome.TIMEDOUT:
        return pair("TERMINATED", "TIMEDOUT", "Run timed out.", True, "CANCELED", "CLIENT_ERROR")
    if outcome == Outcome.CANCELED:
        return pair("TERMINATED", "CANCELED", "Run cancelled.", True, "USER_CANCELED", "SUCCESS")
    if outcome == Outcome.INTERNAL_ERROR:
        return pair("INTERNAL_ERROR", "FAILED", failure_message, False, "INTERNAL_ERROR", "INTERNAL_ERROR")
    message = f"Skipping this run because the limit of {max_concurrent} maximum concurrent runs has been reached."
    state, status = pair("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", message, False, "MAX_CONCURRENT_RUNS_EXCEEDED",
                         "CLIENT_ERROR")  # fmt: skip
    return state, status


def task_failure_state(task_key: Any, failed_key: str, downstream: set[str]) -> tuple[Json, Json]:
    """Task-level ``state``/``status`` inside a failed run: the failing task FAILED, its downstream
    SKIPPED/UPSTREAM_FAILED, the rest SUCCESS (§5.4)."""
    if task_key == failed_key:
        msg = "Workload failed, see run output for details"
        return (
            {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": msg,
             "user_cancelled_or_timedout": False},
            {"state": "TERMINATED", "termination_details": {"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR",
                                                             "message": msg}},
        )  # fmt: skip
    if task_key in downstream:
        msg = "An upstream task failed."
        return (
            {"life_cycle_state": "SKIPPED", "result_state": "UPSTREAM_FAILED", "state_message": msg,
             "user_cancelled_or_timedout": False},
            {"state": "TERMINATED", "termination_details": {"code": "SKIPPED", "type": "CLIENT_ERROR", "message": msg}},
        )  # fmt: skip
    return terminal_state(Outcome.SUCCESS, "", 1)


def downstream_of(tasks: list[Json], key: str) -> set[str]:
    """Task keys that depend, directly or not, on task ``key``."""
    found: set[str] = set()
    frontier = {key}
    while frontier:
        nxt = {
            str(t.get("task_key"))
            for t in tasks
            if any(d.get("task_key") in frontier for d in t.get("depends_on") or [] if isinstance(d, dict))
        }
        frontier = nxt - found - {key}
        found |= nxt
    return found - {key}


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
