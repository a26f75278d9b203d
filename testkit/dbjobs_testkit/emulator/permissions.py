"""Job permissions (spec §6): direct grants per job, the owner rule and the ``JobPermissions`` shape.

A job's access-control list is kept as its *direct* grants, ``[{"<kind>": principal,
"permission_level": level}]`` with ``<kind>`` one of ``user_name``, ``group_name``,
``service_principal_name``. Rendering adds what the service adds: the workspace ``admins``
group with ``CAN_MANAGE`` inherited from ``/jobs/``. Every change must leave exactly one
``IS_OWNER``, and it must not be a group (§6, [fake, verified against the backend] and OpenAPI).
Pure functions; the workspace stores the grants and holds the lock.
"""

from __future__ import annotations

import copy
from typing import Any

from dbjobs_testkit.emulator.errors import invalid

Grant = dict[str, Any]

PRINCIPAL_KINDS = ("user_name", "group_name", "service_principal_name")
IS_OWNER = "IS_OWNER"
#: Levels a job accepts, with the description ``permissionLevels`` gives (our wording).
LEVELS: dict[str, str] = {
    "CAN_VIEW": "Can view the job and its runs",
    "CAN_MANAGE_RUN": "Can view the job and start, cancel and repair its runs",
    "CAN_MANAGE": "Can edit, delete and run the job and change its permissions",
    IS_OWNER: "Owns the job: can manage it; runs execute as the owner unless run_as is set",
}
ADMINS_ENTRY: Grant = {
    "group_name": "admins",
    "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}],
}


def principal(grant: Grant) -> tuple[str, str]:
    """``(kind, name)`` of a grant, e.g. ``("user_name", "a@example.com")``."""
    for kind in PRINCIPAL_KINDS:
        if isinstance(grant.get(kind), str):
            return kind, str(grant[kind])
    raise ValueError(f"grant without principal: {grant!r}")


def parse_acl(acl: Any, field: str = "access_control_list") -> list[Grant]:
    """The request's ``access_control_list`` as normalized grants; 400 naming the bad entry."""
    if acl is None:
        return []
    if not isinstance(acl, list):
        raise invalid(f"{field}: must be an array.")
    out: list[Grant] = []
    for i, entry in enumerate(acl):
        where = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise invalid(f"{where}: must be an object.")
        named = [k for k in PRINCIPAL_KINDS if entry.get(k)]
        if len(named) != 1 or not isinstance(entry[named[0]], str):
            raise invalid(f"{where}: exactly one of user_name, group_name or service_principal_name must be set.")
        level = entry.get("permission_level")
        if level not in LEVELS:
            raise invalid(f"{where}.permission_level: must be one of {', '.join(LEVELS)} (got {level!r}).")
        if level == IS_OWNER and named[0] == "group_name":
            raise invalid(f"{where}.permission_level: a group cannot be the owner of a job.")
        out.append({named[0]: entry[named[0]], "permission_level": level})
    return out


def initial_grants(creator: str, acl: list[Grant], kind: str = "user_name") -> list[Grant]:
    """Grants of a new job: the creator (a ``kind`` principal) owns it unless ``access_control_list`` names an
    owner (then the creator gets nothing implicit [inferred]); the listed grants follow."""
    grants = merge(
        [] if any(g["permission_level"] == IS_OWNER for g in acl) else [{kind: creator, "permission_level": IS_OWNER}],
        acl,
    )
    check_one_owner(grants)
    return grants


def merge(current: list[Grant], changes: list[Grant]) -> list[Grant]:
    """PATCH semantics: each listed principal's level is set, others kept. Granting ``IS_OWNER``
    moves ownership: the previous owner's ``IS_OWNER`` grant is dropped [inferred]."""
    out = copy.deepcopy(current)
    for change in changes:
        if change["permission_level"] == IS_OWNER:
            out = [g for g in out if g["permission_level"] != IS_OWNER]
        key = principal(change)
        out = [g for g in out if principal(g) != key]
        out.append(copy.deepcopy(change))
    return out


def check_one_owner(grants: list[Grant]) -> None:
    """400 "The job must have exactly one owner." unless exactly one grant is ``IS_OWNER`` (§6)."""
    if sum(1 for g in grants if g["permission_level"] == IS_OWNER) != 1:
        raise invalid("The job must have exactly one owner.")


def owner(grants: list[Grant]) -> str | None:
    """The owning user or service principal, if any."""
    for grant in grants:
        if grant["permission_level"] == IS_OWNER:
            return principal(grant)[1]
    return None


def render(job_id: int, grants: list[Grant], display_names: dict[str, str]) -> dict[str, Any]:
    """``JobPermissions``: ``{"object_id": "/jobs/<id>", "object_type": "job",
    "access_control_list": [{<kind>: name, "display_name"?, "all_permissions": [{"permission_level",
    "inherited": false}]}, ..., admins (inherited CAN_MANAGE)]}`` (§6)."""
    acl: list[dict[str, Any]] = []
    for grant in grants:
        kind, name = principal(grant)
        entry: dict[str, Any] = {kind: name}
        if name in display_names:
            entry["display_name"] = display_names[name]
        entry["all_permissions"] = [{"permission_level": grant["permission_level"], "inherited": False}]
        acl.append(entry)
    acl.append(copy.deepcopy(ADMINS_ENTRY))
    return {"object_id": f"/jobs/{job_id}", "object_type": "job", "access_control_list": acl}


def levels() -> dict[str, Any]:
    """``permissionLevels``: ``{"permission_levels": [{"permission_level", "description"}]}``."""
    return {"permission_levels": [{"permission_level": k, "description": v} for k, v in LEVELS.items()]}
