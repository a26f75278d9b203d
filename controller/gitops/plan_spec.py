"""The operator fields in a plan (everything of ``spec`` but ``settings``): what changes, what the apiserver
refuses to change, and what the deletion guard holds back.

* changed fields are listed as ``field: <old JSON> -> <new JSON>``;
* ``spec.workspaceRef`` is immutable: the CRD's CEL transition rule (same name, same kind, an absent kind being
  ``DatabricksWorkspace``) refuses an update that changes it, so the plan calls the manifest invalid with the
  apiserver's message;
* deletions: the controller deletes at most ``spec.deletionGuard.maxDeletions`` Databricks jobs per workspace in
  its window and holds the rest until a person confirms (:class:`controller.api.workspace.DeletionGuard`,
  default 10); a plan with more says so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from controller.api.models import WORKSPACE_REF_IMMUTABLE
from controller.api.workspace import DeletionGuard

DEFAULT_MAX_DELETIONS = DeletionGuard().max_deletions
CLUSTER_KIND = "ClusterDatabricksWorkspace"
NAMESPACED_KIND = "DatabricksWorkspace"


def as_json(spec: Mapping[str, Any], key: str) -> str:
    """``spec[key]`` as JSON, or ``(unset)``."""
    return json.dumps(spec[key], sort_keys=True, default=str) if key in spec else "(unset)"


def spec_changes(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> tuple[str, ...]:
    """``field: <old> -> <new>`` (values as JSON) for each operator field that differs; none when ``old`` is None."""
    if old is None:
        return ()
    keys = sorted((set(new) | set(old)) - {"settings"})
    return tuple(f"{k}: {as_json(old, k)} -> {as_json(new, k)}" for k in keys if new.get(k) != old.get(k))


def _ref(spec: Mapping[str, Any]) -> tuple[str, str]:
    value: Mapping[str, Any] = spec["workspaceRef"] if isinstance(spec.get("workspaceRef"), Mapping) else {}
    return str(value.get("kind") or NAMESPACED_KIND), str(value.get("name") or "")


def workspace_ref_refused(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> str:
    """The apiserver's refusal when ``spec.workspaceRef`` changes from ``old``'s, "" when it does not."""
    if old is None or _ref(new) == _ref(old):
        return ""
    was, now = as_json(old, "workspaceRef"), as_json(new, "workspaceRef")
    return f"spec.workspaceRef: {WORKSPACE_REF_IMMUTABLE} (the apiserver refuses the update: {was} -> {now})"


def workspace_key(namespace: str, spec: Mapping[str, Any]) -> str:
    """``DatabricksWorkspace/<namespace>/<name>`` or ``ClusterDatabricksWorkspace/<name>`` of a job's spec."""
    kind, name = _ref(spec)
    return f"{CLUSTER_KIND}/{name}" if kind == CLUSTER_KIND else f"{NAMESPACED_KIND}/{namespace}/{name}"


def guard_note(deleted_in: Iterable[str], budgets: Mapping[str, int] | None) -> str:
    """The deletion guard's note when the Databricks jobs deleted in one workspace (``deleted_in``: one
    :func:`workspace_key` per deletion) exceed its ``maxDeletions`` (``budgets`` by key; default 10); "" else."""
    over = [
        (key, count, (budgets or {}).get(key, DEFAULT_MAX_DELETIONS))
        for key, count in sorted(Counter(deleted_in).items())
        if count > (budgets or {}).get(key, DEFAULT_MAX_DELETIONS)
    ]
    if not over:
        return ""
    limit = min(m for _, _, m in over)
    where = ", ".join(f"{count} in {key}" for key, count, _ in over)
    return (
        f"the deletion guard deletes at most {limit} in its window and holds the rest for confirmation "
        f"({where}; annotation dbjobs.io/confirm-deletions on the workspace)"
    )
