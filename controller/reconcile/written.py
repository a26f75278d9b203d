"""Live settings as a person would write them: the server's defaults taken out, by the normalization table.

``dbjobs export`` reads jobs from a workspace; ``jobs/get`` fills in defaults the user never wrote
(``timeout_seconds: 0``, ``email_notifications: {}``, ``queue: {enabled: true}``, task ``run_if:
ALL_SUCCESS``, ``source: WORKSPACE``, a ``run_as`` equal to the creator, …). Every ``default`` row of
``rules.py`` says "absent equals this value", so removing a field that holds exactly its default changes
nothing the drift engine sees; the result is checked against the input with :func:`drift.compare` and
falls back to the input (response-only fields removed) if they would differ. ``conditional`` task sources
(GIT with a ``git_source``, else WORKSPACE) and a ``run_as`` naming the creator are removed the same way.
Server-chosen cluster fields (``aws_attributes``, ``node_type_id`` from a pool, …) are kept: a person may
have chosen them, and dropping them could change the cluster on the next reset. ``name`` is always kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from controller.reconcile.drift import compare
from controller.reconcile.normalize import split_field
from controller.reconcile.rules import GIT_OR_WORKSPACE, Kind, Rule, Scope, rules_of

Json = dict[str, Any]
#: Objects whose absence means the same as empty (normalize.py): removed once their defaults are.
_EMPTY_MEANS_ABSENT = ("email_notifications", "webhook_notifications", "notification_settings", "spark_conf")
_KEEP = frozenset({"name"})


def _by_depth(scope: Scope) -> list[Rule]:
    """DEFAULT rules of ``scope``, deepest field first, so a container is looked at after its fields."""
    rules = [r for r in rules_of(Kind.DEFAULT, scope) if r.field not in _KEEP]
    return sorted(rules, key=lambda r: -len(split_field(r.field)))


def _drop_defaults(node: Json, scope: Scope) -> None:
    for rule in _by_depth(scope):
        parts = split_field(rule.field)
        parent: Any = node
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parts[-1] in parent and parent[parts[-1]] == rule.value:
            del parent[parts[-1]]
    for name in _EMPTY_MEANS_ABSENT:
        if node.get(name) == {}:
            del node[name]


def _tasks(settings: Json) -> Iterator[Json]:
    for task in settings.get("tasks") or []:
        if isinstance(task, dict):
            yield task
            inner = (
                (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
            )
            if isinstance(inner, dict):
                yield inner


def _clusters(settings: Json) -> Iterator[Json]:
    for holder in [*(settings.get("job_clusters") or []), *_tasks(settings), settings]:
        if isinstance(holder, dict) and isinstance(holder.get("new_cluster"), dict):
            yield holder["new_cluster"]


def _drop_sources(task: Json, has_git: bool) -> None:
    expected = "GIT" if has_git else "WORKSPACE"
    for rule in rules_of(Kind.CONDITIONAL, Scope.TASK):
        if rule.value != GIT_OR_WORKSPACE:
            continue
        parts = split_field(rule.field)
        parent: Any = task
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(parts[-1]) == expected:
            del parent[parts[-1]]


def _principal(run_as: Any) -> Any:
    return next(iter(run_as.values())) if isinstance(run_as, dict) and len(run_as) == 1 else run_as


def without_defaults(settings: Mapping[str, Any], *, owner: str | None = None) -> Json:
    """``settings`` (a live JobSettings dict, not modified) without the values the server fills in.

    ``owner`` is the job's creator (the default ``run_as``). The result compares in sync with ``settings``
    (:func:`controller.reconcile.drift.compare`, same owner); when removing defaults would break that, only
    the response-only fields are removed. Pure.
    """
    base: Json = copy.deepcopy(dict(settings))
    for rule in rules_of(Kind.RESPONSE_ONLY, Scope.JOB):
        parts = split_field(rule.field)
        parent: Any = base
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(parts[-1], None)
    out = copy.deepcopy(base)
    _drop_defaults(out, Scope.JOB)
    if owner is not None and _principal(out.get("run_as")) == owner:
        del out["run_as"]
    has_git = bool(out.get("git_source"))
    for task in _tasks(out):
        _drop_defaults(task, Scope.TASK)
        _drop_sources(task, has_git)
    for cluster in _clusters(out):
        _drop_defaults(cluster, Scope.CLUSTER)
    return out if compare(out, settings, owner=owner).in_sync else base
