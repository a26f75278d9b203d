"""Bundle ``permissions`` as ``DatabricksJob.spec.permissions``, as the Databricks CLI applies them to a job.

A job's own ``permissions`` (``[{level, user_name | group_name | service_principal_name}]``, levels ``CAN_VIEW``,
``CAN_MANAGE_RUN``, ``CAN_MANAGE``, ``IS_OWNER``) and the bundle's top-level (or the selected target's)
``permissions`` (levels ``CAN_VIEW``, ``CAN_RUN``, ``CAN_MANAGE``; for a job ``CAN_RUN`` is ``CAN_MANAGE_RUN``)
both apply; for a principal both name, the job's own entry wins
(https://docs.databricks.com/aws/en/dev-tools/bundles/permissions, "Permissions order of precedence"; the CLI's
``bundle/permissions`` mutators). An entry that is not one principal and a known level, a group as owner, a
second owner or a principal named twice is reported by field and left out (admission would refuse it). A Jobs
API ``jobs/create`` body's ``access_control_list`` becomes ``spec.permissions`` too (:func:`from_create_bodies`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from controller.gitops.conversion import Finding, JobSource, join_path

KINDS = {"user_name": "userName", "group_name": "groupName", "service_principal_name": "servicePrincipalName"}
JOB_LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
#: Top-level bundle levels as a job's (the CLI's mapping for jobs).
BUNDLE_LEVELS = {"CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_MANAGE_RUN", "CAN_MANAGE": "CAN_MANAGE"}


def _entry(raw: Any, levels: dict[str, str]) -> tuple[dict[str, str] | None, str | None]:
    """One bundle entry as a spec entry, or the reason it cannot be one."""
    if not isinstance(raw, dict):
        return None, "not a mapping"
    named = [k for k in KINDS if isinstance(raw.get(k), str) and raw[k]]
    if len(named) != 1:
        return None, "needs exactly one of user_name, group_name and service_principal_name"
    level = levels.get(str(raw.get("level")))
    if level is None:
        return None, f"level {raw.get('level')!r} is not one of {', '.join(levels)}"
    if level == "IS_OWNER" and named[0] == "group_name":
        return None, "a group cannot be IS_OWNER"
    return {KINDS[named[0]]: str(raw[named[0]]), "level": level}, None


def spec_permissions(
    own: list[Any], own_path: str, bundle_wide: list[Any], bundle_path: str
) -> tuple[list[dict[str, str]], list[Finding]]:
    """``spec.permissions`` of one job from its own entries (at ``own_path``) and the bundle-wide ones (at
    ``bundle_path``), and a finding per entry left out. Order: the job's entries, then the bundle's."""
    out: list[dict[str, str]] = []
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    sources = [(own, own_path, {lvl: lvl for lvl in JOB_LEVELS}), (bundle_wide, bundle_path, BUNDLE_LEVELS)]
    for entries, path, levels in sources:
        for i, raw in enumerate(entries):
            where = join_path(path, i)
            entry, why = _entry(raw, levels)
            if entry is None:
                findings.append((where, f"permission not converted: {why}"))
                continue
            who = next((k, v) for k, v in entry.items() if k != "level")
            if who in seen:
                if levels is BUNDLE_LEVELS:
                    continue  # the job's own entry for this principal wins
                findings.append((where, f"permission not converted: {who[1]} is named twice"))
                continue
            if entry["level"] == "IS_OWNER" and any(e["level"] == "IS_OWNER" for e in out):
                findings.append((where, "permission not converted: a job has one IS_OWNER"))
                continue
            seen.add(who)
            out.append(entry)
    return out, findings


def from_create_bodies(sources: list[JobSource], findings: list[Finding]) -> tuple[list[JobSource], list[Finding]]:
    """A ``jobs/create`` body's ``access_control_list`` (``[{user_name | group_name | service_principal_name,
    permission_level}]``, the job's initial permissions, https://docs.databricks.com/api/workspace/jobs/create) as
    ``spec.permissions`` instead of a settings field; the "not a JobSettings field" finding about it goes."""
    out: list[JobSource] = []
    for source in sources:
        acl = source.settings.get("access_control_list")
        if source.permissions is not None or not isinstance(acl, list):
            out.append(source)
            continue
        where = join_path(source.origin, "access_control_list")
        permissions, said = spec_permissions([_as_bundle_entry(e) for e in acl], where, [], "")
        findings = [f for f in findings if not (f[0] == where or f[0].startswith(where + "["))] + said
        settings = {k: v for k, v in source.settings.items() if k != "access_control_list"}
        out.append(dataclasses.replace(source, settings=settings, permissions=permissions))
    return out, findings


def _as_bundle_entry(entry: Any) -> Any:
    """An ``AccessControlRequest`` (``permission_level``) as a bundle entry (``level``)."""
    if not isinstance(entry, dict):
        return entry
    return {**{k: v for k, v in entry.items() if k != "permission_level"}, "level": entry.get("permission_level")}
