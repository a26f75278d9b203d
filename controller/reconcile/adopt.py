"""Which existing job ``spec.adopt`` takes over, or why none: pure decisions over what was observed.

``spec.adopt`` is exactly one of ``{jobId}`` and ``{name}`` (:class:`controller.api.models.Adopt`); it is read
only while ``status.jobId`` is unset (once a job is adopted, its id is in status and ``spec.adopt`` no longer
matters). By name, the candidates are every job of the workspace whose ``settings.name`` equals ``name``
exactly (case and spaces included; Jobs API ``jobs/list``'s own ``name`` filter is case-insensitive, so it is
only a pre-filter: https://docs.databricks.com/api/workspace/jobs/list). Jobs another DatabricksJob manages
(another ``dbjobs-owner`` tag) count among them. The outcome:

* none: ``AdoptTargetMissing``, naming the name and the count 0;
* one carrying our own owner tag (this resource adopted or created it and lost ``status``): that one;
* exactly one: that one; another resource's (another owner tag): ``AdoptTargetOwned``;
* several: ``AdoptTargetAmbiguous``, naming the count and the ids (sorted, at most :data:`MAX_IDS`): never a
  guess.

Every refusal writes nothing to Databricks. The owner tag's value names another tenant's namespace and is never
put in a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api.models import Adopt
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.reasons import Reason

#: The most ids an ``AdoptTargetAmbiguous`` message lists ("and N more" after them).
MAX_IDS = 10


@dataclass(frozen=True)
class Named:
    """A job whose ``settings.name`` is the name looked for: its ``job_id`` and its owner tag value (None:
    untagged)."""

    job_id: int
    owner: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Why ``spec.adopt`` adopts nothing: a condition ``reason`` and a ``message`` for a person."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class Target:
    """The job ``spec.adopt`` names (``job_id``) or why there is none (``refusal``); exactly one is set."""

    job_id: int | None = None
    refusal: Refusal | None = None


def named(jobs: Iterable[tuple[int, Mapping[str, Any]]], name: str) -> tuple[Named, ...]:
    """The jobs among ``(job_id, settings)`` whose ``settings.name`` is exactly ``name``, by id."""
    found = []
    for job_id, settings in jobs:
        if settings.get("name") == name:
            owner = (settings.get("tags") or {}).get(OWNER_TAG)
            found.append(Named(int(job_id), None if owner is None else str(owner)))
    return tuple(sorted(found, key=lambda n: n.job_id))


def _ids(matches: Sequence[Named]) -> str:
    ids = sorted(m.job_id for m in matches)
    shown = ", ".join(str(i) for i in ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


def by_name(name: str, matches: Sequence[Named], owner: str) -> Target:
    """The job ``spec.adopt.name`` = ``name`` takes over among ``matches`` (every job of that exact name) for
    the resource whose owner tag value is ``owner``; see the module docstring for the rules."""
    quoted = json.dumps(name)
    ours = [m for m in matches if m.owner == owner]
    if len(ours) >= 1:
        return Target(min(m.job_id for m in ours))
    if not matches:
        msg = f"spec.adopt.name {quoted}: no job of the workspace has this exact name (0 found); nothing created"
        return Target(refusal=Refusal(Reason.ADOPT_TARGET_MISSING, msg))
    if len(matches) > 1:
        msg = (
            f"spec.adopt.name {quoted} is the name of {len(matches)} jobs of the workspace ({_ids(matches)}); "
            "not guessing which: adopt one by spec.adopt.jobId or rename the others"
        )
        return Target(refusal=Refusal(Reason.ADOPT_TARGET_AMBIGUOUS, msg))
    only = matches[0]
    if only.owner is not None:
        return Target(refusal=_owned(f"spec.adopt.name {quoted} (job {only.job_id})"))
    return Target(only.job_id)


def _owned(what: str) -> Refusal:
    # The holder's tag names its namespace: not for another tenant to read.
    msg = f"{what} is managed by another DatabricksJob (it carries another {OWNER_TAG} tag)"
    return Refusal(Reason.ADOPT_TARGET_OWNED, msg)


def check(
    adopt: Adopt, matches: Sequence[Named] | None, observed_id: int | None, holder: str | None, owner: str
) -> Refusal | None:
    """Why ``adopt`` cannot take over the job observed (id ``observed_id``, owner tag value ``holder``), None
    when it can. ``matches`` are the jobs named ``adopt.name`` (None or unused when adopting by ``jobId``): the
    job observed must be the one they designate (the driver reads that one)."""
    if adopt.name is not None:
        target = by_name(adopt.name, matches or (), owner)
        if target.refusal is not None:
            return target.refusal
        what = f"spec.adopt.name {json.dumps(adopt.name)} (job {target.job_id})"
        if observed_id != target.job_id:  # deleted since it was listed
            return Refusal(Reason.ADOPT_TARGET_MISSING, f"{what} no longer exists in the workspace")
    else:
        what = f"spec.adopt.jobId {adopt.job_id}"
        if observed_id != adopt.job_id:
            return Refusal(Reason.ADOPT_TARGET_MISSING, f"{what} does not exist in the workspace")
    if holder not in (None, owner):
        return _owned(what)
    return None
