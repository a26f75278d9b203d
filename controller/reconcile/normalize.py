"""Interpreter of the normalization table (``rules.py``): JobSettings in comparable form.

Both sides (``spec.settings`` and the live ``settings``) go through :func:`normalize`; then
:func:`prune_server_chosen`, which needs both, drops live values the workspace picks for fields
the user did not set. The result is plain JSON data where keyed lists are maps
``{"[task_key=ingest]": {...}}``, so a diff names elements by key and never by position.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.reconcile.rules import (
    GIT_OR_WORKSPACE,
    SAME_AS,
    ZERO_UNLESS_AUTOSCALE,
    Kind,
    Rule,
    Scope,
    rules_of,
)

Json = dict[str, Any]
#: Map-valued cluster fields: their keys may contain dots (``spark.databricks...``), D23 wire.
_MAP_FIELDS = frozenset({"spark_conf", "spark_env_vars", "custom_tags"})
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Context:
    """What normalization needs besides the settings: ``owner`` is the job's creator, when known."""

    owner: str | None = None


@dataclass
class Normalized:
    """``tree``: comparable settings; ``write_only``: ``{path: value}`` of write-only fields found."""

    tree: Json
    write_only: dict[str, Any] = field(default_factory=dict)


def split_field(dotted: str) -> list[str]:
    """``"spark_conf.spark.x"`` → ``["spark_conf", "spark.x"]``; other fields split on every dot."""
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in _MAP_FIELDS:
            return [*parts[: i + 1], ".".join(parts[i + 1 :])]
    return parts


def render_key(key: str) -> str:
    """One path step: ``.name``, ``[task_key=x]`` for keyed elements, ``['a.b']`` for odd map keys."""
    if key.startswith("[") and key.endswith("]"):
        return key
    return f".{key}" if _PLAIN_KEY.match(key) else f"[{key!r}]"


def join(prefix: str, *keys: str) -> str:
    """``prefix`` extended by ``keys`` as :func:`render_key` spells them, without a leading dot."""
    text = prefix
    for key in keys:
        text += render_key(key)
    return text.lstrip(".")


def _get(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _parent(node: Json, parts: list[str]) -> Json | None:
    parent = _get(node, parts[:-1]) if len(parts) > 1 else node
    return parent if isinstance(parent, dict) else None


def _dicts(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


#: Objects whose absence means the same as empty, so a default inside them may create them (both
#: sides alike). Others (``schedule``, ``spark_jar_task``...) mean something by being there.
_CREATABLE = frozenset({"notification_settings", "email_notifications", "spark_conf", "spark_env_vars"})


def _apply_defaults(node: Json, scope: Scope) -> None:
    for rule in rules_of(Kind.DEFAULT, scope):
        parts = split_field(rule.field)
        if len(parts) == 2 and parts[0] in _CREATABLE and not isinstance(node.get(parts[0]), dict):
            node[parts[0]] = {}
        parent = _parent(node, parts)
        if parent is not None and parts[-1] not in parent:
            parent[parts[-1]] = copy.deepcopy(rule.value)


def _pop_write_only(node: Json, scope: Scope, prefix: str, out: dict[str, Any], condition_ok: bool = True) -> None:
    for rule in rules_of(Kind.WRITE_ONLY, scope):
        if rule.value == "when tasks is set" and not condition_ok:
            continue
        parts = split_field(rule.field)
        parent = _parent(node, parts)
        if parent is not None and parts[-1] in parent:
            out[join(prefix, *parts)] = parent.pop(parts[-1])


def _principal(run_as: Any) -> Any:
    if isinstance(run_as, dict) and len(run_as) == 1:
        return next(iter(run_as.values()))
    return run_as


def _set_lists(node: Json, scope: Scope) -> None:
    for rule in rules_of(Kind.SET_LIST, scope):
        parts = split_field(rule.field)
        parent = _parent(node, parts)
        value = parent.get(parts[-1]) if parent else None
        if parent is not None and isinstance(value, list):
            parent[parts[-1]] = sorted(value, key=repr)


def keyed(items: Any, key: str) -> Any:
    """A list of objects as ``{"[key=value]": item}``; the list unchanged if any item lacks a unique key."""
    if not isinstance(items, list):
        return items
    out: Json = {}
    for item in items:
        if not isinstance(item, dict) or key not in item:
            return items
        name = f"[{key}={item[key]}]"
        if name in out:
            return items
        out[name] = item
    return out


def _keyed_lists(node: Json, scope: Scope) -> None:
    for rule in rules_of(Kind.KEYED_LIST, scope):
        parts = split_field(rule.field)
        parent = _parent(node, parts)
        if parent is not None and parts[-1] in parent:
            parent[parts[-1]] = keyed(parent[parts[-1]], str(rule.value))


def _cluster(cluster: Json, prefix: str, write_only: dict[str, Any]) -> None:
    _pop_write_only(cluster, Scope.CLUSTER, prefix, write_only)
    _apply_defaults(cluster, Scope.CLUSTER)
    aliases = next(r.value for r in rules_of(Kind.EQUIVALENCE, Scope.CLUSTER) if r.field == "data_security_mode")
    if cluster.get("data_security_mode") in aliases:
        cluster["data_security_mode"] = aliases[cluster["data_security_mode"]]
    for rule in rules_of(Kind.CONDITIONAL, Scope.CLUSTER):
        if rule.field == "num_workers" and rule.value == ZERO_UNLESS_AUTOSCALE and "autoscale" not in cluster:
            cluster.setdefault("num_workers", 0)
    if cluster.get("num_workers") == 0 and "autoscale" not in cluster:
        for block in ("aws_attributes", "azure_attributes", "gcp_attributes"):
            attrs = cluster.get(block)
            if isinstance(attrs, dict) and isinstance(attrs.get("first_on_demand"), int):
                attrs["first_on_demand"] = max(1, attrs["first_on_demand"])


def _task(task: Json, prefix: str, has_git: bool, write_only: dict[str, Any]) -> None:
    _apply_defaults(task, Scope.TASK)
    for rule in rules_of(Kind.CONDITIONAL, Scope.TASK):
        if rule.value == GIT_OR_WORKSPACE:
            parts = split_field(rule.field)
            parent = _parent(task, parts)
            if parent is not None:
                parent.setdefault(parts[-1], "GIT" if has_git else "WORKSPACE")
    _set_lists(task, Scope.TASK)
    if isinstance(task.get("new_cluster"), dict):
        _cluster(task["new_cluster"], join(prefix, "new_cluster"), write_only)
    inner = _get(task, ["for_each_task", "task"])
    if isinstance(inner, dict):
        _task(inner, join(prefix, "for_each_task", "task"), has_git, write_only)
    _keyed_lists(task, Scope.TASK)


def normalize(settings: Mapping[str, Any], ctx: Context | None = None) -> Normalized:
    """``settings`` (a JobSettings dict; not modified) in comparable form, plus its write-only values.

    Malformed parts (a task without ``task_key``, a list of scalars where objects belong) are
    kept and compared as they are: normalization never raises on user data.
    """
    ctx = ctx or Context()
    tree: Json = copy.deepcopy(dict(settings))
    write_only: dict[str, Any] = {}
    for rule in rules_of(Kind.RESPONSE_ONLY, Scope.JOB):
        parts = split_field(rule.field)
        parent = _parent(tree, parts)
        if parent is not None:
            parent.pop(parts[-1], None)
    _pop_write_only(tree, Scope.JOB, "", write_only, condition_ok=bool(tree.get("tasks")))
    if "run_as" in tree:
        tree["run_as"] = _principal(tree["run_as"])
    elif ctx.owner:
        tree["run_as"] = ctx.owner
    provider = _get(tree, ["git_source", "git_provider"])
    if isinstance(provider, str):
        tree["git_source"]["git_provider"] = provider.lower()
    _apply_defaults(tree, Scope.JOB)
    _set_lists(tree, Scope.JOB)
    has_git = bool(tree.get("git_source"))
    for task in _dicts(tree.get("tasks")):
        _task(task, f"tasks[task_key={task.get('task_key')}]", has_git, write_only)
    for jc in _dicts(tree.get("job_clusters")):
        if isinstance(jc.get("new_cluster"), dict):
            prefix = join(f"job_clusters[job_cluster_key={jc.get('job_cluster_key')}]", "new_cluster")
            _cluster(jc["new_cluster"], prefix, write_only)
    if isinstance(tree.get("new_cluster"), dict):  # legacy 2.0 single-task job
        _cluster(tree["new_cluster"], "new_cluster", write_only)
    _keyed_lists(tree, Scope.JOB)
    return Normalized(drop_empty(tree), write_only)


def drop_empty(value: Any) -> Any:
    """``{}``, ``[]`` and null count as absent (D04): removed from maps, recursively."""
    if isinstance(value, dict):
        out = {k: drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [drop_empty(v) for v in value]
    return value


def _clusters(tree: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if not isinstance(tree, dict):
        return
    if isinstance(tree.get("new_cluster"), dict):
        yield (*path, "new_cluster")
    for name in ("tasks", "job_clusters"):
        for key, item in (tree.get(name) or {}).items() if isinstance(tree.get(name), dict) else ():
            yield from _clusters(item, (*path, name, key))
    inner = _get(tree, ["for_each_task", "task"])
    if isinstance(inner, dict):
        yield from _clusters(inner, (*path, "for_each_task", "task"))


def _server_chosen(rule: Rule, desired: Json) -> Callable[[str], bool] | None:
    """Which live-only cluster fields ``rule`` lets the workspace choose, for this desired cluster."""
    if rule.value == "when instance_pool_id is set":
        return (lambda f: f == rule.field) if "instance_pool_id" in desired else None
    if rule.value == "when policy_id is set":
        return (lambda f: True) if "policy_id" in desired else None
    return lambda f: f == rule.field


def prune_server_chosen(desired: Json, live: Json) -> Json:
    """``live`` (normalized; not modified) without values the workspace chose for fields ``desired`` omits.

    Cloud attribute blocks keep only the subfields the user set (D17, D18); pool-derived node
    types (D21), elastic disk (D20), ``data_security_mode`` and policy-supplied fields (D25) are
    dropped while desired does not set them. A desired value is always compared.
    """
    out = copy.deepcopy(live)
    for path in _clusters(desired):
        want, have = _get(desired, list(path)), _get(out, list(path))
        if not isinstance(want, dict) or not isinstance(have, dict):
            continue
        for rule in rules_of(Kind.CONDITIONAL, Scope.CLUSTER):
            # "same as <field>" (D21): a live value equal to the live source field is the server's own
            # fill, as long as desired leaves the field out; any other value is compared.
            if str(rule.value).startswith(SAME_AS) and rule.field not in want:
                source = str(rule.value)[len(SAME_AS) :]
                if rule.field in have and have.get(rule.field) == have.get(source):
                    del have[rule.field]
        for rule in rules_of(Kind.SERVER_CHOSEN, Scope.CLUSTER):
            chosen = _server_chosen(rule, want)
            if chosen is None:
                continue
            for name in [f for f in have if f not in want and chosen(f)]:
                del have[name]
            if rule.field.endswith("_attributes") and isinstance(have.get(rule.field), dict):
                mine = want.get(rule.field) or {}
                have[rule.field] = {k: v for k, v in have[rule.field].items() if k in mine}
        if "policy_id" in want and isinstance(have.get("custom_tags"), dict):
            mine = want.get("custom_tags") or {}
            have["custom_tags"] = {k: v for k, v in have["custom_tags"].items() if k in mine}
    result: Json = drop_empty(out)
    return result
