"""Pure pieces of acting on drift: the bounded ``status.drift``, the correction body, the retry bound.

``status.drift`` shape (every key always written, so a merge patch clears stale values; when the job was last
compared is the workspace's ``status.lastCycle``, not a per-job write every cycle)::

    {"detected": bool, "count": int,                  # all differing paths
     "paths": [str, ...],                              # the first MAX_PATHS, sorted
     "items": [{"path": str, "desired": str, "live": str, "writeOnly": bool}, ...],
                                                       # the first MAX_ITEMS; values as JSON text cut
                                                       # to MAX_VALUE_CHARS; a side absent → key omitted
     "appliedWriteOnly": {path: value}}               # write-only fields last sent (only after a write)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from controller.reconcile.conditions import find_condition
from controller.reconcile.drift import ABSENT, DriftReport
from controller.reconcile.normalize import split_field
from controller.reconcile.reasons import ConditionType, Reason
from controller.reconcile.rules import GIT_OR_WORKSPACE, OWNER, Kind, Scope, rules_of

MAX_PATHS = 20
MAX_ITEMS = 10
MAX_VALUE_CHARS = 200
#: Resets tried in one reconcile before a correction is declared non-converging.
MAX_CORRECTION_ATTEMPTS = 3


def _text(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def drift_status(report: DriftReport, applied_write_only: Mapping[str, Any] | None = None) -> Any:
    """``status.drift`` for ``report`` (see the module docstring); ``appliedWriteOnly`` only when given."""
    items = []
    for item in report.items[:MAX_ITEMS]:
        entry: dict[str, Any] = {"path": item.path, "writeOnly": item.write_only}
        if item.desired is not ABSENT:
            entry["desired"] = _text(item.desired)
        if item.live is not ABSENT:
            entry["live"] = _text(item.live)
        items.append(entry)
    out: dict[str, Any] = {
        "detected": not report.in_sync,
        "count": len(report.items),
        "paths": report.paths[:MAX_PATHS],
        "items": items,
    }
    if applied_write_only is not None:
        out["appliedWriteOnly"] = dict(applied_write_only)
    return out


def applied_write_only(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The write-only values recorded at the last write, or None when never recorded."""
    value = (status.get("drift") or {}).get("appliedWriteOnly")
    return dict(value) if isinstance(value, Mapping) else None


def _fill_task(task: dict[str, Any], has_git: bool) -> None:
    for rule in rules_of(Kind.CONDITIONAL, Scope.TASK):
        if rule.explicit_on_write and rule.value == GIT_OR_WORKSPACE:
            parts = split_field(rule.field)
            node: Any = task
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.setdefault(parts[-1], "GIT" if has_git else "WORKSPACE")
    inner = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
    if isinstance(inner, dict):
        _fill_task(inner, has_git)


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def explicit_settings(settings: Mapping[str, Any], *, owner: str | None = None) -> dict[str, Any]:
    """``settings`` plus explicit values for every rule marked ``explicit_on_write``.

    Where the server would otherwise keep or pick its own value on ``jobs/reset`` (task
    ``source`` after ``git_source`` was removed, ``queue`` on a 2.1-era job, a paused schedule,
    a sticky ``run_as``), the body says what the spec means. ``run_as`` is only filled when the
    owner is known. The input is not modified.
    """
    out: dict[str, Any] = copy.deepcopy(dict(settings))
    for rule in rules_of(Kind.DEFAULT, Scope.JOB):
        if not rule.explicit_on_write:
            continue
        parts = split_field(rule.field)
        parent: Any = out
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.setdefault(parts[-1], copy.deepcopy(rule.value))
    if owner and any(r.value == OWNER and r.explicit_on_write for r in rules_of(Kind.CONDITIONAL, Scope.JOB)):
        # A service principal is named by its application id (a UUID), a user by a user name.
        key = "service_principal_name" if _UUID.match(owner) else "user_name"
        out.setdefault("run_as", {key: owner})
    has_git = bool(out.get("git_source"))
    for task in out.get("tasks") or []:
        if isinstance(task, dict):
            _fill_task(task, has_git)
    return out


class CorrectionStep(StrEnum):
    """After a reset and a re-read: done, reset again, or stop."""

    CONVERGED = "converged"
    RETRY = "retry"
    GIVE_UP = "give-up"


def correction_step(attempt: int, remaining: list[str], max_attempts: int = MAX_CORRECTION_ATTEMPTS) -> CorrectionStep:
    """What to do after reset number ``attempt`` (1-based) left ``remaining`` paths differing."""
    if not remaining:
        return CorrectionStep.CONVERGED
    return CorrectionStep.RETRY if attempt < max_attempts else CorrectionStep.GIVE_UP


def held_not_converging(status: Mapping[str, Any], generation: int, paths: list[str]) -> bool:
    """True when this generation already failed to converge on exactly these paths: do not reset again.

    New drift elsewhere, or a new generation, gets fresh attempts; the same stuck paths never loop.
    """
    synced = find_condition(status.get("conditions"), ConditionType.SYNCED)
    drift = status.get("drift") or {}
    return bool(
        synced
        and synced.get("reason") == Reason.DRIFT_NOT_CONVERGING.value
        and synced.get("observedGeneration") == generation
        and drift.get("count") == len(paths)
        and list(drift.get("paths") or []) == paths[:MAX_PATHS]
    )
