"""The ground one scale run stands on: a local control plane with an audit log, the Jobs API emulator, the
controller as its own process, one namespace with a DatabricksWorkspace, and probes that read what happened
(the controller's /proc entries and /metrics, the apiserver's audit log, the emulator's request log).

Everything is fresh per run (``Stack``), so one run never sees another's jobs, watches or memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import (
    REPO_ROOT,
    ControllerProcess,
    Kubectl,
    install_crds_and_rbac,
    wait_for,
    workspace_manifests,
)

CONTROLLER_USER = "dbjobs-controller"
GROUP, VERSION, PLURAL = "dbjobs.io", "v1alpha1", "databricksjobs"
NAMESPACE = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class QuietController(ControllerProcess):
    """``python -m controller run`` as in a Deployment: INFO logging (the harness's ``--verbose`` logs every
    watch event at DEBUG, which at thousands of resources costs CPU the figures should not include). The
    environment is the harness's (:meth:`ControllerProcess.start`): keep the two in step."""

    source: Path = REPO_ROOT
    """The tree whose ``controller`` package runs (``--controller-src``: a candidate build, e.g. with a fix)."""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
        env.update(
            {
                # The emulator listens on loopback over http; a real workspace is https on a cloud domain.
                "DBJOBS_ALLOWED_HOSTS": "https://*.cloud.databricks.com,http://127.0.0.1:*",
                "KUBECONFIG": str(self.kubeconfig),
                "DBJOBS_POLL_INTERVAL_SECONDS": str(self.poll_interval),
                "DBJOBS_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.source,  # `python -m` puts the working directory first on sys.path
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "controller not started"
        return self.proc.pid


@dataclass(frozen=True)
class ProcSample:
    """One look at a process: CPU seconds used so far (user + system), resident and peak memory in MB."""

    at: float
    cpu_s: float
    rss_mb: float
    hwm_mb: float


def proc_sample(pid: int) -> ProcSample:
    """From ``/proc/PID/stat`` (utime, stime: fields 14 and 15) and ``/proc/PID/status`` (VmRSS, VmHWM)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "(comm)"; fields[0] is field 3 (state)
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    mem = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            mem[key] = int(value.split()[0]) / 1024  # kB -> MB
    return ProcSample(time.time(), cpu, mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0))


_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


def scrape(url: str) -> dict[str, float]:
    """The controller's /metrics as ``{'name{labels}': value}`` (labels as written); {} while it is down."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            key = match["name"] + (f"{{{match['labels']}}}" if match["labels"] else "")
            with contextlib.suppress(ValueError):
                out[key] = float(match["value"])
    return out


def metric(samples: Mapping[str, float], name: str) -> float | None:
    """The first sample of ``name`` (any labels), or None."""
    for key, value in samples.items():
        if key == name or key.startswith(name + "{"):
            return value
    return None


@dataclass(frozen=True)
class AuditEvent:
    at: float  # requestReceivedTimestamp, epoch seconds
    verb: str
    resource: str  # resource[/subresource]
    code: int


class AuditLog:
    """The apiserver's audit log, read incrementally; only ``user``'s requests are kept."""

    def __init__(self, path: Path, user: str) -> None:
        self.path, self.user = path, user
        self.events: list[AuditEvent] = []
        self._offset = 0

    def refresh(self) -> list[AuditEvent]:
        if not self.path.exists():
            return self.events
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line being written stays for the next read
        self._offset += end
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            event = json.loads(line)
            if (event.get("user") or {}).get("username") != self.user:
                continue
            ref = event.get("objectRef") or {}
            resource = str(ref.get("resource") or event.get("requestURI", "?"))
            if ref.get("subresource"):
                resource += "/" + str(ref["subresource"])
            self.events.append(
                AuditEvent(
                    _epoch(event["requestReceivedTimestamp"]),
                    str(event.get("verb")),
                    resource,
                    int((event.get("responseStatus") or {}).get("code") or 0),
                )
            )
        return self.events

    def between(self, start: float, end: float) -> list[AuditEvent]:
        return [e for e in self.refresh() if start <= e.at < end]


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def split_requests(events: list[AuditEvent]) -> dict[str, Any]:
    """``{reads, writes, lease_reads, lease_writes, by: {"verb resource": n}}`` of a list of audit events; the
    leader election's Lease traffic (renewals every retry period, whatever happens) is counted apart."""
    by: dict[str, int] = {}
    for e in events:
        key = f"{e.verb} {e.resource}"
        by[key] = by.get(key, 0) + 1
    lease = [e for e in events if e.resource == "leases"]
    other = [e for e in events if e.resource != "leases"]
    writes = sum(1 for e in other if e.verb in WRITE_VERBS)
    lease_writes = sum(1 for e in lease if e.verb in WRITE_VERBS)
    return {
        "reads": len(other) - writes,
        "writes": writes,
        "lease_reads": len(lease) - lease_writes,
        "lease_writes": lease_writes,
        "by": dict(sorted(by.items())),
    }


def lease_access(user: str) -> list[dict[str, Any]]:
    """A Role with the Lease verbs the kubernetes client's ``leaderelection`` calls, bound to ``user`` (the chart
    grants the same in the release namespace)."""
    meta = {"name": "dbjobs-leader-election", "namespace": NAMESPACE}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


def job_settings(i: int) -> dict[str, Any]:
    """The settings of benchmark job ``i``: one notebook task, two tags, no schedule (see docs/benchmarks.md)."""
    return {
        "name": f"bench-job-{i:05d}",
        "tags": {"team": "bench", "index": str(i)},
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": f"/Shared/bench/job-{i:05d}"}}],
    }


def job_name(i: int) -> str:
    return f"job-{i:05d}"


def job_manifests(n: int, report: set[int]) -> list[dict[str, Any]]:
    """N DatabricksJobs; those in ``report`` use ``driftPolicy: Report`` (the drift sample)."""
    docs = []
    for i in range(n):
        spec: dict[str, Any] = {"workspaceRef": {"name": "default"}, "settings": job_settings(i)}
        if i in report:
            spec["driftPolicy"] = "Report"
        docs.append(
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "DatabricksJob",
                "metadata": {"name": job_name(i), "namespace": NAMESPACE},
                "spec": spec,
            }
        )
    return docs


@dataclass
class Stack:
    """One fresh set: control plane (audited), emulator, namespace + workspace, controller process."""

    workdir: Path
    interval: float
    budget: tuple[float, int]
    controller_src: Path | None = None
    leader_election: bool = True
    cp: ControlPlane = field(init=False)
    emu: EmulatorServer = field(init=False)
    controller: QuietController = field(init=False)
    admin: Kubectl = field(init=False)
    api: Any = field(init=False)
    audit: AuditLog = field(init=False)
    metrics_url: str = field(init=False)
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    def __enter__(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cp = ControlPlane(workdir=self.workdir / "controlplane", audit=True)
        self.cp.start()
        try:
            self._prepare()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _prepare(self) -> None:
        self.admin = Kubectl(self.cp.admin_kubeconfig)
        install_crds_and_rbac(self.admin, CONTROLLER_USER)
        self.api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(config_file=str(self.cp.admin_kubeconfig))  # type: ignore[no-untyped-call]
        )
        self.emu = EmulatorServer(token=self.token)
        self.emu.start()
        self.admin("create", "namespace", NAMESPACE)
        secret, workspace = workspace_manifests(NAMESPACE, self.emu.url, self.token)
        rate, burst = self.budget
        workspace["spec"]["requestBudget"] = {"requestsPerSecond": rate, "burst": burst}
        self.admin.apply([secret, workspace])
        port = free_port()
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        env = {"DBJOBS_METRICS_PORT": str(port), "DBJOBS_METRICS_BIND_ADDRESS": "127.0.0.1"}
        if self.leader_election:  # as the chart deploys it (leaderElection.enabled: true, its default timing)
            self.admin.apply(lease_access(CONTROLLER_USER))
            env.update({"DBJOBS_LEADER_ELECTION": "true", "DBJOBS_LEADER_ELECTION_NAMESPACE": NAMESPACE})
        self.controller = QuietController(
            self.cp.user_kubeconfig(CONTROLLER_USER),
            self.workdir / "controller.log",
            poll_interval=self.interval,
            extra_env=env,
        )
        if self.controller_src is not None:
            self.controller.source = self.controller_src
        self.controller.start()
        wait_for(lambda: scrape(self.metrics_url), timeout=60, what="the controller's /metrics")
        self.audit = AuditLog(self.cp.workdir / "audit.log", CONTROLLER_USER)
        # Ready = its watches are listed (a just-created CRD can answer 429 "storage is (re)initializing" first,
        # and kopf's retry would otherwise count as convergence time).
        wait_for(self._listing, timeout=120, what="the controller listing DatabricksJobs and DatabricksWorkspaces")

    def _listing(self) -> bool:
        done = {e.resource for e in self.audit.refresh() if e.verb == "list" and e.code == 200}
        return {"databricksjobs", "databricksworkspaces"} <= done

    def __exit__(self, *exc: object) -> None:
        for part in ("controller", "emu", "cp"):
            if hasattr(self, part):
                with contextlib.suppress(Exception):
                    getattr(self, part).stop()

    def apply(self, docs: list[dict[str, Any]]) -> float:
        """``kubectl apply --server-side`` of one multi-document file; returns the seconds kubectl took."""
        path = self.workdir / f"jobs-{len(docs)}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        began = time.monotonic()
        kubectl = [self.admin.binary, "--kubeconfig", str(self.cp.admin_kubeconfig)]
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(path)],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        return time.monotonic() - began

    def patch_settings(self, name: str, patch: Mapping[str, Any]) -> None:
        """A change from Git: a merge patch of ``spec.settings`` (as Argo CD would apply)."""
        body = {"spec": {"settings": dict(patch)}}
        self.api.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name, body)

    def python_stacks(self) -> Path | None:
        """Every thread's Python stack of the controller, through gdb and CPython's gdb extension (a frozen
        controller says where it waits); the file written, or None without gdb."""
        gdb = shutil.which("gdb")
        if gdb is None:
            return None
        out = self.workdir / f"controller-stacks-{int(time.time())}.txt"
        cmd = [gdb, "-p", str(self.controller.pid), "-batch", "-iex", "set auto-load safe-path /"]
        with out.open("w") as fh, contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([*cmd, "-ex", "thread apply all py-bt"], stdout=fh, stderr=subprocess.DEVNULL, timeout=120)
        return out

    def proc(self) -> ProcSample:
        return proc_sample(self.controller.pid)

    def log_tail(self, lines: int = 40) -> str:
        return self.controller.log_tail(lines)
