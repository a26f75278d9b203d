"""Job permissions as desired (``spec.permissions``) against the live access-control list: normalization, drift
items, and the body of the ``PUT /api/2.0/permissions/jobs/{job_id}`` that corrects them. Pure.

The Permissions API answers ``{"access_control_list": [{user_name | group_name | service_principal_name,
"all_permissions": [{"permission_level", "inherited", "inherited_from_object"?}]}]}``
(https://docs.databricks.com/api/workspace/jobs/getpermissions). Only *direct* permissions (``inherited: false``)
are compared: what a job inherits, such as workspace ``admins``' ``CAN_MANAGE`` from ``/jobs/``
(https://docs.databricks.com/aws/en/jobs/privileges), is never drift. ``PUT`` replaces every direct permission
(https://docs.databricks.com/api/workspace/jobs/setpermissions) but a job keeps exactly one ``IS_OWNER``, a user
or a service principal: when ``spec.permissions`` names no owner, the live owner is left out of the comparison and
kept in the ``PUT`` body, as the Terraform provider's ``databricks_permissions`` does
(https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/permissions).

Drift paths are ``permissions[<kind>:<name>]`` with ``kind`` ``user``, ``group`` or ``servicePrincipal``
(``permissions[group:data-eng]``); desired and live values are the levels (absent on one side: not granted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.reconcile.drift import ABSENT, DriftItem, DriftReport

KINDS = {"user_name": "user", "group_name": "group", "service_principal_name": "servicePrincipal"}
IS_OWNER = "IS_OWNER"
#: Strongest first: when one principal has several direct levels, the strongest counts.
_STRENGTH = {"IS_OWNER": 4, "CAN_MANAGE": 3, "CAN_MANAGE_RUN": 2, "CAN_VIEW": 1}
PATH_PREFIX = "permissions["


@dataclass(frozen=True, order=True)
class Grant:
    """One direct permission: ``kind`` a Permissions API field (``user_name``, ``group_name``,
    ``service_principal_name``), the principal's ``name`` and the ``level``."""

    kind: str
    name: str
    level: str

    @property
    def key(self) -> str:
        """``<kind>:<name>`` as in drift paths: ``group:data-eng``."""
        return f"{KINDS.get(self.kind, self.kind)}:{self.name}"

    def request(self) -> dict[str, str]:
        """The grant as an ``AccessControlRequest``: ``{<kind>: name, "permission_level": level}``."""
        return {self.kind: self.name, "permission_level": self.level}


Acl = tuple[Grant, ...]


def desired(entries: Iterable[Any]) -> Acl:
    """``spec.permissions`` (models with ``principal`` and ``level``) as sorted grants."""
    return tuple(sorted(Grant(e.principal[0], e.principal[1], str(e.level)) for e in entries))


def direct(response: Mapping[str, Any]) -> Acl:
    """The direct grants of a ``JobPermissions`` answer, sorted; inherited ones are dropped. A principal with
    several direct levels keeps the strongest. Entries without a principal are ignored."""
    found: dict[tuple[str, str], str] = {}
    for entry in response.get("access_control_list") or []:
        if not isinstance(entry, Mapping):
            continue
        kind = next((k for k in KINDS if isinstance(entry.get(k), str)), None)
        if kind is None:
            continue
        for perm in entry.get("all_permissions") or []:
            if not isinstance(perm, Mapping) or perm.get("inherited") or not perm.get("permission_level"):
                continue
            level = str(perm["permission_level"])
            key = (kind, str(entry[kind]))
            if _STRENGTH.get(level, 0) > _STRENGTH.get(found.get(key, ""), 0) or key not in found:
                found[key] = level
    return tuple(sorted(Grant(k, n, lvl) for (k, n), lvl in found.items()))


def owner(acl: Acl) -> Grant | None:
    """The ``IS_OWNER`` grant, if any."""
    return next((g for g in acl if g.level == IS_OWNER), None)


def _compared(want: Acl, live: Acl) -> dict[str, str]:
    """``live`` by key, without the live owner when ``want`` names no owner (it is kept, not managed)."""
    kept = owner(live) if owner(want) is None else None
    return {g.key: g.level for g in live if kept is None or (g.kind, g.name) != (kept.kind, kept.name)}


def drift_items(want: Acl, live: Acl) -> list[DriftItem]:
    """One item per principal whose direct level differs, sorted by path."""
    mine = {g.key: g.level for g in want}
    theirs = _compared(want, live)
    if owner(want) is None and (kept := owner(live)) is not None:
        mine.pop(Grant(kept.kind, kept.name, "").key, None)  # the owner keeps IS_OWNER; see the module docstring
    return [
        DriftItem(f"{PATH_PREFIX}{key}]", mine.get(key, ABSENT), theirs.get(key, ABSENT))
        for key in sorted(set(mine) | set(theirs))
        if mine.get(key, ABSENT) != theirs.get(key, ABSENT)
    ]


def with_permissions(report: DriftReport, want: Acl | None, live: Acl | None) -> DriftReport:
    """``report`` plus the permission drift (nothing added when permissions are not managed or not read)."""
    if want is None or live is None:
        return report
    items = drift_items(want, live)
    if not items:
        return report
    return DriftReport(tuple(sorted((*report.items, *items), key=lambda i: i.path)))


def is_path(path: str) -> bool:
    """Whether a drift path is a permission's."""
    return path.startswith(PATH_PREFIX)


def split(report: DriftReport) -> tuple[DriftReport, DriftReport]:
    """``(settings, permissions)`` parts of a report."""
    return (
        DriftReport(tuple(i for i in report.items if not is_path(i.path))),
        DriftReport(tuple(i for i in report.items if is_path(i.path))),
    )


def put_body(want: Acl, live: Acl | None) -> list[dict[str, str]]:
    """The ``access_control_list`` of the ``PUT`` that makes the direct grants ``want``: the live owner is kept
    when ``want`` names none (a job must keep exactly one owner); the owner's own entry in ``want``, if any, is
    then dropped (one principal has one direct level)."""
    kept = owner(live or ()) if owner(want) is None else None
    grants: Sequence[Grant] = want
    if kept is not None:
        grants = [g for g in want if (g.kind, g.name) != (kept.kind, kept.name)] + [kept]
    return [g.request() for g in sorted(grants)]


def create_body(want: Acl) -> list[dict[str, str]]:
    """The ``access_control_list`` of ``jobs/create``: the creator owns the job unless ``want`` names an owner
    (https://docs.databricks.com/api/workspace/jobs/create, ``access_control_list``)."""
    return [g.request() for g in want]
