"""Compatibility entry points of the drift comparison (the engine is ``drift.py``).

``drift_paths`` and ``OWNER_TAG`` are what the rest of the controller imported from the first
cut; they stay here so callers keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.reconcile.drift import compare

#: Tag the controller puts on every job it owns, value = the resource's metadata.uid. It lets a
#: restarted controller whose status write was lost find the job instead of creating a second.
OWNER_TAG = "dbjobs-uid"


def without_owner_tag(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` without our ownership marker (for comparing with a spec that never carries it)."""
    out = dict(settings)
    if isinstance(out.get("tags"), Mapping) and OWNER_TAG in out["tags"]:
        out["tags"] = {k: v for k, v in out["tags"].items() if k != OWNER_TAG}
    return out


def drift_paths(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Paths where ``live`` differs from ``desired``, e.g. ``tasks[task_key=ingest].timeout_seconds``.

    ``desired`` is ``spec.settings``; ``live`` is ``settings`` of a ``jobs/get`` answer with all
    2.2 pages merged. The owner tag is ignored on both sides. Returns [] when in sync; sorted, unique.
    """
    return compare(without_owner_tag(desired), without_owner_tag(live)).paths
