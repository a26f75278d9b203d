"""One observer per workspace: the jobs and recent runs of a whole workspace in about N/100 calls a cycle.

A cycle (blocking; run in the workspace's pool by :meth:`WorkspaceObserver.refresh`):

1. ``GET /api/2.2/jobs/list?expand_tasks=true&limit=100``, every page (``page_token``): each job with its
   settings, inner arrays capped at 100 (Jobs API 2.2, https://docs.databricks.com/api/workspace/jobs/list);
2. ``jobs/get`` (all pages merged by the SDK) only for jobs we keep whose element-level ``has_more`` says an
   array (tasks, job_clusters, parameters, environments) was cut;
3. recent runs of the jobs we keep, batched workspace-wide (:class:`~controller.databricks.runs.RunObserver`).

Kept in full: jobs carrying our owner tag (:data:`~controller.reconcile.compare.OWNER_TAG`), jobs asked
for by id (``wanted``: adopt targets, ids in status) and jobs whose ``settings.name`` is exactly a name asked
for (``names``: ``spec.adopt.name`` of resources not adopted yet). Every other job is only counted. The result
is a :class:`JobIndex` by ``job_id``, by owner tag value and by wanted name. Each page goes through the
workspace's request budget (``gate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk import WorkspaceClient

from controller.databricks.runs import RunObserver
from controller.reconcile.adopt import Named, named
from controller.reconcile.compare import OWNER_TAG

JOBS_LIST = "/api/2.2/jobs/list"
LIST_LIMIT = 100


@dataclass(frozen=True)
class LiveJob:
    """One job as the workspace has it: ``settings`` (JobSettings dict, every page merged) and its
    ``creator`` (``creator_user_name``, the default ``run_as``; None when the creator was deleted)."""

    job_id: int
    settings: Mapping[str, Any]
    creator: str | None


@dataclass(frozen=True)
class JobIndex:
    """The jobs of one workspace as of one cycle. ``started`` is when the cycle began (monotonic seconds):
    a job created after it may be missing, which is why a missing job is re-read before it is re-created.
    ``names`` are the names the cycle looked for; ``by_name`` the ids of every job with each of them (kept)."""

    jobs: Mapping[int, LiveJob] = field(default_factory=dict)
    by_owner: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    total: int = 0
    started: float = float("-inf")
    names: frozenset[str] = frozenset()
    by_name: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def named(self, name: str) -> tuple[Named, ...] | None:
        """Every job whose ``settings.name`` is exactly ``name``, by id; None when the cycle did not look for it."""
        if name not in self.names:
            return None
        return named(((i, self.jobs[i].settings) for i in self.by_name.get(name, ()) if i in self.jobs), name)

    def owned_by(self, owner: str) -> list[LiveJob]:
        """The kept jobs whose owner tag is ``owner`` (normally one; two means a duplicate)."""
        return [self.jobs[i] for i in self.by_owner.get(owner, ()) if i in self.jobs]


@dataclass(frozen=True)
class CycleReport:
    """What one cycle cost: ``calls`` (requests made: list pages, gets, runs pages) and ``seconds``."""

    calls: int
    seconds: float
    jobs_listed: int


def list_jobs(
    client: WorkspaceClient, gate: Callable[[], None], wanted: Iterable[int], names: Iterable[str] = ()
) -> tuple[JobIndex, int]:
    """Steps 1 and 2 of a cycle; returns the index and the number of requests made."""
    started = time.monotonic()
    keep, looked_for = set(wanted), frozenset(names)
    jobs: dict[int, LiveJob] = {}
    by_owner: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    truncated: list[int] = []
    total = calls = 0
    token: str | None = None
    while True:
        gate()
        calls += 1
        query: dict[str, Any] = {
            "limit": LIST_LIMIT,
            "expand_tasks": "true",
            **({"page_token": token} if token else {}),
        }
        page = client.api_client.do("GET", JOBS_LIST, query=query)
        assert isinstance(page, dict)
        for job in page.get("jobs") or []:
            total += 1
            job_id, settings = int(job["job_id"]), job.get("settings") or {}
            owner = (settings.get("tags") or {}).get(OWNER_TAG)
            name = settings.get("name")
            wanted_name = isinstance(name, str) and name in looked_for
            if owner is None and job_id not in keep and not wanted_name:
                continue
            if owner is not None:
                by_owner.setdefault(str(owner), []).append(job_id)
            if wanted_name:
                by_name.setdefault(str(name), []).append(job_id)
            jobs[job_id] = LiveJob(job_id, settings, job.get("creator_user_name"))
            if job.get("has_more"):
                truncated.append(job_id)
        token = page.get("next_page_token")
        if not token:
            break
    for job_id in truncated:
        gate()
        calls += 1
        full = client.jobs.get(job_id)  # the SDK's mixin merges every page of the 2.2 answer
        jobs[job_id] = LiveJob(job_id, full.settings.as_dict() if full.settings else {}, full.creator_user_name)
    owners = {k: tuple(sorted(v)) for k, v in by_owner.items()}
    index = JobIndex(jobs, owners, total, started, looked_for, {k: tuple(sorted(v)) for k, v in by_name.items()})
    return index, calls


@dataclass
class WorkspaceObserver:
    """The latest :class:`JobIndex` and run history of one workspace (refreshed by the operator's loop)."""

    runs: RunObserver = field(default_factory=RunObserver)
    index: JobIndex | None = None
    cycles: int = 0

    def refresh(
        self, client: WorkspaceClient, gate: Callable[[], None], wanted: Iterable[int], names: Iterable[str] = ()
    ) -> CycleReport:
        """One whole cycle (blocking); ``names`` the job names to index (see the module docstring). Raises the
        SDK's or ``requests``' error when a call fails; the index and runs of the previous cycle stay."""
        began = time.monotonic()
        wanted = set(wanted)
        index, calls = list_jobs(client, gate, wanted, names)
        # Run history only for the jobs our resources use (not every owner-tagged job: other shards', tenants').
        stats = self.runs.refresh(client, sorted(wanted & set(index.jobs)), force=True, gate=gate)
        self.index = index
        self.cycles += 1
        return CycleReport(calls + (stats.total if stats else 0), time.monotonic() - began, index.total)
