"""One reconcile of one DatabricksJob: gather the facts, plan (pure), act against Databricks, settle (pure),
write status and Events once. And the delete behind the finalizer.

The facts come from the registry (the resource as watched), the workspace runtime's index (the job as the
last observer cycle saw it: no call per resource per cycle) and its run history. A job missing from the
index is read with ``jobs/get`` before anything is re-created (a list can race a create). An unexpected
exception is a bug: logged with its traceback, counted, reported as ``InternalError`` and retried.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from controller.api.models import DatabricksJobSpec
from controller.api.validate import validate_settings
from controller.databricks import jobs
from controller.databricks.errors import DatabricksFailure, ErrorKind
from controller.databricks.observer import LiveJob
from controller.operator import job_permissions, metrics, runnow, tenancy
from controller.operator.config import CONFIG
from controller.operator.guard import Held
from controller.operator.logs import about
from controller.operator.problems import internal_error, problem_of
from controller.operator.references import ReferenceIndex
from controller.operator.registry import JobResource, Registry
from controller.operator.runtime import WorkspaceRuntime, backoff_seconds
from controller.operator.writer import Writer
from controller.reconcile import adopt, guard
from controller.reconcile.compare import owner_key
from controller.reconcile.conditions import Condition, merge_conditions
from controller.reconcile.decide import Observation
from controller.reconcile.drift import DriftReport, compare, write_only_values
from controller.reconcile.outcome import Decision, Event, Facts, NewStatus, Problem, Result, Step, plan, settle
from controller.reconcile.reasons import ConditionType, EventReason, Reason
from controller.reconcile.report import CorrectionStep, correction_step

log = logging.getLogger(__name__)
#: Attempts of a delete whose workspace cannot be used before the job is left in the workspace.
DELETE_ATTEMPTS = 5
#: Seconds between two looks at a held deletion (did a person confirm?).
GUARD_RECHECK_S = 5.0


class Driver:
    """Reconciles resources of the registry through their workspace runtime; writes through ``writer``."""

    def __init__(self, registry: Registry, writer: Writer) -> None:
        self.registry = registry
        self.writer = writer
        self._checked: dict[str, tuple[int, list[str]]] = {}  # uid -> (generation, validate_settings findings)
        self._delete_failures: dict[str, str] = {}  # uid -> the last delete failure an Event told of
        #: Called when the deletion guard held or released something (the manager writes the workspace status).
        self.guard_changed: Callable[[tuple[str, str]], Awaitable[None]] = _nothing
        self.references = ReferenceIndex()  # references between DatabricksJobs (the manager keeps it current)

    async def reconcile(self, uid: str, runtime: WorkspaceRuntime) -> bool:
        """Reconcile resource ``uid``; True when done, False to be retried after a backoff."""
        res = self.registry.job(uid)
        if res is None or res.deleting or res.workspace != runtime.key:
            return True
        if tenancy.admitted(self.registry, res):  # one not admitted waits for nothing: it is refused, no call made
            await runtime.ready.wait()
        res = self.registry.job(uid) or res
        async with metrics.ReconcileTimer() as timer:
            try:
                facts = await self._facts(res, runtime)
                decision = plan(facts)
                result = await self._act(res, decision, facts, runtime)
                new = settle(facts, decision, result)
                _log(res, decision, result, changed=new is not None and bool(new.events))
                run_now_retry = False
                if new is not None:
                    new, run_now_retry = await runnow.step(res, new, facts, runtime)
                    await self.writer.job_status(res, new)
                    metrics.record_status(res.namespace, res.name, new.status)
                problem = result.failure or decision.problem or facts.problem
                timer.failed = problem is not None and problem.retry
                return not (timer.failed or run_now_retry)
            except Exception as err:
                about(log, res.namespace, res.name, res.uid).exception(
                    "reconcile failed with an unexpected error (a bug)"
                )
                metrics.INTERNAL_ERRORS.inc()
                timer.failed = True
                await self._report(res, internal_error(err))
                return False

    async def _report(self, res: JobResource, problem: Problem) -> None:
        """Write a problem onto ``res`` without planning (used when planning itself failed)."""
        facts = Facts(spec=None, generation=res.generation, owner="", status=res.status, now=_now())
        new = settle(facts, Decision(Step.NONE, problem=problem), Result())
        if new is not None:
            await self.writer.job_status(res, new)

    async def _facts(self, res: JobResource, runtime: WorkspaceRuntime) -> Facts:
        owner = owner_key(CONFIG.cluster_name, res.namespace, res.name)
        base: dict[str, Any] = {
            "generation": res.generation,
            "owner": owner,
            "status": res.status,
            "host": runtime.credentials.host if runtime.credentials else "",
            "created_ms": _ms(res.created),
            "now": _now(),
            # references to other DatabricksJobs: their ids, for the pure resolution in plan (issue 12, item 5)
            "name": res.name,
            "peers": self.references.peers(self.registry, res.namespace) if self.references.names(res) else {},
        }
        try:
            spec = DatabricksJobSpec.model_validate(res.spec)
        except ValidationError as err:
            return Facts(spec=None, problem=Problem(Reason.INVALID_SPEC, f"spec is invalid: {err}", False), **base)
        if problems := self._validate(res, spec):  # what admission cannot check; before any call
            message = "spec.settings is invalid: " + "; ".join(problems)
            return Facts(spec=spec, problem=Problem(Reason.INVALID_SPEC, message, False), **base)
        if refused := tenancy.problem(self.registry, res, spec):  # namespaceSelector, spec.policy; before any call
            return Facts(spec=spec, problem=refused, **base)
        if runtime.cycle.problem is not None:
            return Facts(spec=spec, problem=runtime.cycle.problem, **base)
        try:
            matches = await self._adopt_matches(res, spec, owner, runtime)
            observation = await self._observe(res, spec, owner, runtime, matches)
            observation = await job_permissions.observe(runtime, spec, observation)  # spec.permissions only
        except DatabricksFailure as failure:
            return Facts(spec=spec, problem=problem_of(failure), **base)
        base["adopt_matches"] = matches
        job_id = observation.job_id
        recorded = res.status.get("jobId")
        if job_id is None and recorded is not None and not runtime.guard.may_recreate(int(recorded)):
            held = len(runtime.guard.vanished)
            message = (
                f"job {recorded} vanished from the workspace together with {held - 1} other(s) and is not re-created "
                f"until a person confirms: annotate {'' if runtime.key[0] else 'Cluster'}DatabricksWorkspace "
                f"{runtime.key[1]} with "
                f"{guard.CONFIRM_RECREATION}=<new value> (a reset workspace, a wrong host or another workspace's "
                "credential?)"
            )
            return Facts(spec=spec, problem=Problem(Reason.JOBS_VANISHED, message), **base)
        runs = (
            runtime.observer.runs.runs(job_id) if job_id is not None and runtime.observer.runs.knows(job_id) else None
        )
        return Facts(spec=spec, observation=observation, runs=runs, **base)

    def _validate(self, res: JobResource, spec: DatabricksJobSpec) -> list[str]:
        """validate_settings once per generation (a 1000-task job takes ~30 ms)."""
        cached = self._checked.get(res.uid)
        if cached is None or cached[0] != res.generation:
            cached = self._checked[res.uid] = (res.generation, validate_settings(spec.settings))
        return cached[1]

    def forget(self, uid: str) -> None:
        self._checked.pop(uid, None)

    async def _adopt_matches(
        self, res: JobResource, spec: DatabricksJobSpec, owner: str, runtime: WorkspaceRuntime
    ) -> tuple[adopt.Named, ...] | None:
        """While ``spec.adopt.name`` is to be adopted: every job of that exact name, and the jobs already carrying
        our owner tag (adopted before and status lost, e.g. a re-install: :func:`adopt.by_name` takes those
        first); None otherwise. From the index when its cycle looked for the name and found one, else from one
        ``jobs/list?name=`` (a name applied after the cycle began, or a job created since)."""
        if spec.adopt is None or spec.adopt.name is None or res.status.get("jobId") is not None:
            return None
        name, index, conn = spec.adopt.name, runtime.index, runtime.conn
        found = index.named(name) if index is not None else None
        if not found:
            found = adopt.named(await conn.run(lambda c: jobs.listed_by_name(c, conn.gate, name)), name)
        ours = [adopt.Named(j.job_id, owner) for j in index.owned_by(owner)] if index is not None else []
        return tuple(sorted({*found, *ours}, key=lambda n: n.job_id))

    async def _observe(
        self,
        res: JobResource,
        spec: DatabricksJobSpec,
        owner: str,
        runtime: WorkspaceRuntime,
        matches: tuple[adopt.Named, ...] | None,
    ) -> Observation:
        """The job from the index: by the id in status (or the one spec.adopt names before a job is recorded),
        else by our owner tag. A job the index lacks is read with jobs/get (created after the cycle began, or
        gone)."""
        index = runtime.index
        assert index is not None, "runtime.ready is set only after an index exists or a problem is recorded"
        adopting = spec.adopt is not None and res.status.get("jobId") is None
        job_id = res.status.get("jobId")
        if adopting and spec.adopt is not None:
            job_id = spec.adopt.job_id
            if spec.adopt.name is not None:
                job_id = adopt.by_name(spec.adopt.name, matches or (), owner).job_id
                if job_id is None:  # none or several: plan refuses, nothing is read
                    return Observation(None, None)
        if job_id is not None:
            live = runtime.observation.live(int(job_id)) if runtime.observation else None
            if live is not None:
                return Observation(live.job_id, live.settings, owner=live.creator)
            got = await runtime.conn.call(lambda c: jobs.get_job(c, int(job_id)))
            if got is not None:
                runtime.observation.read_after_write(LiveJob(int(job_id), got[0], got[1]))  # type: ignore[union-attr]
                return Observation(int(job_id), got[0], owner=got[1])
            if adopting:
                return Observation(None, None)
        owned = index.owned_by(owner)
        if len(owned) > 1:
            about(log, res.namespace, res.name).warning(
                f"{len(owned)} jobs carry this owner tag: {[j.job_id for j in owned]}"
            )
        if owned:
            first = min(owned, key=lambda j: j.job_id)
            return Observation(first.job_id, first.settings, owner=first.creator)
        return Observation(None, None)

    async def _act(self, res: JobResource, decision: Decision, facts: Facts, runtime: WorkspaceRuntime) -> Result:
        try:
            if decision.step is Step.CREATE:
                return await self._create(res, decision.body, runtime, job_permissions.create_acl(decision))
            if decision.step is Step.RESET:
                observed = facts.observation
                assert observed is not None and observed.job_id is not None
                reset = functools.partial(self._reset, observed, decision.body, runtime)
                return await job_permissions.reset(runtime, decision, observed, reset)
        except DatabricksFailure as failure:
            if failure.kind is ErrorKind.RATE_LIMITED and decision.step is Step.CREATE:
                runtime.conn.budget.creation_limited()
            return Result(failure=problem_of(failure))
        return Result()

    async def _create(
        self, res: JobResource, body: Mapping[str, Any], runtime: WorkspaceRuntime, acl: list[dict[str, str]] | None
    ) -> Result:
        budget = runtime.conn.budget
        async with budget.creating(res.namespace):
            job_id = await runtime.conn.call(lambda c: jobs.create(c, body, acl))
        budget.creation_succeeded()
        if runtime.observation is not None:
            # A new job: no run history to look up, and what we sent stands for it until the next list.
            runtime.observation.observer.runs.created.add(job_id)
            runtime.observation.read_after_write(LiveJob(job_id, body, None))
        return Result(job_id=job_id, after=DriftReport(), applied=write_only_values(body))

    async def _reset(self, observed: Observation, body: Mapping[str, Any], runtime: WorkspaceRuntime) -> Result:
        """``jobs/reset``, re-read, compare; again while paths remain, at most MAX_CORRECTION_ATTEMPTS times."""
        job_id = observed.job_id
        assert job_id is not None
        applied = write_only_values(body)
        attempt = 0
        while True:
            attempt += 1
            await runtime.conn.call(lambda c: jobs.reset(c, job_id, body))
            live = await runtime.conn.call(lambda c: jobs.get_settings(c, job_id))
            report = compare(body, live, owner=observed.owner, applied_write_only=applied)
            if live is not None and runtime.observation is not None:
                runtime.observation.read_after_write(LiveJob(job_id, live, observed.owner))
            if correction_step(attempt, report.paths) is not CorrectionStep.RETRY:
                metrics.record_drift_correction("converged" if report.in_sync else "not_converging")
                return Result(job_id=job_id, after=report, applied=applied, attempts=attempt)

    async def delete(self, res: JobResource, runtime: WorkspaceRuntime | None, retry: int) -> float | None:
        """Delete the job of ``res`` (per ``deletionPolicy``) before the finalizer goes. Returns None when the
        finalizer may go, else the seconds to wait before the next attempt.

        * ``Orphan``: nothing to do. A job already gone counts as deleted.
        * The workspace pruned together with the job (Argo CD prune, namespace deletion): the runtime keeps
          the credentials it last used, and they are used.
        * No credentials ever worked, or the token is refused: with no job recorded the finalizer goes at
          once; otherwise after DELETE_ATTEMPTS the job is left in the workspace with a Warning
          ``JobOrphaned`` (a delete must not hang forever on credentials).
        * Other failures: retried with backoff for as long as it takes.
        """
        job_id = res.status.get("jobId")
        if str(res.spec.get("deletionPolicy") or "Delete") == "Orphan":
            return None
        held = self.references.hold_delete(res, self.registry, retry)  # other DatabricksJobs still reference it
        if held is not None:
            if held[1] is not None:
                await self.writer.event(res, held[1])
            return held[0]
        if not tenancy.admitted(self.registry, res):  # the platform's credential is not this namespace's any more
            why = f"{res.namespace} is not admitted by ClusterDatabricksWorkspace {res.workspace[1]}"
            return await self._give_up(res, job_id, DELETE_ATTEMPTS, why)
        if runtime is None or runtime.credentials is None:
            why = runtime.cycle.problem.message if runtime and runtime.cycle.problem else "no workspace"
            return await self._give_up(res, job_id, retry, f"cannot reach the workspace: {why}")
        await runtime.ready.wait()
        if job_id is None and runtime.index is not None:
            owned = runtime.index.owned_by(owner_key(CONFIG.cluster_name, res.namespace, res.name))
            job_id = min((j.job_id for j in owned), default=None)
        if job_id is None:
            return None
        try:
            # The guard counts deletions of jobs that exist: one missing from the index is re-read first (the
            # index may predate it), and one already gone is released without waiting for a person.
            gone = await self._gone(runtime, int(job_id))
            if not gone and not await self._admitted(res, runtime, int(job_id)):  # the mass deletion guard holds it
                return GUARD_RECHECK_S
            deleted = await runtime.conn.call(lambda c: jobs.delete(c, int(job_id)))
        except DatabricksFailure as failure:
            if failure.kind is ErrorKind.UNAUTHORIZED:
                return await self._give_up(res, job_id, retry, failure.message)
            about(log, res.namespace, res.name).warning(f"deleting job {job_id} failed, will retry: {failure.message}")
            if self._delete_failures.get(res.uid) != failure.message:  # one Event per distinct failure, not per retry
                self._delete_failures[res.uid] = failure.message
                said = f"cannot delete job {job_id} yet, will retry: {failure.message}"
                await self.writer.event(res, Event("Warning", EventReason.DELETE_BLOCKED, said))
            return backoff_seconds(retry + 1)
        self._delete_failures.pop(res.uid, None)
        said = f"deleted Databricks job {job_id}" if deleted else f"Databricks job {job_id} was already gone"
        await self.writer.event(res, Event("Normal", EventReason.JOB_DELETED, said))
        return None

    async def _gone(self, runtime: WorkspaceRuntime, job_id: int) -> bool:
        """Whether job ``job_id`` no longer exists: absent from the index and from ``jobs/get``."""
        if runtime.index is None or job_id in runtime.index.jobs:
            return False
        return await runtime.conn.call(lambda c: jobs.get_job(c, job_id)) is None

    async def _admitted(self, res: JobResource, runtime: WorkspaceRuntime, job_id: int) -> bool:
        """Ask the workspace's deletion guard; a held deletion shows ``DeletionHeld`` on the resource (Ready is
        left as it is: the job still exists and runs) and in the workspace's status."""
        was_held = res.uid in runtime.guard.held
        if runtime.guard.admit_delete(Held(res.uid, res.namespace, res.name, job_id), time.time()):
            if was_held:
                await self.guard_changed(runtime.key)
            return True
        if not was_held:
            count = len(runtime.guard.held)
            message = (
                f"deleting job {job_id} waits for a person: more than {runtime.guard.policy.max_deletions} deletions "
                f"in {runtime.guard.policy.window_s:g}s in this workspace ({count} held); annotate DatabricksWorkspace "
                f"{runtime.key[1]} with {guard.CONFIRM_DELETIONS}=<new value> to delete them"
            )
            held = Condition(ConditionType.DELETION_HELD, "True", Reason.DELETION_BUDGET_EXCEEDED, message)
            conditions = merge_conditions(res.status.get("conditions"), [held], generation=res.generation, now=_now())
            await self.writer.job_status(res, NewStatus({**res.status, "conditions": conditions}))
            await self.guard_changed(runtime.key)
        return False

    async def _give_up(self, res: JobResource, job_id: Any, retry: int, why: str) -> float | None:
        if job_id is None:
            await self.writer.event(res, Event("Normal", EventReason.NOTHING_TO_DELETE, f"no job recorded; {why}"))
            return None
        if retry + 1 >= DELETE_ATTEMPTS:
            message = f"job {job_id} is left in the workspace: {why}"
            await self.writer.event(res, Event("Warning", EventReason.JOB_ORPHANED, message))
            return None
        message = (
            f"cannot delete job {job_id} yet (attempt {retry + 1} of {DELETE_ATTEMPTS}; then it is left in the "
            f"workspace): {why}"
        )
        await self.writer.event(res, Event("Warning", EventReason.DELETE_BLOCKED, message))
        return backoff_seconds(retry + 1)


def _log(res: JobResource, decision: Decision, result: Result, *, changed: bool) -> None:
    """One INFO line per write to Databricks; a problem at WARNING when it is new (``changed``: it made an Event),
    at DEBUG when it repeats (a refused spec is not logged every interval); DEBUG when nothing happened."""
    out = about(log, res.namespace, res.name, res.uid)
    problem = result.failure or decision.problem
    if problem is not None:
        out.log(logging.WARNING if changed else logging.DEBUG, f"{problem.reason.value}: {problem.message}")
    elif decision.step is Step.CREATE:
        out.info(f"created job {result.job_id}")
    elif decision.step is Step.RESET:
        left = len(result.after.paths) if result.after else 0
        out.info(f"reset job {result.job_id} ({result.attempts} reset(s), {left} path(s) still differ)")
    else:
        out.debug(f"nothing to do ({decision.plan.verb if decision.plan else 'no plan'})")


async def _nothing(_key: tuple[str, str]) -> None:
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ms(timestamp: str | None) -> int:
    if not timestamp:
        return 0
    return int(dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
