"""The one pure function of a reconcile: desired spec + observation + run health + old status -> the step to
take and the whole new status (every condition, Ready gated by run health in one place) and the Events.

The driver (``controller.operator.driver``) gathers :class:`Facts`, calls :func:`plan`, performs the step
(create, reset, or nothing) against Databricks, then calls :func:`settle` with what happened; ``settle``
returns the complete ``status`` and the Events to emit. Nothing here does I/O or reads a clock.

``status`` shape (written whole by one writer, patched only where it changed)::

    {observedGeneration, jobId?, jobUrl?, conditions: [metav1.Condition…],
     drift?: {detected, count, paths, items, appliedWriteOnly?},      # see report.py
     lastRun?, runs?, runNow?,                                          # see health.py, run-now
     references?: [{field, name, jobId?}], dependsOn?}                  # see references.py
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.api.models import DatabricksJobSpec
from controller.reconcile import adopt, health, permissions
from controller.reconcile import status as st
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.conditions import Condition, find_condition, merge_conditions
from controller.reconcile.decide import Observation, Plan, Verb, decide, desired_with_owner
from controller.reconcile.drift import DriftReport, write_only_values
from controller.reconcile.reasons import ConditionType, EventReason, Reason
from controller.reconcile.references import Peer, Reference, changed, depends_on, resolve, status_entries
from controller.reconcile.report import MAX_PATHS, drift_status, explicit_settings


@dataclass(frozen=True)
class Problem:
    """Why the job could not be observed or acted on: a condition ``reason`` and a ``message`` for a person.
    ``retry`` False for a problem only a spec change can fix (InvalidSpec) or one waited out without backoff (a
    reference not ready: the manager queues the job when the referenced one changes, and every cycle does)."""

    reason: Reason
    message: str
    retry: bool = True


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the resource: ``type`` Normal or Warning."""

    type: str
    reason: EventReason
    message: str


@dataclass(frozen=True)
class Facts:
    """Everything a reconcile decides from. ``spec`` None when it could not be parsed (``problem`` says
    why); ``observation`` None when the workspace could not be read (``problem`` says why); ``runs`` the
    job's recent runs, most recent first (None: not known); ``now`` timezone-aware; times in ``runs`` are
    epoch ms (Databricks). ``name`` is the resource's name and ``peers`` the DatabricksJobs of its namespace by
    name, for the references of ``spec.settings`` to other DatabricksJobs (:mod:`controller.reconcile.references`).
    ``adopt_matches``: while ``spec.adopt.name`` is to be adopted, every job of the workspace with that exact name
    (:mod:`controller.reconcile.adopt`); the observation is then of the one chosen, if any."""

    spec: DatabricksJobSpec | None
    generation: int
    owner: str
    status: Mapping[str, Any]
    host: str = ""
    observation: Observation | None = None
    problem: Problem | None = None
    runs: Sequence[Mapping[str, Any]] | None = None
    created_ms: int = 0
    now: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    name: str = ""
    peers: Mapping[str, Peer] = field(default_factory=dict)
    adopt_matches: tuple[adopt.Named, ...] | None = None


class Step(StrEnum):
    """What to do in Databricks."""

    CREATE = "create"
    RESET = "reset"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    """The step, the settings it sends (owner tag and explicit values included, references resolved), and why
    (the plan); ``references`` the references of ``spec.settings`` as resolved now (None: not resolved); ``acl``
    the job's desired direct permissions (``spec.permissions``; None: not managed), sent with a create and by the
    step when ``permissions[...]`` paths differ."""

    step: Step
    body: Mapping[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    problem: Problem | None = None
    unchanged: bool = False  # this generation was refused before: write nothing at all
    references: tuple[Reference, ...] | None = None
    acl: permissions.Acl | None = None


@dataclass(frozen=True)
class Result:
    """What the step did: the job's id now, the drift left after it (empty = converged), the write-only
    values it applied, the resets made; or the ``failure`` that stopped it."""

    job_id: int | None = None
    after: DriftReport | None = None
    applied: Mapping[str, Any] | None = None
    attempts: int = 0
    failure: Problem | None = None


@dataclass(frozen=True)
class NewStatus:
    """The whole new ``status`` and the Events to emit."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)


def workspace_changed(status: Mapping[str, Any], host: str) -> Problem | None:
    """A terminal problem when ``status.jobUrl`` (``<host>/jobs/<id>``) names another host than ``host``, the
    workspace's now: a DatabricksWorkspace deleted and re-created with another host (the field itself is
    immutable). The job lives in the old workspace; creating it in the new one would leave two. None otherwise."""
    url, job_id = status.get("jobUrl"), status.get("jobId")
    if not host or not isinstance(url, str) or job_id is None or "/jobs/" not in url:
        return None
    recorded = url.rsplit("/jobs/", 1)[0].rstrip("/")
    if recorded.lower() == host.rstrip("/").lower():
        return None
    msg = (
        f"Databricks job {job_id} lives in {recorded}, but the workspace now names {host.rstrip('/')}: dbjobs does "
        "not re-create a job in another workspace. Point the DatabricksWorkspace back at the old host, or delete "
        "this DatabricksJob (deletionPolicy: Orphan keeps the old job) and apply it again to create a new one"
    )
    return Problem(Reason.WORKSPACE_CHANGED, msg, retry=False)


def plan(facts: Facts) -> Decision:
    """Decide the step. Problems first (unparsable spec, references to other DatabricksJobs that cannot be
    resolved, a refused generation, the workspace), then adopt checks, then
    :func:`controller.reconcile.decide.decide` on the settings that would be sent (references resolved)."""
    if facts.spec is None:
        return Decision(Step.NONE, problem=facts.problem)
    if (elsewhere := workspace_changed(facts.status, facts.host)) is not None:
        return Decision(Step.NONE, problem=elsewhere)
    refs = resolve(facts.spec.settings, name=facts.name, workspace=facts.spec.workspace_ref.name, peers=facts.peers)
    if facts.problem is None and refs.reason is not None:
        problem = Problem(refs.reason, refs.message, retry=False)
        return Decision(Step.NONE, problem=problem, references=refs.references)
    moved = changed(facts.status, refs.references)  # a referenced job got another id since last applied
    synced = find_condition(facts.status.get("conditions"), ConditionType.SYNCED)
    if (
        synced
        and synced.get("reason") == Reason.INVALID_SPEC.value
        and synced.get("observedGeneration") == facts.generation
        and synced.get("status") == "False"
        and facts.problem is None
        and not moved
    ):
        return Decision(Step.NONE, unchanged=True)
    if facts.problem is not None or facts.observation is None:
        return Decision(Step.NONE, problem=facts.problem, references=refs.references)
    observed = facts.observation
    holder = ((observed.live or {}).get("tags") or {}).get(OWNER_TAG)
    if facts.spec.adopt is not None and facts.status.get("jobId") is None:  # adopted once: status has the id
        refusal = adopt.check(facts.spec.adopt, facts.adopt_matches, observed.job_id, holder, facts.owner)
        if refusal is not None:
            return Decision(Step.NONE, problem=Problem(refusal.reason, refusal.message))
    body = desired_with_owner(explicit_settings(refs.settings, owner=observed.owner), facts.owner, OWNER_TAG)
    # An adopted job that does not carry our owner tag yet is not reset only to add it (an export round trip
    # must write nothing): spec.adopt finds it, and the tag goes on with the next reset made for another reason.
    compared = body
    if facts.spec.adopt is not None and observed.live is not None and holder is None:
        tags = {k: v for k, v in body["tags"].items() if k != OWNER_TAG}
        compared = {k: v for k, v in body.items() if k != "tags"} | ({"tags": tags} if tags else {})
    acl = None if facts.spec.permissions is None else permissions.desired(facts.spec.permissions)
    verdict = decide(
        compared,
        observed,
        status=facts.status,
        generation=facts.generation,
        drift_policy=facts.spec.drift_policy,
        paused=facts.spec.paused,
        references_changed=moved,
        desired_acl=acl,
    )
    if verdict.verb is Verb.HOLD_INVALID:
        return Decision(Step.NONE, unchanged=True)
    step = {Verb.CREATE: Step.CREATE, Verb.RESET: Step.RESET}.get(verdict.verb, Step.NONE)
    return Decision(step, body=body, plan=verdict, references=refs.references, acl=acl)


def settle(facts: Facts, decision: Decision, result: Result) -> NewStatus | None:
    """The whole new status after ``decision`` was carried out with ``result``; None: leave status as it is."""
    if decision.unchanged:
        return None
    old = facts.status
    job_exists = old.get("jobId") is not None
    problem = result.failure or decision.problem
    events: list[Event] = []
    fields: dict[str, Any] = {}
    if problem is not None:
        conds = st.failed(problem.reason, problem.message, job_exists=job_exists and _keeps_job(problem))
        events += _problem_events(old, problem)
        if problem.reason in _GENERATION_FINAL:
            fields["observedGeneration"] = facts.generation
        if result.job_id is not None:  # created, then failed to verify: the id must not be lost
            fields.update(_job_fields(facts, result.job_id))
    else:
        assert decision.plan is not None
        conds, fields, events = _applied(facts, decision, result)
    fields.update(_reference_fields(decision, problem))
    return NewStatus(_assemble(facts, conds, fields), events + _run_health_events(facts))


#: Problems after which ``status.references`` records the resolution used (as ``observedGeneration`` records the
#: generation): the references' own problems and the generation-final ones. After any other problem (the
#: workspace, the API) the references last applied stay recorded, so a changed resolution is still applied later.
_RECORDS_REFERENCES = frozenset({Reason.REFERENCE_NOT_READY, Reason.REFERENCE_NOT_FOUND})


def _reference_fields(decision: Decision, problem: Problem | None) -> dict[str, Any]:
    """``status.references`` and ``status.dependsOn`` (None: remove the key) when the references were resolved."""
    if decision.references is None:
        return {}
    out: dict[str, Any] = {"dependsOn": depends_on(decision.references)}
    if problem is None or problem.reason in _RECORDS_REFERENCES or problem.reason in _GENERATION_FINAL:
        out["references"] = status_entries(decision.references) or None
    return out


#: Problems that end this generation's attempt (recorded with observedGeneration so Argo CD stops waiting).
_GENERATION_FINAL = frozenset(
    {
        Reason.INVALID_SPEC,
        Reason.ADOPT_TARGET_MISSING,
        Reason.ADOPT_TARGET_OWNED,
        Reason.ADOPT_TARGET_AMBIGUOUS,
        Reason.PAUSED,
        Reason.POLICY_VIOLATION,
        Reason.WORKSPACE_NOT_ALLOWED,
    }
)
_ADOPT_REFUSED = (Reason.ADOPT_TARGET_MISSING, Reason.ADOPT_TARGET_OWNED, Reason.ADOPT_TARGET_AMBIGUOUS)


def _keeps_job(problem: Problem) -> bool:
    """Whether an existing job keeps Ready=True through ``problem`` (it keeps running on its last settings)."""
    return problem.reason not in (*_ADOPT_REFUSED, Reason.JOBS_VANISHED)


def _job_fields(facts: Facts, job_id: int) -> dict[str, Any]:
    return {"jobId": job_id, "jobUrl": f"{facts.host.rstrip('/')}/jobs/{job_id}"}


def _problem_events(old: Mapping[str, Any], problem: Problem) -> list[Event]:
    """One Event when the Synced reason or message changes (not one per retry): a Warning, except for the wait
    for a referenced DatabricksJob's id, which is expected while a set of jobs is applied together."""
    synced = find_condition(old.get("conditions"), ConditionType.SYNCED) or {}
    if synced.get("reason") == problem.reason.value and synced.get("message") == problem.message:
        return []
    kind = "Normal" if problem.reason is Reason.REFERENCE_NOT_READY else "Warning"
    return [Event(kind, EventReason(problem.reason.value), problem.message)]


def _applied(facts: Facts, decision: Decision, result: Result) -> tuple[list[Condition], dict[str, Any], list[Event]]:
    """Conditions, status fields and Events after a step that did not fail."""
    verdict = decision.plan
    assert verdict is not None and facts.spec is not None
    job_id = result.job_id if result.job_id is not None else (facts.observation.job_id if facts.observation else None)
    old = facts.status
    fields: dict[str, Any] = {"observedGeneration": facts.generation}
    after = result.after if result.after is not None else verdict.report
    applied = result.applied if result.applied is not None else (old.get("drift") or {}).get("appliedWriteOnly")
    if verdict.verb is Verb.HOLD_PAUSED and job_id is None:
        return st.paused(None, verdict.drift), fields, []
    assert job_id is not None
    fields.update(_job_fields(facts, job_id))
    fields["drift"] = drift_status(after, applied)
    conds, events = _conditions_for(verdict, job_id, after, result, old)
    if decision.step is not Step.NONE:
        fields["drift"] = drift_status(after, write_only_values(decision.body))
    return conds, fields, events


def _conditions_for(
    verdict: Plan, job_id: int, after: DriftReport, result: Result, old: Mapping[str, Any]
) -> tuple[list[Condition], list[Event]]:
    paths = ", ".join(verdict.drift[:5])
    if verdict.verb is Verb.CREATE:
        if verdict.recreate:
            msg = f"job {old.get('jobId')} was deleted in the workspace; created job {job_id}"
            return st.in_sync(job_id, recreated=True), [Event("Warning", EventReason.JOB_RECREATED, msg)]
        return st.in_sync(job_id), [Event("Normal", EventReason.JOB_CREATED, f"created Databricks job {job_id}")]
    if verdict.verb is Verb.RESET:
        corrected = [] if verdict.spec_changed else verdict.drift
        events = [Event("Warning", EventReason.DRIFT_DETECTED, f"job {job_id} drifted: {paths}")] if corrected else []
        if not after.in_sync:
            msg = f"job {job_id} still differs after {result.attempts} resets: {', '.join(after.paths[:5])}"
            events.append(Event("Warning", EventReason.DRIFT_NOT_CONVERGING, msg))
            return st.not_converging(job_id, after.paths, result.attempts), events
        if corrected:
            events.append(Event("Normal", EventReason.DRIFT_CORRECTED, f"reset job {job_id}: {paths}"))
            return st.in_sync(job_id, corrected=corrected), events
        events.append(Event("Normal", EventReason.JOB_RESET, f"reset job {job_id} to the new spec.settings"))
        return st.in_sync(job_id), events
    if verdict.verb is Verb.REPORT_DRIFT:
        reported = list((old.get("drift") or {}).get("paths") or []) == verdict.drift[:MAX_PATHS]
        events = [] if reported else [Event("Warning", EventReason.DRIFT_DETECTED, f"job {job_id} drifted: {paths}")]
        return st.drift_reported(job_id, verdict.drift), events
    if verdict.verb is Verb.HOLD_PAUSED:
        return st.paused(job_id, verdict.drift), []
    if verdict.verb is Verb.HOLD_NOT_CONVERGING:
        from controller.reconcile.report import MAX_CORRECTION_ATTEMPTS

        return st.not_converging(job_id, verdict.drift, MAX_CORRECTION_ATTEMPTS), []
    drifted = find_condition(old.get("conditions"), ConditionType.DRIFTED)
    if drifted and drifted.get("status") == "True":
        msg = f"job {job_id} matches spec.settings again"
        return st.drift_resolved(job_id), [Event("Normal", EventReason.DRIFT_RESOLVED, msg)]
    conds = st.in_sync(job_id)
    if drifted and drifted.get("status") == "False" and old.get("jobId") == job_id:
        # Still in sync: keep how it got there (DriftCorrected, JobRecreated…) rather than rewrite it each cycle.
        conds = [c for c in conds if c.type is not ConditionType.DRIFTED]
    return conds, []


def _assemble(facts: Facts, conds: list[Condition], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Old status + ``fields`` + conditions (RunHealthy from runs; Ready gated by it under affectsReady)."""
    old = facts.status
    out: dict[str, Any] = {k: v for k, v in old.items() if k not in ("conditions",)}
    out.update(fields)
    for key in ("references", "dependsOn"):  # None: no references (any more)
        if out.get(key) is None:
            out.pop(key, None)
    policy = health.HealthPolicy.from_spec(facts.spec.model_dump(by_alias=True) if facts.spec else {})
    updates = list(conds)
    run_cond = _run_healthy(facts, policy)
    if run_cond is not None:
        updates.append(run_cond)
        out.update(_run_fields(facts))
    current = merge_conditions(old.get("conditions"), [], generation=facts.generation, now=facts.now)
    health_now = run_cond or find_condition(current, ConditionType.RUN_HEALTHY)
    ready = next((c for c in updates if c.type is ConditionType.READY), None) or health.config_ready(current)
    if ready is not None:
        updates = [c for c in updates if c.type is not ConditionType.READY]
        updates.append(health.gate_ready(ready, health_now, policy))
    out["conditions"] = merge_conditions(old.get("conditions"), updates, generation=facts.generation, now=facts.now)
    return out


def _run_healthy(facts: Facts, policy: health.HealthPolicy) -> Condition | None:
    job_id = facts.status.get("jobId")
    if facts.runs is None or job_id is None:
        return None
    settings = facts.spec.settings if facts.spec else {}
    return health.run_healthy(
        facts.runs, policy, now_ms=_ms(facts.now), schedule=settings.get("schedule"), since_ms=facts.created_ms
    )


def _run_fields(facts: Facts) -> dict[str, Any]:
    runs = list(facts.runs or [])
    out: dict[str, Any] = {"runs": health.window_stats(runs)}
    if runs:
        out["lastRun"] = health.last_run(runs[0], _ms(facts.now))
    return out


def _run_health_events(facts: Facts) -> list[Event]:
    if facts.runs is None or facts.status.get("jobId") is None:
        return []
    policy = health.HealthPolicy.from_spec(facts.spec.model_dump(by_alias=True) if facts.spec else {})
    cond = _run_healthy(facts, policy)
    previous = find_condition(facts.status.get("conditions"), ConditionType.RUN_HEALTHY)
    if cond is None or (previous is not None and previous.get("reason") == cond.reason.value):
        return []
    kind = "Warning" if cond.status == "False" else "Normal"
    return [Event(kind, EventReason(cond.reason.value), cond.message)]


def _ms(now: dt.datetime) -> int:
    return int(now.timestamp() * 1000)
