"""The one writer of status and Events. Status is patched only where it changed (a merge patch computed from
the old and new status), with the resource's uid as a precondition, so a write meant for a deleted resource
never lands on a new one of the same name. Events are created with reasons from ``EventReason`` only.

Blocking Kubernetes calls run in the default executor; every call is counted in the metrics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Mapping
from typing import Any, cast

import kubernetes
from kubernetes.client.exceptions import ApiException

from controller.api.models import CLUSTER_WORKSPACE_PLURAL, GROUP, JOB_PLURAL, VERSION, WORKSPACE_PLURAL
from controller.operator import metrics
from controller.operator.registry import JobResource, Registry
from controller.reconcile.conditions import rfc3339
from controller.reconcile.outcome import Event, NewStatus

log = logging.getLogger(__name__)
COMPONENT = "dbjobs"
MAX_MESSAGE = 1024
#: (connect, read) seconds of each status patch and Event: a dead apiserver connection fails the write (retried with
#: the next change) instead of holding a worker thread forever (issue 13).
K8S_TIMEOUT_S = (10.0, 60.0)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` ({} when equal): changed keys, removed keys
    as None, nested objects patched recursively, lists and scalars replaced whole."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            inner = merge_patch(before, value)
            if inner:
                patch[key] = inner
        elif key not in old or before != value:
            patch[key] = value
    return patch


class Writer:
    """Patches ``status`` of DatabricksJobs and DatabricksWorkspaces, and creates Events."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.instance = os.environ.get("HOSTNAME", "dbjobs")

    async def job_status(self, res: JobResource, new: NewStatus) -> None:
        """Write ``new`` onto ``res`` (status only where it changed, then the Events)."""
        patch = merge_patch(res.status, new.status)
        if patch:
            body = {"metadata": {"uid": res.uid}, "status": patch}
            try:
                answer = await asyncio.to_thread(_patch_status, res.namespace, JOB_PLURAL, res.name, body)
            except ApiException as err:
                if err.status in (404, 409):  # deleted, or replaced by a new object of the same name
                    log.info(f"[{res.ref}] status not written: the resource is gone ({err.status})")
                    return
                raise
            metrics.STATUS_WRITES.labels(kind="DatabricksJob").inc()
            self.registry.wrote(res.uid, str((answer.get("metadata") or {}).get("resourceVersion", "")), new.status)
        for event in new.events:
            await self.event(res, event)

    async def workspace_status(self, namespace: str, name: str, uid: str, status: Mapping[str, Any],
                               old: Mapping[str, Any]) -> None:  # fmt: skip
        patch = merge_patch(old, status)
        if not patch:
            return
        body = {"metadata": {"uid": uid}, "status": patch}
        plural = WORKSPACE_PLURAL if namespace else CLUSTER_WORKSPACE_PLURAL  # "": a ClusterDatabricksWorkspace
        try:
            await asyncio.to_thread(_patch_status, namespace, plural, name, body)
        except ApiException as err:  # the workspace's status is a report: never fail the observation for it
            if err.status not in (404, 409):
                log.warning(f"[{namespace}/{name}] DatabricksWorkspace status not written: {err.status} {err.reason}")
            return
        metrics.STATUS_WRITES.labels(kind="DatabricksWorkspace").inc()

    async def event(self, res: JobResource | tuple[str, str, str, str], event: Event) -> None:
        """Create one Event about ``res`` (a job, or ``(kind, namespace, name, uid)``). Never raises."""
        kind, namespace, name, uid = (
            ("DatabricksJob", res.namespace, res.name, res.uid) if isinstance(res, JobResource) else res
        )
        now = rfc3339(dt.datetime.now(dt.UTC))
        involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "name": name, "namespace": namespace, "uid": uid}
        if not namespace:  # a cluster-scoped object's Events go to "default", as client-go's recorder puts them
            del involved["namespace"]
            namespace = "default"
        body = {
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": involved,
            "reason": event.reason.value,
            "message": event.message[:MAX_MESSAGE],
            "type": event.type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await asyncio.to_thread(_create_event, namespace, body)
            metrics.EVENTS.labels(reason=event.reason.value).inc()
        except Exception as err:  # an Event is worth a log line, never a failed reconcile
            log.warning(f"[{namespace}/{name}] could not post Event {event.reason.value}: {err}")


def _patch_status(namespace: str, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    api = kubernetes.client.CustomObjectsApi()
    if not namespace:
        answer = api.patch_cluster_custom_object_status(
            GROUP, VERSION, plural, name, body, _request_timeout=K8S_TIMEOUT_S
        )
    else:
        answer = api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, body, _request_timeout=K8S_TIMEOUT_S
        )
    return cast(dict[str, Any], answer)


def _create_event(namespace: str, body: dict[str, Any]) -> None:
    api = kubernetes.client.CoreV1Api()
    api.create_namespaced_event(namespace, body, _request_timeout=K8S_TIMEOUT_S)  # type: ignore[arg-type]
