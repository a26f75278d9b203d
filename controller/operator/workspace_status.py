"""``DatabricksWorkspace.status``: the observer's view of one workspace (pure).

Shape::

    {observedGeneration, conditions: [Reachable, DeletionHeld, JobsVanished],
     jobs: {listed, owned, resources},            # jobs in the workspace, carrying our owner tag, DatabricksJobs
     lastCycle: {time, durationSeconds, apiCalls},
     throttled: {count, windowSeconds},          # 429 answers in the last window
     guard: {...}}                                # the deletion guard: controller.operator.guard
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from controller.databricks.budget import THROTTLE_WINDOW_S
from controller.databricks.observer import JobIndex
from controller.operator.guard import WorkspaceGuard
from controller.operator.observation import CycleState
from controller.operator.registry import WorkspaceResource
from controller.reconcile.conditions import Condition, merge_conditions, rfc3339
from controller.reconcile.reasons import ConditionType, Reason


def reachable(cycle: CycleState) -> Condition:
    """``Reachable``: True after a cycle that read the workspace; False with the problem's reason, and
    ``Unreachable`` when no connection could be made."""
    problem = cycle.problem
    if problem is None:
        return Condition(
            ConditionType.REACHABLE, "True", Reason.REACHABLE, "the last observer cycle read the workspace"
        )
    reason = problem.reason
    if reason is Reason.API_ERROR and "cannot connect" in problem.message:
        reason = Reason.UNREACHABLE
    return Condition(ConditionType.REACHABLE, "False", reason, problem.message)


def workspace_status(
    ws: WorkspaceResource,
    cycle: CycleState,
    index: JobIndex | None,
    resources: int,
    throttled: int,
    guard: WorkspaceGuard,
) -> dict[str, Any]:
    """The whole status of ``ws`` after ``cycle`` (``index`` None when no cycle ever read the workspace)."""
    ended = dt.datetime.fromtimestamp(cycle.ended, dt.UTC) if cycle.ended else dt.datetime.now(dt.UTC)
    status: dict[str, Any] = {
        "observedGeneration": ws.generation,
        "conditions": merge_conditions(
            ws.status.get("conditions"), [reachable(cycle), *guard.conditions()], generation=ws.generation, now=ended
        ),
        "guard": guard.status(time.time()),
        "jobs": {"resources": resources},
        "throttled": {"count": throttled, "windowSeconds": int(THROTTLE_WINDOW_S)},
        "lastCycle": {"time": rfc3339(ended)},
    }
    if index is not None:
        status["jobs"].update(listed=index.total, owned=sum(len(ids) for ids in index.by_owner.values()))
    if cycle.report is not None:
        status["lastCycle"].update(durationSeconds=round(cycle.report.seconds, 3), apiCalls=cycle.report.calls)
    return status
