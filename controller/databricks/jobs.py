"""The Jobs API calls the reconciler makes, as plain functions over a ``WorkspaceClient``.

They are blocking (the SDK uses ``requests``); callers run them in a worker thread so the kopf
event loop never blocks. Settings travel as plain JobSettings dicts (snake_case, Jobs API 2.2).
Errors are the SDK's; ``controller.databricks.errors.classify`` says what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobAccessControlRequest, JobSettings

from controller.databricks.errors import ErrorKind, classify


def get_job(client: WorkspaceClient, job_id: int) -> tuple[dict[str, Any], str | None] | None:
    """``jobs/get`` with every 2.2 page merged: ``(settings, creator_user_name)``; None when the job is gone.

    The creator is the job's default ``run_as`` (spec §4.3); it is absent when the creator was deleted.
    """
    try:
        job = client.jobs.get(job_id)
    except Exception as err:
        if classify(err) is ErrorKind.GONE:
            return None
        raise
    return (job.settings.as_dict() if job.settings else {}), job.creator_user_name


def get_settings(client: WorkspaceClient, job_id: int) -> dict[str, Any] | None:
    """``jobs/get`` with every 2.2 page merged (the SDK's mixin does the paging); None when the job is gone."""
    got = get_job(client, job_id)
    return got[0] if got else None


def find_owned(client: WorkspaceClient, *, name: str | None, owner_tag: str, owner: str) -> int | None:
    """The id of a job carrying ``tags[owner_tag] == owner``, or None.

    Looks only at jobs named ``name`` when given (``jobs/list?name=`` is an exact,
    case-insensitive match, spec §3.3), else at every job. One or a few list calls.
    """
    for job in client.jobs.list(name=name) if name else client.jobs.list():
        tags = (job.settings.tags if job.settings else None) or {}
        if tags.get(owner_tag) == owner and job.job_id is not None:
            return int(job.job_id)
    return None


def listed_by_name(client: WorkspaceClient, gate: Callable[[], None], name: str) -> list[tuple[int, dict[str, Any]]]:
    """``(job_id, settings)`` of the jobs ``jobs/list?name=`` returns: an exact but case-insensitive match, so
    the caller still compares ``settings.name`` exactly (https://docs.databricks.com/api/workspace/jobs/list,
    ``name``). Without ``expand_tasks`` (``settings`` has the name and tags, not the tasks); 100 jobs a page,
    each page through ``gate``. Errors are the SDK's."""
    out: list[tuple[int, dict[str, Any]]] = []
    token: str | None = None
    while True:
        gate()
        query: dict[str, Any] = {"name": name, "limit": 100, **({"page_token": token} if token else {})}
        page = client.api_client.do("GET", "/api/2.2/jobs/list", query=query)
        assert isinstance(page, dict)
        out += [(int(job["job_id"]), job.get("settings") or {}) for job in page.get("jobs") or []]
        token = page.get("next_page_token")
        if not token:
            return out


def create(client: WorkspaceClient, settings: Mapping[str, Any], acl: list[dict[str, str]] | None = None) -> int:
    """``jobs/create`` with ``settings``; returns the new job id. ``acl`` (``[{user_name | group_name |
    service_principal_name, permission_level}]``) becomes the job's ``access_control_list``, its initial
    permissions (https://docs.databricks.com/api/workspace/jobs/create); None sends none."""
    body = JobSettings.from_dict(dict(settings))
    # from_dict turns every absent list into [], and create() would send those: pass only what the
    # user set, so the request body says what spec.settings says (an empty `triggers` is not nothing).
    kwargs: dict[str, Any] = {name: getattr(body, name) for name in body.__dataclass_fields__ if name in settings}
    if acl:
        kwargs["access_control_list"] = [JobAccessControlRequest.from_dict(dict(g)) for g in acl]
    response = client.jobs.create(**kwargs)
    if response.job_id is None:
        raise RuntimeError("jobs/create answered without a job_id")
    return int(response.job_id)


def reset(client: WorkspaceClient, job_id: int, settings: Mapping[str, Any]) -> None:
    """``jobs/reset``: replace every setting of ``job_id`` with ``settings``."""
    client.jobs.reset(job_id, JobSettings.from_dict(dict(settings)))


def delete(client: WorkspaceClient, job_id: int) -> bool:
    """``jobs/delete``; True if deleted, False if it was already gone."""
    try:
        client.jobs.delete(job_id)
    except Exception as err:
        if classify(err) is ErrorKind.GONE:
            return False
        raise
    return True


def run_now(client: WorkspaceClient, job_id: int, token: str, parameters: Mapping[str, str]) -> int:
    """``jobs/run-now`` with an ``idempotency_token`` (a retry with the same token gets the same run back,
    https://docs.databricks.com/api/workspace/jobs/runnow); ``parameters`` as ``job_parameters``. Returns
    the run id."""
    body: dict[str, Any] = {"job_id": job_id, "idempotency_token": token}
    if parameters:
        body["job_parameters"] = dict(parameters)
    response = client.api_client.do("POST", "/api/2.2/jobs/run-now", body=body)
    assert isinstance(response, dict)
    return int(response["run_id"])


@dataclass(frozen=True)
class ListedJob:
    """One job of a workspace as ``jobs/list?expand_tasks=true`` returns it, every page of its inner arrays merged.

    ``settings`` is the JobSettings dict; ``creator`` the creator's user name (the default ``run_as``, None when
    the creator was deleted).
    """

    job_id: int
    settings: dict[str, Any]
    creator: str | None


def list_jobs(client: WorkspaceClient, *, name: str | None = None) -> list[ListedJob]:
    """Every job of the workspace (only those named ``name`` when given: an exact, case-insensitive match).

    ``jobs/list`` with ``expand_tasks=true`` and 100 jobs a page; the SDK's mixin follows ``next_page_token``
    and re-reads with ``jobs/get`` each job whose tasks, clusters, parameters or environments were cut at 100
    (https://docs.databricks.com/api/workspace/jobs/list). About N/100 + (jobs over 100 tasks) calls.
    Errors are the SDK's.
    """
    out = []
    for job in client.jobs.list(expand_tasks=True, limit=100, name=name):
        if job.job_id is None:
            continue
        settings = job.settings.as_dict() if job.settings else {}
        out.append(ListedJob(int(job.job_id), settings, job.creator_user_name))
    return out


def get_permissions(client: WorkspaceClient, job_id: int) -> dict[str, Any] | None:
    """``GET /api/2.0/permissions/jobs/{job_id}``: ``JobPermissions`` as a dict (``{"object_id",
    "access_control_list": [{user_name | group_name | service_principal_name, "all_permissions":
    [{"permission_level", "inherited", "inherited_from_object"?}]}]}``); None when the job is gone.
    https://docs.databricks.com/api/workspace/jobs/getpermissions. Other errors are the SDK's."""
    try:
        return client.jobs.get_permissions(str(job_id)).as_dict()
    except Exception as err:
        if classify(err) is ErrorKind.GONE:
            return None
        raise


def set_permissions(client: WorkspaceClient, job_id: int, acl: list[dict[str, str]]) -> dict[str, Any]:
    """``PUT /api/2.0/permissions/jobs/{job_id}``: the job's direct permissions become exactly ``acl``
    (``[{user_name | group_name | service_principal_name, permission_level}]``; exactly one ``IS_OWNER`` must
    remain, else 400). Returns the new ``JobPermissions`` as a dict.
    https://docs.databricks.com/api/workspace/jobs/setpermissions. Errors are the SDK's."""
    requests = [JobAccessControlRequest.from_dict(dict(g)) for g in acl]
    return client.jobs.set_permissions(str(job_id), access_control_list=requests).as_dict()
