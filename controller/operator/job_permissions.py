"""The Permissions API side of one reconcile: read a managed job's permissions, correct them with the step.

Only for a resource with ``spec.permissions`` (absent: nothing is read or written, so such a job costs no call
more than before). A managed job costs one ``GET /api/2.0/permissions/jobs/{id}`` per reconcile (every cycle),
read here on the resource's reconcile, never by the workspace-wide observer, and one ``PUT`` when its
permissions differ (https://docs.databricks.com/api/workspace/jobs/getpermissions, .../setpermissions). Both go
through the workspace's connection (request budget, Retry-After, metrics) like every other call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from controller.api.models import DatabricksJobSpec
from controller.databricks import jobs
from controller.operator.runtime import WorkspaceRuntime
from controller.reconcile import permissions
from controller.reconcile.decide import Observation
from controller.reconcile.drift import DriftReport
from controller.reconcile.outcome import Decision, Result


async def observe(runtime: WorkspaceRuntime, spec: DatabricksJobSpec, observed: Observation) -> Observation:
    """``observed`` with its direct permissions (``acl``) when ``spec.permissions`` manages them and the job
    exists; unchanged otherwise (also when the job vanished between the list and this read). Raises
    ``DatabricksFailure`` like every call of the connection."""
    job_id = observed.job_id
    if spec.permissions is None or job_id is None or observed.live is None:
        return observed
    got = await runtime.conn.call(lambda c: jobs.get_permissions(c, job_id))
    if got is None:
        return observed
    return dataclasses.replace(observed, acl=permissions.direct(got))


def create_acl(decision: Decision) -> list[dict[str, str]] | None:
    """The ``access_control_list`` of ``jobs/create`` (None: permissions not managed)."""
    return None if decision.acl is None else permissions.create_body(decision.acl)


async def reset(
    runtime: WorkspaceRuntime,
    decision: Decision,
    observed: Observation,
    reset_settings: Callable[[], Awaitable[Result]],
) -> Result:
    """A RESET step: ``reset_settings`` (``jobs/reset`` and its check) when settings differ, and one ``PUT`` of the
    permissions when ``permissions[...]`` paths differ; the result's ``after`` holds what still differs of both
    (the ``PUT`` answers the new permissions, so no second read is needed)."""
    assert decision.plan is not None and observed.job_id is not None
    job_id = observed.job_id
    settings_part, acl_part = permissions.split(decision.plan.report)
    if decision.acl is None or acl_part.in_sync:
        return await reset_settings()
    done = await reset_settings() if not settings_part.in_sync else Result(job_id=job_id, after=DriftReport())
    if done.failure is not None:
        return done
    body = permissions.put_body(decision.acl, observed.acl)
    got = await runtime.conn.call(lambda c: jobs.set_permissions(c, job_id, body))
    left = permissions.drift_items(decision.acl, permissions.direct(got))
    before = done.after.items if done.after is not None else ()
    after = DriftReport(tuple(sorted((*before, *left), key=lambda i: i.path)))
    return dataclasses.replace(done, job_id=job_id, after=after, attempts=max(done.attempts, 1))
