"""The guard's state for one DatabricksWorkspace: deletions done in the window, deletions held, jobs that
vanished, and what a person confirmed. Decisions are :mod:`controller.reconcile.guard`'s; this keeps the state,
restores it from the workspace's ``status.guard`` after a restart, and renders it back.

``status.guard`` shape (see ``controller.api.workspace.GuardStatus``)::

    {deletionsInWindow, recentDeletions: [RFC 3339], heldDeletions: [{namespace, name, jobId}], heldCount,
     vanished: [{namespace, name, jobId}], confirmedDeletions?, confirmedRecreation?}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.reconcile import guard
from controller.reconcile.conditions import Condition, rfc3339
from controller.reconcile.reasons import ConditionType, Reason

MAX_LISTED = 100


@dataclass(frozen=True)
class Held:
    """One job the guard holds: ``uid`` of its DatabricksJob, where it is, its Databricks job id."""

    uid: str
    namespace: str
    name: str
    job_id: int | None


@dataclass
class WorkspaceGuard:
    """See the module docstring. ``policy`` follows the workspace's spec."""

    policy: guard.GuardPolicy = field(default_factory=guard.GuardPolicy)
    recent: list[float] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    vanished: dict[int, Held] = field(default_factory=dict)
    recreation_released: set[int] = field(default_factory=set)
    confirmed_deletions: str | None = None
    confirmed_recreation: str | None = None
    restored: bool = False

    def restore(self, status: Mapping[str, Any]) -> None:
        """Take back what the last process wrote (once): the deletions of the window and the confirmed values, so
        a restart neither resets the budget nor replays a confirmation."""
        if self.restored:
            return
        self.restored = True
        saved = status.get("guard") or {}
        self.recent = [_seconds(t) for t in saved.get("recentDeletions") or []]
        self.confirmed_deletions = saved.get("confirmedDeletions")
        self.confirmed_recreation = saved.get("confirmedRecreation")

    # -- deletions ----------------------------------------------------------------------------------------
    def admit_delete(self, item: Held, now: float) -> bool:
        """True when ``item``'s job may be deleted now (within the budget, or released by a person); it is then
        counted. Else it is held."""
        self.recent = guard.in_window(self.recent, now, self.policy)
        if item.uid in self.released or guard.may_delete(self.recent, now, self.policy):
            self.recent.append(now)
            self.held.pop(item.uid, None)
            self.released.discard(item.uid)
            return True
        self.held[item.uid] = item
        return False

    def forget(self, uid: str) -> None:
        self.held.pop(uid, None)
        self.released.discard(uid)

    def confirm_deletions(self, value: str | None) -> int:
        """A new ``dbjobs.io/confirm-deletions`` value releases every deletion held now; returns how many."""
        if not value or value == self.confirmed_deletions:
            return 0
        self.confirmed_deletions = value
        self.released |= set(self.held)
        return len(self.held)

    # -- vanished jobs ------------------------------------------------------------------------------------
    def observe(self, known: Iterable[Held], present: set[int]) -> None:
        """After a cycle: hold re-creation when too many known jobs vanished at once (until confirmed)."""
        by_id = {k.job_id: k for k in known if k.job_id is not None}
        to_hold = guard.vanished_to_hold(by_id, present, self.policy)
        still = {i: h for i, h in self.vanished.items() if i not in present and i in by_id}
        self.vanished = {**still, **{i: by_id[i] for i in to_hold if i not in self.recreation_released}}

    def may_recreate(self, job_id: int) -> bool:
        return job_id not in self.vanished

    def confirm_recreation(self, value: str | None) -> int:
        """A new ``dbjobs.io/confirm-recreation`` value lets every vanished job held now be re-created."""
        if not value or value == self.confirmed_recreation:
            return 0
        self.confirmed_recreation = value
        count = len(self.vanished)
        self.recreation_released |= set(self.vanished)
        self.vanished = {}
        return count

    # -- what people see ----------------------------------------------------------------------------------
    def status(self, now: float) -> dict[str, Any]:
        """``status.guard``."""
        recent = guard.in_window(self.recent, now, self.policy)
        out: dict[str, Any] = {
            "deletionsInWindow": len(recent),
            "recentDeletions": [rfc3339(dt.datetime.fromtimestamp(t, dt.UTC)) for t in recent],
            "heldDeletions": [_listed(h) for h in list(self.held.values())[:MAX_LISTED]],
            "heldCount": len(self.held),
            "vanished": [_listed(h) for h in list(self.vanished.values())[:MAX_LISTED]],
        }
        if self.confirmed_deletions:
            out["confirmedDeletions"] = self.confirmed_deletions
        if self.confirmed_recreation:
            out["confirmedRecreation"] = self.confirmed_recreation
        return out

    def conditions(self) -> list[Condition]:
        """The workspace's ``DeletionHeld`` and ``JobsVanished`` conditions."""
        held, gone = len(self.held), len(self.vanished)
        return [
            Condition(
                ConditionType.DELETION_HELD,
                "True" if held else "False",
                Reason.DELETION_BUDGET_EXCEEDED if held else Reason.WITHIN_BUDGET,
                f"{held} job deletion(s) wait for confirmation (more than {self.policy.max_deletions} in "
                f"{self.policy.window_s:g}s): annotate this workspace {guard.CONFIRM_DELETIONS}=<new value> to "
                "delete them"
                if held
                else "no deletion is held",
            ),
            Condition(
                ConditionType.JOBS_VANISHED,
                "True" if gone else "False",
                Reason.JOBS_VANISHED if gone else Reason.NO_JOBS_VANISHED,
                f"{gone} jobs vanished from the workspace at once and are not re-created (a reset workspace, a wrong "
                f"host or a token of another workspace?): annotate this workspace {guard.CONFIRM_RECREATION}="
                "<new value> to re-create them"
                if gone
                else "no vanished job is held",
            ),
        ]


def _listed(item: Held) -> dict[str, Any]:
    return {"namespace": item.namespace, "name": item.name, **({"jobId": item.job_id} if item.job_id else {})}


def _seconds(timestamp: str) -> float:
    return dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()
