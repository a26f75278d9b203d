"""The mass deletion and mass re-creation guard, as pure decisions (issue 11).

A bad merge, a wrong Argo CD prune, a wiped workspace, a wrong host or a token of another workspace look, to a
controller, like "delete a hundred jobs" or "re-create a hundred jobs". Both are held for a person once they
exceed the workspace's ``spec.deletionGuard``:

* deletions: at most ``maxDeletions`` job deletions in ``windowSeconds`` (0: every deletion waits);
* vanished jobs: when more than ``maxVanishedShare`` of the jobs the workspace's resources know (and at least
  ``minVanished``) are missing from one observation, none of them is re-created.

A person confirms with an annotation on the DatabricksWorkspace; a new value releases what is held at that
moment and nothing held later. Times are Unix seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONFIRM_DELETIONS = "dbjobs.io/confirm-deletions"
CONFIRM_RECREATION = "dbjobs.io/confirm-recreation"


@dataclass(frozen=True)
class GuardPolicy:
    """``spec.deletionGuard`` with its defaults."""

    max_deletions: int = 10
    window_s: float = 600.0
    max_vanished_share: float = 0.2
    min_vanished: int = 5

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> GuardPolicy:
        """From ``spec.deletionGuard`` (camelCase; absent keys take the defaults)."""
        raw = raw or {}
        return cls(
            max_deletions=int(raw.get("maxDeletions", 10)),
            window_s=float(raw.get("windowSeconds", 600)),
            max_vanished_share=float(raw.get("maxVanishedShare", 0.2)),
            min_vanished=int(raw.get("minVanished", 5)),
        )


def in_window(recent: Sequence[float], now: float, policy: GuardPolicy) -> list[float]:
    """The deletion times of ``recent`` inside the window ending at ``now``."""
    return [t for t in recent if now - t < policy.window_s]


def may_delete(recent: Sequence[float], now: float, policy: GuardPolicy) -> bool:
    """Whether one more deletion fits the budget."""
    return len(in_window(recent, now, policy)) < policy.max_deletions


def vanished_to_hold(known: Iterable[int], present: Iterable[int], policy: GuardPolicy) -> frozenset[int]:
    """The known job ids missing from ``present`` when they are too many to re-create without a person (more
    than ``max_vanished_share`` of the known ones and at least ``min_vanished``); else an empty set."""
    known_ids = set(known)
    missing = known_ids - set(present)
    threshold = max(policy.min_vanished, math.floor(policy.max_vanished_share * len(known_ids)) + 1)
    return frozenset(missing) if len(missing) >= threshold else frozenset()
