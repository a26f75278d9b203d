"""The Helm chart (charts/dbjobs) through the tools the ecosystem uses, built by ``make helm-tools``.

* ``helm version`` is the pinned v3.22.0 (the version ldflags are set);
* ``helm lint --strict`` and the helm-unittest suites in charts/dbjobs/tests;
* ``helm template … | kubeconform -strict`` offline, against the Kubernetes 1.32 JSON schemas and the JSON
  schemas of our CRDs and of the ServiceMonitor CRD, for the default values and value combinations;
  kubeconform itself is shown to refuse an unknown field and a wrong type, so a pass means something;
* values.schema.json refuses an unknown key, a wrong type and two replicas without leader election (saying
  why), and the templates refuse them even with schema validation skipped; two replicas with leader election
  render a PodDisruptionBudget;
* ``helm package`` holds the CRDs of crds/ byte for byte (one source: charts/dbjobs/crds is a symlink).

A missing tool fails with a message naming ``make helm-tools``; nothing is skipped.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helm_tools import (
    CHART_DIR,
    CRD_DIR,
    KUBE_VERSION,
    crd_schema_files,
    helm_binary,
    helm_env,
    k8s_schema_dir,
    kubeconform_cmd,
    run,
    servicemonitor_crd,
    versions,
)

pytestmark = pytest.mark.integration

RELEASE, NAMESPACE = "rel", "dbjobs-system"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return helm_env(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JSON schemas of our CRDs and the ServiceMonitor CRD, generated now from the CRD files."""
    out = tmp_path_factory.mktemp("crd-schemas")
    written = crd_schema_files([*sorted(CRD_DIR.glob("*.yaml")), servicemonitor_crd()], out)
    assert {p.name for p in written} == {
        "clusterdatabricksworkspace-dbjobs-v1alpha1.json",
        "databricksjob-dbjobs-v1alpha1.json",
        "databricksworkspace-dbjobs-v1alpha1.json",
        "servicemonitor-monitoring-v1.json",
    }
    return out


def helm(env: dict[str, str], *args: str, check: bool = True) -> str:
    """Run helm; with ``check`` a non-zero exit fails the test with its output. Returns stdout (+stderr)."""
    proc = run([helm_binary(), *args], env=env)
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout if check else proc.stdout + proc.stderr


def template(env: dict[str, str], *sets: str, flags: tuple[str, ...] = (), check: bool = True) -> str:
    """``helm template`` of the chart for Kubernetes 1.32 with ``--set`` values ``sets``."""
    args = ["template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *flags]
    for s in sets:
        args += ["--set", s]
    return helm(env, *args, check=check)


def kubeconform(manifests: str, crd_schemas: Path) -> list[dict[str, str]]:
    """kubeconform's verdict on every resource of ``manifests`` (its -verbose JSON ``resources``)."""
    proc = run([*kubeconform_cmd(k8s_schema_dir(), crd_schemas), "-"], stdin=manifests)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"kubeconform exited {proc.returncode} without a JSON report:\n{proc.stdout}\n{proc.stderr}")
    return list(report.get("resources") or [])


def test_helm_version_is_the_pinned_release(env: dict[str, str]) -> None:
    pinned = versions()["HELM_VERSION"]
    assert pinned == "v3.22.0"
    assert helm(env, "version", "--short").strip() == pinned
    assert f'Version:"{pinned}"' in helm(env, "version")


def test_helm_lint_strict(env: dict[str, str]) -> None:
    out = helm(env, "lint", "--strict", str(CHART_DIR))
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    combo = ["--set", "watchNamespaces={team-a,team-b}", "--set", "metrics.serviceMonitor.enabled=true"]
    out = helm(env, "lint", "--strict", str(CHART_DIR), *combo, "--set", "grafanaDashboard.enabled=true")
    assert "0 chart(s) failed" in out


def test_helm_unittest_suites_pass(env: dict[str, str]) -> None:
    suites = sorted(p.name for p in (CHART_DIR / "tests").glob("*_test.yaml"))
    assert len(suites) >= 8, suites
    proc = run([helm_binary(), "unittest", "--color=false", str(CHART_DIR)], env=env, timeout=300)
    print(proc.stdout)
    assert proc.returncode == 0, f"helm unittest failed:\n{proc.stdout}\n{proc.stderr}"
    assert f"Test Suites: {len(suites)} passed, {len(suites)} total" in proc.stdout, proc.stdout


# name → (--set values, the kinds the render must hold, each with its count)
COMBINATIONS: dict[str, tuple[list[str], dict[str, int]]] = {
    "defaults": (
        [],
        {
            "CustomResourceDefinition": 3,
            "ServiceAccount": 2,
            "ClusterRole": 2,
            "ClusterRoleBinding": 2,
            "Role": 2,
            "RoleBinding": 2,
            "Service": 1,
            "Deployment": 1,
            "Job": 1,
        },
    ),
    "watchNamespaces": (
        ["watchNamespaces={team-a,team-b}"],
        {
            "CustomResourceDefinition": 3,
            "ServiceAccount": 2,
            "Role": 6,
            "RoleBinding": 6,
            "Service": 1,
            "Deployment": 1,
            "Job": 1,
        },
    ),
    "serviceMonitor": (
        ["metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"],
        {"ServiceMonitor": 1, "Service": 1, "Deployment": 1},
    ),
    "dashboard": (
        ["grafanaDashboard.enabled=true", "grafanaDashboard.namespace=monitoring"],
        {"ConfigMap": 1, "Deployment": 1},
    ),
    "everything": (
        [
            "watchNamespaces={team-a}",
            "metrics.serviceMonitor.enabled=true",
            "grafanaDashboard.enabled=true",
            "uninstall.jobs=delete",
            "controller.logFormat=json",
            "image.tag=0.1.0-test",
            "imagePullSecrets[0].name=regcred",
            "nodeSelector.kubernetes\\.io/os=linux",
            "priorityClassName=system-cluster-critical",
        ],
        {"ServiceMonitor": 1, "ConfigMap": 1, "Role": 3, "RoleBinding": 3, "Job": 1, "Deployment": 1},
    ),
    "twoReplicas": (
        ["replicaCount=2", "leaderElection.leaseName=dbjobs-ha"],
        {"PodDisruptionBudget": 1, "Deployment": 1, "Role": 2, "RoleBinding": 2},
    ),
    "minimal": (
        [
            "rbac.create=false",
            "serviceAccount.create=false",
            "serviceAccount.name=existing",
            "metrics.enabled=false",
            "uninstall.hook=false",
        ],
        {"CustomResourceDefinition": 3, "Deployment": 1},
    ),
}


@pytest.mark.parametrize("combo", sorted(COMBINATIONS))
def test_rendered_chart_passes_kubeconform_strict(combo: str, env: dict[str, str], crd_schemas: Path) -> None:
    sets, expected = COMBINATIONS[combo]
    manifests = template(env, *sets, flags=("--include-crds",))
    results = kubeconform(manifests, crd_schemas)
    bad = [r for r in results if r.get("status") != "statusValid"]
    assert not bad, f"kubeconform refused ({combo}):\n" + "\n".join(map(str, bad))
    kinds: dict[str, int] = {}
    for r in results:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    rendered = [d for d in yaml.safe_load_all(manifests) if d]
    assert len(results) == len(rendered), f"kubeconform saw {len(results)} resources of {len(rendered)}"
    for kind, count in expected.items():
        assert kinds.get(kind) == count, f"{combo}: expected {count} {kind}, kubeconform validated {kinds}"
    if combo == "minimal":
        assert set(kinds) == set(expected), kinds


def test_kubeconform_refuses_what_the_apiserver_would(crd_schemas: Path) -> None:
    """The offline schemas bite: an unknown field, a wrong type, a DatabricksJob field the CRD lacks."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "one",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "IfNotPresent", "bogus": 1}]},
            },
        },
    }
    job = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "j"},
        "spec": {"workspaceRef": {"name": "default"}, "settings": {"name": "j", "tasks": [], "colour": "red"}},
    }
    results = kubeconform(yaml.safe_dump_all([deployment, job]), crd_schemas)
    by_kind = {r["kind"]: r for r in results}
    assert by_kind["Deployment"]["status"] == "statusInvalid", by_kind
    assert "bogus" in by_kind["Deployment"]["msg"] and "replicas" in by_kind["Deployment"]["msg"]
    assert by_kind["DatabricksJob"]["status"] == "statusInvalid", by_kind
    assert "colour" in by_kind["DatabricksJob"]["msg"]


def example_manifests() -> Iterator[Path]:
    yield from sorted((CHART_DIR.parent.parent / "manifests" / "examples").glob("*.yaml"))


def test_examples_pass_kubeconform_against_our_crd_schemas(crd_schemas: Path) -> None:
    """Our examples validate against the JSON schemas generated from crds/ (the conversion is faithful)."""
    docs = [d for p in example_manifests() for d in yaml.safe_load_all(p.read_text()) if d]
    ours = [d for d in docs if str(d.get("apiVersion", "")).startswith("dbjobs.io/")]
    assert ours, "no DatabricksJob/DatabricksWorkspace in manifests/examples"
    results = kubeconform(yaml.safe_dump_all(ours), crd_schemas)
    bad = [r for r in results if r.get("status") != "statusValid"]
    assert not bad, bad
    assert len(results) == len(ours)


def test_values_schema_refuses_unknown_keys_and_wrong_types(env: dict[str, str]) -> None:
    out = template(env, "replicas=1", check=False)
    assert "additional properties 'replicas' not allowed" in out, out
    out = template(env, "controller.logFormat=yaml", "health.port=http", check=False)
    assert "at '/controller/logFormat': value must be one of 'text', 'json'" in out, out
    assert "at '/health/port': got string, want integer" in out, out
    out = template(env, "metrics.serviceMonitor.labels.release=null", "metrics.serviceMonitor.extra=1", check=False)
    assert "at '/metrics/serviceMonitor': additional properties 'extra' not allowed" in out, out


def test_two_replicas_without_leader_election_are_refused_with_the_reason(env: dict[str, str]) -> None:
    out = template(env, "replicaCount=2", "leaderElection.enabled=false", check=False)
    assert (
        "at '/replicaCount': value must be 'at most 1 without leader election: set leaderElection.enabled=true" in out
    )
    assert "every replica would reconcile every job" in out, out
    # Without the schema (helm --skip-schema-validation) the templates still refuse, saying why.
    out = template(
        env, "replicaCount=3", "leaderElection.enabled=false", flags=("--skip-schema-validation",), check=False
    )
    assert re.search(r"replicaCount=3 needs leaderElection\.enabled=true: without leader election every replica", out)
    # With leader election (the default) two replicas render, with a PodDisruptionBudget.
    rendered = [d for d in yaml.safe_load_all(template(env, "replicaCount=2")) if d]
    assert {d["kind"] for d in rendered} >= {"Deployment", "PodDisruptionBudget"}


def test_package_holds_the_crds_of_crds_dir(env: dict[str, str], tmp_path: Path) -> None:
    """One source: the packaged chart's crds/ are the files of crds/, byte for byte, and it lints."""
    assert (CHART_DIR / "crds").is_symlink() and (CHART_DIR / "crds").resolve() == CRD_DIR.resolve()
    out = helm(env, "package", str(CHART_DIR), "--destination", str(tmp_path))
    package = Path(out.strip().rsplit(": ", 1)[-1])
    assert package.name == "dbjobs-0.1.0.tgz", out
    with tarfile.open(package) as tar:
        packaged = {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name.startswith("dbjobs/crds/") and m.isfile()
        }
        names = tar.getnames()
    assert packaged == {p.name: p.read_bytes() for p in CRD_DIR.glob("*.yaml")}
    assert not any(n.startswith("dbjobs/tests/") for n in names), "the helm-unittest suites must not ship"
    assert "0 chart(s) failed" in helm(env, "lint", "--strict", str(package))
    rendered = helm(env, "template", RELEASE, str(package), "--include-crds", "--kube-version", KUBE_VERSION)
    crds = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "CustomResourceDefinition"]
    assert sorted(d["metadata"]["name"] for d in crds) == [
        "clusterdatabricksworkspaces.dbjobs.io",
        "databricksjobs.dbjobs.io",
        "databricksworkspaces.dbjobs.io",
    ]


def test_install_manifest_is_the_chart_rendered(tmp_path: Path) -> None:
    """manifests/install.yaml (for installs without Helm) is the chart with its defaults, hooks left out."""
    out = tmp_path / "install.yaml"
    proc = run(["bash", str(CHART_DIR.parents[1] / "hack" / "render-install.sh"), str(out)])
    assert proc.returncode == 0, proc.stderr
    committed = (CHART_DIR.parents[1] / "manifests" / "install.yaml").read_text()
    assert committed == out.read_text(), "manifests/install.yaml is stale: run `make manifests`"
    docs = [d for d in yaml.safe_load_all(committed) if d]
    assert not [d for d in docs if "helm.sh/hook" in (d["metadata"].get("annotations") or {})]
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"} <= {
        d["kind"] for d in docs
    }
