"""Every HTTP request to Databricks passes here: counted, and held while its workspace is paused.

:class:`BudgetedAdapter` is a ``requests`` transport adapter mounted on a client's session, so it sees
each request the SDK sends, its own retries included:

* before sending, it sleeps out the workspace-wide pause of the host's :class:`RequestBudget`;
* after a 429 or 503 with ``Retry-After`` (seconds, or an HTTP date), it pauses the whole host
  (https://docs.databricks.com/api/workspace/introduction, "rate limits": clients must honour Retry-After);
* it reports ``(workspace, endpoint, status class)`` to listeners, ``error`` when no answer came
  (refused, reset, timed out) — so failed connections are counted too.

The endpoint is the path with the API version and numeric ids cut (``jobs/runs/list``,
``permissions/jobs/{id}``). The metrics library is the operator's; this layer only calls listeners.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from controller.databricks.budget import MAX_PAUSE_S, RequestBudget

log = logging.getLogger(__name__)
Listener = Callable[[str, str, str, int | None], None]
_listeners: list[Listener] = []
_VERSION = re.compile(r"^/api/\d+\.\d+/")
_ID = re.compile(r"/\d+(?=/|$)")
#: Pause when a 429/503 carries no usable Retry-After.
DEFAULT_RETRY_AFTER_S = 1.0


def add_listener(listener: Listener) -> None:
    """Call ``listener(workspace, endpoint, status_class, status_code)`` after every request of an instrumented
    client; ``status_class`` is ``2xx``/``3xx``/``4xx``/``5xx``, or ``error`` (code None) when no answer came."""
    if listener not in _listeners:
        _listeners.append(listener)


def endpoint_of(path: str) -> str:
    """``/api/2.2/jobs/runs/list`` -> ``jobs/runs/list``; numeric path segments become ``{id}``."""
    return _ID.sub("/{id}", _VERSION.sub("", path.split("?", 1)[0])).strip("/")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _notify(workspace: str, endpoint: str, status: str, code: int | None) -> None:
    for listener in list(_listeners):
        listener(workspace, endpoint, status, code)


class BudgetedAdapter(HTTPAdapter):
    """A ``requests`` adapter bound to one host's budget; ``workspace`` labels its metrics."""

    def __init__(self, budget: RequestBudget, workspace: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = budget
        self.workspace = workspace

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.budget.wait_pause_blocking(MAX_PAUSE_S)
        endpoint = endpoint_of(request.path_url or "")
        try:
            response = super().send(request, *args, **kwargs)
        except requests.RequestException:
            _notify(self.workspace, endpoint, "error", None)
            raise
        _notify(self.workspace, endpoint, f"{response.status_code // 100}xx", response.status_code)
        if response.status_code in (429, 503):
            if response.status_code == 429:
                self.budget.note_throttled()
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.budget.pause(DEFAULT_RETRY_AFTER_S if wait is None else wait)
        return response


def instrument(client: Any, budget: RequestBudget, workspace: str) -> Any:
    """Mount a :class:`BudgetedAdapter` on ``client``'s HTTP session (http and https); returns the client.

    The session is a private attribute of the SDK (``api_client._api_client._session``): if it moves, the
    budget's pause and the counting are off and a warning is logged; calls still work.
    """
    session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
    if not isinstance(session, requests.Session):
        log.warning("databricks-sdk internals changed: request budget pauses and request metrics are off")
        return client
    adapter = BudgetedAdapter(budget, workspace, pool_connections=8, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return client
