"""``dbjobs-testkit demo``: the whole product on real parts, on this machine, in about a minute.

1. starts a real kube-apiserver + etcd (RBAC on) and the Databricks Jobs API emulator;
2. applies the CRDs, the controller's RBAC, a token Secret and a DatabricksWorkspace;
3. applies our own examples (``manifests/examples``) and manifests converted on the fly from the
   real job definitions in the corpus (``../shared/corpus/jobs``; never copied into the repo);
4. runs the controller as its own process (as the non-admin ``dbjobs-controller`` identity),
   waits until every DatabricksJob is Synced and prints ``kubectl get dbjobs``;
5. edits jobs in the workspace as a person in the Databricks UI would (through the Jobs API),
   and shows the controller noticing: Report → Synced=False DriftDetected; Correct → reset.

Exit code 0 only if all of that happened; everything it started is stopped on the way out.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobSettings

from controller.api.jobrefs import job_id_fields, reference, referenced_names, with_values
from controller.gitops.convert import ConversionError, convert_file
from dbjobs_testkit.controlplane import ControlPlane, ControlPlaneError
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import (
    REPO_ROOT,
    ControllerProcess,
    Kubectl,
    MissingComponentError,
    condition,
    install_crds_and_rbac,
    wait_for,
    workspace_manifests,
)

NAMESPACE = "dbjobs-demo"
CONTROLLER_USER = "dbjobs-controller"
MIN_CORPUS_JOBS = 10
MAX_CORPUS_JOBS = 40
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "jobs"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def example_manifests() -> list[dict[str, Any]]:
    """Our own DatabricksJob examples (they use the workspace `default`, which the demo points at the emulator)."""
    docs: list[dict[str, Any]] = []
    for path in sorted((REPO_ROOT / "manifests" / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "DatabricksJob"]
    return docs


def corpus_manifests(corpus: Path) -> list[dict[str, Any]]:
    """Manifests converted from the corpus: clean conversions only, one job per source file first, capped."""
    picked: list[dict[str, Any]] = []
    seconds: list[dict[str, Any]] = []
    for path in sorted(p for p in corpus.iterdir() if p.suffix in {".json", ".yaml", ".yml"}):
        try:
            result = convert_file(path)
        except ConversionError as err:
            print(f"    skipped {path.name}: {err}")
            continue
        problems = [w for w in result.warnings if not _benign(w)]
        if problems:
            print(f"    skipped {path.name}: {problems[0].split(': ', 1)[-1]} (+{len(problems) - 1} more)")
            continue
        for i, manifest in enumerate(_prefixed(result.manifests, f"c{path.name[:3]}-")):
            (picked if i == 0 else seconds).append(manifest)
    return _complete((picked + seconds)[:MAX_CORPUS_JOBS])


def _prefixed(manifests: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The manifests of one file renamed with ``prefix``, their references to each other renamed with them."""
    renamed = {m["metadata"]["name"]: re.sub(r"-+$", "", (prefix + m["metadata"]["name"])[:63]) for m in manifests}
    for manifest in manifests:
        manifest["metadata"]["name"] = renamed[manifest["metadata"]["name"]]
        settings = manifest["spec"]["settings"]
        values = {f.parts: reference(renamed[f.name]) for f in job_id_fields(settings) if f.name in renamed}
        manifest["spec"]["settings"] = with_values(settings, values)
    return manifests


def _complete(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the manifests that reference a DatabricksJob the cap left out (they would wait forever)."""
    names = {m["metadata"]["name"] for m in manifests}
    return [m for m in manifests if referenced_names(m["spec"]["settings"]) <= names]


#: Conversion warnings that leave a job Databricks accepts as it is: references known only at deploy
#: time, paths the deploy tool rewrites, bundle-only keys dropped. Anything else (unknown fields,
#: wrong types, dangling keys) marks a definition the demo does not apply.
_BENIGN_WARNINGS = (
    "unresolved reference",
    "local path",
    "development mode",
    "bundle-only",
    "dbx-only",
    "included files are not read",
    "not converted: dbjobs manages jobs only",
    "the bundle CLI builds or uploads",
    "built by the bundle CLI",
    "no name:",
)


def _benign(warning: str) -> bool:
    return any(marker in warning for marker in _BENIGN_WARNINGS)


def _apply_each(kubectl: Kubectl, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply manifests one by one, as Argo CD syncs them; returns those the apiserver admitted.

    A definition that only a deploy tool could complete (an unresolved ``${…}`` where the API
    wants a number or an enum) is refused at admission, and the refusal names the field.
    """
    admitted = []
    for manifest in manifests:
        try:
            kubectl.apply([manifest])
        except subprocess.CalledProcessError as err:
            lines = (err.stderr or "").strip().splitlines()
            named = [line.strip() for line in lines if line.strip().startswith("* spec")] or lines[-1:] or ["refused"]
            print(f"    refused at admission: {manifest['metadata']['name']}: {named[0][:220]}")
            continue
        admitted.append(manifest)
    return admitted


def _settled(kubectl: Kubectl, names: list[str]) -> dict[str, str] | None:
    listing = kubectl.get("databricksjobs") or {"items": []}
    states = {}
    for obj in listing["items"]:
        cond = condition(obj, "Synced")
        states[obj["metadata"]["name"]] = f"{cond['status']}/{cond['reason']}" if cond else "pending"
    done = all(states.get(n, "pending").startswith(("True/", "False/InvalidSpec")) for n in names)
    return states if done else None


def run_demo(corpus: str | None = None) -> int:
    """Run the demo; returns 0 on success, 1 when a step did not happen (with the reason printed)."""
    corpus_dir = Path(corpus) if corpus else DEFAULT_CORPUS
    workdir = Path(tempfile.mkdtemp(prefix="dbjobs-demo-"))
    plane = ControlPlane(workdir=workdir / "controlplane")
    controller: ControllerProcess | None = None
    token = secrets.token_hex(16)
    try:
        say("starting a real kube-apiserver + etcd (RBAC on) and the Databricks Jobs API emulator")
        plane.start()
        admin = Kubectl(plane.admin_kubeconfig)
        with EmulatorServer(token=token) as emu:
            print(f"    apiserver {plane.server_url}; Jobs API emulator {emu.url}")
            install_crds_and_rbac(admin, CONTROLLER_USER)
            admin("create", "namespace", NAMESPACE)
            kubectl = Kubectl(plane.admin_kubeconfig, namespace=NAMESPACE)
            kubectl.apply(workspace_manifests(NAMESPACE, emu.url, token))

            ours = example_manifests()
            say(f"applying {len(ours)} of our own examples from manifests/examples")
            kubectl.apply(ours)
            real: list[dict[str, Any]] = []
            if corpus_dir.is_dir():
                say(f"converting real job definitions from {corpus_dir} (dbjobs convert)")
                real = corpus_manifests(corpus_dir)
                real = _apply_each(kubectl, real)
                files = len({m["metadata"]["name"][:4] for m in real})
                print(f"    {len(real)} DatabricksJobs from {files} files applied")
            else:
                print(f"    corpus not found at {corpus_dir}: only our own examples are shown")

            say("running the controller (its own process, as the non-admin dbjobs-controller user)")
            controller = ControllerProcess(
                plane.user_kubeconfig(CONTROLLER_USER), workdir / "controller.log", poll_interval=3.0
            )
            controller.start()
            names = [m["metadata"]["name"] for m in ours + real]
            states = wait_for(
                lambda: _settled(kubectl, names), timeout=180, interval=1.0, what="every DatabricksJob reconciled"
            )
            print(kubectl("get", "dbjobs").stdout)
            not_synced = {n: s for n, s in states.items() if not s.startswith("True/")}
            real_synced = [m for m in real if states.get(m["metadata"]["name"], "").startswith("True/")]
            print(
                f"    {len(states) - len(not_synced)}/{len(states)} Synced "
                f"({len(real_synced)} from real job definitions); refused: {not_synced or 'none'}"
            )
            if not_synced:
                print("FAIL: not every DatabricksJob is Synced")
                return 1
            if corpus_dir.is_dir() and len(real_synced) < MIN_CORPUS_JOBS:
                print(f"FAIL: fewer than {MIN_CORPUS_JOBS} real job definitions Synced")
                return 1

            ok = _out_of_band_edits(kubectl, emu.url, token) and _run_on_demand(kubectl)
            print(kubectl("get", "dbjobs").stdout)
            print(kubectl("get", "dbjobs", "-o", "wide").stdout.splitlines()[0])
            if not ok:
                return 1
        say(
            "demo complete: every DatabricksJob reconciled; the out-of-band edits were detected "
            "(git-sourced stays DriftDetected on purpose: its driftPolicy is Report)"
        )
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    except (ControlPlaneError, MissingComponentError, TimeoutError) as err:
        print(f"FAIL: {err}", file=sys.stderr)
        if controller:
            print(controller.log_tail(), file=sys.stderr)
        return 1
    finally:
        if controller:
            controller.stop()
        plane.stop()


def _out_of_band_edits(kubectl: Kubectl, host: str, token: str) -> bool:
    # The emulator answers the SDK's host-metadata probe with 404, as many workspaces do; the SDK's
    # warning about it is noise here.
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    ui = WorkspaceClient(host=host, token=token, auth_type="pat")
    report_id = kubectl.get("databricksjob", "git-sourced")["status"]["jobId"]
    correct_id = kubectl.get("databricksjob", "nightly-notebook")["status"]["jobId"]

    say(
        f"a person edits job {report_id} (git-sourced, driftPolicy Report) in the Databricks UI: "
        "max_concurrent_runs 1 → 5"
    )
    ui.jobs.update(report_id, new_settings=JobSettings(max_concurrent_runs=5))

    def reported() -> dict[str, Any] | None:
        obj = kubectl.get("databricksjob", "git-sourced")
        cond = condition(obj, "Synced")
        return obj if cond and cond["reason"] == "DriftDetected" else None

    obj = wait_for(reported, timeout=60, what="git-sourced Synced=False DriftDetected")
    print(f"    controller noticed: Synced=False DriftDetected, drift paths {obj['status']['drift']['paths']}")

    say(f"a person edits job {correct_id} (nightly-notebook, driftPolicy Correct): timeout_seconds 0 → 60")
    ui.jobs.update(correct_id, new_settings=JobSettings(timeout_seconds=60))

    def corrected() -> bool:
        cond = condition(kubectl.get("databricksjob", "nightly-notebook"), "Drifted")
        return bool(cond and cond["reason"] == "DriftCorrected")

    wait_for(corrected, timeout=60, what="nightly-notebook Drifted reason DriftCorrected")
    live = ui.jobs.get(correct_id).settings
    restored = live is not None and (live.timeout_seconds or 0) == 0
    print(f"    controller reset the job: timeout_seconds back to {live.timeout_seconds if live else '?'}")
    events = kubectl(
        "get", "events", "--field-selector", "involvedObject.kind=DatabricksJob", "--sort-by=.lastTimestamp"
    ).stdout.splitlines()
    print("\n".join(events[:1] + events[-12:]))
    return restored


def _run_on_demand(kubectl: Kubectl) -> bool:
    say("starting a run from kubectl: annotate medallion-dag with dbjobs.io/run-now=demo-1")
    kubectl("annotate", "databricksjob", "medallion-dag", "dbjobs.io/run-now=demo-1")

    def finished() -> dict[str, Any] | None:
        last = ((kubectl.get("databricksjob", "medallion-dag") or {}).get("status") or {}).get("lastRun") or {}
        return last if last.get("resultState") else None

    last = wait_for(finished, timeout=90, what="medallion-dag status.lastRun with a result")
    print(
        f"    run {last['runId']}: {last['lifeCycleState']}/{last['resultState']} in {last['durationSeconds']} s, "
        f"trigger {last.get('trigger')}"
    )
    return bool(last["resultState"] == "SUCCESS")
