"""The reconcile decision: a pure function of desired settings, what was observed, and status.

Modelled on Crossplane's external client: observe (does the job exist? is it up to date?) then
one of create / reset / nothing. Deletion is decided in ``decide_delete``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.api.models import DeletionPolicy, DriftPolicy
from controller.reconcile import permissions
from controller.reconcile.conditions import find_condition
from controller.reconcile.drift import DriftReport, compare_memo
from controller.reconcile.reasons import ConditionType, Reason
from controller.reconcile.report import applied_write_only, held_not_converging


class Verb(StrEnum):
    """What to do to the Databricks job."""

    CREATE = "create"
    RESET = "reset"
    NOTHING = "nothing"
    REPORT_DRIFT = "report-drift"
    HOLD_INVALID = "hold-invalid"
    HOLD_NOT_CONVERGING = "hold-not-converging"
    HOLD_PAUSED = "hold-paused"


@dataclass(frozen=True)
class Observation:
    """What the workspace says. ``live`` is the job's settings (all pages merged), None when no job exists.

    ``job_id`` is the id the job was found under (from ``status.jobId`` or the owner tag), or None.
    ``owner``: the job's creator when the read said (the server's default ``run_as``), else None.
    ``acl``: the job's direct permissions (:mod:`controller.reconcile.permissions`) when ``spec.permissions``
    manages them and they were read, else None (not compared).
    """

    job_id: int | None
    live: Mapping[str, Any] | None
    owner: str | None = None
    acl: permissions.Acl | None = None


@dataclass(frozen=True)
class Plan:
    """The decision: ``verb`` plus why (``drift`` paths and the full ``report``, whether this re-creates a
    job deleted out of band)."""

    verb: Verb
    drift: list[str] = field(default_factory=list)
    recreate: bool = False
    spec_changed: bool = False
    report: DriftReport = field(default_factory=DriftReport)


def held_invalid(status: Mapping[str, Any], generation: int) -> bool:
    """True when this generation was already refused as invalid: retrying would only repeat the 400."""
    synced = find_condition(status.get("conditions"), ConditionType.SYNCED)
    return bool(
        synced
        and synced.get("reason") == Reason.INVALID_SPEC.value
        and synced.get("observedGeneration") == generation
        and synced.get("status") == "False"
    )


def decide(
    desired: Mapping[str, Any],
    observed: Observation,
    *,
    status: Mapping[str, Any],
    generation: int,
    drift_policy: DriftPolicy,
    paused: bool = False,
    references_changed: bool = False,
    desired_acl: permissions.Acl | None = None,
) -> Plan:
    """Decide what to do for one DatabricksJob.

    * the generation was refused as invalid before → ``HOLD_INVALID`` (no call to Databricks);
    * no job → ``CREATE`` (``recreate`` when status had a job id: it was deleted in the workspace);
    * job in sync (write-only fields compared with what was last applied) → ``NOTHING``, even
      after a spec change that changes nothing on the job;
    * differs and the spec changed since last observed → ``RESET``, whatever the policy;
    * differs under policy ``Report`` → ``REPORT_DRIFT``;
    * differs at exactly the paths a correction of this generation already failed to fix →
      ``HOLD_NOT_CONVERGING`` (no reset loop);
    * differs under ``Correct`` → ``RESET``.

    With ``paused`` (``spec.paused``) a CREATE or RESET becomes ``HOLD_PAUSED``: nothing is
    written to Databricks, the difference is only reported.

    ``desired`` is what would be sent (owner tag included, references to other DatabricksJobs resolved), compared
    as is. ``references_changed``: those references resolve to other job ids than when last applied (a referenced
    job was re-created): a change of the desired settings like a new generation, so it is applied whatever the
    policy and releases a hold on a refused generation. ``desired_acl``: ``spec.permissions`` when present; with
    ``observed.acl`` their differences are drift like the settings' (paths ``permissions[<kind>:<name>]``).
    """
    plan = _decide(
        desired,
        observed,
        status=status,
        generation=generation,
        drift_policy=drift_policy,
        moved=references_changed,
        acl=desired_acl,
    )
    if paused and plan.verb in (Verb.CREATE, Verb.RESET):
        return Plan(Verb.HOLD_PAUSED, drift=plan.drift, spec_changed=plan.spec_changed, report=plan.report)
    return plan


def _decide(
    desired: Mapping[str, Any], observed: Observation, *, status: Mapping[str, Any], generation: int,
    drift_policy: DriftPolicy, moved: bool = False, acl: permissions.Acl | None = None,
) -> Plan:  # fmt: skip
    spec_changed = status.get("observedGeneration") != generation or moved
    if held_invalid(status, generation) and not moved:
        return Plan(Verb.HOLD_INVALID, spec_changed=spec_changed)
    if observed.live is None:
        return Plan(Verb.CREATE, recreate=status.get("jobId") is not None, spec_changed=spec_changed)
    report = compare_memo(desired, observed.live, owner=observed.owner, applied_write_only=applied_write_only(status))
    report = permissions.with_permissions(report, acl, observed.acl)
    paths = report.paths
    if report.in_sync:
        return Plan(Verb.NOTHING, spec_changed=spec_changed, report=report)
    if spec_changed:
        return Plan(Verb.RESET, drift=paths, spec_changed=True, report=report)
    if drift_policy is DriftPolicy.REPORT:
        return Plan(Verb.REPORT_DRIFT, drift=paths, report=report)
    if held_not_converging(status, generation, paths):
        return Plan(Verb.HOLD_NOT_CONVERGING, drift=paths, report=report)
    return Plan(Verb.RESET, drift=paths, report=report)


def decide_delete(job_id: int | None, deletion_policy: DeletionPolicy) -> bool:
    """True when the Databricks job must be deleted along with the resource."""
    return job_id is not None and deletion_policy is DeletionPolicy.DELETE


def desired_with_owner(settings: Mapping[str, Any], owner: str, owner_tag: str) -> dict[str, Any]:
    """``settings`` plus the owner tag (value ``owner``, see ``compare.owner_key``) the controller writes
    to every job it creates or resets."""
    out = dict(settings)
    out["tags"] = {**dict(settings.get("tags") or {}), owner_tag: owner}
    return out
