"""How each kind of write turns stored settings into new settings (spec §3.4, §3.5).

Pure functions over plain dicts; validation and server defaults are applied by the caller
afterwards (see ``workspace.py``).
"""

from __future__ import annotations

import copy
from typing import Any

from dbjobs_testkit.emulator.errors import invalid

Settings = dict[str, Any]

#: Arrays that ``jobs/update`` merges entry by entry, and the key of each entry (§3.5; the last
#: two are [inferred] in the spec).
KEYED_ARRAYS: dict[str, str] = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}


def merge_update(stored: Settings, new_settings: Settings, fields_to_remove: list[Any]) -> Settings:
    """``jobs/update``: top-level fields of ``new_settings`` replace stored ones, except keyed arrays.

    Keyed arrays (:data:`KEYED_ARRAYS`) are merged: an entry whose key matches a stored entry
    replaces it whole, others are appended, stored entries not mentioned are kept.
    ``fields_to_remove`` then drops top-level fields (``"schedule"``) or single entries
    (``"tasks/<task_key>"``, ``"job_clusters/<job_cluster_key>"``, ...).
    """
    result = copy.deepcopy(stored)
    for field, value in new_settings.items():
        key = KEYED_ARRAYS.get(field)
        current = result.get(field)
        if key and isinstance(value, list) and isinstance(current, list):
            result[field] = _merge_keyed(current, copy.deepcopy(value), key)
        else:
            result[field] = copy.deepcopy(value)
    for i, item in enumerate(fields_to_remove):
        if not isinstance(item, str) or not item:
            raise invalid(f"fields_to_remove[{i}]: must be a non-empty string.")
        field, _, entry_key = item.partition("/")
        if not entry_key:
            result.pop(field, None)
            continue
        key = KEYED_ARRAYS.get(field)
        if key is None:
            raise invalid(f"fields_to_remove[{i}]: '{field}' is not an array of keyed entries.")
        entries = result.get(field)
        if isinstance(entries, list):
            result[field] = [e for e in entries if not (isinstance(e, dict) and e.get(key) == entry_key)]
    return result


def apply_edit(stored: Settings, patch: Settings) -> Settings:
    """An out-of-band edit (as a UI user would): top-level keys of ``patch`` replace stored ones;
    a ``None`` value removes the key."""
    result = copy.deepcopy(stored)
    for field, value in patch.items():
        if value is None:
            result.pop(field, None)
        else:
            result[field] = copy.deepcopy(value)
    return result


def _merge_keyed(current: list[Any], updates: list[Any], key: str) -> list[Any]:
    positions = {e.get(key): i for i, e in enumerate(current) if isinstance(e, dict)}
    merged = list(current)
    for entry in updates:
        k = entry.get(key) if isinstance(entry, dict) else None
        if k is not None and k in positions:
            merged[positions[k]] = entry
        else:
            if k is not None:
                positions[k] = len(merged)
            merged.append(entry)
    return merged
