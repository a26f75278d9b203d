"""RBAC least privilege, proven on the real apiserver with its audit log.

The controller runs as the chart's ServiceAccount (a token from ``kubectl create token``), bound only by the
(Cluster)Roles ``helm template`` renders, with the environment the chart's Deployment sets. Then:

* the full lifecycle passes under it (create, reset, drift under Report and Correct, run-now, Events, status,
  delete behind the finalizer) with no request refused;
* nothing is granted beyond what the code calls: every (apiGroup, resource, verb) the rendered role grants
  was used by an allowed request in that lifecycle, read from the apiserver's audit log;
* each rule is needed: with one verb dropped from the role, the apiserver refuses (403) that exact request of
  the controller — the named failure — and the symptom a user would see is printed;
* the platform's ClusterDatabricksWorkspace (its Secret in the release namespace, admitting namespaces by label)
  is used in the lifecycle: list/watch of it and of Namespaces, and its status, are granted cluster-wide only;
* with ``watchNamespaces``, only Roles in those namespaces exist (and leader election's Role for its Lease in
  the release namespace): a job in another namespace is never read, nor its Secret, and the apiserver's
  authorizer says the ServiceAccount cannot read Secrets there.

Leader election is on by default, so its Lease rules (create; get and update of the release's Lease) are in
the rendered roles and held to the same proof: the Lease is deleted before each run, so every run creates it.

A fresh control plane with ``audit=True``; needs ``make control-plane`` and ``make helm-tools``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_tools import CHART_DIR, CRD_DIR, helm_binary, helm_env, run

from dbjobs_testkit.controlplane import ControlPlane
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import (
    ControllerProcess,
    Kubectl,
    condition,
    job_manifest,
    wait_for,
    workspace_manifests,
)
from dbjobs_testkit.processes import free_ports

pytestmark = pytest.mark.e2e
RELEASE_NS = "dbjobs-system"
LEASE_VERBS = ("get", "create", "update")  # what kubernetes.leaderelection calls on its Lease
Permission = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def job(name: str, path: str = "/x", **spec: Any) -> dict[str, Any]:
    settings = {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": path}}]}
    return job_manifest(name, settings, **spec)


#: The platform's ClusterDatabricksWorkspace (issue 11 item 5): its Secret in the release namespace, admitting the
#: namespaces labelled TENANT_LABEL; watching it (and the Namespaces' labels) is part of the cluster-wide grants.
PLATFORM = "platform"
TENANT_LABEL = ("dbjobs.io/tenant", "true")


def platform_job(name: str) -> dict[str, Any]:
    manifest = job(name)
    manifest["spec"]["workspaceRef"] = {"name": PLATFORM, "kind": "ClusterDatabricksWorkspace"}
    return manifest


def platform_workspace(host: str, token: str) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PLATFORM, "namespace": RELEASE_NS, "labels": {"dbjobs.io/credentials": "true"}},
        "stringData": {"token": token},
    }
    workspace = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "ClusterDatabricksWorkspace",
        "metadata": {"name": PLATFORM},
        "spec": {
            "host": host,
            "tokenSecretRef": {"name": PLATFORM},
            "namespaceSelector": {"matchLabels": {TENANT_LABEL[0]: TENANT_LABEL[1]}},
        },
    }
    return [secret, workspace]


@dataclass
class Release:
    """One rendered chart: its objects, the ServiceAccount's user name and the controller's environment."""

    name: str
    docs: list[dict[str, Any]]

    @property
    def user(self) -> str:
        sa = next(d for d in self.docs if d["kind"] == "ServiceAccount" and "helm.sh/hook" not in _ann(d))
        return f"system:serviceaccount:{RELEASE_NS}:{sa['metadata']['name']}"

    @property
    def roles(self) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] in ("ClusterRole", "Role") and "helm.sh/hook" not in _ann(d)]

    def env(self) -> dict[str, str]:
        deployment = next(d for d in self.docs if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if "value" in e}

    def granted(self) -> set[Permission]:
        return {perm for role in self.roles for perm in grants(role)}

    @property
    def lease(self) -> str:
        """The Lease its replicas elect their leader on (leader election is on by default)."""
        return self.env()["DBJOBS_LEADER_ELECTION_LEASE_NAME"]


def grants(role: dict[str, Any]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _ann(doc: dict[str, Any]) -> dict[str, str]:
    return doc["metadata"].get("annotations") or {}


@dataclass
class Site:
    cp: ControlPlane
    admin: Kubectl
    helm_env: dict[str, str]
    emulator: EmulatorServer
    token: str
    workdir: Path

    def render(self, release: str, *sets: str) -> Release:
        proc = run(
            [helm_binary(), "template", release, str(CHART_DIR), "--namespace", RELEASE_NS, "--skip-crds", *sets],
            env=self.helm_env,
        )
        assert proc.returncode == 0, proc.stderr
        return Release(release, [d for d in yaml.safe_load_all(proc.stdout) if d])

    def install(self, rel: Release) -> None:
        """Apply the release's objects, as `helm install` would (hooks excluded: they run at uninstall)."""
        self.admin.apply([d for d in rel.docs if "helm.sh/hook" not in _ann(d)])

    def controller(self, rel: Release, log_name: str) -> ControllerProcess:
        """The controller as the chart runs it: its ServiceAccount's token, its Deployment's environment."""
        sa = rel.user.rsplit(":", 1)[1]
        token = self.admin("-n", RELEASE_NS, "create", "token", sa, "--duration=2h").stdout.strip()
        kubeconfig = self.cp.token_kubeconfig(rel.user, token)
        metrics_port, health_port = free_ports(2)
        env = rel.env() | {
            "DBJOBS_METRICS_PORT": str(metrics_port),
            "DBJOBS_HEALTH_PORT": str(health_port),
            "DBJOBS_METRICS_BIND_ADDRESS": "127.0.0.1",
            "DBJOBS_ALLOWED_HOSTS": env_allowing_loopback(rel.env()),
            # What the Deployment's downward API gives the pod (valueFrom, not in rel.env()).
            "POD_NAMESPACE": RELEASE_NS,
            "POD_NAME": f"{rel.name}-{log_name.removesuffix('.log')}",
        }
        env.pop("DBJOBS_POLL_INTERVAL_SECONDS", None)  # the process sets its own (2 s)
        return ControllerProcess(kubeconfig, self.workdir / log_name, poll_interval=2.0, extra_env=env)

    def namespace(self, name: str) -> Kubectl:
        self.admin("create", "namespace", name)
        self.admin("label", "namespace", name, "=".join(TENANT_LABEL))  # the platform's workspace admits it
        ns = Kubectl(self.admin.kubeconfig, namespace=name)
        ns.apply(workspace_manifests(name, self.emulator.url, self.token))
        return ns

    def audit(self, user: str) -> list[dict[str, Any]]:
        return self.cp.audit_events(user)

    def delete_lease(self, rel: Release) -> None:
        """No Lease: the next controller creates it (so ``create`` is called and can be refused)."""
        self.admin("-n", RELEASE_NS, "delete", "lease", rel.lease, "--ignore-not-found")


def env_allowing_loopback(chart_env: dict[str, str]) -> str:
    """The chart's allow-list plus the emulator's loopback URL (the chart allows only the public clouds)."""
    return ",".join(filter(None, [chart_env.get("DBJOBS_ALLOWED_HOSTS", ""), "http://127.0.0.1:*"]))


def permission(event: dict[str, Any]) -> Permission:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return (ref.get("apiGroup", ""), resource, event["verb"])


def used(events: list[dict[str, Any]]) -> set[Permission]:
    return {permission(e) for e in events if e.get("objectRef") and e["responseStatus"]["code"] < 400}


def refused(events: list[dict[str, Any]]) -> set[Permission]:
    return {permission(e) for e in events if e.get("objectRef") and e["responseStatus"]["code"] == 403}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer, emulator_token: str) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("rbac")
    with ControlPlane(workdir=work / "cp", audit=True) as cp:
        admin = Kubectl(cp.admin_kubeconfig)
        admin.apply(CRD_DIR, "--server-side")
        for crd in (
            "databricksjobs.dbjobs.io",
            "databricksworkspaces.dbjobs.io",
            "clusterdatabricksworkspaces.dbjobs.io",
        ):
            wait_for(
                lambda c=crd: (condition(admin.get("crd", c), "Established") or {}).get("status") == "True",
                timeout=60,
                what=f"CRD {crd} Established",
            )
        admin("create", "namespace", RELEASE_NS)
        admin.apply(platform_workspace(emulator.url, emulator_token))
        yield Site(cp, admin, helm_env(work / "helm-home"), emulator, emulator_token, work)


def synced(ns: Kubectl, name: str, generation: int | None = None) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = ns.get("databricksjob", name)
        cond = condition(obj, "Synced")
        ok = obj and cond and cond["status"] == "True" and obj["status"].get("jobId")
        if ok and generation is not None:
            ok = obj["status"].get("observedGeneration") == generation
        return obj if ok else None  # type: ignore[no-any-return]

    return wait_for(ready, timeout=60, what=f"{name} Synced (generation {generation})")


def lifecycle(ns: Kubectl, emulator: EmulatorServer) -> None:
    """Create, reset, drift under Report then Correct, run-now, Events, delete behind the finalizer."""
    ws = emulator.workspace
    ns.apply([job("life")])
    job_id = synced(ns, "life")["status"]["jobId"]
    resets = ws.request_count("jobs/reset", "POST")
    ns(
        "patch",
        "databricksjob",
        "life",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"settings": job("life", "/y")["spec"]["settings"]}}),
    )
    synced(ns, "life", generation=2)
    assert ws.request_count("jobs/reset", "POST") == resets + 1
    ns("patch", "databricksjob", "life", "--type=merge", "-p", '{"spec": {"driftPolicy": "Report"}}')
    synced(ns, "life", generation=3)
    ws.edit_settings(job_id, {"timeout_seconds": 123})

    def drift_reported() -> bool:
        cond = condition(ns.get("databricksjob", "life"), "Synced")
        return bool(cond and cond["reason"] == "DriftDetected")

    wait_for(drift_reported, timeout=30, what="Synced=False DriftDetected under Report")
    ns("patch", "databricksjob", "life", "--type=merge", "-p", '{"spec": {"driftPolicy": "Correct"}}')
    synced(ns, "life", generation=4)
    wait_for(lambda: ws.get_settings(job_id).get("timeout_seconds") in (None, 0), timeout=30, what="drift corrected")
    ns("annotate", "databricksjob", "life", "dbjobs.io/run-now=first")
    wait_for(
        lambda: (ns.get("databricksjob", "life")["status"].get("runNow") or {}).get("runId"),
        timeout=60,
        what="run-now started a run",
    )
    events = ns.get("events")["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"].get("name") == "life"}
    assert {"JobCreated", "JobReset", "RunTriggered"} <= reasons, reasons
    ns("delete", "databricksjob", "life", "--timeout=60s")
    assert job_id not in ws.job_ids()
    # Through the platform's ClusterDatabricksWorkspace: its Secret in the release namespace, its status written.
    ns.apply([platform_job("shared")])
    shared_id = synced(ns, "shared")["status"]["jobId"]
    wait_for(
        lambda: (condition(ns.get("clusterdatabricksworkspace", PLATFORM), "Reachable") or {}).get("status") == "True",
        timeout=60,
        what="the ClusterDatabricksWorkspace's status written",
    )
    ns("delete", "databricksjob", "shared", "--timeout=60s")
    assert shared_id not in ws.job_ids()


def test_full_lifecycle_under_the_charts_serviceaccount_uses_every_grant_and_nothing_more(site: Site) -> None:
    rel = site.render("dbjobs")
    site.install(rel)
    site.delete_lease(rel)
    proc = site.controller(rel, "cluster-wide.log")
    proc.start()
    try:
        lifecycle(site.namespace("team-a"), site.emulator)
    except Exception as err:
        raise AssertionError(f"{err}\n{proc.log_tail()}") from err
    finally:
        proc.stop()
    events = site.audit(rel.user)
    seen, denied, granted = used(events), refused(events), rel.granted()
    print("\nrule (apiGroup, resource, verb) -> allowed requests the controller made:")
    for perm in sorted(granted):
        print(f"  {perm}: {sum(1 for e in events if permission(e) == perm and e['responseStatus']['code'] < 400)}")
    assert not denied, f"requests the apiserver refused to the chart's ServiceAccount: {sorted(denied)}"
    assert granted - seen == set(), f"granted but never called: {sorted(granted - seen)}"
    assert seen - granted == set(), f"called without a rule (allowed by another path?): {sorted(seen - granted)}"


def test_each_rule_is_needed(site: Site) -> None:
    """Drop one verb at a time from the controller's roles: that exact request is refused (403)."""
    rel = site.render("dbjobs")
    site.install(rel)
    ns = site.namespace("team-drop")
    failures: dict[Permission, str] = {}
    for perm in sorted(rel.granted()):
        role = next(r for r in rel.roles if perm in grants(r))
        trimmed = json.loads(json.dumps(role))
        for rule in trimmed["rules"]:
            if perm[0] in rule["apiGroups"] and perm[1] in rule["resources"] and perm[2] in rule["verbs"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != perm[2]]
        trimmed["rules"] = [r for r in trimmed["rules"] if r["verbs"]]
        site.admin.apply([trimmed])
        site.delete_lease(rel)
        before = len(site.audit(rel.user))
        proc = site.controller(rel, f"drop-{'-'.join(perm).replace('/', '_')}.log")
        proc.start()
        name = f"drop-{len(failures)}"
        try:
            ns.apply([job(name), platform_job(f"{name}-p")])
            wait_for(
                lambda p=perm, b=before: p in refused(site.audit(rel.user)[b:]),
                timeout=60,
                what=f"the apiserver refusing {perm} once it is dropped",
            )
            failures[perm] = _symptom(ns, name, proc)
        finally:
            proc.stop()
            site.admin.apply([role])
            for each in (name, f"{name}-p"):
                ns("delete", "databricksjob", each, "--wait=false")
                patch = '{"metadata":{"finalizers":null}}'
                ns("patch", "databricksjob", each, "--type=merge", "-p", patch, check=False)
    print("\nrule dropped -> named failure (403 on that request) and what a user sees:")
    for perm, symptom in failures.items():
        print(f"  {perm}: {symptom}")
    assert set(failures) == rel.granted()


def _symptom(ns: Kubectl, name: str, proc: ControllerProcess) -> str:
    obj = ns.get("databricksjob", name) or {}
    synced_cond = condition(obj, "Synced") or {}
    said = re.findall(r'cannot \w+ resource \\?"[\w./]+\\?"[^,]*', proc.log_path.read_text(errors="replace"))
    status = f"Synced={synced_cond.get('status')} {synced_cond.get('reason')}" if synced_cond else "no status"
    return f"{status}; controller log: {said[-1].replace(chr(92), '') if said else '(nothing logged)'}"


def test_watch_namespaces_reads_nothing_outside_them(site: Site) -> None:
    rel = site.render("scoped", "--set", "watchNamespaces={team-w}")
    assert {r["kind"] for r in rel.roles} == {"Role"}, "watchNamespaces must not grant anything cluster-wide"
    lease_roles = [r for r in rel.roles if grants(r) <= {("coordination.k8s.io", "leases", v) for v in LEASE_VERBS}]
    assert [r["metadata"]["namespace"] for r in lease_roles] == [RELEASE_NS], "the Lease, in the release namespace"
    assert {r["metadata"]["namespace"] for r in rel.roles if r not in lease_roles} == {"team-w"}
    watched = site.namespace("team-w")
    other = site.namespace("team-x")
    other.apply([job("elsewhere")])
    site.install(rel)
    proc = site.controller(rel, "scoped.log")
    assert proc.extra_env["DBJOBS_WATCH_NAMESPACES"] == "team-w"
    proc.start()
    try:
        watched.apply([job("inside")])
        synced(watched, "inside")
        # Two more observer cycles: time enough to have touched team-x if it ever would.
        lists = site.emulator.workspace.request_count("jobs/list", "GET")
        wait_for(
            lambda: site.emulator.workspace.request_count("jobs/list", "GET") >= lists + 2,
            timeout=30,
            what="two more observer cycles",
        )
    finally:
        proc.stop()
    assert not (other.get("databricksjob", "elsewhere").get("status") or {}), "a job outside watchNamespaces moved"
    events = site.audit(rel.user)
    touched = {
        (e["verb"], (e.get("objectRef") or {}).get("resource"))
        for e in events
        if (e.get("objectRef") or {}).get("namespace") == "team-x"
    }
    assert not touched, f"requests into an unwatched namespace: {touched}"
    secrets_read = {
        e["objectRef"].get("namespace")
        for e in events
        if (e.get("objectRef") or {}).get("resource") == "secrets" and e["responseStatus"]["code"] < 400
    }
    assert secrets_read == {"team-w"}, secrets_read
    sa = rel.user
    for namespace, expected in (("team-w", "yes"), ("team-x", "no"), ("kube-system", "no")):
        answer = site.admin(
            "auth", "can-i", "get", "secrets", "-n", namespace, f"--as={sa}", check=False
        ).stdout.strip()
        assert answer == expected, f"can {sa} get secrets in {namespace}? {answer}"
    # kopf asks for cluster-wide CRD/namespace watches and carries on without them: those are the only refusals.
    assert refused(events) <= {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
    }, refused(events)
