"""``DatabricksJob.spec.permissions``: the job's access-control list, managed with the Permissions API.

``[{userName | groupName | servicePrincipalName (exactly one), level}]`` with ``level`` one of ``CAN_VIEW``,
``CAN_MANAGE_RUN``, ``CAN_MANAGE``, ``IS_OWNER``. Absent: the controller neither reads nor writes the job's
permissions. Present (even ``[]``): the job's *direct* permissions are exactly these, plus its owner when none is
listed (a job always has exactly one owner, and the Permissions API refuses to remove it). Permissions a job
inherits (workspace ``admins``' ``CAN_MANAGE``) are never compared.

Admission (CEL, checked again by the model): exactly one principal per entry; a group cannot be ``IS_OWNER``; at
most one ``IS_OWNER``; no principal twice. Sources:
https://docs.databricks.com/api/workspace/jobs/setpermissions (levels, request shape),
https://docs.databricks.com/aws/en/security/auth/access-control/#job-acls (what each level allows; one owner,
a user or a service principal), https://docs.databricks.com/aws/en/jobs/privileges (creator owns; admins
``CAN_MANAGE``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from controller.api.meta import ApiModel

#: Longest principal name accepted (a user name is an e-mail address; this also bounds CEL cost).
MAX_PRINCIPAL_LENGTH = 256
#: Most entries of ``spec.permissions`` (bounds the duplicate rule's CEL cost; far above real job ACLs).
MAX_PERMISSIONS = 64


class PermissionLevel(StrEnum):
    """A job permission level (https://docs.databricks.com/api/workspace/jobs/setpermissions)."""

    CAN_VIEW = "CAN_VIEW"
    CAN_MANAGE_RUN = "CAN_MANAGE_RUN"
    CAN_MANAGE = "CAN_MANAGE"
    IS_OWNER = "IS_OWNER"


_ONE_PRINCIPAL = (
    "(has(self.userName) ? 1 : 0) + (has(self.groupName) ? 1 : 0) + (has(self.servicePrincipalName) ? 1 : 0) == 1"
)
ENTRY_RULES: list[dict[str, str]] = [
    {"rule": _ONE_PRINCIPAL, "message": "set exactly one of userName, groupName and servicePrincipalName"},
    {
        "rule": "!(has(self.groupName) && self.level == 'IS_OWNER')",
        "message": "a group cannot be IS_OWNER: a job's owner is a user or a service principal",
    },
]
_SAME = (
    "(has(p.userName) && has(q.userName) && p.userName == q.userName) || "
    "(has(p.groupName) && has(q.groupName) && p.groupName == q.groupName) || "
    "(has(p.servicePrincipalName) && has(q.servicePrincipalName) && p.servicePrincipalName == q.servicePrincipalName)"
)
LIST_RULES: list[dict[str, str]] = [
    {"rule": "self.filter(p, p.level == 'IS_OWNER').size() <= 1", "message": "at most one entry may be IS_OWNER"},
    {"rule": f"self.all(p, self.exists_one(q, {_SAME}))", "message": "each principal may appear only once"},
]


class JobPermission(ApiModel):
    """One entry of ``spec.permissions``: a principal and its level. ``ValueError`` (a ``ValidationError``) when
    not exactly one principal is set or a group is made owner."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "A principal (exactly one of userName, groupName, servicePrincipalName) and its level.",
            "x-kubernetes-validations": ENTRY_RULES,  # type: ignore[dict-item]
        }
    )

    user_name: str | None = Field(
        default=None, min_length=1, max_length=MAX_PRINCIPAL_LENGTH, alias="userName", description="A user's name."
    )
    group_name: str | None = Field(
        default=None, min_length=1, max_length=MAX_PRINCIPAL_LENGTH, alias="groupName", description="A group's name."
    )
    service_principal_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PRINCIPAL_LENGTH,
        alias="servicePrincipalName",
        description="A service principal's application id.",
    )
    level: PermissionLevel = Field(
        description="CAN_VIEW, CAN_MANAGE_RUN, CAN_MANAGE or IS_OWNER (at most one; a user or service principal)."
    )

    @model_validator(mode="after")
    def _check(self) -> JobPermission:
        named = [v for v in (self.user_name, self.group_name, self.service_principal_name) if v is not None]
        if len(named) != 1:
            raise ValueError(ENTRY_RULES[0]["message"])
        if self.group_name is not None and self.level is PermissionLevel.IS_OWNER:
            raise ValueError(ENTRY_RULES[1]["message"])
        return self

    @property
    def principal(self) -> tuple[str, str]:
        """``(kind, name)`` with ``kind`` the Permissions API field: ``user_name``, ``group_name`` or
        ``service_principal_name``."""
        if self.user_name is not None:
            return "user_name", self.user_name
        if self.group_name is not None:
            return "group_name", self.group_name
        assert self.service_principal_name is not None
        return "service_principal_name", self.service_principal_name


def check_list(permissions: list[JobPermission] | None) -> list[JobPermission] | None:
    """The list rules of admission, in Python: ``ValueError`` for two owners or a principal listed twice."""
    if permissions is None:
        return None
    if sum(1 for p in permissions if p.level is PermissionLevel.IS_OWNER) > 1:
        raise ValueError(LIST_RULES[0]["message"])
    if len({p.principal for p in permissions}) != len(permissions):
        raise ValueError(LIST_RULES[1]["message"])
    return permissions


#: ``json_schema_extra`` of the ``spec.permissions`` field.
PERMISSIONS_SCHEMA: dict[str, Any] = {"maxItems": MAX_PERMISSIONS, "x-kubernetes-validations": LIST_RULES}
