"""Tools of the reliability suite (issue 13): the invariants, read from the emulator and the apiserver directly;
the kill hook that SIGKILLs the controller on the Nth request of a kind; a TCP relay in front of the apiserver that
can black-hole its open connections (a stalled watch); a server that accepts connections and never answers; and
reading the controller's request counters from ``/metrics``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.emulator import ApiError, EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for, workspace_manifests

#: The watch timeout the suite's controller runs with (DBJOBS_WATCH_TIMEOUT_SECONDS): short, so a black-holed
#: watch is noticed within the short slice.
WATCH_TIMEOUT_S = 20
#: Hosts the suite's workspaces may name: the emulator, and ``.invalid`` (RFC 6761: never resolves).
ALLOWED_HOSTS = "http://127.0.0.1:*,https://*.invalid"
_counter = itertools.count()
#: A generous convergence deadline after a fault ends or the controller restarts (s).
CONVERGE_S = 120.0


def notebook_job(name: str, path: str = "/x", **extra: Any) -> dict[str, Any]:
    """Minimal JobSettings: one notebook task."""
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}], **extra}


def owner_of(namespace: str, name: str) -> str:
    """The owner tag value the controller (cluster name unset) gives a resource's job."""
    return owner_key("", namespace, name)


def synced_reason(obj: Mapping[str, Any] | None) -> str | None:
    cond = condition(obj, "Synced")
    return None if cond is None else str(cond.get("reason"))


def is_synced(obj: Mapping[str, Any] | None) -> bool:
    cond = condition(obj, "Synced")
    return bool(obj and cond and cond.get("status") == "True" and (obj.get("status") or {}).get("jobId"))


# ---- Invariants ------------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the suite knows a namespace should hold: resource name -> job id once seen (a job id never changes
    unless the test deleted the job), the names deleted, the paused resources and the settings their job must keep,
    and each run-now value with the job it targets."""

    namespace: str
    job_ids: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int | None] = field(default_factory=dict)
    paused: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)  # resource -> runs its run-now values must have started


class InvariantError(AssertionError):
    """An invariant of issue 13 item 1 does not hold; the message names it and the evidence."""


def live_owners(emulator: EmulatorServer) -> Counter[str]:
    """How many live jobs carry each owner tag value."""
    ws = emulator.workspace
    return Counter(str(ws.get_settings(j).get("tags", {}).get(OWNER_TAG)) for j in ws.job_ids())


def check_invariants(ns: Kubectl, emulator: EmulatorServer, ledger: Ledger, *, timeout: float = CONVERGE_S) -> float:
    """Wait until every resource of ``ns`` converged (``Synced=True`` with a job id, deleted ones gone), then check
    the invariants of issue 13 item 1; returns the seconds convergence took. Raises ``InvariantError``."""
    began = time.monotonic()

    def converged() -> list[dict[str, Any]] | None:
        try:
            items = ns.get("databricksjobs")["items"]
        except subprocess.CalledProcessError:  # the apiserver itself may still be coming back
            return None
        if any(i["metadata"]["name"] in ledger.deleted for i in items):
            return None
        live = [i for i in items if i["metadata"]["name"] not in ledger.paused]
        if not all(is_synced(i) and spec_applied(emulator, i) for i in live):
            return None
        ids = {i["metadata"]["name"]: int(i["status"]["jobId"]) for i in live}
        runs_ok = all(n not in ids or runs_started(emulator, ids[n]) >= want for n, want in ledger.runs.items())
        return items if runs_ok else None

    try:
        items = wait_for(converged, timeout=timeout, what=f"every resource of {ns.namespace} converged", interval=0.5)
    except TimeoutError as err:
        raise InvariantError(f"no convergence: {err}\n{describe(ns, emulator)}") from err
    took = time.monotonic() - began
    owners = live_owners(emulator)
    live_ids = set(emulator.workspace.job_ids())
    for obj in items:
        name = obj["metadata"]["name"]
        owner = owner_of(str(ns.namespace), name)
        if owners[owner] > 1:
            raise InvariantError(f"duplicate: {owners[owner]} live jobs carry {OWNER_TAG}={owner} ({name})")
        job_id = int(obj["status"].get("jobId") or 0)
        if name in ledger.paused:
            if job_id not in live_ids or emulator.workspace.get_settings(job_id) != ledger.paused[name]:
                raise InvariantError(f"paused {name}: job {job_id} was written to or deleted while paused")
            continue
        if job_id not in live_ids:
            raise InvariantError(f"lost job: {name} shows job {job_id}, which does not exist")
        known = ledger.job_ids.setdefault(name, job_id)
        if known != job_id:
            raise InvariantError(f"{name}: job {known} was replaced by {job_id} (deleted while its resource exists)")
    for name, job_id in ledger.deleted.items():
        if job_id is not None and job_id in live_ids:
            raise InvariantError(f"{name} was deleted (finalizer released) but its job {job_id} still exists")
    for name, want in ledger.runs.items():
        got = runs_started(emulator, ledger.job_ids[name])
        if got != want:
            raise InvariantError(f"{name}: {got} runs started for {want} run-now values (each value starts one)")
    return took


def spec_applied(emulator: EmulatorServer, obj: Mapping[str, Any]) -> bool:
    """The resource's job carries the spec's name, notebook path and tags (what the suite's changes touch)."""
    job_id = (obj.get("status") or {}).get("jobId")
    if not job_id or int(job_id) not in emulator.workspace.job_ids():
        return False
    live = emulator.workspace.get_settings(int(job_id))
    want = obj["spec"]["settings"]
    if live.get("name") != want.get("name"):
        return False
    path = lambda s: (s.get("tasks") or [{}])[0].get("notebook_task", {}).get("notebook_path")  # noqa: E731
    tags = live.get("tags") or {}
    return path(live) == path(want) and all(tags.get(k) == v for k, v in (want.get("tags") or {}).items())


def runs_started(emulator: EmulatorServer, job_id: int) -> int:
    """Runs of ``job_id`` the workspace holds (each run-now value must start exactly one)."""
    return len(emulator.workspace.list_runs(job_id))


def describe(ns: Kubectl, emulator: EmulatorServer) -> str:
    """Every resource's Synced condition and job id, for failure messages."""
    lines = []
    for obj in ns.get("databricksjobs")["items"]:
        cond = condition(obj, "Synced") or {}
        lines.append(
            f"  {obj['metadata']['name']}: jobId={(obj.get('status') or {}).get('jobId')} "
            f"Synced={cond.get('status')}/{cond.get('reason')} {str(cond.get('message'))[:160]} "
            f"deleting={bool(obj['metadata'].get('deletionTimestamp'))}"
        )
    return "\n".join(lines) + f"\n  emulator jobs: {len(emulator.workspace.job_ids())}"


# ---- Kill points ---------------------------------------------------------------------------------------------


@dataclass
class KillPoint:
    """SIGKILL the controller on the ``nth`` request matching ``suffix`` (``"jobs/create"``) at ``phase``:
    ``received`` (before the workspace handles it: no effect stored), ``answered`` (handled, its effect stored, the
    answer never read) or ``after`` (``delay`` seconds after the answer left: in the status write window)."""

    op: str
    suffix: str
    nth: int
    phase: str
    delay: float
    seed: int

    @classmethod
    def draw(cls, op: str, suffix: str, count: int, seed: int) -> KillPoint:
        rng = random.Random(seed)
        phase = rng.choice(("received", "answered", "after"))
        return cls(op, suffix, rng.randint(1, count), phase, round(rng.uniform(0.0, 0.4), 3), seed)

    def __str__(self) -> str:
        extra = f"+{self.delay:g}s" if self.phase == "after" else ""
        return f"{self.op}: {self.suffix} #{self.nth} {self.phase}{extra} (seed {self.seed})"


@contextlib.contextmanager
def kill_on(emulator: EmulatorServer, controller: ControllerProcess, point: KillPoint) -> Iterator[threading.Event]:
    """Arm ``point`` for the duration of the block; the yielded event is set once the controller was killed."""
    killed = threading.Event()
    seen = 0
    pid = controller.proc.pid if controller.proc else None
    assert pid is not None, "the controller is not running"

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        killed.set()

    def hook(phase: str, method: str, path: str, status: int | None) -> None:
        nonlocal seen
        if killed.is_set() or not path.rstrip("/").endswith(point.suffix):
            return
        if phase == "received":
            seen += 1
        if seen != point.nth:
            return
        if point.phase == "received" and phase == "received":
            kill()
            raise ApiError(503, "TEMPORARILY_UNAVAILABLE", "the client was killed")
        if phase == "answered" and point.phase == "answered":
            kill()
        elif phase == "answered" and point.phase == "after":
            threading.Timer(point.delay, kill).start()

    emulator.workspace.request_hook = hook
    try:
        yield killed
    finally:
        emulator.workspace.request_hook = None


def restart_after_kill(controller: ControllerProcess, killed: threading.Event, timeout: float = 60) -> None:
    """Wait for the kill, reap the process, start the controller again."""
    if not killed.wait(timeout):
        raise AssertionError(f"the kill point was never reached in {timeout:g}s\n{controller.log_tail()}")
    if controller.proc is not None:
        controller.proc.wait(timeout=30)
        controller.proc = None
    controller.start()


# ---- Faults between the controller and its peers -------------------------------------------------------------


class ApiRelay:
    """A TCP relay on loopback in front of the apiserver (TLS passes through untouched). ``blackhole()`` stops
    forwarding on every connection open now, keeping them open (a silently dropped watch, as a NAT or a dead node
    leaves it): only new connections work again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = int(self.sock.getsockname()[1])
        self._conns: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            frozen = threading.Event()
            with self._lock:
                self._conns.append((client, upstream, frozen))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, frozen), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        src.settimeout(None)
        try:
            while True:
                data = src.recv(65536)
                if frozen.is_set():
                    return  # black-holed: the bytes vanish, nothing is closed
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        if not frozen.is_set():
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def blackhole(self) -> int:
        """Freeze every connection relayed so far (those already closed stay closed); returns how many."""
        with self._lock:
            for _, _, frozen in self._conns:
                frozen.set()
            n = len(self._conns)
            self._conns = []
        return n

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@contextlib.contextmanager
def black_hole_host() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        sock.close()


def controller_requests(controller: ControllerProcess, workspace: str) -> int:
    """Databricks requests the controller made to ``workspace`` (host:port), answered or not, from its /metrics
    (``dbjobs_databricks_requests_total``, which counts failed connections too)."""
    port = controller.extra_env["DBJOBS_METRICS_PORT"]
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError:
        return 0
    return int(
        sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "dbjobs_databricks_requests_total" and s.labels.get("workspace") == workspace
        )
    )


def delete_all(ns: Kubectl, timeout: float = 60) -> bool:
    """Delete every DatabricksJob of ``ns``; True when their finalizers were released within ``timeout``, else
    False after removing the finalizers as an administrator would (a workspace that never answers holds them: the
    controller cannot know whether a job exists)."""
    ns("delete", "databricksjobs", "--all", "--wait=false")
    try:
        wait_for(lambda: not ns.get("databricksjobs")["items"], timeout=timeout, what="finalizers released")
        return True
    except TimeoutError:
        for obj in ns.get("databricksjobs")["items"]:
            patch = '{"metadata":{"finalizers":null}}'
            ns("patch", "databricksjob", obj["metadata"]["name"], "--type=merge", "-p", patch, check=False)
        return False


def sample_conditions(ns: Kubectl, names: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """``name -> (Synced reason, Ready status)`` now."""
    out = {}
    for name in names:
        obj = ns.get("databricksjob", name)
        out[name] = (synced_reason(obj), (condition(obj, "Ready") or {}).get("status"))
    return out


def apply_jobs(ns: Kubectl, specs: Mapping[str, dict[str, Any]], **spec: Any) -> None:
    """Apply one DatabricksJob per ``name -> settings``."""
    ns.apply([job_manifest(n, s, **spec) for n, s in specs.items()])


def make_namespace(admin: Kubectl, host: str, token: str, prefix: str = "rel") -> Kubectl:
    """A fresh namespace with a workspace ``default`` on ``host`` whose deletion guard never holds the suite's
    deletions (it deletes hundreds of jobs in minutes on purpose)."""
    name = f"{prefix}-{next(_counter)}-{secrets.token_hex(3)}"
    admin("create", "namespace", name)
    kubectl = Kubectl(admin.kubeconfig, namespace=name)
    docs = workspace_manifests(name, host, token)
    docs[1]["spec"]["deletionGuard"] = {"maxDeletions": 100000, "windowSeconds": 1}
    kubectl.apply(docs)
    return kubectl
