"""The emulated workspace: jobs, runs, request log and faults behind one lock (spec §3-§5).

The HTTP server runs in a background thread while a test reads and edits the same state, so
every public method takes ``self._lock``. Methods used by the HTTP handlers raise
:class:`~dbjobs_testkit.emulator.errors.ApiError`; the missing-job/-run errors are also
``KeyError`` so the in-process test API can promise ``KeyError``.

IDs are random 15-digit integers (< 2**53, like real ones); times are epoch milliseconds.
"""

from __future__ import annotations

import copy
import random
import threading
from collections import deque
from pathlib import Path
from typing import Any

from dbjobs_testkit.emulator import access
from dbjobs_testkit.emulator.clock import Clock, SystemClock
from dbjobs_testkit.emulator.config import EmulatorConfig
from dbjobs_testkit.emulator.defaults import ApiVersion, WriteContext, WriteOp, normalize_settings
from dbjobs_testkit.emulator.errors import ApiError, JobDoesNotExist, RunDoesNotExist
from dbjobs_testkit.emulator.jobs import JobRecord, ensure_fits_21
from dbjobs_testkit.emulator.permissions import Grant
from dbjobs_testkit.emulator.permissions import owner as acl_owner
from dbjobs_testkit.emulator.persistence import load_state, save_state
from dbjobs_testkit.emulator.run_workspace import RunsMixin
from dbjobs_testkit.emulator.runs import RunRecord, RunTiming
from dbjobs_testkit.emulator.settings_ops import apply_edit, merge_update
from dbjobs_testkit.emulator.throttle import Throttle
from dbjobs_testkit.emulator.traffic import (
    DEFAULT_FAULT_MESSAGE,
    Fault,
    FaultInjector,
    RequestEntry,
    RequestLog,
)
from dbjobs_testkit.emulator.validation import check_fields, check_job
from dbjobs_testkit.emulator.validation_tasks import check_run_job_targets
from dbjobs_testkit.emulator.workspace_controls import ControlsMixin
from dbjobs_testkit.emulator.workspace_permissions import PermissionsMixin

Json = dict[str, Any]

DEFAULT_USER = "emulator-user@example.com"


class Workspace(RunsMixin, ControlsMixin, PermissionsMixin):  # runs: run_workspace.py; workspace_*.py
    """All state of one emulated workspace.

    ``user_name``: the identity behind the token (creator of jobs and runs).
    ``clock``: time source (``ManualClock`` to step runs). ``run_timing``: phase lengths of new
    runs. ``state_file``: JSON file loaded now and rewritten after every write. ``seed``: makes
    generated IDs reproducible. ``config``: switches for unverified behaviours and limits
    (:class:`~dbjobs_testkit.emulator.config.EmulatorConfig`).
    """

    def __init__(
        self,
        *,
        user_name: str = DEFAULT_USER,
        clock: Clock | None = None,
        run_timing: RunTiming | None = None,
        state_file: str | Path | None = None,
        seed: int | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.throttle = Throttle()
        self._grants: dict[int, list[Grant]] = {}
        self._creations: deque[int] = deque()  # epoch ms of recent creates, for the hourly quota
        self.user_name = user_name
        self.clock: Clock = clock or SystemClock()
        self.run_timing = run_timing or RunTiming()
        self.host_url = ""  # set by the server once it knows its port; used in run_page_url
        #: Bearer tokens accepted now (the server's token at start); see rotate_token.
        self.accepted_tokens: list[str] = []
        self._principals = {}  # token -> Caller of add_token (non-admin principals; access.py)
        self._state_file = Path(state_file) if state_file else None
        self._rng = random.Random(seed)
        self._jobs: dict[int, JobRecord] = {}
        # Values a workspace-side actor re-applies after every save of a job (see enforce_settings).
        self._enforced: dict[int, Json] = {}
        self._runs: dict[int, RunRecord] = {}
        self._tokens: dict[str, int] = {}
        self._seq = 0
        self._used_ids: set[int] = set()  # job, run and task-run IDs ever handed out
        self._log = RequestLog()
        self._faults = FaultInjector()
        self.garbles = []
        if self._state_file:
            self._load()

    # ---- Jobs API operations (raise ApiError) -------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def create_job(self, settings: Json, api_version: ApiVersion, access_control_list: Any = None) -> int:
        """``jobs/create``: validate, check quotas (§4.5), apply server defaults, store with the
        initial permissions (creator ``IS_OWNER`` plus ``access_control_list``, §6); returns the
        new ``job_id``."""
        with self._lock:
            check_job(settings)
            self._check_targets(settings)
            stored = self._normalize(settings, api_version, "create", None)
            grants = self._init_permissions(access_control_list)
            self._check_create_quota()
            job_id = self._new_id()
            self._seq += 1
            self._jobs[job_id] = JobRecord(job_id, stored, self.now_ms(), self._caller().name, self._seq)
            self._grants[job_id] = grants
            self._jobs[job_id].owner = acl_owner(grants)
            self._save()
            return job_id

    def get_job(self, job_id: int) -> JobRecord:
        """A copy of the stored job; ``JobDoesNotExist`` if absent; 403 without ``CAN_VIEW`` (access.py)."""
        with self._lock:
            self._require(job_id, "CAN_VIEW")
            return copy.deepcopy(self._job(job_id))

    def list_jobs(self, name: str | None = None) -> list[JobRecord]:
        """Copies of all jobs, newest first (§3.3), optionally only those whose name equals ``name``
        ignoring case."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)
            if name is not None:
                jobs = [j for j in jobs if str(j.settings.get("name", "")).casefold() == name.casefold()]
            return copy.deepcopy(jobs)

    def list_jobs_page(
        self, name: str | None, after_seq: int | None, offset: int, limit: int
    ) -> tuple[list[JobRecord], bool]:
        """One ``jobs/list`` page: copies of at most ``limit`` jobs, newest first, after the cursor ``after_seq``
        (jobs created before it) or from ``offset``; and whether more follow. Copies only the page, so listing
        a workspace of thousands of jobs costs each page its own jobs, not the whole workspace."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)
            if not self._caller().admin:  # a user lists the jobs it may view (access.py)
                jobs = [j for j in jobs if access.level_of(self._caller(), self._grants.get(j.job_id, [])) > 0]
            if name is not None:
                jobs = [j for j in jobs if str(j.settings.get("name", "")).casefold() == name.casefold()]
            jobs = [j for j in jobs if j.seq < after_seq] if after_seq is not None else jobs[offset:]
            return copy.deepcopy(jobs[:limit]), len(jobs) > limit

    def reset_job(self, job_id: int, new_settings: Json, api_version: ApiVersion) -> None:
        """``jobs/reset``: replace all settings (``run_as`` sticky, queue re-defaulted, §3.4)."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            job = self._job(job_id)
            check_job(new_settings)
            self._check_targets(new_settings)
            job.settings = self._enforce(job_id, self._normalize(new_settings, api_version, "reset", job.settings))
            self._save()

    def update_job(self, job_id: int, new_settings: Json, fields_to_remove: list[Any], api_version: ApiVersion) -> None:
        """``jobs/update``: top-level replace, keyed arrays merged, ``fields_to_remove`` (§3.5)."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            job = self._job(job_id)
            check_fields(new_settings)
            merged = merge_update(job.settings, new_settings, fields_to_remove)
            check_job(merged)
            self._check_targets(merged)
            job.settings = self._enforce(job_id, self._normalize(merged, api_version, "update", job.settings))
            self._save()

    def delete_job(self, job_id: int) -> None:
        """``jobs/delete`` and the out-of-band delete; ``JobDoesNotExist`` (a KeyError) if absent.
        Past runs are kept (§3.6 [inferred])."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            self._job(job_id)
            del self._jobs[job_id]
            self._grants.pop(job_id, None)
            self._enforced.pop(job_id, None)
            self._save()

    def _check_targets(self, settings: Json) -> None:
        """``run_job_task.job_id`` names a job of this workspace (see ``check_run_job_targets``)."""
        tasks = settings.get("tasks")
        check_run_job_targets(tasks if isinstance(tasks, list) else [], lambda job_id: job_id in self._jobs)

    # ---- In-process test API -------------------------------------------------------------------

    def job_ids(self) -> list[int]:
        """IDs of all jobs, oldest first."""
        with self._lock:
            return [j.job_id for j in sorted(self._jobs.values(), key=lambda j: j.seq)]

    def get_settings(self, job_id: int) -> Json:
        """The settings as 2.2 ``jobs/get`` returns them, all pages merged (defaults applied).
        Raises ``KeyError`` for a missing job."""
        return self.get_job(job_id).settings

    def edit_settings(self, job_id: int, patch: Json) -> None:
        """Out-of-band edit, as a UI user would: top-level keys of ``patch`` replace the stored ones
        (``None`` removes one), then validation and server defaults apply as on any write.
        Raises ``KeyError`` for a missing job, ``ApiError`` for invalid settings."""
        with self._lock:
            job = self._job(job_id)
            edited = apply_edit(job.settings, patch)
            check_job(edited)
            self._check_targets(edited)
            job.settings = self._normalize(edited, "2.2", "edit", job.settings)
            self._save()

    def enforce_settings(self, job_id: int, patch: Json) -> None:
        """Out of band, and for good: the top-level keys of ``patch`` are set now and re-applied
        after every later reset or update of the job, as a workspace admin's automation (or a
        policy that rewrites a field on each save) would. A reconciler correcting drift on those
        keys can never converge; tests use this to prove that it stops. ``KeyError`` if no job."""
        with self._lock:
            self._job(job_id)
            self._enforced[job_id] = {**self._enforced.get(job_id, {}), **copy.deepcopy(patch)}
        self.edit_settings(job_id, patch)

    def _enforce(self, job_id: int, settings: Json) -> Json:
        patch = self._enforced.get(job_id)
        return apply_edit(settings, patch) if patch else settings

    def request_count(self, path_suffix: str | None = None, method: str | None = None) -> int:
        """Requests that reached a Jobs endpoint (any version), optionally filtered by path suffix
        (``"jobs/create"``, ``"runs/get"``) and method; faults and auth failures count too."""
        with self._lock:
            return self._log.count(path_suffix, method)

    @property
    def request_log(self) -> list[RequestEntry]:
        """Copy of the log: ``(method, path, status)`` for every non-admin request, in order."""
        with self._lock:
            return list(self._log.entries)

    def request_status_counts(self) -> dict[str, dict[str, int]]:
        """``{"GET jobs/get": {"200": n, "429": m}}`` over Jobs and job-permissions endpoints."""
        with self._lock:
            return self._log.counts_by_status()

    def request_counts(self) -> dict[str, int]:
        """``{"<METHOD> jobs/...": n}`` over Jobs endpoints, version prefix stripped."""
        with self._lock:
            return self._log.counts_by_endpoint()

    def inject_fault(
        self,
        path_suffix: str,
        status: int,
        error_code: str,
        message: str = DEFAULT_FAULT_MESSAGE,
        count: int = 1,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests whose path ends with ``path_suffix`` (and of ``method``,
        if given) with HTTP ``status`` and ``{"error_code", "message"}``; ``retry_after`` (whole
        seconds) adds a ``Retry-After`` header. The request is logged but has no other effect."""
        with self._lock:
            self._faults.add(Fault(path_suffix, status, error_code, message, count, retry_after, method))

    def reset_counters(self) -> None:
        """Forget the request log and any faults not yet consumed."""
        with self._lock:
            self._log.clear()
            self._faults.clear()

    # ---- Used by the HTTP layer ----------------------------------------------------------------

    def rotate_token(self, new: str, *, keep_old: bool = False) -> None:
        """Accept ``new`` from now on; the old token(s) are refused (403 "Invalid access token.") unless
        ``keep_old`` — as when an admin revokes a personal access token after issuing its successor."""
        self.accepted_tokens = [*(self.accepted_tokens if keep_old else []), new]

    def record_request(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._log.record(method, path, status)

    def take_fault(self, method: str, path: str) -> ApiError | None:
        """The injected error to answer this request with, if one is pending."""
        with self._lock:
            fault = self._faults.take(method, path)
        if fault is None:
            return None
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        return ApiError(fault.status, fault.error_code, fault.message, headers)

    # ---- Internals -------------------------------------------------------------------------------

    def _job(self, job_id: int) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobDoesNotExist(job_id)
        return job

    def _run(self, run_id: int) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise RunDoesNotExist(run_id)
        return run

    def _normalize(self, settings: Json, api_version: ApiVersion, op: WriteOp, previous: Json | None) -> Json:
        if api_version == "2.1":
            ensure_fits_21(settings)
        return normalize_settings(settings, WriteContext(api_version, op, previous, self.config))

    def _new_id(self) -> int:
        while True:
            candidate = self._rng.randrange(10**14, 10**15)
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _save(self) -> None:
        if self._state_file is None:
            return
        save_state(
            self._state_file,
            {
                "jobs": [j.to_dict() for j in self._jobs.values()],
                "runs": [r.to_dict() for r in self._runs.values()],
                "idempotency_tokens": dict(self._tokens),
                "seq": self._seq,
                "permissions": {str(k): v for k, v in self._grants.items()},
            },
        )

    def _load(self) -> None:
        assert self._state_file is not None
        state = load_state(self._state_file)
        if state is None:
            return
        self._jobs = {j.job_id: j for j in (JobRecord.from_dict(d) for d in state.get("jobs", []))}
        self._runs = {r.run_id: r for r in (RunRecord.from_dict(d) for d in state.get("runs", []))}
        self._tokens = {str(k): int(v) for k, v in state.get("idempotency_tokens", {}).items()}
        self._seq = int(state.get("seq", 0))
        self._grants = {int(k): list(v) for k, v in state.get("permissions", {}).items()}
        self._used_ids = set(self._jobs) | set(self._runs)
        self._used_ids.update(int(t["run_id"]) for r in self._runs.values() for t in r.tasks)
