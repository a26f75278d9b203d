"""Compatibility entry points of the drift comparison (the engine is ``drift.py``).

``drift_paths`` and ``OWNER_TAG`` are what the rest of the controller imported from the first
cut; they stay here so callers keep working.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from controller.reconcile.drift import compare

#: Tag the controller puts on every job it owns; its value is :func:`owner_key` of the resource. It lets a
#: restarted controller whose status write was lost, and a re-installed one whose resources were re-created
#: with new uids (same namespace/name), find the job instead of creating a second.
OWNER_TAG = "dbjobs-owner"
#: Longest owner key: job tags become cluster tags and GCP labels allow 63 characters of ``[a-z0-9_-]``
#: (https://cloud.google.com/compute/docs/labeling-resources#requirements); Databricks allows 255.
OWNER_KEY_MAX = 63
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def owner_key(cluster: str, namespace: str, name: str) -> str:
    """The owner tag's value for DatabricksJob ``namespace/name`` of the cluster called ``cluster``.

    Shape: ``<namespace>_<name>`` lowercased, characters outside ``[a-z0-9_-]`` as ``-``, cut to 46
    characters, then ``-`` and 16 hex characters of sha256(``cluster/namespace/name``): at most 63
    characters, readable in the Databricks UI, and unique per resource (the hash, not the readable part,
    decides). Deterministic, so a re-created resource with the same namespace/name owns the same job.
    """
    readable = _UNSAFE.sub("-", f"{namespace}_{name}".lower())[: OWNER_KEY_MAX - 17]
    digest = hashlib.sha256(f"{cluster}/{namespace}/{name}".encode()).hexdigest()[:16]
    return f"{readable}-{digest}"


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
