"""``dbjobs diff DESIRED LIVE``: why does the controller say this job drifted?

DESIRED is JobSettings or a DatabricksJob manifest (``spec.settings``); LIVE is JobSettings, a
``jobs/get`` answer (all pages merged), or its error answer. Both files JSON or YAML. The report
is the controller's own (``controller.reconcile.drift.compare``); the controller's ownership tag
on the live job is left out unless DESIRED sets it. Exit codes as diff(1): 0 in sync, 1 drifted,
2 trouble (unreadable file, not one job, a read that is not the last page).

Input is checked before comparing: a document of another ``kind`` (an RBAC manifest), a mapping with fields
that are not ``JobSettings`` fields (``{"foo": 1}``) or one with none at all is exit 2, saying what was
expected. The DESIRED side is shown as written: where the user wrote nothing and the comparison used the
server's default, the report says so (``(not set; server default 0)``) instead of showing the default as
if it had been written.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from controller.gitops.jobschema import JOB_SETTINGS, field_names
from controller.gitops.yamlsafe import safe_load_all
from controller.reconcile.compare import OWNER_TAG, without_owner_tag
from controller.reconcile.drift import (
    ABSENT,
    JOB_MISSING,
    DriftReport,
    IncompleteRead,
    UnknownJobState,
    compare,
    live_from_response,
)
from controller.reconcile.rules import Kind, Scope, rules_of

#: What a JobSettings mapping may hold: the SDK's JobSettings fields (``format`` among them).
JOB_SETTINGS_FIELDS = field_names(JOB_SETTINGS)
#: What a jobs/get answer holds beside ``settings`` (the drift table's response-only rows).
RESPONSE_FIELDS = frozenset(r.field for r in rules_of(Kind.RESPONSE_ONLY, Scope.RESPONSE))
_STEP = re.compile(r"\.?([A-Za-z_][\w\-]*)|\[([\w\-]+)=([^\]]*)\]|\['((?:[^'\\]|\\.)*)'\]")


def value_at(settings: Mapping[str, Any], path: str) -> Any:
    """The value ``settings`` writes at a drift report ``path`` (``tasks[task_key=a].timeout_seconds``,
    ``new_cluster.spark_conf['spark.x']``), or :data:`ABSENT`. A step into a list whose order matters ends the
    walk there (the report names such lists whole)."""
    node: Any = settings
    for match in _STEP.finditer(path):
        name, key, value, quoted = match.groups()
        if key is not None:
            found = (
                [i for i in node if isinstance(i, Mapping) and str(i.get(key)) == value]
                if isinstance(node, list)
                else []
            )
            node = found[0] if found else ABSENT
        else:
            step = quoted if quoted is not None else name
            node = node.get(step, ABSENT) if isinstance(node, Mapping) else ABSENT
        if node is ABSENT:
            return ABSENT
    return node


EXIT_IN_SYNC, EXIT_DRIFTED, EXIT_TROUBLE = 0, 1, 2


class DiffInputError(ValueError):
    """A file that cannot be used; the message names it and says why."""


def _load(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as err:
        raise DiffInputError(f"{path}: cannot read: {err.strerror or err}") from err
    try:
        docs = [d for d in safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:  # JSON is YAML, so one parser reads both
        raise DiffInputError(f"{path}: not JSON or YAML: {err}") from err
    if len(docs) != 1 or not isinstance(docs[0], Mapping):
        raise DiffInputError(f"{path}: expected one JSON/YAML object, found {len(docs)} document(s)")
    return docs[0]


EXPECTED_DESIRED = "expected JobSettings or a DatabricksJob manifest"
EXPECTED_LIVE = "expected JobSettings, a jobs/get answer or its error answer"


def job_settings(doc: Mapping[str, Any], path: Path, expected: str, *, strict: bool = True) -> dict[str, Any]:
    """``doc`` when it is a ``JobSettings`` mapping; raises :class:`DiffInputError` saying what was expected.

    A JobSettings mapping has at least one field of the Jobs API ``JobSettings`` (``format``, which reads
    return, included) and, when ``strict``, no other field. LIVE documents are read leniently: a workspace
    newer than the pinned SDK may return fields it does not know.
    """
    if doc.get("kind") is not None or doc.get("apiVersion") is not None:
        what = f"{doc.get('apiVersion', '?')} {doc.get('kind', '?')}"
        raise DiffInputError(f"{path}: a Kubernetes {what} manifest, {expected}")
    unknown = sorted(str(k) for k in doc if k not in JOB_SETTINGS_FIELDS)
    if unknown and (strict or len(unknown) == len(doc)):
        raise DiffInputError(f"{path}: not a job: {', '.join(unknown)} are not JobSettings fields; {expected}")
    if not doc:
        raise DiffInputError(f"{path}: an empty mapping; {expected}")
    return dict(doc)


def desired_settings(doc: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``spec.settings`` of a DatabricksJob manifest, or ``doc`` itself when it is JobSettings."""
    if doc.get("kind") == "DatabricksJob":
        settings = (doc.get("spec") or {}).get("settings")
        if not isinstance(settings, Mapping):
            raise DiffInputError(f"{path}: DatabricksJob without spec.settings")
        return job_settings(settings, path, EXPECTED_DESIRED)
    return job_settings(doc, path, EXPECTED_DESIRED)


def live_settings(doc: Mapping[str, Any], path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(settings, owner)`` of a LIVE document (see :func:`live_from_response`), its form checked first."""
    is_error = "settings" not in doc and ("error_code" in doc or "http_status" in doc)
    if not is_error and not isinstance(doc.get("settings"), Mapping):
        job_settings(doc, path, EXPECTED_LIVE, strict=False)
    elif isinstance(doc.get("settings"), Mapping):
        unknown = sorted(str(k) for k in doc if k != "settings" and k not in RESPONSE_FIELDS)
        if unknown:
            raise DiffInputError(f"{path}: not a jobs/get answer: {', '.join(unknown)}; {EXPECTED_LIVE}")
        job_settings(doc["settings"], path, EXPECTED_LIVE, strict=False)
    try:
        return live_from_response(doc)
    except (IncompleteRead, UnknownJobState) as err:
        raise DiffInputError(f"{path}: {err}") from err


def report_json(report: DriftReport, compared: DriftReport | None = None) -> dict[str, Any]:
    """The machine form: ``{"inSync", "count", "items": [{"path", "desired"?, "default"?, "live"?, "writeOnly"}]}``;
    ``default`` is the server default compared where DESIRED writes nothing."""
    used = {i.path: i.desired for i in (compared or report).items}
    items = []
    for item in report.items:
        entry: dict[str, Any] = {"path": item.path, "writeOnly": item.write_only}
        if item.desired is not ABSENT:
            entry["desired"] = item.desired
        elif used.get(item.path, ABSENT) is not ABSENT:
            entry["default"] = used[item.path]
        if item.live is not ABSENT:
            entry["live"] = item.live
        items.append(entry)
    return {"inSync": report.in_sync, "count": len(items), "items": items}


def _show(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value, sort_keys=True)


def as_written(report: DriftReport, desired: Mapping[str, Any], live: Mapping[str, Any] | None = None) -> DriftReport:
    """``report`` with each desired value as ``desired`` writes it (:data:`ABSENT` where it writes nothing,
    though the comparison used a server default) and, when ``live`` is given (another manifest), each live
    value as that writes it."""
    items = []
    for item in report.items:
        if item.path == JOB_MISSING:
            items.append(item)
            continue
        changed = dataclasses.replace(item, desired=value_at(desired, item.path))
        if live is not None:
            changed = dataclasses.replace(changed, live=value_at(live, item.path))
        items.append(changed)
    return DriftReport(tuple(items))


def report_text(report: DriftReport, compared: DriftReport | None = None) -> str:
    """The human form: one block per path with desired and live values; ``compared`` is the report before
    :func:`as_written`, to name the default used where nothing was written."""
    if report.in_sync:
        return "in sync: the live job matches the desired settings\n"
    used = {i.path: i.desired for i in (compared or report).items}
    lines = [f"drifted: {len(report.items)} path(s) differ"]
    for item in report.items:
        lines.append(
            f"~ {item.path}" + ("  (write-only: compared with what was last applied)" if item.write_only else "")
        )
        shown = _show(item.desired)
        if item.desired is ABSENT and used.get(item.path, ABSENT) is not ABSENT:
            shown = f"(not set; server default {_show(used[item.path])})"
        lines.append(f"    desired: {shown}")
        lines.append(f"    live:    {_show(item.live)}")
    return "\n".join(lines) + "\n"


def diff_files(desired_path: Path, live_path: Path) -> DriftReport:
    """The drift report of two files; raises :class:`DiffInputError` for unusable input."""
    desired = desired_settings(_load(desired_path), desired_path)
    live, owner = live_settings(_load(live_path), live_path)
    if live is not None and OWNER_TAG not in (desired.get("tags") or {}):
        live = without_owner_tag(live)
    return compare(desired, live, owner=owner)


def diff_main(desired: str, live: str, *, output: str = "text", out: TextIO | None = None) -> int:
    """Run ``dbjobs diff``; prints the report to ``out`` (stdout) and returns the exit code."""
    out = out or sys.stdout
    try:
        compared = diff_files(Path(desired), Path(live))
        written = desired_settings(_load(Path(desired)), Path(desired))
    except DiffInputError as err:
        print(f"dbjobs diff: {err}", file=sys.stderr)
        return EXIT_TROUBLE
    report = as_written(compared, written)
    if output == "json":
        out.write(json.dumps(report_json(report, compared), indent=2, sort_keys=True) + "\n")
    else:
        out.write(report_text(report, compared))
    return EXIT_IN_SYNC if report.in_sync else EXIT_DRIFTED
