"""Counting Databricks API requests by endpoint and status class, for the metrics.

A ``requests`` response hook on the SDK client's session sees every HTTP request the SDK sends,
retries included. The endpoint is the path with the API version and numeric IDs cut
(``jobs/runs/list``, ``permissions/jobs/{id}``); the status class is ``2xx``, ``4xx``, ``5xx``.
Listeners (the operator's metrics) register with :func:`add_listener`; this layer imports no
metrics library. The session is a private attribute of the SDK: if it moves, counting is off and
a warning is logged, nothing else breaks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from databricks.sdk import WorkspaceClient

log = logging.getLogger(__name__)
Listener = Callable[[str, str], None]
_listeners: list[Listener] = []
_VERSION = re.compile(r"^/api/\d+\.\d+/")
_ID = re.compile(r"/\d+(?=/|$)")


def add_listener(listener: Listener) -> None:
    """Call ``listener(endpoint, status_class)`` after every response of an instrumented client."""
    if listener not in _listeners:
        _listeners.append(listener)


def endpoint_of(path: str) -> str:
    """``/api/2.2/jobs/runs/list`` -> ``jobs/runs/list``; numeric path segments become ``{id}``."""
    return _ID.sub("/{id}", _VERSION.sub("", path.split("?", 1)[0])).strip("/")


def _hook(response: Any, *_: Any, **__: Any) -> Any:
    endpoint = endpoint_of(str(getattr(response.request, "path_url", "") or ""))
    status = f"{int(response.status_code) // 100}xx"
    for listener in list(_listeners):
        listener(endpoint, status)
    return response


def instrument(client: WorkspaceClient) -> WorkspaceClient:
    """Attach the counting hook to ``client`` (idempotent); returns the client."""
    session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
    if session is None:
        log.warning("databricks-sdk internals changed: API request metrics are off")
        return client
    hooks = session.hooks.setdefault("response", [])
    if _hook not in hooks:
        hooks.append(_hook)
    return client
