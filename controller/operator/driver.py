"""One reconcile of one DatabricksJob: observe, decide (pure), act, report.

Called by the kopf handlers for create/update/resume, the periodic drift check, and delete.
Databricks calls run in worker threads (``asyncio.to_thread``) so the event loop never blocks.
Only ``status`` is written (through kopf's ``patch``), never ``spec``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.api.models import DatabricksJobSpec, DeletionPolicy
from controller.api.validate import validate_settings
from controller.databricks import jobs
from controller.databricks.client import WorkspaceClient, job_url, workspace_client_async
from controller.databricks.errors import ErrorKind, classify
from controller.operator import metrics, workspaces
from controller.operator.config import CONFIG
from controller.reconcile import status as st
from controller.reconcile.compare import OWNER_TAG, owner_key
from controller.reconcile.conditions import Condition, find_condition, merge_conditions
from controller.reconcile.decide import Observation, Verb, decide, decide_delete, desired_with_owner, held_invalid
from controller.reconcile.drift import DriftReport, compare, write_only_values
from controller.reconcile.health import gate_conditions
from controller.reconcile.reasons import ConditionType, Reason
from controller.reconcile.report import (
    MAX_CORRECTION_ATTEMPTS,
    MAX_PATHS,
    CorrectionStep,
    correction_step,
    drift_status,
    explicit_settings,
)

_locks: dict[str, asyncio.Lock] = {}
#: The workspace each resource last reconciled against: a delete that arrives together with the
#: deletion of its DatabricksWorkspace or Secret (Argo CD prune, namespace deletion) still reaches it.
_last_workspace: dict[str, workspaces.Workspace] = {}
#: Drift paths kept in status (the full count is in status.drift.count).
MAX_DRIFT_PATHS = MAX_PATHS
#: Retries of a delete whose workspace is gone before the finalizer is released (job orphaned).
DELETE_ATTEMPTS_WITHOUT_WORKSPACE = 5


def _lock(uid: str) -> asyncio.Lock:
    """One lock per resource: the periodic check and change handlers must never act at once."""
    return _locks.setdefault(uid, asyncio.Lock())


def backoff_seconds(retry: int) -> float:
    """Requeue delay after ``retry`` failed attempts: 5 s doubling, capped at 300 s."""
    return float(min(300, 5 * 2 ** min(retry, 6)))


def _write(patch: kopf.Patch, body: kopf.Body, conds: list[Condition], **fields: Any) -> None:
    status = body.get("status") or {}
    generation = int(body["metadata"].get("generation") or 0)
    conds = gate_conditions(conds, status, body.get("spec") or {})  # Ready may follow run health (issue 6)
    patch.status["conditions"] = merge_conditions(
        status.get("conditions"), conds, generation=generation, now=dt.datetime.now(dt.UTC)
    )
    for key, value in fields.items():
        patch.status[key] = value


async def _observe(
    client: WorkspaceClient, status: Mapping[str, Any], desired: Mapping[str, Any], owner: str
) -> Observation:
    job_id = status.get("jobId")
    if job_id is not None:
        got = await asyncio.to_thread(jobs.get_job, client, int(job_id))
        if got is not None:
            return Observation(int(job_id), got[0], owner=got[1])
    # No id in status (or that job is gone): a job we created whose id was never recorded
    # (controller killed between create and the status write) carries our owner tag.
    found = await asyncio.to_thread(jobs.find_owned, client, name=desired.get("name"), owner_tag=OWNER_TAG, owner=owner)
    if found is not None:
        got = await asyncio.to_thread(jobs.get_job, client, found)
        if got is not None:
            return Observation(found, got[0], owner=got[1])
    return Observation(None, None)


async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int, logger: Any) -> None:
    """Bring the Databricks job of ``body`` in line with its spec and report in status.

    Raises ``kopf.TemporaryError`` (requeue with backoff) on transient workspace or API
    failures; invalid settings are reported as ``InvalidSpec`` without a retry.
    """
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    owner = owner_key(CONFIG.cluster_name, namespace, meta["name"])
    generation = int(meta.get("generation") or 0)
    status: Mapping[str, Any] = body.get("status") or {}
    job_exists = status.get("jobId") is not None
    try:
        spec = DatabricksJobSpec.model_validate(body.get("spec") or {})
    except ValidationError as err:
        _write(
            patch,
            body,
            st.failed(Reason.INVALID_SPEC, f"spec is invalid: {err}", job_exists=job_exists),
            observedGeneration=generation,
        )
        return
    if held_invalid(status, generation):
        # This generation was refused already; the next spec change gets a new attempt.
        return
    if problems := validate_settings(spec.settings):  # what admission cannot check; before any Databricks call
        message = "spec.settings is invalid: " + "; ".join(problems)
        kopf.warn(body, reason="InvalidSpec", message=message)
        conds = st.failed(Reason.INVALID_SPEC, message, job_exists=job_exists)
        _write(patch, body, conds, observedGeneration=generation)
        return
    try:
        ws = await workspaces.resolve(namespace, spec.workspace_ref.name)
    except workspaces.WorkspaceError as err:
        _write(patch, body, st.failed(err.reason, err.message, job_exists=job_exists))
        raise kopf.TemporaryError(err.message, delay=backoff_seconds(retry)) from err
    except ApiException as err:
        raise kopf.TemporaryError(f"reading the workspace failed: {err.reason}", delay=backoff_seconds(retry)) from err
    _last_workspace[uid] = ws

    client = await workspace_client_async(ws.host, ws.token)
    desired = spec.settings
    async with _lock(uid):
        try:
            adopt_id = spec.adopt.job_id if spec.adopt and status.get("jobId") is None else None
            observed = await _observe(client, {"jobId": adopt_id} if adopt_id else status, desired, owner)
            if adopt_id and observed.job_id != adopt_id:
                message = f"spec.adopt.jobId {adopt_id} does not exist in the workspace"
                conds = st.failed(Reason.ADOPT_TARGET_MISSING, message, job_exists=False)
                _write(patch, body, conds, observedGeneration=generation)
                return
            holder = ((observed.live or {}).get("tags") or {}).get(OWNER_TAG)
            if adopt_id and holder not in (None, owner):
                # Another DatabricksJob manages it: adopting would make the two reset it in turn, and
                # deleting either would delete the other's job.
                message = f"spec.adopt.jobId {adopt_id} is managed by another DatabricksJob (tag {OWNER_TAG}={holder})"
                conds = st.failed(Reason.ADOPT_TARGET_OWNED, message, job_exists=False)
                _write(patch, body, conds, observedGeneration=generation)
                return
            # What a create/reset sends, and what the live job is compared with: the owner tag and
            # explicit values wherever the server's own default could otherwise win (rules.py).
            body_settings = desired_with_owner(explicit_settings(desired, owner=observed.owner), owner, OWNER_TAG)
            plan = decide(
                body_settings,
                observed,
                status=status,
                generation=generation,
                drift_policy=spec.drift_policy,
                paused=spec.paused,
            )
            logger.info(f"plan: {plan.verb} job={observed.job_id} drift={plan.drift[:5]}")
            if plan.verb is Verb.HOLD_INVALID:
                return
            job_id = observed.job_id
            after, applied = plan.report, None
            if plan.verb is Verb.CREATE:
                job_id = await asyncio.to_thread(jobs.create, client, body_settings)
                after, applied = DriftReport(), write_only_values(body_settings)
                if plan.recreate:
                    kopf.warn(
                        body,
                        reason="JobRecreated",
                        message=f"job {status.get('jobId')} was deleted in the workspace; created job {job_id}",
                    )
                else:
                    kopf.info(body, reason="JobCreated", message=f"created Databricks job {job_id}")
                conds = st.in_sync(job_id, recreated=plan.recreate)
            elif plan.verb is Verb.RESET:
                assert job_id is not None
                corrected = [] if plan.spec_changed else plan.drift
                if corrected:
                    kopf.warn(body, reason="DriftDetected", message=f"job {job_id} drifted: {', '.join(corrected[:5])}")
                applied = write_only_values(body_settings)
                after, attempts = await _reset_and_verify(client, job_id, body_settings, observed.owner, applied)
                metrics.record_drift_correction("converged" if after.in_sync else "not_converging")
                if not after.in_sync:
                    kopf.warn(
                        body,
                        reason="DriftNotConverging",
                        message=f"job {job_id} still differs after {attempts} resets: {', '.join(after.paths[:5])}",
                    )
                    conds = st.not_converging(job_id, after.paths, attempts)
                elif corrected:
                    kopf.info(body, reason="DriftCorrected", message=f"reset job {job_id}: {', '.join(corrected[:5])}")
                    conds = st.in_sync(job_id, corrected=corrected)
                else:
                    kopf.info(body, reason="JobReset", message=f"reset job {job_id} to generation {generation}")
                    conds = st.in_sync(job_id)
            elif plan.verb is Verb.REPORT_DRIFT:
                assert job_id is not None
                if not _already_reported(status, plan.drift):
                    kopf.warn(
                        body, reason="DriftDetected", message=f"job {job_id} drifted: {', '.join(plan.drift[:5])}"
                    )
                conds = st.drift_reported(job_id, plan.drift)
            elif plan.verb is Verb.HOLD_PAUSED:
                conds = st.paused(job_id, plan.drift)
                if job_id is None:
                    _write(patch, body, conds, observedGeneration=generation)
                    return
            elif plan.verb is Verb.HOLD_NOT_CONVERGING:
                assert job_id is not None
                conds = st.not_converging(job_id, plan.drift, MAX_CORRECTION_ATTEMPTS)
            else:
                assert job_id is not None
                drifted = find_condition(status.get("conditions"), ConditionType.DRIFTED)
                if drifted and drifted.get("status") == "True":
                    kopf.info(body, reason="DriftResolved", message=f"job {job_id} matches spec.settings again")
                    conds = st.drift_resolved(job_id)
                else:
                    conds = st.in_sync(job_id)
        except Exception as err:
            _on_api_error(err, patch, body, retry, job_exists)
            return
    assert job_id is not None
    metrics.record_drift(namespace, meta["name"], len(after.items))
    _write(
        patch,
        body,
        conds,
        jobId=job_id,
        jobUrl=job_url(ws.host, job_id),
        observedGeneration=generation,
        drift=drift_status(after, dt.datetime.now(dt.UTC), applied),
    )


async def _reset_and_verify(
    client: WorkspaceClient, job_id: int, settings: Mapping[str, Any], owner: str | None, applied: Mapping[str, Any]
) -> tuple[DriftReport, int]:
    """``jobs/reset``, re-read, compare; again while paths remain, at most MAX_CORRECTION_ATTEMPTS times.

    Returns the report of the last read (empty = converged) and the number of resets made.
    """
    attempt = 0
    while True:
        attempt += 1
        await asyncio.to_thread(jobs.reset, client, job_id, settings)
        live = await asyncio.to_thread(jobs.get_settings, client, job_id)
        report = compare(settings, live, owner=owner, applied_write_only=applied)
        if correction_step(attempt, report.paths) is not CorrectionStep.RETRY:
            return report, attempt


def _already_reported(status: Mapping[str, Any], paths: list[str]) -> bool:
    return list((status.get("drift") or {}).get("paths") or []) == paths[:MAX_DRIFT_PATHS]


def _on_api_error(err: Exception, patch: kopf.Patch, body: kopf.Body, retry: int, job_exists: bool) -> None:
    kind = classify(err)
    generation = int(body["metadata"].get("generation") or 0)
    message = str(err).splitlines()[0][:500] if str(err) else type(err).__name__
    if kind is ErrorKind.INVALID:
        kopf.warn(body, reason="InvalidSpec", message=f"Databricks refused the settings: {message}")
        _write(
            patch,
            body,
            st.failed(Reason.INVALID_SPEC, f"Databricks refused spec.settings: {message}", job_exists=job_exists),
            observedGeneration=generation,
        )
        return
    reason = Reason.UNAUTHORIZED if kind is ErrorKind.UNAUTHORIZED else Reason.API_ERROR
    _write(patch, body, st.failed(reason, f"Databricks API call failed, will retry: {message}", job_exists=job_exists))
    raise kopf.TemporaryError(message, delay=backoff_seconds(retry)) from err


async def delete(body: kopf.Body, retry: int, logger: Any) -> None:
    """Delete the Databricks job (unless ``deletionPolicy: Orphan``), then let kopf drop the finalizer.

    * Transient API failures (429, 5xx, network) raise ``kopf.TemporaryError``: the finalizer stays
      and the delete is retried for as long as it takes; a job already gone counts as deleted.
    * The workspace or its Secret deleted together with the job (Argo CD prune, namespace
      deletion): the workspace this resource last reconciled against is used.
    * No workspace can be reached and none is remembered, or the token is refused: when status
      records no job, nothing was created and the finalizer goes at once; otherwise the delete is
      retried ``DELETE_ATTEMPTS_WITHOUT_WORKSPACE`` times, then the job is left in the workspace
      with a Warning event ``JobOrphaned`` (a delete must not hang forever on credentials).
    """
    meta = body["metadata"]
    uid = meta["uid"]
    status = body.get("status") or {}
    spec_raw = body.get("spec") or {}
    policy = DeletionPolicy.ORPHAN if spec_raw.get("deletionPolicy") == "Orphan" else DeletionPolicy.DELETE
    recorded = status.get("jobId")
    if policy is DeletionPolicy.ORPHAN:
        logger.info(f"leaving job {recorded} in the workspace (deletionPolicy Orphan)")
        _forget(uid)
        return
    ref = (spec_raw.get("workspaceRef") or {}).get("name", "")
    try:
        ws = await workspaces.resolve(meta["namespace"], ref)
    except (workspaces.WorkspaceError, ApiException) as err:
        remembered = _last_workspace.get(uid)
        if remembered is None:
            _give_up_delete(body, recorded, retry, f"cannot resolve the workspace: {err}")
            _forget(uid)
            return
        ws = remembered
    client = await workspace_client_async(ws.host, ws.token)
    async with _lock(uid):
        try:
            job_id = recorded
            if job_id is None:
                job_id = await asyncio.to_thread(
                    jobs.find_owned,
                    client,
                    name=(spec_raw.get("settings") or {}).get("name"),
                    owner_tag=OWNER_TAG,
                    owner=owner_key(CONFIG.cluster_name, meta["namespace"], meta["name"]),
                )
            if decide_delete(job_id, policy):
                assert job_id is not None
                deleted = await asyncio.to_thread(jobs.delete, client, int(job_id))
                logger.info(f"job {job_id} {'deleted' if deleted else 'was already gone'}")
        except Exception as err:
            kind = classify(err)
            if kind is ErrorKind.UNAUTHORIZED:
                _give_up_delete(body, recorded, retry, f"Databricks refused the token: {err}")
            elif kind is not ErrorKind.GONE:
                raise kopf.TemporaryError(f"deleting the job failed: {err}", delay=backoff_seconds(retry)) from err
    _forget(uid)


def _give_up_delete(body: kopf.Body, job_id: Any, retry: int, why: str) -> None:
    """Return (finalizer released) when nothing was recorded or attempts are used up; else raise to retry."""
    if job_id is None:
        kopf.info(body, reason="NothingToDelete", message=f"no Databricks job was recorded; {why}")
        return
    if retry + 1 >= DELETE_ATTEMPTS_WITHOUT_WORKSPACE:
        kopf.warn(body, reason="JobOrphaned", message=f"job {job_id} is left in the workspace: {why}")
        return
    kopf.warn(
        body,
        reason="DeleteBlocked",
        message=f"cannot delete job {job_id} yet (attempt {retry + 1} of {DELETE_ATTEMPTS_WITHOUT_WORKSPACE}; "
        f"then it is left in the workspace): {why}",
    )
    raise kopf.TemporaryError(why, delay=backoff_seconds(retry))


def _forget(uid: str) -> None:
    _locks.pop(uid, None)
    _last_workspace.pop(uid, None)
