"""Calls to one Databricks workspace: isolated, budgeted, and classified at this edge.

A :class:`WorkspaceConnection` is one (host, token) pair. It owns

* a bounded thread pool of its own (``threads``), so a workspace that never answers holds only its own
  threads and never delays another tenant's calls (databricks-sdk is blocking: ``requests``);
* the host's shared :class:`~controller.databricks.budget.RequestBudget` (one per host in the process);
* the SDK client, built lazily in the pool (building one can probe the host).

Every call acquires one token first. A failure the Databricks edge knows (the SDK's errors, ``requests``
errors, the SDK's retry timeout) is raised as :class:`~controller.databricks.errors.DatabricksFailure`
with its kind and a message naming the host and the root cause; any other exception propagates
unchanged — it is a bug, and the operator reports it as one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from controller.databricks.budget import RequestBudget
from controller.databricks.calls import instrument
from controller.databricks.errors import API_ERRORS, DatabricksFailure, ErrorKind, classify, describe

T = TypeVar("T")
#: How long (seconds) the SDK may keep retrying one call before it raises (its retries honour Retry-After);
#: the runtime lowers it to its poll interval (at least 5 s), so status tells of an outage within an interval.
RETRY_TIMEOUT_SECONDS = 30
#: Per-request HTTP timeout (seconds): connect and read. A host that accepts and never answers costs this.
HTTP_TIMEOUT_SECONDS = 15
#: Threads per connection: the most calls to one workspace in flight at once.
THREADS = 4

_budgets: dict[str, RequestBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(host: str) -> RequestBudget:
    """The one budget of ``host`` in this process (created on first use with the defaults)."""
    key = host.rstrip("/")
    with _budgets_lock:
        return _budgets.setdefault(key, RequestBudget())


def workspace_label(host: str) -> str:
    """``https://dbc-1.cloud.databricks.com/`` -> ``dbc-1.cloud.databricks.com`` (the metrics label)."""
    return host.split("://", 1)[-1].rstrip("/")


class WorkspaceConnection:
    """See the module docstring. ``loop`` is the operator's event loop (for :meth:`gate`)."""

    def __init__(
        self, host: str, token: str, *, threads: int = THREADS, retry_timeout_s: float = RETRY_TIMEOUT_SECONDS
    ) -> None:
        self.host = host.rstrip("/")
        self.token = token
        self.retry_timeout_s = retry_timeout_s
        self.budget = budget_for(self.host)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"dbjobs-io-{workspace_label(host)}")
        self._client: WorkspaceClient | None = None
        self._client_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> WorkspaceClient:
        """The SDK client (blocking: call from the pool). ``auth_type="pat"`` keeps stray ``DATABRICKS_*``
        variables from adding a second auth method."""
        with self._client_lock:
            if self._client is None:
                config = Config(
                    host=self.host,
                    token=self.token,
                    auth_type="pat",
                    retry_timeout_seconds=max(1, round(self.retry_timeout_s)),
                    http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
                    product="dbjobs-controller",
                    product_version="0.1.0",
                )
                self._client = instrument(WorkspaceClient(config=config), self.budget, workspace_label(self.host))
            return self._client

    async def call(self, fn: Callable[[WorkspaceClient], T]) -> T:
        """One budgeted call: a token, then ``fn(client)`` in the pool. Raises ``DatabricksFailure``."""
        await self.budget.acquire()
        return await self.run(fn)

    async def run(self, fn: Callable[[WorkspaceClient], T]) -> T:
        """``fn(client)`` in the pool without taking a token (``fn`` calls :meth:`gate` per request)."""
        self._loop = asyncio.get_running_loop()
        return await self._loop.run_in_executor(self._pool, self._guarded, fn)

    def _guarded(self, fn: Callable[[WorkspaceClient], T]) -> T:
        try:
            client = self.client()
        except (ValueError, *API_ERRORS) as err:  # type: ignore[misc]  # the SDK refusing the host, or its probe failing
            raise DatabricksFailure(ErrorKind.TRANSIENT, describe(err, self.host)) from err
        try:
            return fn(client)
        except API_ERRORS as err:
            raise DatabricksFailure(classify(err), describe(err, self.host)) from err

    def gate(self) -> None:
        """From a pool thread: block until the budget grants one token (for calls that page in a loop)."""
        assert self._loop is not None, "gate() is for functions started by run()"
        asyncio.run_coroutine_threadsafe(self.budget.acquire(), self._loop).result()

    def close(self) -> None:
        """Stop taking work; calls in flight are abandoned (their threads end with the request)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
