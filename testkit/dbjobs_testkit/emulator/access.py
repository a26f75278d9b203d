"""Who is calling, and what job permissions let them do: the emulator's permission enforcement.

Each API request runs as a :class:`Caller`: the principal behind its bearer token. The workspace's own
token(s) act as its ``user_name``, a workspace admin (every existing test and client works unchanged); a token
added with ``Workspace.add_token(token, name, admin=False, ...)`` acts as that user or service principal, with
the direct grants of each job (and of its groups) only. In-process calls (``emu.workspace.*``) are the admin.

What each level allows, from the job ACL table (https://docs.databricks.com/aws/en/security/auth/access-control/
#job-acls; also https://docs.azure.cn/en-us/databricks/security/auth-authz/access-control/jobs-acl):
view the job (``jobs/get``, listing it) needs ``CAN_VIEW``; run now / cancel runs need ``CAN_MANAGE_RUN``;
edit settings (``jobs/reset``, ``jobs/update``), delete the job, and read or change its permissions need
``CAN_MANAGE`` (or ``IS_OWNER``, which includes it). Workspace admins have ``CAN_MANAGE`` on every job
(https://docs.databricks.com/aws/en/jobs/privileges). A refusal is 403 ``PERMISSION_DENIED`` (the SDK raises
``PermissionDenied``), with messages modelled on Databricks' own fake (databricks/cli ``libs/testserver``, spec
§2.4), and is checked before the job's existence, so a non-admin cannot tell a missing job from a forbidden one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field

from dbjobs_testkit.emulator.errors import ApiError
from dbjobs_testkit.emulator.permissions import Grant, principal

PERMISSION_DENIED = "PERMISSION_DENIED"
#: Levels by strength; IS_OWNER includes CAN_MANAGE's abilities (job ACL table).
STRENGTH = {"CAN_VIEW": 1, "CAN_MANAGE_RUN": 2, "CAN_MANAGE": 3, "IS_OWNER": 4}
#: What a refusal says it lacks, per required level (wording of Databricks' fake, spec §2.4).
_LACKS = {
    "CAN_VIEW": "View or Admin or Manage Run or Owner",
    "CAN_MANAGE_RUN": "Manage Run or Admin or Owner",
    "CAN_MANAGE": "Admin or Owner",
}


@dataclass(frozen=True)
class Caller:
    """The principal of a request: ``name`` (a user name or a service principal's application id), ``kind``
    (``user_name`` or ``service_principal_name``), ``admin`` (member of the workspace ``admins`` group),
    ``groups`` (other groups it belongs to, for group grants)."""

    name: str
    kind: str = "user_name"
    admin: bool = True
    groups: tuple[str, ...] = field(default_factory=tuple)


#: The caller of the request being handled; unset (None) for in-process calls, which act as the admin.
CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("dbjobs_emulator_caller", default=None)


def level_of(caller: Caller, grants: Iterable[Grant]) -> int:
    """The strength of ``caller``'s strongest grant on a job (admins: ``CAN_MANAGE``); 0 for none."""
    best = STRENGTH["CAN_MANAGE"] if caller.admin else 0
    for grant in grants:
        kind, name = principal(grant)
        mine = (kind == caller.kind and name == caller.name) or (kind == "group_name" and name in caller.groups)
        if mine:
            best = max(best, STRENGTH.get(str(grant["permission_level"]), 0))
    return best


def require(caller: Caller, job_id: int, grants: Iterable[Grant] | None, level: str) -> None:
    """403 ``PERMISSION_DENIED`` unless ``caller`` holds at least ``level`` on job ``job_id`` (``grants`` None: the
    job does not exist; an admin then gets the usual not-found answer from the caller of this check)."""
    if caller.admin:
        return
    if level_of(caller, grants or []) >= STRENGTH[level]:
        return
    raise ApiError(
        403, PERMISSION_DENIED, f"User {caller.name} does not have {_LACKS[level]} permissions on job {job_id}"
    )
