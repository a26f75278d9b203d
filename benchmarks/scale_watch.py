"""Conditions of every DatabricksJob of the benchmark namespace as a watch sees them, with the wall-clock time each
change arrived: when a resource first became ``Synced=True``, when ``Drifted`` turned True, its ``jobId``.

The watch runs as the admin (not the controller's user, so it never shows in the controller's audit figures) in a
thread of the benchmark process; it re-lists after the apiserver ends a watch or answers 410 Gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from benchmarks.scale_env import GROUP, NAMESPACE, PLURAL, VERSION


@dataclass
class JobView:
    """What the watch last saw of one DatabricksJob, and when its conditions changed (epoch seconds)."""

    synced: bool = False
    drifted: bool = False
    job_id: int | None = None
    generation: int = 0
    seen_at: float = 0.0  # when the watch first saw it (created by kubectl)
    first_synced_at: float | None = None
    drifted_at: float | None = None  # the latest False -> True change of Drifted


def _condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


@dataclass
class Watcher:
    """See the module docstring. ``start()`` returns once the first list is in."""

    api: Any  # CustomObjectsApi bound to the admin
    views: dict[str, JobView] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _listed: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._forever, name="bench-watch", daemon=True)
        self._thread.start()
        if not self._listed.wait(60):
            raise TimeoutError(f"the DatabricksJob watch did not list within 60 s ({self.error})")

    def stop(self) -> None:
        self._stop.set()

    def _forever(self) -> None:
        while not self._stop.is_set():
            try:
                listed = self.api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
                now = time.time()
                for obj in listed.get("items") or []:
                    self._see(obj, now)
                self._listed.set()
                self._watch(str(listed["metadata"]["resourceVersion"]))
            except ApiException as err:
                self.error = f"{err.status} {err.reason}"
                time.sleep(0.2)
            except Exception as err:  # a dropped connection: list again
                self.error = repr(err)
                time.sleep(0.2)

    def _watch(self, resource_version: str) -> None:
        watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        for event in watch.stream(  # type: ignore[no-untyped-call]
            self.api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            NAMESPACE,
            PLURAL,
            resource_version=resource_version,
            timeout_seconds=120,
        ):
            if self._stop.is_set():
                watch.stop()  # type: ignore[no-untyped-call]
                return
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                return  # 410 Gone and the like: list again
            if event.get("type") in ("ADDED", "MODIFIED"):
                self._see(obj, time.time())

    def _see(self, obj: Mapping[str, Any], now: float) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        synced = _condition(obj, "Synced").get("status") == "True"
        drifted = _condition(obj, "Drifted").get("status") == "True"
        job_id = (obj.get("status") or {}).get("jobId")
        with self._lock:
            view = self.views.setdefault(name, JobView(seen_at=now))
            if synced and view.first_synced_at is None:
                view.first_synced_at = now
            if drifted and not view.drifted:
                view.drifted_at = now
            view.synced, view.drifted = synced, drifted
            view.job_id = int(job_id) if job_id is not None else view.job_id
            view.generation = int(meta.get("generation") or 0)

    # -- questions ------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, JobView]:
        with self._lock:
            return {k: JobView(**v.__dict__) for k, v in self.views.items()}

    def count(self, predicate: Callable[[JobView], bool], names: Iterable[str] | None = None) -> int:
        with self._lock:
            keys = list(names) if names is not None else list(self.views)
            return sum(1 for k in keys if k in self.views and predicate(self.views[k]))

    def view(self, name: str) -> JobView | None:
        with self._lock:
            found = self.views.get(name)
            return JobView(**found.__dict__) if found else None
