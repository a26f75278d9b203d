"""``GET /healthz`` for the kubelet's liveness and readiness probes, served by the process itself.

It answers before kopf runs, so a follower that waits for the Lease (:mod:`controller.operator.leader`) is
live and ready too. The answer (200 or 503, with a one-line JSON body) says:

* a **follower** is healthy while its election thread still talks to the apiserver (the check it is given);
* the **leader** is healthy while its event loop turns: the loop calls :meth:`Health.beat` every
  ``HEARTBEAT_S`` seconds, and a loop blocked for ``LOOP_STALL_S`` seconds answers 503 (the kubelet then
  restarts the pod).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: Seconds between two heartbeats of the operator's event loop.
HEARTBEAT_S = 1.0
#: Seconds without a heartbeat after which the leader answers 503.
LOOP_STALL_S = 20.0

log = logging.getLogger(__name__)


class Health:
    """The process' role and whether it is healthy in it; thread-safe. ``clock`` is monotonic seconds."""

    def __init__(self, *, stall_s: float = LOOP_STALL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self._clock = clock
        self._lock = threading.Lock()
        self._role = "starting"
        self._follower_ok: Callable[[], bool] = lambda: True
        self._last_beat = clock()

    def follow(self, check: Callable[[], bool]) -> None:
        """A follower from now on; ``check()`` says whether its election still works."""
        with self._lock:
            self._role, self._follower_ok = "follower", check

    def lead(self) -> None:
        """The leader (or the only controller) from now on; heartbeats are expected from here."""
        with self._lock:
            self._role, self._last_beat = "leader", self._clock()

    def beat(self) -> None:
        """The event loop is alive (called on the loop every ``HEARTBEAT_S`` seconds)."""
        with self._lock:
            self._last_beat = self._clock()

    def status(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, body)``: ``body`` holds ``role`` and, for the leader, ``loopLagSeconds``."""
        with self._lock:
            role, check, last = self._role, self._follower_ok, self._last_beat
        if role == "follower":
            return check(), {"role": role}
        lag = self._clock() - last
        return lag < self.stall_s, {"role": role, "loopLagSeconds": round(lag, 1)}


def parse_endpoint(url: str) -> tuple[str, int, str]:
    """``http://HOST:PORT/PATH`` → ``(host, port, path)``; path ``/healthz`` when absent. Raises ``ValueError``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"health endpoint {url!r}: expected http://HOST:PORT/PATH")
    return parts.hostname, parts.port, parts.path or "/healthz"


class HealthServer:
    """A small HTTP server in a daemon thread answering ``GET path`` from a :class:`Health`."""

    def __init__(self, health: Health, host: str, port: int, path: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != path:
                    self.send_error(404)
                    return
                ok, body = health.status()
                data = json.dumps(body).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not logged
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dbjobs-healthz", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(health: Health, endpoint: str) -> HealthServer:
    """Serve ``health`` on ``endpoint`` (``http://0.0.0.0:8080/healthz``) from now on."""
    host, port, path = parse_endpoint(endpoint)
    return HealthServer(health, host, port, path).start()
