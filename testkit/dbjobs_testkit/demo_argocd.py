"""``dbjobs-testkit demo-argocd``: Git → Argo CD → dbjobs → Databricks, told for a person, on real parts.

The story (also what ``tests/e2e/test_argocd_loop.py`` asserts, through the same :class:`ArgoLoop`):

0. the DatabricksJob CRD synced by Argo CD: client-side apply fails (the CRD is ~460 KB, over the
   256 KiB annotation limit), ``ServerSideApply=true`` syncs it;
1. a commit of three DatabricksJobs → the Application Synced, the jobs created in the workspace, each
   resource Healthy (our health check in ``argocd-cm``);
2. a commit changing a task → one ``jobs/reset``, back to Healthy;
3. a job edited in the workspace: under ``driftPolicy: Report`` the resource turns Degraded and names the
   drift; under ``Correct`` the edit is reverted and it stays Healthy;
4. failing runs: Degraded with ``healthPolicy.affectsReady``, still Healthy without it;
5. a commit removing a job → Argo CD prunes it; while the job is deleted in Databricks the resource shows
   the check's deletion message; then the job is gone and the finalizer released.

Each step prints what Argo CD shows (the Application's sync and health, every resource's health) next to
``kubectl get dbjobs``. Everything runs on this machine: the local control plane, the Jobs API emulator on a
manual clock (runs end when the story says so), the controller, and Argo CD v3.6.1 built by ``make argocd``.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import yaml

from dbjobs_testkit.argocd import AppView, ArgoCD
from dbjobs_testkit.controlplane import ControlPlane, ControlPlaneError
from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming
from dbjobs_testkit.emulator.runs import Outcome
from dbjobs_testkit.harness import (
    CRD_DIR,
    ControllerProcess,
    Kubectl,
    MissingComponentError,
    install_crds_and_rbac,
    wait_for,
    workspace_manifests,
)

JOBS_APP = "dbjobs-jobs"
CRDS_APP = "dbjobs-crds"
KIND = "DatabricksJob"
#: ingest: driftPolicy Report; transform: Correct, healthPolicy off; report: healthPolicy.affectsReady.
JOB_NAMES = ("ingest", "transform", "report")
CONTROLLER_USER = "dbjobs-controller"


def job_manifest(name: str, notebook: str | None = None, **spec: Any) -> dict[str, Any]:
    """A DatabricksJob as a person commits it (no namespace: the Application's destination decides)."""
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "workspaceRef": {"name": "default"},
            **spec,
            "settings": {
                "name": name,
                "max_concurrent_runs": 1,
                "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": notebook or f"/Shared/etl/{name}"}}],
            },
        },
    }


def initial_jobs() -> dict[str, dict[str, Any]]:
    return {
        "ingest": job_manifest("ingest", driftPolicy="Report"),
        "transform": job_manifest("transform", driftPolicy="Correct"),
        "report": job_manifest("report", driftPolicy="Correct", healthPolicy={"affectsReady": True}),
    }


class GitRepo:
    """A local Git repository Argo CD reads through ``file://``, written with gitpython."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.repo = git.Repo.init(path, initial_branch="main")
        with self.repo.config_writer() as cfg:
            cfg.set_value("user", "name", "dbjobs test")
            cfg.set_value("user", "email", "dbjobs-test@example.invalid")
            cfg.set_value("commit", "gpgsign", "false")

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def commit(self, files: Mapping[str, Mapping[str, Any] | str | None], message: str) -> str:
        """Write (a dict as YAML, a str as is) or delete (None) each path, commit, return the commit sha."""
        added, removed = [], []
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                removed.append(rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            text = content if isinstance(content, str) else yaml.safe_dump(dict(content), sort_keys=False)
            target.write_text(text)
            added.append(rel)
        if added:
            self.repo.index.add(added)
        if removed:
            self.repo.index.remove(removed, working_tree=True)
        return str(self.repo.index.commit(message).hexsha)


@dataclass
class Sample:
    """One look at the Application: when, which revision, sync and health, each DatabricksJob's health."""

    at: float
    revision: str
    sync: str
    health: str
    jobs: dict[str, tuple[str, str]]


@dataclass
class Sampler:
    """Samples the Application in the background (every ``interval`` s) for the whole story.

    The test reads it for "never OutOfSync because of the controller's writes": once Argo CD showed
    Synced at a revision, it must never show OutOfSync at that same revision again (a new commit is a
    new revision; only the cluster could change under the same one, and only our controller writes there).
    """

    argo: ArgoCD
    app: str
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="argocd-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                view = self.argo.application(self.app)
            except Exception:  # a transient kubectl failure must not end the sampling
                view = None
            if view is not None and view.revision:
                jobs = {
                    str(r.get("name")): (
                        str((r.get("health") or {}).get("status", "")),
                        str((r.get("health") or {}).get("message", "")),
                    )
                    for r in view.resources
                    if r.get("kind") == KIND
                }
                self.samples.append(Sample(time.monotonic(), view.revision, view.sync, view.health, jobs))
            self._stop.wait(self.interval)

    def out_of_sync_after_synced(self) -> list[Sample]:
        """Samples showing OutOfSync at a revision that an earlier sample showed Synced."""
        synced: set[str] = set()
        bad = []
        for s in list(self.samples):
            if s.sync == "Synced":
                synced.add(s.revision)
            elif s.sync == "OutOfSync" and s.revision in synced:
                bad.append(s)
        return bad

    def job_health_since(self, start: float, name: str) -> list[tuple[str, str]]:
        """The distinct successive (status, message) Argo CD showed for job ``name`` since ``start``."""
        seen: list[tuple[str, str]] = []
        for s in list(self.samples):
            if s.at >= start and name in s.jobs and (not seen or seen[-1] != s.jobs[name]):
                seen.append(s.jobs[name])
        return seen


class ArgoLoop:
    """The story's steps on running parts; each waits for what Argo CD must show and records it."""

    def __init__(
        self,
        argo: ArgoCD,
        kubectl: Kubectl,
        emu: EmulatorServer,
        clock: ManualClock,
        repo: GitRepo,
        *,
        out: Callable[[str], None] = print,
        timeout: float = 120.0,
    ) -> None:
        self.argo = argo
        self.kubectl = kubectl
        self.namespace = str(kubectl.namespace)
        self.emu = emu
        self.clock = clock
        self.repo = repo
        self.out = out
        self.timeout = timeout
        self.record: list[tuple[str, str]] = []
        self.sampler = Sampler(argo, JOBS_APP)
        self.job_ids: dict[str, int] = {}

    # --- showing ---------------------------------------------------------------------------------
    def show(self, title: str, app: str = JOBS_APP) -> AppView:
        """Print and record what Argo CD shows for ``app``, next to ``kubectl get dbjobs``."""
        view = self.argo.application(app)
        assert view is not None, f"Application {app} does not exist"
        text = view.table()
        if app == JOBS_APP:
            text += "\n  $ kubectl get dbjobs\n" + "\n".join(
                "  " + line for line in self.kubectl("get", "dbjobs").stdout.splitlines()
            )
        self.record.append((title, text))
        self.out(f"\n==> {title}\n{text}")
        return view

    def wait(self, what: str, check: Callable[[AppView], Any], app: str = JOBS_APP) -> AppView:
        return self.argo.wait_application(app, check, what, timeout=self.timeout)

    def job(self, name: str) -> Any:
        return self.kubectl.get("databricksjob", name)

    def settled(self, sha: str, health: Mapping[str, str]) -> Callable[[AppView], bool]:
        """Synced at ``sha``, no operation running, and each named job showing the given health."""

        def check(view: AppView) -> bool:
            return (
                view.sync == "Synced"
                and view.revision == sha
                and view.operation not in ("Running", "Terminating")
                and all(view.resource_health(KIND, n)[0] == h for n, h in health.items())
            )

        return check

    def commit(self, files: Mapping[str, Mapping[str, Any] | str | None], message: str) -> str:
        sha = self.repo.commit(files, message)
        self.out(f"\n--- git commit {sha[:8]}: {message}")
        for app in (JOBS_APP, CRDS_APP):
            if self.argo.application(app) is not None:
                self.argo.refresh(app)
        return sha

    # --- step 0: the CRD through Argo CD ---------------------------------------------------------
    def crd_with_server_side_apply(self) -> tuple[str, AppView]:
        """Sync the CRDs with client-side apply (refused: too long), then with ServerSideApply=true.

        Returns the failed operation's message and the final view.
        """
        files: dict[str, Mapping[str, Any] | str | None] = {
            f"crds/{p.name}": p.read_text() for p in sorted(CRD_DIR.glob("*.yaml"))
        }
        sha = self.commit(files, "the dbjobs CRDs")
        self.argo.apply_application(CRDS_APP, self.repo.url, "crds", self.namespace, automated=False)
        self.argo.sync(CRDS_APP, sync_options=[])
        failed = self.wait(
            "client-side sync of the CRDs ends", lambda v: v.operation in ("Failed", "Error"), app=CRDS_APP
        )
        self.show("CRDs synced with client-side apply (no ServerSideApply)", app=CRDS_APP)
        self.argo.apply_application(
            CRDS_APP, self.repo.url, "crds", self.namespace, automated=False, sync_options=["ServerSideApply=true"]
        )
        self.argo.sync(CRDS_APP, sync_options=["ServerSideApply=true"])
        view = self.wait(
            "CRDs Synced and Healthy with ServerSideApply=true",
            lambda v: v.operation == "Succeeded" and v.sync == "Synced" and v.health == "Healthy" and v.revision == sha,
            app=CRDS_APP,
        )
        self.show("CRDs synced with ServerSideApply=true", app=CRDS_APP)
        return failed.operation_message, view

    # --- step 1 ----------------------------------------------------------------------------------
    def commit_three_jobs(self) -> AppView:
        sha = self.commit({f"jobs/{n}.yaml": m for n, m in initial_jobs().items()}, "three Databricks jobs")
        self.argo.apply_application(JOBS_APP, self.repo.url, "jobs", self.namespace, prune=True)
        self.sampler.start()
        view = self.wait(
            "Synced, every job Healthy",
            self.settled(sha, dict.fromkeys(JOB_NAMES, "Healthy")),
        )
        for name in JOB_NAMES:
            self.job_ids[name] = int(self.job(name)["status"]["jobId"])
        self.show("a commit of three jobs")
        return view

    # --- step 2 ----------------------------------------------------------------------------------
    def change_a_task(self) -> tuple[int, list[tuple[str, str]]]:
        """Commit a new notebook path for ``transform``; returns (jobs/reset calls, health sequence shown)."""
        resets_before = self.emu.workspace.request_count("jobs/reset")
        start = time.monotonic()
        changed = job_manifest("transform", notebook="/Shared/etl/transform_v2", driftPolicy="Correct")
        sha = self.commit({"jobs/transform.yaml": changed}, "transform: new notebook")
        self.wait("Synced at the new commit, every job Healthy", self.settled(sha, dict.fromkeys(JOB_NAMES, "Healthy")))

        def applied() -> bool:
            obj = self.job("transform")
            return bool(obj and obj["status"].get("observedGeneration") == obj["metadata"]["generation"])

        wait_for(applied, timeout=self.timeout, what="transform: the new generation applied")
        self._two_more_drift_checks("transform")
        resets = self.emu.workspace.request_count("jobs/reset") - resets_before
        seen = self.sampler.job_health_since(start, "transform")
        self.out(
            f"    jobs/reset calls: {resets}; transform's health in Argo CD went "
            + " -> ".join(f"{status} ({message[:60]})" for status, message in seen)
        )
        self.show("a commit changing a task")
        settings = self.emu.workspace.get_settings(self.job_ids["transform"])
        assert settings["tasks"][0]["notebook_task"]["notebook_path"] == "/Shared/etl/transform_v2"
        return resets, seen

    def _two_more_drift_checks(self, name: str) -> None:
        """Wait until the controller's observer listed the workspace twice more (each list is a drift check of
        every job: the per-workspace observation, not a per-job read)."""
        lists = self.emu.workspace.request_count("jobs/list", "GET")
        wait_for(
            lambda: self.emu.workspace.request_count("jobs/list", "GET") >= lists + 2,
            timeout=self.timeout,
            what=f"{name}: two more drift checks",
            interval=0.5,
        )

    # --- step 3 ----------------------------------------------------------------------------------
    def drift_under_report(self) -> AppView:
        """Someone raises ``max_concurrent_runs`` of ``ingest`` in the workspace; its driftPolicy is Report."""
        self.out("\n--- in the workspace: ingest.max_concurrent_runs 1 -> 5 (driftPolicy Report)")
        self.emu.workspace.edit_settings(self.job_ids["ingest"], {"max_concurrent_runs": 5})
        view = self.wait(
            "ingest Degraded naming the drift",
            lambda v: (
                v.resource_health(KIND, "ingest")[0] == "Degraded"
                and "max_concurrent_runs" in v.resource_health(KIND, "ingest")[1]
            ),
        )
        self.show("a workspace edit under driftPolicy Report")
        assert self.emu.workspace.get_settings(self.job_ids["ingest"])["max_concurrent_runs"] == 5
        return view

    def drift_under_correct(self) -> AppView:
        """The same edit on ``transform`` (Correct) is reverted; then ``ingest`` is switched to Correct in Git."""
        self.out("\n--- in the workspace: transform.max_concurrent_runs 1 -> 5 (driftPolicy Correct)")
        resets_before = self.emu.workspace.request_count("jobs/reset")
        self.emu.workspace.edit_settings(self.job_ids["transform"], {"max_concurrent_runs": 5})
        wait_for(
            lambda: (
                self.emu.workspace.request_count("jobs/reset") > resets_before
                and self.emu.workspace.get_settings(self.job_ids["transform"])["max_concurrent_runs"] == 1
            ),
            timeout=self.timeout,
            what="transform: the workspace edit reverted",
        )
        self.wait("transform Healthy", lambda v: v.resource_health(KIND, "transform")[0] == "Healthy")
        self.show("a workspace edit under driftPolicy Correct (reverted)")
        sha = self.commit(
            {"jobs/ingest.yaml": job_manifest("ingest", driftPolicy="Correct")}, "ingest: driftPolicy Correct"
        )
        view = self.wait("ingest restored and Healthy", self.settled(sha, dict.fromkeys(JOB_NAMES, "Healthy")))
        wait_for(
            lambda: self.emu.workspace.get_settings(self.job_ids["ingest"])["max_concurrent_runs"] == 1,
            timeout=self.timeout,
            what="ingest: restored in the workspace",
        )
        self.show("ingest switched to driftPolicy Correct in Git: restored")
        return view

    # --- step 4 ----------------------------------------------------------------------------------
    def failing_runs(self) -> AppView:
        """A failed run of ``transform`` (no healthPolicy) and of ``report`` (affectsReady)."""
        self.out("\n--- in the workspace: one failed run each of transform and report")
        for name in ("transform", "report"):
            self.emu.workspace.script_runs(self.job_ids[name], [Outcome.FAILED])
            self.emu.workspace.run_now(self.job_ids[name], {})
        self.clock.advance(6_000)

        def shown(v: AppView) -> bool:
            report, transform = v.resource_health(KIND, "report"), v.resource_health(KIND, "transform")
            return report[0] == "Degraded" and transform[0] == "Healthy" and "LastRunFailed" in transform[1]

        view = self.wait("report Degraded (affectsReady), transform Healthy (run failure not counted)", shown)
        self.show("failed runs, with and without healthPolicy.affectsReady")
        return view

    # --- step 5 ----------------------------------------------------------------------------------
    def prune_a_job(self) -> tuple[tuple[str, str], AppView]:
        """Remove ``report`` from Git. The workspace holds the ``jobs/delete`` call until Argo CD showed the
        deletion, then answers it. Returns the health shown while deleting and the final view."""
        deletes_before = self.emu.workspace.request_count("jobs/delete")
        self.emu.workspace.inject_hang("jobs/delete", count=1)
        try:
            sha = self.commit({"jobs/report.yaml": None}, "remove the report job")
            deleting = self.wait(
                "report pruned, waiting for its Databricks job to be deleted",
                lambda v: v.resource_health(KIND, "report")[1].startswith("Deleting:"),
            )
            self.show("a commit removing a job: pruned, the finalizer waits on Databricks")
        finally:
            self.emu.workspace.release_hangs()
        health_while_deleting = deleting.resource_health(KIND, "report")
        wait_for(lambda: self.job("report") is None, timeout=self.timeout, what="report: finalizer released")
        view = self.wait(
            "Synced without report",
            lambda v: (
                self.settled(sha, {"ingest": "Healthy", "transform": "Healthy"})(v)
                and v.resource(KIND, "report") is None
            ),
        )
        assert self.job_ids["report"] not in self.emu.workspace.job_ids()
        assert self.emu.workspace.request_count("jobs/delete") - deletes_before >= 1
        self.show("after the prune")
        return health_while_deleting, view

    def summary(self) -> str:
        """Every step's record, and what the sampler saw of the Application's sync status."""
        samples = list(self.sampler.samples)
        flips = self.sampler.out_of_sync_after_synced()
        counts: dict[str, int] = {}
        for s in samples:
            counts[s.sync] = counts.get(s.sync, 0) + 1
        tally = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        sampled = (
            f"==> sync status sampled every {self.sampler.interval:g}s: {len(samples)} samples ({tally}); "
            f"OutOfSync at a revision already shown Synced: {len(flips)}"
        )
        return "\n\n".join([*(f"==> {title}\n{text}" for title, text in self.record), sampled])


def run_demo_argocd() -> int:
    """Run the story on fresh local parts; 0 when every step happened, 1 otherwise (reason printed)."""
    workdir = Path(tempfile.mkdtemp(prefix="dbjobs-demo-argocd-"))
    plane = ControlPlane(workdir=workdir / "controlplane")
    controller: ControllerProcess | None = None
    argo: ArgoCD | None = None
    loop: ArgoLoop | None = None
    token = secrets.token_hex(16)
    namespace = "dbjobs-argocd-demo"

    def say(text: str) -> None:
        print(f"\n==> {text}", flush=True)

    try:
        say("starting a real kube-apiserver + etcd, the Databricks Jobs API emulator and the controller")
        plane.start()
        admin = Kubectl(plane.admin_kubeconfig)
        clock = ManualClock()
        with EmulatorServer(token=token, clock=clock, run_timing=RunTiming(1000, 5000)) as emu:
            install_crds_and_rbac(admin, CONTROLLER_USER)
            admin("create", "namespace", namespace)
            kubectl = Kubectl(plane.admin_kubeconfig, namespace=namespace)
            kubectl.apply(workspace_manifests(namespace, emu.url, token))
            controller = ControllerProcess(
                plane.user_kubeconfig(CONTROLLER_USER), workdir / "controller.log", poll_interval=2.0
            )
            controller.start()
            say("starting Argo CD v3.6.1 in core mode (application controller, repo-server, Redis)")
            argo = ArgoCD(admin, workdir / "argocd")
            argo.start()
            repo = GitRepo(workdir / "git")
            print(f"    Git repository {repo.url}; Argo CD logs in {workdir / 'argocd'}")
            loop = ArgoLoop(argo, kubectl, emu, clock, repo, out=lambda text: print(text, flush=True))
            failed, _ = loop.crd_with_server_side_apply()
            print(f"    (client-side apply was refused: {failed[:300]})")
            loop.commit_three_jobs()
            loop.change_a_task()
            loop.drift_under_report()
            loop.drift_under_correct()
            loop.failing_runs()
            loop.prune_a_job()
            loop.sampler.stop()
            flips = loop.sampler.out_of_sync_after_synced()
            print(
                f"    {len(loop.sampler.samples)} samples of the Application's sync status: "
                f"{'never' if not flips else len(flips)} OutOfSync at an already Synced revision"
            )
            if flips:
                print("FAIL: Argo CD showed OutOfSync without a new commit")
                return 1
        say("demo-argocd complete: Git, Argo CD, the controller and the workspace agreed at every step")
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    except (ControlPlaneError, MissingComponentError, TimeoutError, AssertionError, RuntimeError) as err:
        print(f"FAIL: {err}", file=sys.stderr)
        if controller:
            print(controller.log_tail(), file=sys.stderr)
        print(f"(logs kept in {workdir})", file=sys.stderr)
        return 1
    finally:
        if loop:
            loop.sampler.stop()
        if argo:
            argo.stop()
        if controller:
            controller.stop()
        plane.stop()
