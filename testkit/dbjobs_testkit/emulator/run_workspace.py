"""The run side of the emulated workspace: run-now, submit, schedules, queueing, scripted outcomes.

:class:`RunsMixin` is a base class of ``Workspace``: it uses the workspace's lock, stores, ID
generator and state file, and keeps its own bookkeeping (scripts, schedule cursors) in memory.

Time is the workspace clock (epoch ms). Nothing happens in the background: before any run is
read or created, :meth:`RunsMixin._settle_runs` replays what the clock passed since the last
look, in order per job: scheduled fire times (Quartz cron, trigger ``PERIODIC``) and queued runs
taking the slot of a run that ended (§5.4 concurrency). So with a ``ManualClock`` a test moves
time and reads exactly the runs that real Databricks would show, without sleeping.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.reconcile import quartz
from dbjobs_testkit.emulator.errors import RunDoesNotExist, invalid
from dbjobs_testkit.emulator.jobs import JobRecord
from dbjobs_testkit.emulator.runs import (
    Outcome,
    RunRecord,
    RunScript,
    RunTiming,
    resolve_job_parameters,
    task_runs,
)

Json = dict[str, Any]

MAX_IDEMPOTENCY_TOKEN = 64
#: Deprecated per-task-type overrides of run-now, echoed as ``overriding_parameters`` (§3.7).
LEGACY_RUN_PARAMS = (
    "notebook_params",
    "python_params",
    "python_named_params",
    "jar_params",
    "spark_submit_params",
    "sql_params",
    "dbt_commands",
    "pipeline_params",
)
#: At most this many scheduled runs per job are created by one jump of the clock (a test that
#: moves a per-second schedule by a year must not create 31 million runs).
MAX_FIRES_PER_SETTLE = 500


@dataclass
class _RunSide:
    scripts: dict[int, list[RunScript]] = field(default_factory=dict)
    #: per job: (schedule it was computed for, epoch ms up to which fire times were handled)
    cursors: dict[int, tuple[tuple[str, str], int]] = field(default_factory=dict)
    last_settle: int | None = None


class RunsMixin:
    """Run operations of ``Workspace`` (see the module docstring). Raise ``ApiError``."""

    # Provided by Workspace.
    _lock: Any
    _jobs: dict[int, JobRecord]
    _runs: dict[int, RunRecord]
    _tokens: dict[str, int]
    _seq: int
    user_name: str
    run_timing: RunTiming
    _require: Callable[[int, str], None]  # PermissionsMixin: 403 unless the caller holds the level
    host_url: str

    def now_ms(self) -> int:
        raise NotImplementedError

    def _new_id(self) -> int:
        raise NotImplementedError

    def _save(self) -> None:
        raise NotImplementedError

    def _job(self, job_id: int) -> JobRecord:
        raise NotImplementedError

    # ---- Jobs API operations ---------------------------------------------------------------------

    def run_now(self, job_id: int, body: Json) -> RunRecord:
        """``jobs/run-now``: a new run of the job's current tasks (queued or skipped when the job
        is at ``max_concurrent_runs``); a repeated ``idempotency_token`` returns the run it created
        before (§3.7)."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE_RUN")  # "Run now" (access.py)
            self._settle_runs()
            job = self._job(job_id)
            token = body.get("idempotency_token")
            if token is not None:
                if not isinstance(token, str) or len(token) > MAX_IDEMPOTENCY_TOKEN:
                    raise invalid(f"idempotency_token: must be a string of at most {MAX_IDEMPOTENCY_TOKEN} characters.")
                if token in self._tokens:
                    earlier = self._tokens[token]
                    if earlier not in self._runs:
                        raise invalid(f"idempotency_token: the run {earlier} created with this token was deleted.")
                    return copy.deepcopy(self._runs[earlier])
            overrides = body.get("job_parameters") or {}
            if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
                raise invalid("job_parameters: must be an object of string values.")
            queue = body.get("queue")
            run = self._create_run(
                job,
                self.now_ms(),
                "ONE_TIME",
                overrides=overrides,
                legacy={k: body[k] for k in LEGACY_RUN_PARAMS if k in body},
                queue_enabled=queue.get("enabled") if isinstance(queue, dict) else None,
                token=token,
            )
            if token is not None:
                self._tokens[token] = run.run_id
            self._save()
            return copy.deepcopy(run)

    def submit_run(self, body: Json) -> RunRecord:
        """``runs/submit``: a one-time run of ``tasks`` that belongs to no saved job
        (``run_type`` ``SUBMIT_RUN``, ``run_name`` default ``Untitled``, §3.11)."""
        with self._lock:
            tasks = body.get("tasks")
            if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
                raise invalid("tasks: at least one task is required.")
            token = body.get("idempotency_token")
            if isinstance(token, str) and token in self._tokens and self._tokens[token] in self._runs:
                return copy.deepcopy(self._runs[self._tokens[token]])
            now = self.now_ms()
            self._seq += 1
            timing = self.run_timing
            run = RunRecord(
                run_id=self._new_id(),
                job_id=self._new_id(),  # a hidden one-time job, as the real service reports one
                run_name=str(body.get("run_name") or "Untitled"),
                creator_user_name=self.user_name,
                start_time=now,
                pending_ms=timing.pending_ms,
                running_ms=timing.running_ms,
                tasks=task_runs(tasks, [self._new_id() for _ in tasks]),
                seq=self._seq,
                run_type="SUBMIT_RUN",
                timeout_ms=int(body.get("timeout_seconds") or 0) * 1000,
            )
            self._runs[run.run_id] = run
            if isinstance(token, str):
                self._tokens[token] = run.run_id
            self._save()
            return copy.deepcopy(run)

    def get_run(self, run_id: int) -> RunRecord:
        """A copy of the stored run; ``RunDoesNotExist`` if absent."""
        with self._lock:
            self._settle_runs()
            return copy.deepcopy(self._live_run(run_id))

    def list_runs(self, job_id: int | None = None) -> list[RunRecord]:
        """Copies of the runs (of one job if given), most recently started first (§3.8).
        An unknown ``job_id`` gives an empty list (real behaviour not documented)."""
        with self._lock:
            self._settle_runs()
            runs = [r for r in self._runs.values() if not r.deleted and (job_id is None or r.job_id == job_id)]
            return copy.deepcopy(sorted(runs, key=lambda r: (r.start_time, r.seq), reverse=True))

    def cancel_run(self, run_id: int) -> None:
        """``runs/cancel``: ends an active run (or a task run's job run) as CANCELED; no-op on an
        ended one (§3.10)."""
        with self._lock:
            self._settle_runs()
            self._live_run(run_id, task_ok=True).cancel(self.now_ms())
            self._settle_runs()
            self._save()

    def cancel_all_runs(self, job_id: int | None, all_queued_runs: bool) -> None:
        """``runs/cancel-all``: every active run of ``job_id``, or with ``all_queued_runs`` and no
        job every queued run of the workspace (§3.10)."""
        if job_id is None and not all_queued_runs:
            raise invalid("job_id: is required unless all_queued_runs is true.")
        with self._lock:
            self._settle_runs()
            if job_id is not None:
                self._job(job_id)
            now = self.now_ms()
            for run in self._runs.values():
                if run.deleted or (job_id is not None and run.job_id != job_id):
                    continue
                if job_id is None and run.exec_start is not None:
                    continue  # without a job: queued runs only
                run.cancel(now)
            self._settle_runs()
            self._save()

    def delete_run(self, run_id: int) -> None:
        """``runs/delete``: forget an ended run; 400 while it is active (§3.11)."""
        with self._lock:
            self._settle_runs()
            run = self._live_run(run_id)
            if run.is_active(self.now_ms()):
                raise invalid(f"Run {run_id} is still active and cannot be deleted.")
            del self._runs[run_id]
            self._save()

    def run_output(self, run_id: int) -> Json:
        """``runs/get-output`` of a task run: ``{metadata, error?, error_trace?, logs?}``; a job run
        with several tasks answers the documented 400 (§2.4, §3.11)."""
        with self._lock:
            self._settle_runs()
            now = self.now_ms()
            for run in self._runs.values():
                api = run.to_api(now, self.host_url)
                if run.run_id == run_id:
                    if len(run.tasks) != 1:
                        raise invalid(
                            "Retrieving the output of runs with multiple tasks is not supported. "
                            "You must retrieve the output of each individual task run instead."
                        )
                    task = api["tasks"][0]
                    break
                task = next((t for t in api["tasks"] if t["run_id"] == run_id), None)
                if task is not None:
                    break
            else:
                raise RunDoesNotExist(run_id)
            out: Json = {"metadata": {**api, "run_id": run_id, "tasks": [task]}}
            result = task["state"].get("result_state")
            if result in ("FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED"):
                out["error"] = task["state"].get("state_message") or result
                out["error_trace"] = f"Emulated failure of task {task.get('task_key')}"
            elif result == "SUCCESS" and "notebook_task" in task:
                out["notebook_output"] = {"result": "", "truncated": False}
            else:
                out["logs"], out["logs_truncated"] = "", False
            return out

    # ---- In-process test API ---------------------------------------------------------------------

    def script_runs(self, job_id: int, scripts: list[Outcome | RunScript | str | Json]) -> None:
        """Queue the fates of the job's next runs, in order: each item an :class:`Outcome` (with
        the workspace's ``RunTiming``), a :class:`RunScript`, or its JSON form. Runs beyond the
        script succeed. Raises ``KeyError`` for a missing job, ``ValueError`` for a bad item."""
        parsed = [RunScript.parse(s) for s in scripts]
        if any(s.outcome is Outcome.SKIPPED for s in parsed):
            raise ValueError("SKIPPED is not scriptable: it follows from max_concurrent_runs")
        with self._lock:
            self._job(job_id)
            self._side().scripts.setdefault(job_id, []).extend(parsed)

    def finish_run(self, run_id: int, outcome: Outcome | str = Outcome.SUCCESS) -> None:
        """End an active run now with ``outcome`` (e.g. one scripted to run until finished);
        a no-op on an ended run. ``KeyError`` if the run does not exist."""
        with self._lock:
            self._settle_runs()
            self._live_run(run_id).force_end(self.now_ms(), Outcome(str(outcome).upper()))
            self._settle_runs()
            self._save()

    # ---- Internals -----------------------------------------------------------------------------

    def _side(self) -> _RunSide:
        side = self.__dict__.get("_run_side")
        if side is None:
            side = self.__dict__["_run_side"] = _RunSide()
        return side

    def _live_run(self, run_id: int, *, task_ok: bool = False) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None and task_ok:
            run = next((r for r in self._runs.values() if any(t.get("run_id") == run_id for t in r.tasks)), None)
        if run is None:
            raise RunDoesNotExist(run_id)
        return run

    def _create_run(
        self,
        job: JobRecord,
        at_ms: int,
        trigger: str,
        *,
        overrides: dict[str, Any] | None = None,
        legacy: Json | None = None,
        queue_enabled: bool | None = None,
        token: str | None = None,
    ) -> RunRecord:
        settings = job.settings
        limit = int(settings.get("max_concurrent_runs", 1))
        if queue_enabled is None:
            queue_enabled = bool((settings.get("queue") or {}).get("enabled"))
        mine = [r for r in self._runs.values() if r.job_id == job.job_id]
        busy = sum(1 for r in mine if r.exec_start is not None and r.exec_start <= at_ms and r.is_active(at_ms))
        waiting = any(r.exec_start is None and r.is_active(at_ms) for r in mine)
        full = limit == 0 or busy >= limit or waiting
        skipped = full and (not queue_enabled or limit == 0)
        script = RunScript() if skipped else self._next_script(job.job_id)
        tasks = [t for t in settings.get("tasks") or [] if isinstance(t, dict)]
        self._seq += 1
        run = RunRecord(
            run_id=self._new_id(),
            job_id=job.job_id,
            run_name=str(settings.get("name") or "Untitled"),
            creator_user_name=self.user_name,
            start_time=at_ms,
            pending_ms=0 if skipped else _or(script.pending_ms, self.run_timing.pending_ms),
            running_ms=0 if skipped else _or(script.running_ms, self.run_timing.running_ms),
            tasks=task_runs(tasks, [self._new_id() for _ in tasks]),
            job_parameters=resolve_job_parameters(list(settings.get("parameters") or []), overrides or {}),
            overriding_parameters=legacy or {},
            seq=self._seq,
            trigger=trigger,
            idempotency_token=token,
            outcome=Outcome.SKIPPED.value if skipped else script.outcome.value,
            failed_task=script.failed_task,
            message=script.message,
            queued=full and not skipped,
            timeout_ms=int(settings.get("timeout_seconds") or 0) * 1000,
            max_concurrent_runs=limit,
        )
        self._runs[run.run_id] = run
        return run

    def _next_script(self, job_id: int) -> RunScript:
        queue = self._side().scripts.get(job_id)
        return queue.pop(0) if queue else RunScript()

    def _settle_runs(self) -> None:
        """Replay scheduled fires and queue hand-overs up to the clock's now (see module doc)."""
        side, now = self._side(), self.now_ms()
        changed = False
        for job in list(self._jobs.values()):
            fires = self._due_fires(job, side, now)
            for fire in fires:
                changed |= self._dequeue(job, fire)
                self._create_run(job, fire, "PERIODIC")
                changed = True
            changed |= self._dequeue(job, now)
        side.last_settle = now
        if changed:
            self._save()

    def _due_fires(self, job: JobRecord, side: _RunSide, now: int) -> list[int]:
        schedule = job.settings.get("schedule")
        if not isinstance(schedule, dict) or schedule.get("pause_status") == "PAUSED":
            side.cursors.pop(job.job_id, None)
            return []
        key = (str(schedule.get("quartz_cron_expression", "")), str(schedule.get("timezone_id", "UTC")))
        known = side.cursors.get(job.job_id)
        if known is not None and known[0] == key:
            since = known[1]
        else:
            # A schedule seen for the first time counts from the job's creation, or from the last
            # look when it appeared later (the emulator cannot know the exact edit time).
            since = job.created_time if known is None and side.last_settle is None else (side.last_settle or now)
            since = max(since, job.created_time)
        side.cursors[job.job_id] = (key, now)
        try:
            return quartz.fires_between(key[0], key[1], since, now, limit=MAX_FIRES_PER_SETTLE)
        except (ValueError, KeyError):
            return []  # unsupported or invalid cron: documented, never fires

    def _dequeue(self, job: JobRecord, until: int) -> bool:
        """Give free slots to queued runs of ``job`` at the moments slots freed up, up to ``until``."""
        limit = int(job.settings.get("max_concurrent_runs", 1))
        changed = False
        while limit > 0:
            mine = [r for r in self._runs.values() if r.job_id == job.job_id]
            waiting = sorted((r for r in mine if r.exec_start is None and r.forced_end is None), key=lambda r: r.seq)
            if not waiting:
                return changed
            head = waiting[0]
            started = [r for r in mine if r.exec_start is not None and r.outcome != Outcome.SKIPPED]
            moments = sorted({head.start_time, *(e for r in started if (e := r.next_end()) is not None)})
            slot = next(
                (
                    t
                    for t in moments
                    if head.start_time <= t <= until
                    and sum(1 for r in started if r.exec_start is not None and r.exec_start <= t and r.is_active(t))
                    < limit
                ),
                None,
            )
            if slot is None:
                return changed
            head.dequeue_time = slot
            changed = True
        return changed


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
