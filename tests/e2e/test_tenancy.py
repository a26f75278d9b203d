"""Tenancy a platform team sets (issue 11 item 5), end to end on the local control plane and the emulator.

A ``ClusterDatabricksWorkspace`` (cluster-scoped; its token Secret in the controller's namespace, POD_NAMESPACE)
with a ``namespaceSelector`` and a ``policy`` (allowed run_as service principals, a required cost-centre tag, a
``{namespace}-`` name prefix, no existing clusters by default):

* a job in an admitted namespace is created, through the platform's Secret, and the cluster-scoped workspace's
  status is written;
* a job in a namespace the selector does not admit shows ``WorkspaceNotAllowed``: no ``jobs/create`` and no other
  write is made for it; labelling the namespace admits it and the job is created;
* a job that runs as a service principal the policy does not list, or lacks the required tag, shows
  ``PolicyViolation`` naming the field, and nothing is written to Databricks (the emulator's request log); fixing
  the manifest makes it Synced;
* a policy tightened under an existing job turns it ``PolicyViolation`` while the job stays in Databricks,
  untouched (no reset, no delete) and Ready;
* through the platform's shared credential a tenant can neither adopt another team's job, nor start one by its id,
  nor run a job as a group, nor make someone the owner a job without run_as runs as.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
ALLOWED_SP = "11111111-2222-3333-4444-555555555555"
OTHER_SP = "99999999-8888-7777-6666-555555555555"
WRITES = ("jobs/create", "jobs/reset", "jobs/update", "jobs/delete")


@dataclass
class Platform:
    """The platform's ClusterDatabricksWorkspace ``name``, admitting namespaces labelled ``label``."""

    admin: Kubectl
    emulator: EmulatorServer
    name: str
    label: tuple[str, str]

    def namespace(self, admitted: bool) -> Kubectl:
        name = f"e2e-ten-{secrets.token_hex(3)}"
        self.admin("create", "namespace", name)
        if admitted:
            self.admin("label", "namespace", name, f"{self.label[0]}={self.label[1]}")
        return Kubectl(self.admin.kubeconfig, namespace=name)

    def job(self, ns: Kubectl, name: str, **settings: Any) -> dict[str, Any]:
        body = {
            "name": f"{ns.namespace}-{name}",
            "tags": {"cost-centre": "cc-42"},
            "run_as": {"service_principal_name": ALLOWED_SP},
            "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/x"}}],
        }
        manifest = job_manifest(name, {**body, **settings}, workspace=self.name)
        manifest["spec"]["workspaceRef"]["kind"] = "ClusterDatabricksWorkspace"
        return manifest

    def writes(self) -> int:
        return sum(self.emulator.workspace.request_count(path, "POST") for path in WRITES)


@pytest.fixture()
def platform(
    admin: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess
) -> Iterator[Platform]:
    home = controller.extra_env["POD_NAMESPACE"]  # the session's controller "runs" there: its Secrets are read there
    admin("create", "namespace", home, check=False)
    suffix = secrets.token_hex(3)
    name, label = f"platform-{suffix}", ("dbjobs.io/tenant", f"analytics-{suffix}")
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": home, "labels": {"dbjobs.io/credentials": "true"}},
        "stringData": {"token": emulator_token},
    }
    workspace = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "ClusterDatabricksWorkspace",
        "metadata": {"name": name},
        "spec": {
            "host": emulator.url,
            "tokenSecretRef": {"name": name},
            "namespaceSelector": {"matchLabels": {label[0]: label[1]}},
            "policy": {
                "runAs": {"allowedServicePrincipals": [ALLOWED_SP]},
                "requiredTags": ["cost-centre"],
                "namePrefix": "{namespace}-",
            },
        },
    }
    admin.apply([token_secret, workspace])
    yield Platform(admin, emulator, name, label)
    admin("delete", "clusterdatabricksworkspace", name, "--wait=false", check=False)


def synced(ns: Kubectl, name: str, generation: int = 1) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        ok = cond and cond["status"] == "True" and obj["status"].get("observedGeneration", 0) >= generation
        return obj if ok and obj["status"].get("jobId") else None  # type: ignore[no-any-return]

    return wait_for(done, timeout=60, what=f"{name} Synced at generation {generation}")


def refused(ns: Kubectl, name: str, reason: str, generation: int = 1) -> dict[str, Any]:
    """The Synced condition once ``name`` shows ``reason`` for ``generation``."""

    def shown() -> dict[str, Any] | None:
        cond = condition(ns.get("databricksjob", name), "Synced")
        ok = cond and cond["reason"] == reason and cond.get("observedGeneration") == generation
        return cond if ok else None  # type: ignore[return-value]

    return wait_for(shown, timeout=60, what=f"{name} Synced=False {reason} at generation {generation}")


def named(emulator: EmulatorServer, job_name: str) -> list[int]:
    ws = emulator.workspace
    return [i for i in ws.job_ids() if ws.get_settings(i).get("name") == job_name]


def test_an_admitted_namespace_creates_through_the_platforms_secret(platform: Platform) -> None:
    ns = platform.namespace(admitted=True)
    ns.apply([platform.job(ns, "etl")])
    obj = synced(ns, "etl")
    live = platform.emulator.workspace.get_settings(obj["status"]["jobId"])
    assert live["tags"]["cost-centre"] == "cc-42" and live["run_as"] == {"service_principal_name": ALLOWED_SP}

    def reachable() -> bool:
        ws = platform.admin.get("clusterdatabricksworkspace", platform.name)
        return (condition(ws, "Reachable") or {}).get("status") == "True" and ws["status"]["jobs"]["resources"] >= 1

    wait_for(reachable, timeout=60, what="the ClusterDatabricksWorkspace's status written by the controller")


def test_a_namespace_not_admitted_gets_workspace_not_allowed_and_makes_no_call(platform: Platform) -> None:
    ns = platform.namespace(admitted=False)
    # Writes only: the session's emulator also serves the other namespaces' reconciles, whose jobs/get calls
    # would count here; a read about this job could not change anything, and no job carries its name below.
    before = {path: platform.emulator.workspace.request_count(path) for path in WRITES}
    ns.apply([platform.job(ns, "outsider")])
    cond = refused(ns, "outsider", "WorkspaceNotAllowed")
    assert f"does not admit namespace {ns.namespace}" in cond["message"], cond
    obj = ns.get("databricksjob", "outsider")
    assert condition(obj, "Ready")["reason"] == "WorkspaceNotAllowed"  # type: ignore[index]
    after = {path: platform.emulator.workspace.request_count(path) for path in before}
    assert after == before, f"Jobs calls made for a job the platform does not admit: {before} -> {after}"
    assert named(platform.emulator, f"{ns.namespace}-outsider") == []
    # The platform admits the namespace (a label): the job is created without any change to it.
    platform.admin("label", "namespace", ns.namespace, f"{platform.label[0]}={platform.label[1]}")
    job_id = synced(ns, "outsider")["status"]["jobId"]
    assert named(platform.emulator, f"{ns.namespace}-outsider") == [job_id]


def test_a_policy_violation_names_the_field_and_writes_nothing_until_fixed(platform: Platform) -> None:
    ns = platform.namespace(admitted=True)
    writes = platform.writes()
    ns.apply([platform.job(ns, "rogue", run_as={"service_principal_name": OTHER_SP})])
    cond = refused(ns, "rogue", "PolicyViolation")
    assert "spec.settings.run_as.service_principal_name" in cond["message"] and OTHER_SP in cond["message"], cond
    assert platform.writes() == writes, "a job the policy refuses must not be written"
    untagged = platform.job(ns, "rogue")
    untagged["spec"]["settings"]["tags"] = {"team": "analytics"}
    ns.apply([untagged])
    cond = refused(ns, "rogue", "PolicyViolation", generation=2)
    assert "spec.settings.tags.cost-centre" in cond["message"], cond
    assert "run_as" not in cond["message"], cond
    assert platform.writes() == writes
    assert named(platform.emulator, f"{ns.namespace}-rogue") == []
    ns.apply([platform.job(ns, "rogue")])  # fixed: an allowed principal, the tag
    job_id = synced(ns, "rogue", generation=3)["status"]["jobId"]
    assert named(platform.emulator, f"{ns.namespace}-rogue") == [job_id]


def test_a_tightened_policy_refuses_an_existing_job_without_touching_it(platform: Platform) -> None:
    ns = platform.namespace(admitted=True)
    ns.apply([platform.job(ns, "kept")])
    job_id = synced(ns, "kept")["status"]["jobId"]
    writes = platform.writes()
    patch = '{"spec": {"policy": {"requiredTags": ["cost-centre", "owner"]}}}'
    platform.admin("patch", "clusterdatabricksworkspace", platform.name, "--type=merge", "-p", patch)
    cond = refused(ns, "kept", "PolicyViolation")
    assert "spec.settings.tags.owner" in cond["message"], cond
    obj = ns.get("databricksjob", "kept")
    assert condition(obj, "Ready")["status"] == "True", obj["status"]  # type: ignore[index]
    assert platform.writes() == writes, "a tightened policy must not reset or delete the job"
    assert job_id in platform.emulator.workspace.job_ids()


def test_a_tenant_cannot_take_over_run_or_own_through_the_platforms_credential(platform: Platform) -> None:
    """Found as a new user would: through the platform's shared credential a tenant adopted and then deleted another
    team's job, started another team's job by id, ran a job as a group, and made any user the owner (a job without
    run_as runs as its owner). Each is a PolicyViolation on a ClusterDatabricksWorkspace by default; nothing is sent."""
    other = platform.emulator.workspace.create_job(
        {"name": "payroll-prod", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/p"}}]}, "2.2"
    )
    ns = platform.namespace(admitted=True)
    writes = platform.writes()
    adopt = platform.job(ns, "grab")
    adopt["spec"]["adopt"] = {"name": "payroll-prod"}
    run_other = platform.job(ns, "runner", tasks=[{"task_key": "t", "run_job_task": {"job_id": other}}])
    by_group = platform.job(ns, "group", run_as={"group_name": "admins"})
    owner = platform.job(ns, "owner")
    del owner["spec"]["settings"]["run_as"]
    owner["spec"]["permissions"] = [{"userName": "ceo@corp.example", "level": "IS_OWNER"}]
    ns.apply([adopt, run_other, by_group, owner])
    assert "spec.adopt" in refused(ns, "grab", "PolicyViolation")["message"]
    assert "run_job_task.job_id" in refused(ns, "runner", "PolicyViolation")["message"]
    assert "run_as.group_name" in refused(ns, "group", "PolicyViolation")["message"]
    assert "ceo@corp.example" in refused(ns, "owner", "PolicyViolation")["message"]
    assert platform.writes() == writes, "nothing may be written for a refused job"
    assert platform.emulator.workspace.get_settings(other)["name"] == "payroll-prod"
