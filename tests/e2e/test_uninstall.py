"""Uninstall and re-install on the real apiserver: ``dbjobs uninstall --jobs keep`` releases every finalizer so
deleting the CRD never hangs and the Databricks jobs stay; a re-install whose resources have the same
namespace/name adopts those jobs (no second job); ``--jobs delete`` deletes the jobs through the running
controller (``deletionPolicy: Orphan`` ones stay); ``--deployment`` scales the controller to 0 first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.compare import OWNER_TAG, owner_key
from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import (
    CRD_DIR,
    REPO_ROOT,
    ControllerProcess,
    Kubectl,
    condition,
    job_manifest,
    wait_for,
)

pytestmark = pytest.mark.e2e


def notebook_job(name: str) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": f"/{name}"}}]}


def synced(ns: Kubectl, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        return obj if obj and cond and cond["status"] == "True" and obj["status"].get("jobId") else None  # type: ignore[no-any-return]

    return wait_for(ready, timeout=60, what=f"{name} Synced with a job id")


def uninstall(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "controller", "uninstall", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
    )


def owned_jobs(emulator: EmulatorServer, namespace: str, name: str) -> list[int]:
    key = owner_key("", namespace, name)
    return [
        j
        for j in emulator.workspace.job_ids()
        if emulator.workspace.get_settings(j).get("tags", {}).get(OWNER_TAG) == key
    ]


def test_keep_releases_finalizers_and_a_reinstall_adopts_the_same_jobs(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    names = ["keep-a", "keep-b"]
    ns.apply([job_manifest(n, notebook_job(n)) for n in names])
    before = {n: synced(ns, n)["status"]["jobId"] for n in names}

    controller.stop()  # as the chart's hook does: nothing may re-add the finalizer
    try:
        done = uninstall(ns.kubeconfig, "--jobs", "keep", "-n", str(ns.namespace))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count("is kept") == 2, done.stdout
        for n in names:
            assert "dbjobs.io/finalizer" not in (ns.get("databricksjob", n)["metadata"].get("finalizers") or [])
        # What deleting the CRD does to every resource: gone at once, no controller needed.
        ns("delete", "databricksjob", *names, "--timeout=30s")
        assert all(j in emulator.workspace.job_ids() for j in before.values()), "a kept job was deleted"
    finally:
        controller.start()

    # Re-install: the same manifests, new uids.
    ns.apply([job_manifest(n, notebook_job(n)) for n in names])
    after = {n: synced(ns, n)["status"]["jobId"] for n in names}
    assert after == before, "a re-installed resource did not adopt its job"
    # The emulator is shared with the session's other namespaces, whose resources may create jobs meanwhile:
    # count the jobs that carry these names, not every jobs/create.
    for n in names:
        named = [j for j in emulator.workspace.job_ids() if emulator.workspace.get_settings(j).get("name") == n]
        assert named == [before[n]], f"a second job named {n} was created"
        assert owned_jobs(emulator, str(ns.namespace), n) == [before[n]]


def test_delete_removes_every_resource_and_its_job_but_orphans(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    ns.apply(
        [
            job_manifest("gone", notebook_job("gone")),
            job_manifest("stays", notebook_job("stays"), deletionPolicy="Orphan"),
        ]
    )
    gone, stays = synced(ns, "gone")["status"]["jobId"], synced(ns, "stays")["status"]["jobId"]
    done = uninstall(ns.kubeconfig, "--jobs", "delete", "-n", str(ns.namespace), "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ns.get("databricksjobs")["items"] == []
    assert gone not in emulator.workspace.job_ids()
    assert stays in emulator.workspace.job_ids()


@pytest.fixture()
def fresh_cluster(tmp_path: Path) -> Any:
    """A control plane of its own: these tests delete the CRD, which the shared one keeps."""
    with ControlPlane(workdir=tmp_path / "cp") as cp:
        admin = Kubectl(cp.admin_kubeconfig)
        admin.apply(CRD_DIR, "--server-side")

        def established() -> bool:
            crd = admin.get("crd", "databricksjobs.dbjobs.io")
            return (condition(crd, "Established") or {}).get("status") == "True"

        wait_for(established, timeout=60, what="CRD Established")
        yield admin


def test_keep_lets_the_crd_be_deleted_without_hanging(fresh_cluster: Kubectl) -> None:
    admin = fresh_cluster
    admin("create", "namespace", "team")
    held = job_manifest("held", notebook_job("held"))
    held["metadata"].update(namespace="team", finalizers=["dbjobs.io/finalizer"])
    admin.apply([held])
    # No controller runs here, as after `helm uninstall`: without the hook the CRD would stay Terminating.
    done = uninstall(admin.kubeconfig, "--jobs", "keep")
    assert done.returncode == 0, done.stdout + done.stderr
    admin("delete", "crd", "databricksjobs.dbjobs.io", "--timeout=60s")
    assert admin.get("crd", "databricksjobs.dbjobs.io") is None


def test_keep_scales_the_controller_deployment_to_zero_first(fresh_cluster: Kubectl) -> None:
    admin = fresh_cluster
    admin("create", "namespace", "dbjobs-system")
    admin("-n", "dbjobs-system", "create", "deployment", "dbjobs", "--image=dbjobs-controller:0.1.0", "--replicas=1")
    done = uninstall(admin.kubeconfig, "--jobs", "keep", "--deployment", "dbjobs-system/dbjobs", "--timeout", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scaled deployment dbjobs-system/dbjobs to 0" in done.stdout
    assert Kubectl(admin.kubeconfig, "dbjobs-system").get("deployment", "dbjobs")["spec"]["replicas"] == 0


def test_without_a_cluster_it_says_so(tmp_path: Path) -> None:
    done = uninstall(tmp_path / "no-such-kubeconfig", "--jobs", "keep")
    assert done.returncode == 2
    assert "no usable Kubernetes configuration" in done.stdout


def test_delete_confirms_what_the_mass_deletion_guard_holds(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    """``--jobs delete`` of more jobs than the guard's budget (10): choosing it is the person's confirmation."""
    names = [f"many-{i}" for i in range(12)]
    ns.apply([job_manifest(n, notebook_job(n)) for n in names])
    ids = {synced(ns, n)["status"]["jobId"] for n in names}
    done = uninstall(ns.kubeconfig, "--jobs", "delete", "-n", str(ns.namespace), "--timeout", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "confirmed the held deletions" in done.stdout
    assert ns.get("databricksjobs")["items"] == []
    assert not ids & set(emulator.workspace.job_ids())
