"""``kubectl get`` columns of our kinds (``additionalPrinterColumns``); the ones with ``priority: 1`` only with
``-o wide``. JSON paths name the camelCase fields of :mod:`controller.api.jobstatus` and
:mod:`controller.api.workspace`."""

from __future__ import annotations

from typing import Any

Column = dict[str, Any]
_THROTTLED = ".status.throttled.count"


def _age() -> Column:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _condition(ctype: str, field: str = "status") -> str:
    return f'.status.conditions[?(@.type=="{ctype}")].{field}'


def job_columns() -> list[Column]:
    """``kubectl get dbjobs``: Job ID, Ready, Synced, Drift, Last Run, Depends On (the DatabricksJobs it references),
    Age; wide: Synced reason, run health, workspace, URL."""
    return [
        {"name": "Job ID", "type": "integer", "format": "int64", "jsonPath": ".status.jobId"},
        {"name": "Ready", "type": "string", "jsonPath": _condition("Ready")},
        {"name": "Synced", "type": "string", "jsonPath": _condition("Synced")},
        {"name": "Drift", "type": "string", "jsonPath": _condition("Drifted")},
        {"name": "Last Run", "type": "string", "jsonPath": ".status.lastRun.resultState"},
        {"name": "Depends On", "type": "string", "jsonPath": ".status.dependsOn"},
        _age(),
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": _condition("Synced", "reason")},
        {"name": "Run Health", "type": "string", "priority": 1, "jsonPath": _condition("RunHealthy", "reason")},
        {"name": "Workspace", "type": "string", "priority": 1, "jsonPath": ".spec.workspaceRef.name"},
        {"name": "URL", "type": "string", "priority": 1, "jsonPath": ".status.jobUrl"},
    ]


def workspace_columns() -> list[Column]:
    """``kubectl get dbworkspaces``: Host, Reachable, Jobs (owned), Calls (last cycle), Held (deletions waiting for
    confirmation), Last Cycle, Age; wide:
    the Reachable reason and the 429s in the window."""
    return [
        {"name": "Host", "type": "string", "jsonPath": ".spec.host"},
        {"name": "Reachable", "type": "string", "jsonPath": _condition("Reachable")},
        {"name": "Jobs", "type": "integer", "format": "int64", "jsonPath": ".status.jobs.owned"},
        {"name": "Calls", "type": "integer", "format": "int64", "jsonPath": ".status.lastCycle.apiCalls"},
        {"name": "Held", "type": "integer", "format": "int64", "jsonPath": ".status.guard.heldCount"},
        {"name": "Last Cycle", "type": "date", "jsonPath": ".status.lastCycle.time"},
        _age(),
        {"name": "Reason", "type": "string", "priority": 1, "jsonPath": _condition("Reachable", "reason")},
        {"name": "Throttled", "type": "integer", "format": "int64", "priority": 1, "jsonPath": _THROTTLED},
    ]
