"""How bundle configuration merges, as the Databricks CLI merges it.

Mappings merge key by key (the override wins for scalars), sequences are appended, anything else is
replaced; then the elements of ``tasks`` / ``job_clusters`` / ``parameters`` / ``environments`` that share
their key (``task_key`` / ``job_cluster_key`` / ``name`` / ``environment_key``) are merged into the first of
them (https://docs.databricks.com/aws/en/dev-tools/bundles/settings#targets, "job tasks and clusters are merged
by key"; databricks/cli ``bundle/config/mutator/resourcemutator/merge_job_tasks.go``).
"""

from __future__ import annotations

from typing import Any

KEYED_LISTS = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}


def merge(base: Any, override: Any) -> Any:
    """Bundle-style merge: mappings merged recursively, sequences appended, anything else replaced.

    Neither argument is modified; the result shares no mapping or list with them.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = {k: copy_value(v) for k, v in base.items()}
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else copy_value(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return [copy_value(v) for v in base + override]
    return copy_value(override)


def copy_value(value: Any) -> Any:
    """A copy of nested mappings and lists (scalars, str subclasses included, are shared)."""
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    return value


def merge_keyed(items: list[Any], key: str) -> list[Any]:
    """Merge elements sharing ``key`` into the first of them (later ones win); order of first use kept."""
    out: list[Any] = []
    index: dict[Any, int] = {}
    for item in items:
        k = item.get(key) if isinstance(item, dict) else None
        if k is not None and k in index:
            out[index[k]] = merge(out[index[k]], item)
        else:
            if k is not None:
                index[k] = len(out)
            out.append(item)
    return out


def merge_keyed_lists(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` with each list of :data:`KEYED_LISTS` merged by its key (nested for-each tasks untouched)."""
    out = dict(job)
    for list_key, item_key in KEYED_LISTS.items():
        if isinstance(out.get(list_key), list):
            out[list_key] = merge_keyed(out[list_key], item_key)
    return out
