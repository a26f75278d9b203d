"""``dbjobs diff DESIRED LIVE``: why does the controller say this job drifted?

DESIRED is JobSettings or a DatabricksJob manifest (``spec.settings``); LIVE is JobSettings, a
``jobs/get`` answer (all pages merged), or its error answer. Both files JSON or YAML. The report
is the controller's own (``controller.reconcile.drift.compare``); the controller's ownership tag
on the live job is left out unless DESIRED sets it. Exit codes as diff(1): 0 in sync, 1 drifted,
2 trouble (unreadable file, not one job, a read that is not the last page).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from controller.reconcile.compare import OWNER_TAG, without_owner_tag
from controller.reconcile.drift import ABSENT, DriftReport, IncompleteRead, UnknownJobState, compare, live_from_response

EXIT_IN_SYNC, EXIT_DRIFTED, EXIT_TROUBLE = 0, 1, 2


class DiffInputError(ValueError):
    """A file that cannot be used; the message names it and says why."""


def _load(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as err:
        raise DiffInputError(f"{path}: cannot read: {err.strerror or err}") from err
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:  # JSON is YAML, so one parser reads both
        raise DiffInputError(f"{path}: not JSON or YAML: {err}") from err
    if len(docs) != 1 or not isinstance(docs[0], Mapping):
        raise DiffInputError(f"{path}: expected one JSON/YAML object, found {len(docs)} document(s)")
    return docs[0]


def desired_settings(doc: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``spec.settings`` of a DatabricksJob manifest, or ``doc`` itself when it is JobSettings."""
    if doc.get("kind") == "DatabricksJob":
        settings = (doc.get("spec") or {}).get("settings")
        if not isinstance(settings, Mapping):
            raise DiffInputError(f"{path}: DatabricksJob without spec.settings")
        return dict(settings)
    return dict(doc)


def report_json(report: DriftReport) -> dict[str, Any]:
    """The machine form: ``{"inSync", "count", "items": [{"path", "desired"?, "live"?, "writeOnly"}]}``."""
    items = []
    for item in report.items:
        entry: dict[str, Any] = {"path": item.path, "writeOnly": item.write_only}
        if item.desired is not ABSENT:
            entry["desired"] = item.desired
        if item.live is not ABSENT:
            entry["live"] = item.live
        items.append(entry)
    return {"inSync": report.in_sync, "count": len(items), "items": items}


def _show(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value, sort_keys=True)


def report_text(report: DriftReport) -> str:
    """The human form: one block per path with desired and live values."""
    if report.in_sync:
        return "in sync: the live job matches the desired settings\n"
    lines = [f"drifted: {len(report.items)} path(s) differ"]
    for item in report.items:
        lines.append(
            f"~ {item.path}" + ("  (write-only: compared with what was last applied)" if item.write_only else "")
        )
        lines.append(f"    desired: {_show(item.desired)}")
        lines.append(f"    live:    {_show(item.live)}")
    return "\n".join(lines) + "\n"


def diff_files(desired_path: Path, live_path: Path) -> DriftReport:
    """The drift report of two files; raises :class:`DiffInputError` for unusable input."""
    desired = desired_settings(_load(desired_path), desired_path)
    try:
        live, owner = live_from_response(_load(live_path))
    except (IncompleteRead, UnknownJobState) as err:
        raise DiffInputError(f"{live_path}: {err}") from err
    if live is not None and OWNER_TAG not in (desired.get("tags") or {}):
        live = without_owner_tag(live)
    return compare(desired, live, owner=owner)


def diff_main(desired: str, live: str, *, output: str = "text", out: TextIO | None = None) -> int:
    """Run ``dbjobs diff``; prints the report to ``out`` (stdout) and returns the exit code."""
    out = out or sys.stdout
    try:
        report = diff_files(Path(desired), Path(live))
    except DiffInputError as err:
        print(f"dbjobs diff: {err}", file=sys.stderr)
        return EXIT_TROUBLE
    if output == "json":
        out.write(json.dumps(report_json(report), indent=2, sort_keys=True) + "\n")
    else:
        out.write(report_text(report))
    return EXIT_IN_SYNC if report.in_sync else EXIT_DRIFTED
