"""Leader election on a Kubernetes Lease (``coordination.k8s.io/v1``): several replicas, one active.

The election itself is the kubernetes client's ``kubernetes.leaderelection`` (``LeaderElection`` with a
``LeaseLock``), run in a daemon thread; this module adds what a controller needs around it:

* the process waits as a follower until it holds the Lease (``wait_until_leading``); SIGTERM/SIGINT while
  waiting end it cleanly;
* a leader that can no longer renew stops at once: ``os._exit(1)`` (the controller-runtime convention; the
  kubelet restarts the pod as a follower), from the library's ``onstopped_leading`` or, earlier, from a
  watchdog that sees no successful renewal for ``renew_deadline_s`` seconds (a hung request would otherwise
  keep it acting while another replica takes over after ``lease_duration_s``);
* a leader stopping cleanly releases the Lease (``release``: holder cleared, duration 1 s, guarded by the
  Lease's resourceVersion) so a follower takes over at its next retry instead of after the lease duration;
* every Lease request is bounded by a timeout, a network error is handed to the library as the
  ``ApiException`` it retries on (any other exception would end its thread), and a refusal (401/403) is
  logged as a warning naming the verb.

The library calls ``get`` (read), ``create`` and ``update`` (replace) on the Lease, and nothing else.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig
from kubernetes.leaderelection.leaderelection import LeaderElection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from controller.operator.config import LeaderElectionSettings

#: Exit code of a leader that lost its Lease.
LOST_EXIT_CODE = 1
#: Seconds between two checks of the watchdog (how late after the renew deadline a leader stops at most).
WATCHDOG_S = 0.25

log = logging.getLogger(__name__)
# The library logs every try (each retry period) at INFO; this module logs the transitions instead.
logging.getLogger("leaderelection").setLevel(logging.WARNING)


class LeaderElectionError(RuntimeError):
    """The election thread ended without this process leading (a bug or an unusable configuration)."""


def identity(pod_name: str) -> str:
    """``<pod name>_<8 hex digits>``: unique per process, so a restarted pod never takes the Lease for its own."""
    return f"{pod_name or 'dbjobs'}_{secrets.token_hex(4)}"


def renewal_overdue(last_renewed: float, now: float, renew_deadline_s: float) -> bool:
    """True when the last successful renewal (monotonic seconds) is ``renew_deadline_s`` or more ago."""
    return now - last_renewed >= renew_deadline_s


def released_spec(spec: Any, holder: str, now: datetime.datetime) -> Any | None:
    """The ``V1LeaseSpec`` that gives up a Lease held by ``holder`` (no holder, duration 1 s, renewed ``now``),
    as client-go's ``ReleaseOnCancel`` writes it; None when the Lease is not ``holder``'s (nothing to give up)."""
    if spec is None or spec.holder_identity != holder:
        return None
    spec.holder_identity = None
    spec.lease_duration_seconds = 1
    spec.acquire_time = spec.renew_time = now
    return spec


def _message(err: ApiException) -> str:
    """The apiserver's message of ``err`` (its Status body), else its reason."""
    with contextlib.suppress(TypeError, ValueError, KeyError):
        return str(json.loads(err.body or "")["message"])
    return f"{err.status} {err.reason}"


class _LeaseApi:
    """The three ``CoordinationV1Api`` calls the library makes, bounded by ``timeout_s``, failures made
    ``ApiException``, refusals logged; ``last_attempt`` is when a call last returned (monotonic seconds)."""

    def __init__(self, api: Any, where: str, timeout_s: float) -> None:
        self._api, self._where, self._timeout = api, where, timeout_s
        self.last_attempt = time.monotonic()
        self._refused = ""  # the last refusal logged as a warning (repeated ones go to DEBUG)

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        return self._call(
            "get", lambda: self._api.read_namespaced_lease(name, namespace, _request_timeout=self._timeout)
        )

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any:
        return self._call(
            "create", lambda: self._api.create_namespaced_lease(namespace, body, _request_timeout=self._timeout)
        )

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any:
        return self._call(
            "update", lambda: self._api.replace_namespaced_lease(name, namespace, body, _request_timeout=self._timeout)
        )

    def _call(self, verb: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except ApiException as err:
            refusal = f"the apiserver refused to {verb} Lease {self._where}: {_message(err)}"
            if err.status in (401, 403) and refusal != self._refused:
                log.warning(f"leader election: {refusal}")
                self._refused = refusal
            elif err.status != 404:
                log.debug(f"leader election: {verb} Lease {self._where}: {_message(err)}")
            raise
        except Exception as err:  # urllib3 and socket errors: the library retries only on ApiException
            log.debug(f"leader election: {verb} Lease {self._where}: {type(err).__name__}: {err}")
            raise ApiException(status=0, reason=f"{type(err).__name__}: {err}") from err
        finally:
            self.last_attempt = time.monotonic()
        self._refused = ""
        return result


class _GuardedLeaseLock(LeaseLock):
    """The library's ``LeaseLock`` that writes nothing once closed (so a released Lease is not renewed again),
    remembers its last successful write (``renewed_at``, monotonic seconds) and logs a change of holder."""

    def __init__(self, name: str, namespace: str, holder: str, timeout_s: float) -> None:
        super().__init__(name, namespace, holder)  # type: ignore[no-untyped-call]
        self.api = _LeaseApi(self.api_instance, f"{namespace}/{name}", timeout_s)
        self.api_instance = self.api  # type: ignore[assignment]  # same three methods
        self.renewed_at = time.monotonic()
        self.closed = False
        self._mutex = threading.Lock()
        self._seen_holder: str | None = ""

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        found, record = super().get(name, namespace)  # type: ignore[no-untyped-call]
        if found and record.holder_identity != self._seen_holder:
            self._seen_holder = record.holder_identity
            if record.holder_identity != self.identity:
                held = f"is held by {record.holder_identity}" if record.holder_identity else "was released"
                log.info(f"leader election: Lease {namespace}/{name} {held}; {self.identity} follows")
        return found, record

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        base = super().create
        return self._write(lambda: base(name, namespace, election_record))  # type: ignore[no-untyped-call]

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        base = super().update
        return self._write(lambda: base(name, namespace, updated_record))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """No write from now on (waits for one in flight)."""
        with self._mutex:
            self.closed = True

    def _write(self, write: Callable[[], bool]) -> bool:
        with self._mutex:
            if self.closed:
                return False
            done = bool(write())
            if done:
                self.renewed_at = time.monotonic()
            return done


class LeaderElector:
    """One candidate for the Lease of ``settings``; ``exit_process`` ends the process when the Lease is lost."""

    def __init__(self, settings: LeaderElectionSettings, *, exit_process: Callable[[int], Any] = os._exit) -> None:
        self.settings = settings
        self.identity = identity(settings.pod_name)
        self.where = f"{settings.namespace}/{settings.lease_name}"
        self._exit = exit_process
        timeout = max(1.0, settings.renew_deadline_s / 2)
        self._lock = _GuardedLeaseLock(settings.lease_name, settings.namespace, self.identity, timeout)
        self._api = self._lock.api
        self._leading = threading.Event()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dbjobs-leader-election", daemon=True)

    def start(self) -> LeaderElector:
        """Start competing for the Lease (a daemon thread)."""
        s = self.settings
        log.info(
            f"leader election: {self.identity} waits for Lease {self.where} (lease {s.lease_duration_s}s, "
            f"renew deadline {s.renew_deadline_s}s, retry {s.retry_period_s}s)"
        )
        self._thread.start()
        return self

    def wait_until_leading(self) -> bool:
        """Block until this process holds the Lease (True) or SIGTERM/SIGINT arrives first (False, Lease closed).

        Call from the main thread. Raises ``LeaderElectionError`` when the election thread ends first."""
        stopped = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info(f"leader election: {signal.Signals(signum).name} while following; stopping")
            stopped.set()
            self._wake.set()

        with _signals_to(on_signal):
            self._wake.wait()
        if stopped.is_set():
            self._lock.close()
            return False
        if not self._leading.is_set():
            raise LeaderElectionError(f"the election for Lease {self.where} ended without a leader (see the log)")
        return True

    def follower_healthy(self) -> bool:
        """The election thread runs and its last Lease request returned recently (not stuck)."""
        limit = 2 * self.settings.lease_duration_s + self.settings.renew_deadline_s
        return self._thread.is_alive() and time.monotonic() - self._api.last_attempt < limit

    def release(self) -> bool:
        """Stop writing the Lease and, if this process holds it, give it up (a clean stop). True when given up."""
        self._closing.set()
        self._lock.close()
        if not self._leading.is_set():
            return False
        try:
            lease = self._api.read_namespaced_lease(self.settings.lease_name, self.settings.namespace)
            spec = released_spec(lease.spec, self.identity, datetime.datetime.now(datetime.UTC))
            if spec is None:
                log.info(f"leader election: Lease {self.where} is no longer {self.identity}'s; nothing to release")
                return False
            lease.spec = spec
            self._api.replace_namespaced_lease(self.settings.lease_name, self.settings.namespace, lease)
        except ApiException as err:
            log.warning(
                f"leader election: could not release Lease {self.where} ({_message(err)}); another replica takes "
                f"over when it expires ({self.settings.lease_duration_s}s)"
            )
            return False
        log.info(f"leader election: {self.identity} released Lease {self.where}")
        return True

    def _run(self) -> None:
        s = self.settings
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            self._lock, s.lease_duration_s, s.renew_deadline_s, s.retry_period_s, self._lead, self._stopped_leading
        )
        try:
            LeaderElection(config).run()  # type: ignore[no-untyped-call]
        except Exception:
            log.exception(f"leader election for Lease {self.where} failed")
        finally:
            self._wake.set()

    def _lead(self) -> None:
        """The library's ``onstarted_leading`` (its own thread): wake the main thread, then watch the renewals."""
        log.info(f"leader election: {self.identity} holds Lease {self.where}; starting the operator")
        self._leading.set()
        self._wake.set()
        deadline = self.settings.renew_deadline_s
        while not self._closing.wait(WATCHDOG_S):
            if renewal_overdue(self._lock.renewed_at, time.monotonic(), deadline):
                self._lost(f"no successful renewal for {deadline}s (renew deadline)")
                return

    def _stopped_leading(self) -> None:
        """The library's ``onstopped_leading``: renewing failed for the renew deadline."""
        self._lost("renewing failed for the renew deadline")

    def _lost(self, reason: str) -> None:
        if self._closing.is_set():
            return  # a clean stop closed the lock: renewals fail on purpose
        log.error(
            f"leader election: {self.identity} lost Lease {self.where}: {reason}. Exiting {LOST_EXIT_CODE} at once "
            "so that only the new leader acts (the kubelet restarts this pod as a follower)"
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        self._exit(LOST_EXIT_CODE)


@contextlib.contextmanager
def _signals_to(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``handler`` inside the block (main thread only), and act as before after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
