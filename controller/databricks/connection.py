"""Calls to one Databricks workspace: isolated, budgeted, and classified at this edge.

A :class:`WorkspaceConnection` is one (host, credential) pair (:class:`~controller.databricks.auth.Auth`: a
personal access token, an OAuth client secret or a federated token file; the SDK runs the OAuth flows and
refreshes their tokens). It owns

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

from controller.databricks.auth import PAT, Auth, CredentialRefused
from controller.databricks.budget import RequestBudget, TokenBucket
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
        self, host: str, auth: Auth | str, *, threads: int = THREADS, retry_timeout_s: float = RETRY_TIMEOUT_SECONDS
    ) -> None:
        self.host = host.rstrip("/")
        self.auth = Auth.pat(auth) if isinstance(auth, str) else auth  # a str is a personal access token
        self.retry_timeout_s = retry_timeout_s
        self.budget = budget_for(self.host)
        #: This identity's token bucket (the observation sets it to the most generous of its workspaces').
        self.bucket = TokenBucket()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"dbjobs-io-{workspace_label(host)}")
        self._client: WorkspaceClient | None = None
        self._client_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> WorkspaceClient:
        """The SDK client (blocking: call from the pool). An explicit credentials strategy keeps stray
        ``DATABRICKS_*`` variables from adding a second auth method; ``debug_headers=False`` keeps the
        ``Authorization`` header out of the SDK's debug log whatever ``DATABRICKS_DEBUG_HEADERS`` says."""
        with self._client_lock:
            if self._client is None:
                config = Config(
                    host=self.host,
                    **self.auth.config_kwargs(self.host),
                    credentials_strategy=self.auth.strategy(),
                    debug_headers=False,
                    retry_timeout_seconds=max(1, round(self.retry_timeout_s)),
                    http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
                    product="dbjobs-controller",
                    product_version="0.1.0",
                )
                self._client = instrument(WorkspaceClient(config=config), self.budget, workspace_label(self.host))
            return self._client

    async def call(self, fn: Callable[[WorkspaceClient], T]) -> T:
        """One budgeted call: a token, then ``fn(client)`` in the pool. Raises ``DatabricksFailure``."""
        await self.budget.acquire(self.bucket)
        return await self.run(fn)

    async def run(self, fn: Callable[[WorkspaceClient], T]) -> T:
        """``fn(client)`` in the pool without taking a token (``fn`` calls :meth:`gate` per request)."""
        self._loop = asyncio.get_running_loop()
        return await self._loop.run_in_executor(self._pool, self._guarded, fn)

    def _guarded(self, fn: Callable[[WorkspaceClient], T]) -> T:
        try:
            client = self.client()
        except (ValueError, *API_ERRORS) as err:  # type: ignore[misc]  # the SDK refusing the host, or its probe failing
            if isinstance(err, ValueError) and " auth: " in str(err):
                # "<auth type> auth: …": the credential cannot be used (e.g. no federated token file), not transient
                raise DatabricksFailure(ErrorKind.UNAUTHORIZED, f"{self.host}: {_innermost(err)}") from err
            raise DatabricksFailure(ErrorKind.TRANSIENT, describe(err, self.host)) from err
        try:
            return fn(client)
        except CredentialRefused as err:  # the token endpoint refused the client secret or the federated token
            self._forget_token()
            raise DatabricksFailure(ErrorKind.UNAUTHORIZED, f"{self.host}: {err}") from err
        except API_ERRORS as err:
            kind = classify(err)
            if kind is ErrorKind.UNAUTHORIZED:
                self._forget_token()
            raise DatabricksFailure(kind, describe(err, self.host)) from err

    def _forget_token(self) -> None:
        """Databricks refused us: an OAuth access token (revoked, or expired early) is not used again — the next
        call builds a new client, which gets a new token. A personal access token has nothing to renew."""
        if self.auth.kind != PAT:
            with self._client_lock:
                self._client = None

    def gate(self) -> None:
        """From a pool thread: block until the budget grants one token (for calls that page in a loop)."""
        assert self._loop is not None, "gate() is for functions started by run()"
        asyncio.run_coroutine_threadsafe(self.budget.acquire(self.bucket), self._loop).result()

    def close(self) -> None:
        """Stop taking work; calls in flight are abandoned (their threads end with the request)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _innermost(err: BaseException) -> str:
    """The first line of the innermost cause of ``err`` (the SDK wraps its reason in two more ``ValueError``)."""
    while err.__cause__ is not None and err.__cause__ is not err:
        err = err.__cause__
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
