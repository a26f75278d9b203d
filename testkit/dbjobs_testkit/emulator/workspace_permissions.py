"""Job permissions of ``Workspace`` (spec §6): ``/api/2.0/permissions/jobs/{id}`` GET/PUT/PATCH and
the out-of-band ACL change. :class:`PermissionsMixin` is a base class of ``Workspace``.

The owner (``IS_OWNER``) is also the job's ``run_as_user_name`` unless ``run_as`` is set (§6).
A missing job answers 404 ``RESOURCE_DOES_NOT_EXIST`` "Job <id> does not exist." — the real
answer is not documented (§10).

Enforcement (:mod:`dbjobs_testkit.emulator.access`): the principal behind each request's token must hold the
level the job ACL table requires; ``add_token`` adds a non-admin principal. Reading or changing a job's
permissions needs ``CAN_MANAGE`` (https://docs.databricks.com/aws/en/security/auth/access-control/#job-acls,
"Modify permissions").
"""

from __future__ import annotations

import copy
from typing import Any

from dbjobs_testkit.emulator import access, permissions
from dbjobs_testkit.emulator.errors import ApiError
from dbjobs_testkit.emulator.jobs import JobRecord

Json = dict[str, Any]


class PermissionsMixin:
    """Permission operations of ``Workspace``; raise ``ApiError``."""

    # Provided by Workspace.
    _lock: Any
    _jobs: dict[int, JobRecord]
    _grants: dict[int, list[permissions.Grant]]
    user_name: str
    accepted_tokens: list[str]
    _principals: dict[str, access.Caller]

    def _save(self) -> None:
        raise NotImplementedError

    def add_token(
        self,
        token: str,
        name: str,
        *,
        service_principal: bool = False,
        admin: bool = False,
        groups: tuple[str, ...] = (),
    ) -> None:
        """Accept ``token`` as a personal access token of ``name``: a user (or, with ``service_principal``, a
        service principal's application id), not a workspace admin unless ``admin``, member of ``groups``. Its
        requests get only what the jobs' permissions grant it; the jobs it creates are owned by it."""
        kind = "service_principal_name" if service_principal else "user_name"
        with self._lock:
            self._principals[token] = access.Caller(name, kind, admin, tuple(groups))
            if token not in self.accepted_tokens:
                self.accepted_tokens.append(token)

    def caller_of(self, token: str) -> access.Caller:
        """The principal behind an accepted ``token``: one ``add_token`` named, else the workspace's admin user."""
        with self._lock:
            return self._principals.get(token) or access.Caller(self.user_name)

    def _caller(self) -> access.Caller:
        """The principal of the request being handled; the admin user for in-process calls."""
        return access.CALLER.get() or access.Caller(self.user_name)

    def _require(self, job_id: int, level: str) -> None:
        """403 ``PERMISSION_DENIED`` unless the caller holds ``level`` on the job (checked before existence)."""
        access.require(self._caller(), job_id, self._grants.get(job_id) if job_id in self._jobs else None, level)

    def get_permissions(self, job_id: int) -> Json:
        """``JobPermissions`` of the job (§6): direct grants plus the inherited ``admins`` entry."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            return permissions.render(job_id, self._grants_of(job_id), {self.user_name: self._display_name()})

    def set_permissions(self, job_id: int, acl: Any) -> Json:
        """PUT: the listed grants replace all direct grants; exactly one ``IS_OWNER`` must remain.
        Also the out-of-band "change permissions" of a UI user. Returns ``JobPermissions``."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            self._grants_of(job_id)
            self._store(job_id, permissions.parse_acl(acl))
            return self.get_permissions(job_id)

    def update_permissions(self, job_id: int, acl: Any) -> Json:
        """PATCH: the listed principals get the listed level, others are kept (§6)."""
        with self._lock:
            self._require(job_id, "CAN_MANAGE")
            current = self._grants_of(job_id)
            self._store(job_id, permissions.merge(current, permissions.parse_acl(acl)))
            return self.get_permissions(job_id)

    def _init_permissions(self, acl: Any) -> list[permissions.Grant]:
        """Grants of a job being created (creator owns it unless the ACL names an owner); 400 on a
        bad ACL, before anything is stored."""
        caller = self._caller()
        return permissions.initial_grants(caller.name, permissions.parse_acl(acl), kind=caller.kind)

    def _store(self, job_id: int, grants: list[permissions.Grant]) -> None:
        permissions.check_one_owner(grants)
        self._grants[job_id] = grants
        self._jobs[job_id].owner = permissions.owner(grants)
        self._save()

    def _grants_of(self, job_id: int) -> list[permissions.Grant]:
        if job_id not in self._jobs:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Job {job_id} does not exist.")
        return copy.deepcopy(self._grants.get(job_id, []))

    def _display_name(self) -> str:
        return self.user_name.split("@", 1)[0]
