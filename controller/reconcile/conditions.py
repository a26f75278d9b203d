"""Pure helpers for ``status.conditions`` in the Kubernetes ``metav1.Condition`` shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controller.reconcile.reasons import ConditionType, Reason


@dataclass(frozen=True)
class Condition:
    """One condition to set: ``status`` is "True", "False" or "Unknown"."""

    type: ConditionType
    status: str
    reason: Reason
    message: str


def rfc3339(now: dt.datetime) -> str:
    """``now`` (timezone-aware) as RFC 3339 with second precision and ``Z``, as Kubernetes writes times."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: list[dict[str, Any]] | None,
    updates: list[Condition],
    *,
    generation: int,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Return ``current`` with ``updates`` applied, sorted by type.

    ``lastTransitionTime`` is kept when a condition's ``status`` does not change (Kubernetes API
    conventions); every updated condition gets ``observedGeneration=generation``. Conditions of
    types not in ``updates`` are kept as they are.
    """
    by_type: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in (current or []) if "type" in c}
    for cond in updates:
        previous = by_type.get(cond.type.value)
        transition = rfc3339(now)
        if previous is not None and previous.get("status") == cond.status and previous.get("lastTransitionTime"):
            transition = previous["lastTransitionTime"]
        by_type[cond.type.value] = {
            "type": cond.type.value,
            "status": cond.status,
            "reason": cond.reason.value,
            "message": cond.message,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
        }
    return [by_type[k] for k in sorted(by_type)]


def find_condition(conditions: list[dict[str, Any]] | None, ctype: ConditionType) -> dict[str, Any] | None:
    """The condition of type ``ctype`` in ``conditions``, or None."""
    for cond in conditions or []:
        if cond.get("type") == ctype.value:
            return cond
    return None
