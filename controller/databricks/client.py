"""Construction of databricks-sdk ``WorkspaceClient``s, one per (host, token).

Clients are cached: building one costs a ``/.well-known/databricks-config`` probe (spec §1.2).
Retries of 429/503 and connection errors are the SDK's own (spec §1.5); we only bound how long
the SDK may retry one call, so a reconcile surfaces ``ApiError`` instead of hanging for 5 minutes.
"""

from __future__ import annotations

import asyncio
import threading

from databricks.sdk import WorkspaceClient as WorkspaceClient  # re-exported: the type the operator layer names
from databricks.sdk.config import Config

from controller.databricks.calls import instrument

#: How long (seconds) the SDK may keep retrying one call before it raises.
RETRY_TIMEOUT_SECONDS = 30
#: Per-request HTTP timeout (seconds).
HTTP_TIMEOUT_SECONDS = 30

_lock = threading.Lock()
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_clients: dict[tuple[str, str], WorkspaceClient] = {}


def workspace_client(host: str, token: str) -> WorkspaceClient:
    """A PAT-authenticated client for ``host`` (``https://…`` or ``http://127.0.0.1:PORT``).

    ``auth_type="pat"`` keeps stray ``DATABRICKS_*`` variables in the environment from adding a
    second auth method (spec §1.1). Raises ``ValueError`` from the SDK on an unusable host.
    """
    key = (host.rstrip("/"), token)
    with _lock:
        # One lock per (host, token): an unreachable workspace (whose construction waits out the
        # host-metadata probe) must not hold up clients of other workspaces.
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                host=key[0],
                token=token,
                auth_type="pat",
                retry_timeout_seconds=RETRY_TIMEOUT_SECONDS,
                http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
                product="dbjobs-controller",
                product_version="0.1.0",
            )
            client = instrument(WorkspaceClient(config=config))  # API request metrics
            _clients[key] = client
        return client


async def workspace_client_async(host: str, token: str) -> WorkspaceClient:
    """``workspace_client`` in a worker thread: constructing a client makes an HTTP request."""
    return await asyncio.to_thread(workspace_client, host, token)


def job_url(host: str, job_id: int) -> str:
    """The job's page in the workspace UI: ``<host>/jobs/<job_id>``."""
    return f"{host.rstrip('/')}/jobs/{job_id}"
