"""The drift engine: desired JobSettings against the live job, as a report of paths and values.

``compare(desired, live)`` normalizes both sides with the rule table (``rules.py`` via
``normalize.py``), diffs them with deepdiff and returns a :class:`DriftReport`. Paths are stable
and name keyed list elements by key: ``tasks[task_key=ingest].notebook_task.base_parameters.date``;
a list whose order matters is reported as a whole (``tasks[task_key=t].libraries``); odd map
keys use brackets (``new_cluster.spark_conf['spark.x']``); a job missing from the workspace is
the single path ``<job>``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from controller.reconcile.normalize import Context, join, normalize, prune_server_chosen

#: The path reported when the job itself is gone (D37).
JOB_MISSING = "<job>"


class _Absent:
    """The value of a side that does not have the path at all (distinct from null)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class DriftItem:
    """One difference. ``desired`` / ``live`` are plain JSON values or :data:`ABSENT`.

    ``write_only``: the field is never returned by reads; ``live`` is then what the controller
    last applied, not what the workspace holds.
    """

    path: str
    desired: Any = ABSENT
    live: Any = ABSENT
    write_only: bool = False


@dataclass(frozen=True)
class DriftReport:
    """Every difference, sorted by path (unique paths). Empty = in sync."""

    items: tuple[DriftItem, ...] = ()

    @property
    def paths(self) -> list[str]:
        """The differing paths, sorted."""
        return [i.path for i in self.items]

    @property
    def in_sync(self) -> bool:
        """True when nothing differs."""
        return not self.items


class IncompleteRead(ValueError):
    """A ``jobs/get`` page that still has ``next_page_token``: comparing it would invent deletions (D31)."""


class UnknownJobState(ValueError):
    """An error answer that does not prove the job is gone (e.g. 403): never treat it as missing (D37)."""


def live_from_response(response: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(settings, owner)`` from what a read returned; settings None when the job is gone.

    Accepts a ``jobs/get`` answer (``settings`` plus response-only fields; every page merged),
    bare JobSettings, or an error envelope. ``owner`` is ``creator_user_name`` when present.
    A 2.1-style answer without ``settings.run_as`` whose ``run_as_user_name`` is not the creator
    gets that principal as ``run_as`` (D15). Raises :class:`IncompleteRead` for a page that is
    not the last and :class:`UnknownJobState` for an error that is not "does not exist".
    """
    if "settings" not in response and ("error_code" in response or "http_status" in response):
        message = str(response.get("message", ""))
        if "does not exist" in message or response.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            return None, None
        raise UnknownJobState(f"the read failed and does not say the job is gone: {message or response}")
    if not isinstance(response.get("settings"), Mapping):
        return dict(response), None
    if response.get("next_page_token"):
        raise IncompleteRead("jobs/get answer has next_page_token: merge every page before comparing")
    settings = dict(response["settings"])
    owner = response.get("creator_user_name")
    run_as_name = response.get("run_as_user_name")
    if "run_as" not in settings and run_as_name and run_as_name != owner:
        settings["run_as"] = {"user_name": run_as_name}
    return settings, str(owner) if owner else None


def _at(tree: Any, parts: list[Any]) -> Any:
    for part in parts:
        in_map = isinstance(tree, dict) and part in tree
        in_list = isinstance(tree, list) and isinstance(part, int) and 0 <= part < len(tree)
        if in_map or in_list:
            tree = tree[part]
        else:
            return ABSENT
    return tree


def for_display(value: Any) -> Any:
    """A normalized value as a person would write it: keyed maps back to lists."""
    if isinstance(value, dict):
        if value and all(isinstance(k, str) and k.startswith("[") and "=" in k for k in value):
            return [for_display(v) for v in value.values()]
        return {k: for_display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [for_display(v) for v in value]
    return value


def _collapsed(parts: list[Any]) -> list[str]:
    """Path steps up to the first list index: ordered lists and sets are reported as a whole."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            break
        out.append(str(part))
    return out


def compare(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    owner: str | None = None,
    applied_write_only: Mapping[str, Any] | None = None,
) -> DriftReport:
    """Differences between ``desired`` (``spec.settings``) and ``live`` (``settings`` of a read, all pages merged).

    ``live`` None: the job does not exist (one item, :data:`JOB_MISSING`). ``owner``: the job's
    creator, the server's default ``run_as`` (D15). ``applied_write_only``: ``{path: value}`` of
    write-only fields the controller last sent; None when unknown, and then write-only fields are
    not compared at all (a read cannot tell). Pure; never raises on user data.
    """
    if live is None:
        return DriftReport((DriftItem(JOB_MISSING, desired=for_display(dict(desired)), live=ABSENT),))
    ctx = Context(owner=owner)
    want, have = normalize(desired, ctx), normalize(live, ctx)
    live_tree = prune_server_chosen(want.tree, have.tree)
    diff = DeepDiff(want.tree, live_tree, view="tree", threshold_to_diff_deeper=0)
    steps: dict[str, list[str]] = {}
    for levels in diff.values():
        for level in levels:
            parts = _collapsed(level.path(output_format="list"))
            steps.setdefault(join("", *parts), parts)
    items = [
        DriftItem(path, for_display(_at(want.tree, parts)), for_display(_at(live_tree, parts)))
        for path, parts in steps.items()
    ]
    if applied_write_only is not None:
        for path in sorted(set(want.write_only) | set(applied_write_only)):
            mine, applied = want.write_only.get(path, ABSENT), applied_write_only.get(path, ABSENT)
            if mine != applied:
                items.append(DriftItem(path, mine, applied, write_only=True))
    return DriftReport(tuple(sorted(items, key=lambda i: i.path)))


def write_only_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{path: value}`` of the write-only fields in ``settings``: what to remember after applying them."""
    return normalize(settings).write_only


#: Comparisons remembered by :func:`compare_memo` (one per job in steady state; a 1000-task job costs ~0.6 s to
#: compare and ~2 ms to serialise, so an unchanged job is not compared again every cycle).
MEMO_SIZE = 8192


def compare_memo(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    owner: str | None = None,
    applied_write_only: Mapping[str, Any] | None = None,
) -> DriftReport:
    """:func:`compare`, remembered by the JSON text of its arguments (same result, pure)."""
    key = (
        json.dumps(desired, sort_keys=True, default=str),
        None if live is None else json.dumps(live, sort_keys=True, default=str),
        owner,
        None if applied_write_only is None else json.dumps(applied_write_only, sort_keys=True, default=str),
    )
    return _compare_json(*key)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _compare_json(desired: str, live: str | None, owner: str | None, applied: str | None) -> DriftReport:
    return compare(
        json.loads(desired),
        None if live is None else json.loads(live),
        owner=owner,
        applied_write_only=None if applied is None else json.loads(applied),
    )
