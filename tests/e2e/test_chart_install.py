"""``helm install`` of charts/dbjobs into the local control plane: the real apiserver accepts every object.

No kubelet or controller-manager runs there, so no pod ever starts: the tests assert the objects, not
pods. The uninstall hook Job could never finish without a kubelet, so releases are removed with
``helm uninstall --no-hooks`` (``dbjobs uninstall`` itself is tested on its own).

* default values, beside the CRDs the e2e session applied (``--skip-crds``): Deployment, ServiceAccount,
  ClusterRole + binding, metrics Service, leader election's Role on its Lease in the release namespace; the
  pre-delete hook's objects only exist at uninstall;
* two replicas (leader election): the apiserver accepts the PodDisruptionBudget and the rolling Deployment;
* ``watchNamespaces`` + ServiceMonitor (its CRD applied first, from the prometheus-operator module) +
  Grafana dashboard: Roles only in the watched namespaces, nothing cluster-scoped, and the apiserver's
  own authorizer says the ServiceAccount reads Secrets there and nowhere else;
* a fresh control plane where the chart installs the CRDs itself; they are Established and serve a
  DatabricksJob; ``helm uninstall`` leaves them; the documented upgrade (``kubectl apply --server-side
  --force-conflicts``) takes over CRDs that Helm created.

Needs ``make control-plane`` and ``make helm-tools``; without them the tests fail saying so.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_tools import CHART_DIR, CRD_DIR, helm_binary, helm_env, run, servicemonitor_crd

from dbjobs_testkit.controlplane import ControlPlane, ControlPlaneError
from dbjobs_testkit.harness import Kubectl, condition, wait_for

pytestmark = pytest.mark.e2e

CONTROLLER_RULES = {"databricksjobs", "databricksjobs/status", "databricksworkspaces", "secrets", "events"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return helm_env(tmp_path_factory.mktemp("helm-home"))


def helm(env: dict[str, str], kubeconfig: Path, *args: str) -> str:
    proc = run([helm_binary(), "--kubeconfig", str(kubeconfig), *args], env=env, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def established(kubectl: Kubectl, crd: str) -> None:
    def ready() -> bool:
        return (condition(kubectl.get("crd", crd), "Established") or {}).get("status") == "True"

    wait_for(ready, timeout=60, what=f"CRD {crd} Established")


def by_release(kubectl: Kubectl, kind: str, release: str, *, namespace: str | None = None) -> list[str]:
    """Names (namespace/name for namespaced kinds) of ``kind`` objects labelled with the release."""
    args = ["get", kind, "-l", f"app.kubernetes.io/instance={release}", "-o", "json"]
    args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
    items = yaml.safe_load(kubectl(*args).stdout)["items"]
    return sorted(
        f"{i['metadata']['namespace']}/{i['metadata']['name']}"
        if "namespace" in i["metadata"]
        else i["metadata"]["name"]
        for i in items
    )


def can_i(admin: Kubectl, service_account: str, verb: str, resource: str, namespace: str | None) -> bool:
    """The apiserver's own authorizer, asked for the ServiceAccount (``kubectl auth can-i --as``)."""
    where = ["--namespace", namespace] if namespace else []
    proc = admin("auth", "can-i", verb, resource, "--as", service_account, *where, check=False)
    if proc.stdout.strip() not in {"yes", "no"}:
        pytest.fail(f"kubectl auth can-i {verb} {resource}: {proc.stdout}{proc.stderr}")
    return proc.stdout.strip() == "yes"


def test_install_with_default_values(admin: Kubectl, env: dict[str, str]) -> None:
    release, namespace = unique("dflt"), unique("chart")
    out = helm(
        env,
        admin.kubeconfig,
        "install",
        release,
        str(CHART_DIR),
        "--namespace",
        namespace,
        "--create-namespace",
        "--skip-crds",
    )
    assert "STATUS: deployed" in out and "create secret generic databricks-token" in out, out
    name = f"{release}-dbjobs"
    ns = Kubectl(admin.kubeconfig, namespace=namespace)
    deployment = ns.get("deployment", name)
    assert deployment is not None, "the apiserver has no Deployment"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["run"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert ns.get("serviceaccount", name) is not None
    assert ns.get("service", f"{name}-metrics") is not None
    role = admin.get("clusterrole", name)
    assert role is not None and {r for rule in role["rules"] for r in rule["resources"]} >= CONTROLLER_RULES
    assert admin.get("clusterrolebinding", name)["subjects"][0]["name"] == name
    sa = f"system:serviceaccount:{namespace}:{name}"
    assert can_i(admin, sa, "get", "secrets", "default") and can_i(admin, sa, "watch", "databricksjobs", None)
    assert not can_i(admin, sa, "list", "secrets", "default"), "only get on Secrets"
    assert can_i(admin, sa, "create", "leases", namespace) and can_i(admin, sa, "update", f"leases/{name}", namespace)
    assert not can_i(admin, sa, "update", "leases/another-lease", namespace), "get/update of its own Lease only"
    assert not can_i(admin, sa, "create", "leases", "default"), "Leases only in the release namespace"
    # The pre-delete hook's objects exist only while `helm uninstall` runs.
    assert ns.get("job", f"{name}-uninstall") is None
    assert admin.get("clusterrole", f"{name}-uninstall") is None

    helm(env, admin.kubeconfig, "uninstall", release, "--namespace", namespace, "--no-hooks", "--wait")
    assert ns.get("deployment", name) is None
    assert admin.get("clusterrole", name) is None and admin.get("clusterrolebinding", name) is None
    assert admin.get("crd", "databricksjobs.dbjobs.io") is not None, "uninstall never deletes the CRDs"


@pytest.fixture(scope="module")
def servicemonitor_crd_applied(admin: Kubectl) -> str:
    admin("apply", "--server-side", "-f", str(servicemonitor_crd()))
    established(admin, "servicemonitors.monitoring.coreos.com")
    return "servicemonitors.monitoring.coreos.com"


def test_install_watching_namespaces_with_servicemonitor_and_dashboard(
    admin: Kubectl, env: dict[str, str], servicemonitor_crd_applied: str
) -> None:
    release, namespace = unique("nsd"), unique("chart")
    team_a, team_b, other = unique("team-a"), unique("team-b"), unique("other")
    for n in (team_a, team_b, other):
        admin("create", "namespace", n)
    values = {
        "watchNamespaces": [team_a, team_b],
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "grafanaDashboard": {"enabled": True, "namespace": other},
        "uninstall": {"jobs": "delete"},
    }
    values_file = Path(env["HELM_CONFIG_HOME"]).parent / f"{release}.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm(
        env,
        admin.kubeconfig,
        "install",
        release,
        str(CHART_DIR),
        "--namespace",
        namespace,
        "--create-namespace",
        "--skip-crds",
        "--values",
        str(values_file),
    )
    name = f"{release}-dbjobs"
    sa = f"system:serviceaccount:{namespace}:{name}"

    lease_role = f"{namespace}/{name}-leader-election"  # leader election's, in the release namespace
    assert by_release(admin, "roles", release) == sorted([f"{team_a}/{name}", f"{team_b}/{name}", lease_role])
    assert by_release(admin, "rolebindings", release) == sorted([f"{team_a}/{name}", f"{team_b}/{name}", lease_role])
    assert by_release(admin, "clusterroles", release) == [], "nothing cluster-wide with watchNamespaces"
    assert by_release(admin, "clusterrolebindings", release) == []
    for n in (team_a, team_b):
        assert can_i(admin, sa, "get", "secrets", n)
        assert can_i(admin, sa, "patch", "databricksjobs", n)
    assert not can_i(admin, sa, "get", "secrets", other), "Secrets readable only in the watched namespaces"
    assert not can_i(admin, sa, "get", "databricksjobs", other)
    assert not can_i(admin, sa, "list", "customresourcedefinitions", None)
    assert not can_i(admin, sa, "list", "namespaces", None)

    monitor = Kubectl(admin.kubeconfig, namespace=namespace).get("servicemonitor", name)
    assert monitor is not None and monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    dashboard = Kubectl(admin.kubeconfig, namespace=other).get("configmap", f"{name}-dashboard")
    assert dashboard is not None and dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert '"uid": "dbjobs-controller"' in dashboard["data"]["dbjobs.json"]
    deployment = Kubectl(admin.kubeconfig, namespace=namespace).get("deployment", name)
    env_vars = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_vars["DBJOBS_WATCH_NAMESPACES"] == f"{team_a},{team_b}"

    helm(env, admin.kubeconfig, "uninstall", release, "--namespace", namespace, "--no-hooks", "--wait")
    assert by_release(admin, "roles", release) == []
    assert Kubectl(admin.kubeconfig, namespace=namespace).get("servicemonitor", name) is None
    assert Kubectl(admin.kubeconfig, namespace=other).get("configmap", f"{name}-dashboard") is None


def test_install_with_two_replicas(admin: Kubectl, env: dict[str, str]) -> None:
    release, namespace = unique("ha"), unique("chart")
    helm(
        env,
        admin.kubeconfig,
        "install",
        release,
        str(CHART_DIR),
        "--namespace",
        namespace,
        "--create-namespace",
        "--skip-crds",
        "--set",
        "replicaCount=2",
    )
    name = f"{release}-dbjobs"
    ns = Kubectl(admin.kubeconfig, namespace=namespace)
    deployment = ns.get("deployment", name)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pdb = ns.get("poddisruptionbudget", name)
    assert pdb is not None and pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    helm(env, admin.kubeconfig, "uninstall", release, "--namespace", namespace, "--no-hooks", "--wait")
    assert ns.get("poddisruptionbudget", name) is None


@pytest.fixture(scope="module")
def fresh_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """A control plane of its own, without our CRDs, so the chart is the one that installs them."""
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("fresh-controlplane"))
    try:
        plane.start()
    except ControlPlaneError as err:
        plane.stop()
        pytest.fail(f"the local control plane could not start: {err}", pytrace=False)
    try:
        yield Kubectl(plane.admin_kubeconfig)
    finally:
        plane.stop()


def test_chart_installs_the_crds_and_the_documented_upgrade_takes_them_over(
    fresh_plane: Kubectl, env: dict[str, str], tmp_path: Path
) -> None:
    admin = fresh_plane
    assert admin.get("crd", "databricksjobs.dbjobs.io") is None
    release, namespace = "dbjobs", "dbjobs-system"
    helm(env, admin.kubeconfig, "install", release, str(CHART_DIR), "--namespace", namespace, "--create-namespace")
    for crd in ("databricksjobs.dbjobs.io", "databricksworkspaces.dbjobs.io", "clusterdatabricksworkspaces.dbjobs.io"):
        established(admin, crd)
    ns = Kubectl(admin.kubeconfig, namespace=namespace)
    assert ns.get("deployment", "dbjobs") is not None, "release name dbjobs: the objects are named dbjobs"
    admin("create", "namespace", "team-a")
    job = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "first", "namespace": "team-a"},
        "spec": {
            "workspaceRef": {"name": "default"},
            "settings": {"name": "first", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]},
        },
    }
    Kubectl(admin.kubeconfig).apply([job], "--dry-run=server")

    # Upgrading the CRDs as charts/dbjobs/README.md says: server-side apply over the CRDs Helm created,
    # here with a changed description (as a new release's CRD would change its schema).
    changed = tmp_path / "crds"
    changed.mkdir()
    for source in CRD_DIR.glob("*.yaml"):
        crd = yaml.safe_load(source.read_text())
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "changed by an upgrade"
        (changed / source.name).write_text(yaml.safe_dump(crd))
    plain = admin("apply", "--server-side", "-f", str(changed), check=False)
    assert plain.returncode != 0 and "conflict" in plain.stderr.lower(), (
        "expected server-side apply to report a conflict with Helm's field manager (README says "
        f"--force-conflicts): {plain.stdout}{plain.stderr}"
    )
    admin("apply", "--server-side", "--force-conflicts", "-f", str(changed))
    live: dict[str, Any] = admin.get("crd", "databricksworkspaces.dbjobs.io")
    assert live["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] == "changed by an upgrade"

    helm(env, admin.kubeconfig, "uninstall", release, "--namespace", namespace, "--no-hooks", "--wait")
    assert ns.get("deployment", "dbjobs") is None
    assert admin.get("crd", "databricksjobs.dbjobs.io") is not None, "Helm never deletes crds/"
