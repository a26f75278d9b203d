"""Job permissions of ``Workspace`` (spec §6): ``/api/2.0/permissions/jobs/{id}`` GET/PUT/PATCH and
the out-of-band ACL change. :class:`PermissionsMixin` is a base class of ``Workspace``.

The owner (``IS_OWNER``) is also the job's ``run_as_user_name`` unless ``run_as`` is set (§6).
A missing job answers 404 ``RESOURCE_DOES_NOT_EXIST`` "Job <id> does not exist." — the real
answer is not documented (§10).
"""

from __future__ import annotations

import copy
from typing import Any

from dbjobs_testkit.emulator import permissions
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

    def _save(self) -> None:
        raise NotImplementedError

    def get_permissions(self, job_id: int) -> Json:
        """``JobPermissions`` of the job (§6): direct grants plus the inherited ``admins`` entry."""
        with self._lock:
            return permissions.render(job_id, self._grants_of(job_id), {self.user_name: self._display_name()})

    def set_permissions(self, job_id: int, acl: Any) -> Json:
        """PUT: the listed grants replace all direct grants; exactly one ``IS_OWNER`` must remain.
        Also the out-of-band "change permissions" of a UI user. Returns ``JobPermissions``."""
        with self._lock:
            self._grants_of(job_id)
            self._store(job_id, permissions.parse_acl(acl))
            return self.get_permissions(job_id)

    def update_permissions(self, job_id: int, acl: Any) -> Json:
        """PATCH: the listed principals get the listed level, others are kept (§6)."""
        with self._lock:
            current = self._grants_of(job_id)
            self._store(job_id, permissions.merge(current, permissions.parse_acl(acl)))
            return self.get_permissions(job_id)

    def _init_permissions(self, acl: Any) -> list[permissions.Grant]:
        """Grants of a job being created (creator owns it unless the ACL names an owner); 400 on a
        bad ACL, before anything is stored."""
        return permissions.initial_grants(self.user_name, permissions.parse_acl(acl))

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
