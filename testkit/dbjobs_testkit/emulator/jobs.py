"""Stored jobs and how they are rendered as ``Job`` / ``BaseJob`` objects (spec §3.2, §3.3, §4.2)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from dbjobs_testkit.emulator.defaults import ApiVersion
from dbjobs_testkit.emulator.errors import too_many_tasks_for_21
from dbjobs_testkit.emulator.paging import INNER_PAGE_SIZE, cap_arrays, encode_token, settings_page

Json = dict[str, Any]

#: Settings arrays that ``jobs/list`` leaves out unless ``expand_tasks=true`` (§3.3).
LIST_OMITTED_ARRAYS = ("tasks", "job_clusters")


@dataclass
class JobRecord:
    """A stored job. ``settings`` are already normalized (defaults applied, §4.3); ``created_time``
    is epoch ms; ``seq`` orders jobs by creation (IDs are random, like real ones)."""

    job_id: int
    settings: Json
    created_time: int
    creator_user_name: str
    seq: int
    #: The ``IS_OWNER`` user or service principal (§6); None for jobs saved before permissions existed.
    owner: str | None = None

    @property
    def run_as_user_name(self) -> str:
        """The explicit ``run_as`` principal, else the owner, else the creator (§4.2, §6)."""
        run_as = self.settings.get("run_as")
        if isinstance(run_as, dict):
            for key in ("user_name", "service_principal_name", "group_name"):
                if isinstance(run_as.get(key), str):
                    return str(run_as[key])
        return self.owner or self.creator_user_name

    def _header(self) -> Json:
        return {
            "job_id": self.job_id,
            "creator_user_name": self.creator_user_name,
            "created_time": self.created_time,
        }

    def to_get(self, api_version: ApiVersion, page: int = 0) -> Json:
        """The ``jobs/get`` response. 2.2 pages the inner arrays at 100 (``page`` is 0-based) and
        adds ``next_page_token`` only when another page exists; 2.1 returns everything at once and
        refuses jobs with more than 100 tasks (§2.4)."""
        out = self._header()
        out["run_as_user_name"] = self.run_as_user_name
        if api_version == "2.1":
            ensure_fits_21(self.settings)
            out["settings"] = copy.deepcopy(self.settings)
            return out
        settings, more = settings_page(self.settings, page, INNER_PAGE_SIZE)
        out["settings"] = settings
        if more:
            out["next_page_token"] = encode_token("job_page", page + 1)
        return out

    def to_list_item(self, api_version: ApiVersion, expand_tasks: bool) -> Json:
        """A ``BaseJob`` of ``jobs/list``: no ``run_as_user_name``; without ``expand_tasks`` no tasks
        or job_clusters; with it (2.2) arrays capped at 100 and ``has_more`` set (§3.3)."""
        out = self._header()
        if not expand_tasks:
            out["settings"] = {k: copy.deepcopy(v) for k, v in self.settings.items() if k not in LIST_OMITTED_ARRAYS}
        elif api_version == "2.1":
            out["settings"] = copy.deepcopy(self.settings)
        else:
            out["settings"], out["has_more"] = cap_arrays(self.settings, INNER_PAGE_SIZE)
        return out

    def to_dict(self) -> Json:
        """Plain JSON for the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Json) -> JobRecord:
        return cls(**data)


def ensure_fits_21(settings: Json) -> None:
    """Raise the 2.1 "more than 100 tasks" error (§2.4, §3.12) for settings over the limit."""
    tasks = settings.get("tasks")
    if isinstance(tasks, list) and len(tasks) > INNER_PAGE_SIZE:
        raise too_many_tasks_for_21(len(tasks))
