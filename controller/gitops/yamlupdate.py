"""Updating a manifest that already exists in Git without losing what people wrote around it.

``dbjobs export`` run again over jobs it exported before must not throw away comments, key order or
formatting a person added to the manifest. ruamel.yaml's round-trip mode keeps comments and order; this
module changes only the values that differ: mapping keys are updated in place (new keys appended, gone keys
removed), lists of tasks, job clusters, parameters and environments are matched by their key so an
unchanged task keeps its comments, other lists are replaced when they differ. Output uses the layout
``dbjobs convert`` writes (2-space mappings, sequences indented under their key).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

#: List fields matched by key when merging (the drift table's keyed lists of JobSettings).
KEYED = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_all(text: str) -> list[Any]:
    """Every document of ``text`` as ruamel round-trip objects (``None`` documents dropped)."""
    return [d for d in _yaml().load_all(text) if d is not None]


def dump_all(docs: list[Any]) -> str:
    """``docs`` as multi-document YAML, each document after ``---``."""
    out = io.StringIO()
    _yaml().dump_all(docs, out)
    text = out.getvalue()
    return text if text.startswith("---") else "---\n" + text


def _keyed_merge(old: CommentedSeq, new: list[Any], key: str) -> CommentedSeq:
    by_key = {item.get(key): item for item in old if isinstance(item, CommentedMap)}
    out = CommentedSeq()
    for item in new:
        match = by_key.get(item.get(key)) if isinstance(item, Mapping) else None
        out.append(merge_into(match, item) if match is not None else item)
    if len(out) == len(old) and all(a is b for a, b in zip(out, old, strict=True)):
        return old  # same items in the same order: keep the sequence (and its comments) as it is
    return out


def merge_into(old: Any, new: Any, field: str | None = None) -> Any:
    """``old`` changed in place to equal ``new`` where it differs; returns the value to store.

    Mappings keep their comments and the order of the keys they keep; keyed lists (:data:`KEYED`, by
    ``field``) keep their unchanged items.
    """
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = merge_into(old[key], value, str(key)) if key in old else value
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        if field in KEYED and all(isinstance(i, Mapping) for i in new):
            return _keyed_merge(old, new, KEYED[field])
        return old if _plain(old) == new else new
    return old if _plain(old) == new else new


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def update_manifest(doc: CommentedMap, new: Mapping[str, Any], owned: tuple[str, ...]) -> CommentedMap:
    """Set the ``spec`` fields named in ``owned`` (``settings``, ``adopt``) of ``doc`` to ``new``'s, keeping
    comments; every other field of ``doc`` (names, policies a person changed) stays as it is."""
    spec = doc.setdefault("spec", CommentedMap())
    for field in owned:
        if field in new["spec"]:
            spec[field] = merge_into(spec[field], new["spec"][field], field) if field in spec else new["spec"][field]
    return doc
