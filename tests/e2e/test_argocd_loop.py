"""The whole loop on real parts: Git → Argo CD v3.6.1 → the dbjobs controller → the Databricks workspace.

Argo CD runs in core mode against the local control plane (application controller with
``--persist-resource-health``, repo-server, Redis; ``dbjobs_testkit.argocd``), with our health check from
the shipped ``argocd-cm``. An Application follows a local Git repository (``file://``) that the test writes
with gitpython. Everything is asserted through Argo CD's own status (``kubectl get applications``, each
resource's persisted health) and the workspace (the emulator, on a manual clock so runs end on cue):

* the DatabricksJob CRD synced by Argo CD: refused with client-side apply, Synced with ``ServerSideApply=true``;
* a commit of three jobs → Synced, the jobs created, every resource Healthy;
* a commit changing a task → exactly one ``jobs/reset``, back to Healthy;
* a workspace edit under ``driftPolicy: Report`` → Degraded naming the drift; under ``Correct`` → reverted, Healthy;
* a failed run → Degraded with ``healthPolicy.affectsReady``, still Healthy without it;
* a commit removing a job, with prune → the deletion message while the job is deleted, then the job gone
  from the workspace and the finalizer released;
* and, sampled throughout, Argo CD never shows OutOfSync at a revision it had shown Synced (nothing the
  controller writes — finalizer, annotations, status — makes the Application drift from Git).

What Argo CD showed at each step is printed (``pytest -s``) and written to ``argocd-loop.txt`` in the test's
temporary directory. The steps are ``dbjobs_testkit.demo_argocd.ArgoLoop``, the same ones ``make demo-argocd``
tells a person.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbjobs_testkit.argocd import ArgoCD
from dbjobs_testkit.demo_argocd import JOB_NAMES, KIND, ArgoLoop, GitRepo
from dbjobs_testkit.emulator import EmulatorServer, ManualClock, RunTiming
from dbjobs_testkit.harness import ControllerProcess, Kubectl, MissingComponentError, workspace_manifests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def argo(admin: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArgoCD]:
    argo = ArgoCD(admin, tmp_path_factory.mktemp("argocd"))
    try:
        argo.start()
    except MissingComponentError as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield argo
    finally:
        argo.stop()
        print(f"Argo CD logs: {argo.workdir}")


@pytest.fixture()
def loop(argo: ArgoCD, admin: Kubectl, controller: ControllerProcess, tmp_path: Path) -> Iterator[ArgoLoop]:
    # A private workspace on a manual clock: the failed runs of the story end when it says so.
    token = secrets.token_hex(16)
    clock = ManualClock()
    with EmulatorServer(token=token, clock=clock, run_timing=RunTiming(1000, 5000)) as emu:
        namespace = f"argocd-loop-{secrets.token_hex(3)}"
        admin("create", "namespace", namespace)
        kubectl = Kubectl(admin.kubeconfig, namespace=namespace)
        # Set up by the platform team, not in Git: the workspace and its token Secret.
        kubectl.apply(workspace_manifests(namespace, emu.url, token))
        loop = ArgoLoop(argo, kubectl, emu, clock, GitRepo(tmp_path / "git"))
        try:
            yield loop
        finally:
            loop.sampler.stop()
            (tmp_path / "argocd-loop.txt").write_text(loop.summary() + "\n")
            print(f"\nWhat Argo CD showed, step by step ({tmp_path / 'argocd-loop.txt'}):\n\n{loop.summary()}")
            # Jobs deleted while their workspace still answers; Applications first so nothing re-creates them.
            argo.kubectl("delete", "application", "--all", "--wait=false", check=False)
            kubectl("delete", "databricksjob", "--all", "--wait=true", "--timeout=60s", check=False)
            admin("delete", "namespace", namespace, "--wait=false", check=False)


def test_git_to_argocd_to_databricks(loop: ArgoLoop, controller: ControllerProcess) -> None:
    emu = loop.emu.workspace

    # 0. The CRD through Argo CD: too large for client-side apply, fine with server-side apply.
    refused, crds = loop.crd_with_server_side_apply()
    assert "Too long" in refused, refused
    assert crds.sync == "Synced" and crds.health == "Healthy"
    assert crds.resource_health("CustomResourceDefinition", "databricksjobs.dbjobs.io")[0] == "Healthy"

    # 1. Three jobs committed: created in the workspace, each Healthy with our check's message.
    view = loop.commit_three_jobs()
    assert view.health == "Healthy"
    assert sorted(loop.job_ids) == sorted(JOB_NAMES)
    assert set(loop.job_ids.values()) <= set(emu.job_ids())
    for name in JOB_NAMES:
        status, message = view.resource_health(KIND, name)
        assert (status, message) == ("Healthy", f"JobAvailable: Databricks job {loop.job_ids[name]} exists")
    # Never a second job: one job per resource in the workspace, one jobs/create each.
    names = sorted(emu.get_settings(j)["name"] for j in emu.job_ids())
    assert names == sorted(JOB_NAMES), f"jobs in the workspace: {names}\n{controller.log_tail()}"
    assert emu.request_count("jobs/create") == 3, f"{emu.request_log}\n{controller.log_tail()}"

    # 2. One task changed in Git: exactly one jobs/reset, back to Healthy.
    resets, seen = loop.change_a_task()
    assert resets == 1, f"{resets} jobs/reset calls for one commit"
    assert seen[-1][0] == "Healthy", seen

    # 3. Drift: Report → Degraded naming the path; Correct → reverted.
    view = loop.drift_under_report()
    status, message = view.resource_health(KIND, "ingest")
    assert status == "Degraded"
    assert message.startswith("DriftDetected: ") and "max_concurrent_runs" in message and "Report" in message
    assert view.health == "Degraded" and view.sync == "Synced"
    view = loop.drift_under_correct()
    assert view.health == "Healthy"

    # 4. A failed run counts only where healthPolicy.affectsReady says so.
    view = loop.failing_runs()
    assert view.resource_health(KIND, "report")[1].startswith("LastRunFailed: run "), view.table()
    transform = view.resource_health(KIND, "transform")
    assert transform[0] == "Healthy" and "not counted" in transform[1], transform
    assert view.health == "Degraded" and view.sync == "Synced"

    # 5. A job removed from Git: pruned, deleted in the workspace, finalizer released.
    deleting, view = loop.prune_a_job()
    assert deleting[0] == "Progressing"
    assert f"delete Databricks job {loop.job_ids['report']}" in deleting[1] and "dbjobs.io/finalizer" in deleting[1]
    assert loop.job_ids["report"] not in emu.job_ids()
    assert view.health == "Healthy" and view.sync == "Synced"

    # Throughout: never OutOfSync at a revision already shown Synced.
    loop.sampler.stop()
    assert len(loop.sampler.samples) >= 10
    flips = loop.sampler.out_of_sync_after_synced()
    assert not flips, f"Argo CD showed OutOfSync without a new commit: {flips[:5]}\n{controller.log_tail()}"
