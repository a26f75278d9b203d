"""Tenancy (issue 11 item 5): the namespaceSelector matcher and the policy check of
:mod:`controller.reconcile.tenancy`, the registry-side checks of :mod:`controller.operator.tenancy` (which
workspace kind a job names, which namespaces a ClusterDatabricksWorkspace admits, PolicyViolation and
WorkspaceNotAllowed as terminal problems), and the generated ClusterDatabricksWorkspace CRD."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controller.api import crdgen
from controller.api.models import ClusterDatabricksWorkspaceSpec, DatabricksJobSpec, WorkspaceKind
from controller.api.tenancy import LabelSelector, WorkspacePolicy
from controller.operator import tenancy as edge
from controller.operator.registry import JobResource, Registry
from controller.reconcile import tenancy
from controller.reconcile.outcome import Decision, Facts, Result, Step, settle
from controller.reconcile.reasons import Reason

pytestmark = pytest.mark.unit
SP = "11111111-2222-3333-4444-555555555555"


def sel(**raw: Any) -> LabelSelector:
    return LabelSelector.model_validate(raw)


@pytest.mark.parametrize(
    ("selector", "labels", "admitted"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        ({"matchLabels": {"team": "a"}}, {}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]}]},
            {"tier": "gold"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, {"tier": "gold"}, False),
        ({"matchExpressions": [{"key": "dbjobs", "operator": "Exists"}]}, {"dbjobs": ""}, True),
        ({"matchExpressions": [{"key": "dbjobs", "operator": "DoesNotExist"}]}, {"dbjobs": ""}, False),
        (
            {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "frozen", "operator": "DoesNotExist"}]},
            {"team": "a", "frozen": "yes"},
            False,
        ),
    ],
)
def test_the_selector_matches_as_the_apiserver_does(
    selector: dict[str, Any], labels: dict[str, str], admitted: bool
) -> None:
    assert tenancy.admits(sel(**selector), labels) is admitted


def test_no_selector_admits_no_namespace() -> None:
    assert tenancy.admits(None, {"team": "a"}) is False


def test_a_requirement_needs_values_exactly_for_in_and_not_in() -> None:
    with pytest.raises(ValidationError):
        sel(matchExpressions=[{"key": "a", "operator": "In", "values": []}])
    with pytest.raises(ValidationError):
        sel(matchExpressions=[{"key": "a", "operator": "Exists", "values": ["x"]}])


def settings(**extra: Any) -> dict[str, Any]:
    return {"name": "team-a-etl", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}], **extra}


def paths(found: list[tenancy.Violation]) -> list[str]:
    return [v.path for v in found]


def test_a_teams_own_workspace_without_policy_restricts_nothing() -> None:
    s = settings(run_as={"user_name": "a@example.com"}, tasks=[{"task_key": "t", "existing_cluster_id": "0101"}])
    assert tenancy.violations(s, None, platform=False, namespace="team-a") == []


def test_a_platform_workspace_without_policy_refuses_run_as_and_existing_clusters() -> None:
    s = settings(
        run_as={"service_principal_name": SP},
        tasks=[
            {"task_key": "t", "existing_cluster_id": "0101", "notebook_task": {"notebook_path": "/x"}},
            {
                "task_key": "loop",
                "for_each_task": {"inputs": "[1]", "task": {"task_key": "i", "existing_cluster_id": "0202"}},
            },
        ],
    )
    found = tenancy.violations(s, None, platform=True, namespace="team-a")
    assert paths(found) == [
        "spec.settings.run_as.service_principal_name",
        "spec.settings.tasks[t].existing_cluster_id",
        "spec.settings.tasks[loop].for_each_task.task.existing_cluster_id",
    ]
    assert "no principal is allowed" in found[0].message
    assert tenancy.violations(settings(), None, platform=True, namespace="team-a") == []


def test_run_as_must_be_listed_and_can_be_required() -> None:
    policy = WorkspacePolicy.model_validate(
        {"runAs": {"allowedServicePrincipals": [SP], "allowedUsers": ["etl@example.com"]}}
    )
    ok = [{"service_principal_name": SP}, {"user_name": "etl@example.com"}, None]
    for run_as in ok:
        s = settings(run_as=run_as) if run_as else settings()
        assert tenancy.violations(s, policy, platform=True, namespace="n") == [], run_as
    found = tenancy.violations(
        settings(run_as={"user_name": "boss@example.com"}), policy, platform=False, namespace="n"
    )
    assert paths(found) == ["spec.settings.run_as.user_name"]
    assert "'boss@example.com' is not allowed" in found[0].message and SP in found[0].message
    required = WorkspacePolicy.model_validate({"runAs": {"allowedServicePrincipals": [SP], "required": True}})
    assert paths(tenancy.violations(settings(), required, platform=True, namespace="n")) == ["spec.settings.run_as"]


def test_required_tags_name_prefix_and_existing_clusters_each_name_their_field() -> None:
    policy = WorkspacePolicy.model_validate(
        {"requiredTags": ["cost-centre", "owner"], "namePrefix": "{namespace}-", "allowExistingClusters": False}
    )
    s = settings(
        name="etl", tags={"cost-centre": " ", "team": "a"}, tasks=[{"task_key": "t", "existing_cluster_id": "c"}]
    )
    found = tenancy.violations(s, policy, platform=False, namespace="team-a")
    assert paths(found) == [
        "spec.settings.name",
        "spec.settings.tasks[t].existing_cluster_id",
        "spec.settings.tags.cost-centre",
        "spec.settings.tags.owner",
    ]
    assert "'team-a-'" in found[0].message
    message = tenancy.message(found)
    assert all(p in message for p in paths(found))
    fixed = settings(name="team-a-etl", tags={"cost-centre": "cc-1", "owner": "a"})
    assert tenancy.violations(fixed, policy, platform=False, namespace="team-a") == []
    allowed = WorkspacePolicy.model_validate({"allowExistingClusters": True})
    clustered = settings(tasks=[{"task_key": "t", "existing_cluster_id": "c"}])
    assert tenancy.violations(clustered, allowed, platform=True, namespace="n") == []


def test_the_message_names_the_first_violations_and_counts_the_rest() -> None:
    found = [tenancy.Violation(f"spec.settings.tasks[{i}].existing_cluster_id", "no") for i in range(25)]
    message = tenancy.message(found)
    assert "tasks[9]" in message and "tasks[10]" not in message and "and 15 more" in message


# -- the registry side --------------------------------------------------------------------------------------------
def job(namespace: str, ref: dict[str, Any], **settings_: Any) -> JobResource:
    spec = {"workspaceRef": ref, "settings": settings(**settings_)}
    body = {"metadata": {"uid": f"u-{namespace}", "namespace": namespace, "name": "etl", "generation": 1}, "spec": spec}
    return JobResource.from_body(body)


def registry(cluster_spec: dict[str, Any], namespaces: dict[str, dict[str, str]]) -> Registry:
    reg = Registry()
    reg.workspace_event({"metadata": {"name": "shared", "uid": "w", "generation": 1}, "spec": cluster_spec}, "ADDED")
    for name, labels in namespaces.items():
        reg.namespace_event({"metadata": {"name": name, "labels": labels}}, "ADDED")
    return reg


CLUSTER_REF = {"name": "shared", "kind": WorkspaceKind.CLUSTER.value}
HOST = {"host": "https://dbc-1.cloud.databricks.com", "tokenSecretRef": {"name": "t"}}


def test_a_job_names_its_own_namespaces_workspace_or_the_platforms() -> None:
    assert job("team-a", {"name": "default"}).workspace == ("team-a", "default")
    assert job("team-a", {"name": "default", "kind": "DatabricksWorkspace"}).workspace == ("team-a", "default")
    assert job("team-a", CLUSTER_REF).workspace == ("", "shared")


def test_the_platforms_workspace_admits_by_namespace_labels_and_enforces_its_policy() -> None:
    spec = {**HOST, "namespaceSelector": {"matchLabels": {"team": "a"}}, "policy": {"requiredTags": ["cost-centre"]}}
    reg = registry(spec, {"team-a": {"team": "a"}, "team-x": {}})
    inside, outside = job("team-a", CLUSTER_REF), job("team-x", CLUSTER_REF)
    assert reg.workspaces[("", "shared")].cluster
    assert edge.admitted(reg, inside) and not edge.admitted(reg, outside)
    refused = edge.problem(reg, outside, DatabricksJobSpec.model_validate(outside.spec))
    assert refused is not None and refused.reason is Reason.WORKSPACE_NOT_ALLOWED and not refused.retry
    assert "team-x" in refused.message
    violation = edge.problem(reg, inside, DatabricksJobSpec.model_validate(inside.spec))
    assert violation is not None and violation.reason is Reason.POLICY_VIOLATION and not violation.retry
    assert "spec.settings.tags.cost-centre" in violation.message
    tagged = job("team-a", CLUSTER_REF, tags={"cost-centre": "cc"})
    assert edge.problem(reg, tagged, DatabricksJobSpec.model_validate(tagged.spec)) is None
    # relabelled: the selector admits it now (the manager queues the namespace's jobs on this True)
    assert reg.namespace_event({"metadata": {"name": "team-x", "labels": {"team": "a"}}}, "MODIFIED")
    assert edge.admitted(reg, outside)


def test_a_controller_watching_some_namespaces_refuses_the_platforms_workspace() -> None:
    reg = registry({**HOST, "namespaceSelector": {}}, {"team-a": {}})
    reg.cluster_wide = False
    res = job("team-a", CLUSTER_REF)
    assert not edge.admitted(reg, res)  # no member of any runtime: nothing is resolved or observed for it
    refused = edge.problem(reg, res, DatabricksJobSpec.model_validate(res.spec))
    assert (
        refused is not None and refused.reason is Reason.WORKSPACE_NOT_ALLOWED and "watchNamespaces" in refused.message
    )


def test_policy_violation_is_terminal_for_the_generation_and_keeps_an_existing_job_ready() -> None:
    res = job("team-a", CLUSTER_REF, run_as={"service_principal_name": SP})  # no policy.runAs: none allowed
    spec = DatabricksJobSpec.model_validate(res.spec)
    problem = edge.problem(registry({**HOST, "namespaceSelector": {}}, {"team-a": {}}), res, spec)
    assert problem is not None
    ready = {"type": "Ready", "status": "True", "reason": "JobAvailable", "message": "job 7 exists"}
    old = {"jobId": 7, "conditions": [{**ready, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2}]}
    facts = Facts(spec=spec, generation=3, owner="o", status=old, problem=problem)
    new = settle(facts, Decision(Step.NONE, problem=problem), Result())
    assert new is not None and new.status["observedGeneration"] == 3
    conds = {c["type"]: c for c in new.status["conditions"]}
    assert conds["Synced"]["reason"] == "PolicyViolation" and conds["Ready"]["status"] == "True"
    assert [e.reason.value for e in new.events] == ["PolicyViolation"]


def test_the_cluster_crd_is_cluster_scoped_with_selector_and_policy() -> None:
    crd = yaml.safe_load((crdgen.CRD_DIR / crdgen.CLUSTER_WORKSPACE_FILE).read_text())
    assert crd["spec"]["scope"] == "Cluster" and crd["spec"]["names"]["kind"] == "ClusterDatabricksWorkspace"
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert {"host", "tokenSecretRef", "auth", "policy", "namespaceSelector"} <= set(spec)
    namespaced = yaml.safe_load((crdgen.CRD_DIR / crdgen.WORKSPACE_FILE).read_text())
    ns_spec = namespaced["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert "policy" in ns_spec and "namespaceSelector" not in ns_spec


def test_the_platform_example_is_a_valid_cluster_workspace() -> None:
    path = crdgen.CRD_DIR.parent / "manifests" / "cluster-workspace-example.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert [d["kind"] for d in docs] == ["Secret", "ClusterDatabricksWorkspace"]
    spec = ClusterDatabricksWorkspaceSpec.model_validate(docs[1]["spec"])
    assert spec.policy is not None and spec.policy.run_as is not None and spec.policy.run_as.required
    assert docs[0]["metadata"]["labels"] == {"dbjobs.io/credentials": "true"}
    assert tenancy.admits(spec.namespace_selector, {"dbjobs.io/tenant": "analytics"})


def test_escapes_a_new_user_found_are_closed() -> None:
    """Found as a new user would (issue 11): run_as by group, an owner picked through spec.permissions (a job
    without run_as runs as its owner), adopting another team's job, and running another team's job by id."""
    policy = WorkspacePolicy.model_validate({"runAs": {"allowedServicePrincipals": [SP]}})
    found = tenancy.violations(settings(run_as={"group_name": "admins"}), policy, platform=True, namespace="n")
    assert paths(found) == ["spec.settings.run_as.group_name"]
    owners = [("userName", "ceo@corp.example"), ("servicePrincipalName", SP)]
    found = tenancy.violations(settings(), policy, platform=True, namespace="n", owners=owners)
    assert paths(found) == ["spec.permissions[userName=ceo@corp.example]"]
    assert "the owner runs the job" in found[0].message
    found = tenancy.violations(settings(), None, platform=True, namespace="n", adopting=True)
    assert paths(found) == ["spec.adopt"]
    assert tenancy.violations(settings(), None, platform=False, namespace="n", adopting=True) == []
    allowed = WorkspacePolicy.model_validate({"allowAdopt": True, "allowJobIds": True})
    run_other = settings(
        tasks=[
            {"task_key": "a", "run_job_task": {"job_id": 241256735463570}},
            {"task_key": "b", "run_job_task": {"job_id": "${resources.jobs.mine.id}"}},
        ]
    )
    found = tenancy.violations(run_other, None, platform=True, namespace="n")
    assert paths(found) == ["spec.settings.tasks[0].run_job_task.job_id"]
    assert "${resources.jobs.<name>.id}" in found[0].message
    assert tenancy.violations(run_other, allowed, platform=True, namespace="n", adopting=True) == []
    assert tenancy.violations(run_other, None, platform=False, namespace="n") == []
