"""Resolution of ``spec.workspaceRef`` to a Databricks host and token, from the cluster.

A job may only use a ``DatabricksWorkspace`` in its own namespace, and that workspace's token
Secret must be in the same namespace too (no cross-namespace references: a tenant cannot borrow
another tenant's credentials). Reads use the Kubernetes client in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any, cast

import kubernetes
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.api.models import GROUP, VERSION, WORKSPACE_PLURAL, DatabricksWorkspaceSpec
from controller.reconcile.reasons import Reason


@dataclass(frozen=True)
class Workspace:
    """A resolved workspace: ``host`` (URL) and ``token`` (a PAT)."""

    host: str
    token: str


class WorkspaceError(Exception):
    """The workspace cannot be used; ``reason`` is the condition reason to report."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def load_kube_config() -> None:
    """Configure the Kubernetes client: in-cluster service account if present, else KUBECONFIG."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]


def _resolve_sync(namespace: str, name: str) -> Workspace:
    try:
        obj = cast(
            dict[str, Any],
            kubernetes.client.CustomObjectsApi().get_namespaced_custom_object(
                GROUP, VERSION, namespace, WORKSPACE_PLURAL, name
            ),
        )
    except ApiException as err:
        if err.status == 404:
            raise WorkspaceError(
                Reason.WORKSPACE_NOT_FOUND,
                f"DatabricksWorkspace {namespace}/{name} (spec.workspaceRef.name) does not exist",
            ) from err
        raise
    try:
        spec = DatabricksWorkspaceSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        raise WorkspaceError(
            Reason.WORKSPACE_NOT_FOUND, f"DatabricksWorkspace {namespace}/{name} is invalid: {err}"
        ) from err
    ref = spec.token_secret_ref
    try:
        secret = kubernetes.client.CoreV1Api().read_namespaced_secret(ref.name, namespace)
    except ApiException as err:
        if err.status == 404:
            raise WorkspaceError(
                Reason.SECRET_NOT_FOUND,
                f"Secret {namespace}/{ref.name} named by DatabricksWorkspace {name} "
                "(spec.tokenSecretRef) does not exist",
            ) from err
        raise
    data = (secret.data or {}).get(ref.key)
    if not data:
        raise WorkspaceError(
            Reason.SECRET_NOT_FOUND,
            f"Secret {namespace}/{ref.name} has no key {ref.key!r} "
            f"(DatabricksWorkspace {name} spec.tokenSecretRef.key)",
        )
    return Workspace(host=spec.host.rstrip("/"), token=base64.b64decode(data).decode().strip())


async def resolve(namespace: str, name: str) -> Workspace:
    """The host and token of DatabricksWorkspace ``namespace/name``.

    Raises ``WorkspaceError`` (WorkspaceNotFound / SecretNotFound) when a piece is missing, and
    the Kubernetes client's ``ApiException`` for other API failures (callers retry those).
    """
    return await asyncio.to_thread(_resolve_sync, namespace, name)
