"""Admission on the real kube-apiserver: the generated CRD refuses bad manifests naming the field.

Aspects: a table of invalid manifests refused by ``kubectl apply --dry-run=server --validate=strict`` with
the offending field in the message (the refusal rules of controller/api/refusals.py among them, and
``settings: {}`` / ``name: null``); what the schema cannot check (Quartz syntax, timezone, dangling or
cyclic depends_on) marked ``Synced=False`` ``InvalidSpec`` by the controller with no Databricks write; every
converted corpus job applies, the deliberately broken ones are refused naming their field (by ``dbjobs
convert`` already, or at admission; a bundle job id converted into a reference to a DatabricksJob applies); the
CRD applies the way Argo CD applies it (server-side, own field manager).
"""

from __future__ import annotations

import copy
import importlib.util
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import crdgen
from controller.api.jobrefs import STRING_ID_PATTERN, reference_name
from controller.gitops.convert import ConversionError, convert_file
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import CRD_DIR, ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
REPO_ROOT = Path(__file__).resolve().parents[2]


def _base() -> dict[str, Any]:
    return {
        "name": "base",
        "tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": "/x"}},
            {
                "task_key": "b",
                "depends_on": [{"task_key": "a"}],
                "spark_python_task": {"python_file": "/y.py"},
                "job_cluster_key": "c",
            },
        ],
        "job_clusters": [{"job_cluster_key": "c", "new_cluster": {"spark_version": "15.4.x-scala2.12"}}],
    }


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(m: dict[str, Any]) -> None:
        node: Any = m
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        if isinstance(node, list):  # replace item i, or append when i is the length
            i = int(parts[-1])
            node[i : i + 1] = [value]
        else:
            node[parts[-1]] = value

    return edit


def _del(path: str) -> Edit:
    def edit(m: dict[str, Any]) -> None:
        node: Any = m
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        del node[parts[-1]]

    return edit


S = "spec.settings."
INVALID: list[tuple[str, Edit, str]] = [
    ("duplicate task_key", _set(S + "tasks.1.task_key", "a"), "spec.settings.tasks[1]"),
    ("two task types", _set(S + "tasks.0.sql_task", {"warehouse_id": "w"}), "exactly one task type"),
    ("no task type", _del(S + "tasks.0.notebook_task"), "exactly one task type"),
    ("task_key pattern", _set(S + "tasks.0.task_key", "has space"), "tasks[0].task_key"),
    ("task_key too long", _set(S + "tasks.0.task_key", "k" * 101), "tasks[0].task_key"),
    ("wrong type int", _set(S + "max_concurrent_runs", "three"), "max_concurrent_runs"),
    ("max_concurrent_runs range", _set(S + "max_concurrent_runs", 1001), "max_concurrent_runs"),
    ("wrong type list", _set(S + "email_notifications", {"on_failure": "a@b.c"}), "email_notifications.on_failure"),
    ("bad enum run_if", _set(S + "tasks.1.run_if", "SOMETIMES"), "tasks[1].run_if"),
    ("bad enum source", _set(S + "tasks.0.notebook_task.source", "S3"), "notebook_task.source"),
    ("unknown field in task", _set(S + "tasks.0.min_retries", 1), "tasks[0].min_retries"),
    ("unknown top-level field", _set(S + "retries", 1), "spec.settings.retries"),
    ("unknown operator field", _set("spec.driftpolicy", "Report"), "spec.driftpolicy"),
    ("bad driftPolicy", _set("spec.driftPolicy", "Ignore"), "spec.driftPolicy"),
    ("bad deletionPolicy", _set("spec.deletionPolicy", "Keep"), "spec.deletionPolicy"),
    ("missing workspaceRef", _del("spec.workspaceRef"), "spec.workspaceRef"),
    ("missing required notebook_path", _set(S + "tasks.0.notebook_task", {"source": "GIT"}), "notebook_path"),
    (
        "schedule and continuous",
        _set(S + "continuous", {"pause_status": "UNPAUSED"}),
        "at most one of schedule, continuous and trigger",
    ),
    ("cron with 5 fields", _set(S + "schedule.quartz_cron_expression", "0 2 * * *"), "quartz_cron_expression"),
    ("missing timezone", _del(S + "schedule.timezone_id"), "schedule.timezone_id"),
    ("dangling job_cluster_key", _set(S + "tasks.0.job_cluster_key", "nope"), "tasks[].job_cluster_key"),
    ("dangling environment_key", _set(S + "tasks.0.environment_key", "env"), "tasks[].environment_key"),
    ("duplicate job_cluster_key", _set(S + "job_clusters.1", {"job_cluster_key": "c"}), "job_clusters[1]"),
    ("bad depends_on outcome", _set(S + "tasks.1.depends_on.0.outcome", "maybe"), "depends_on[0].outcome"),
    ("run_as two principals", _set(S + "run_as", {"user_name": "u", "group_name": "g"}), "run_as"),
    (
        "git_source branch and tag",
        _set(S + "git_source", {"git_url": "u", "git_provider": "gitHub", "git_branch": "m", "git_tag": "t"}),
        "git_source",
    ),
    ("too many tags", _set(S + "tags", {f"t{i}": "v" for i in range(26)}), "spec.settings.tags"),
    ("negative timeout", _set(S + "timeout_seconds", -1), "timeout_seconds"),
    # settings: {} and name: null (a null is pruned, so it is a missing name): dbjobs requires a name.
    ("settings {}", _set("spec.settings", {}), "spec.settings.name: Required value"),
    ("name null", _set(S + "name", None), "spec.settings.name: Required value"),
    ("empty name", _set(S + "name", ""), "spec.settings.name"),
    # The refusal rules of controller/api/refusals.py that CEL can say (each rule's public source is there).
    ("relative workspace path", _set(S + "tasks.0.notebook_task.notebook_path", "nb"), "a WORKSPACE path must"),
    (
        "absolute path under git_source",
        _set(S + "git_source", {"git_url": "https://github.com/o/r", "git_provider": "gitHub", "git_branch": "m"}),
        "a GIT path",
    ),
    (
        "source GIT without git_source",
        _set(S + "tasks.0.notebook_task", {"notebook_path": "nb", "source": "GIT"}),
        "source GIT needs the job's git_source",
    ),
    ("file:// python file", _set(S + "tasks.1.spark_python_task.python_file", "file://y.py"), "file://"),
    (
        "serverless wheel without environment",
        _set(S + "tasks.1", {"task_key": "b", "python_wheel_task": {"package_name": "p", "entry_point": "e"}}),
        "needs an environment_key",
    ),
    ("bad healthPolicy", _set("spec.healthPolicy.consecutiveFailures", 0), "consecutiveFailures"),
    (
        "for_each inner task type twice",
        _set(
            S + "tasks.0",
            {
                "task_key": "fe",
                "for_each_task": {
                    "inputs": "[1]",
                    "task": {
                        "task_key": "in",
                        "notebook_task": {"notebook_path": "/x"},
                        "spark_python_task": {"python_file": "/y"},
                    },
                },
            },
        ),
        "exactly one",
    ),
]


def _valid() -> dict[str, Any]:
    settings = _base()
    settings["schedule"] = {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"}
    return job_manifest("probe", settings)


@pytest.fixture()
def dry(admin: Kubectl) -> Kubectl:
    name = f"adm-{secrets.token_hex(3)}"
    admin("create", "namespace", name)
    return Kubectl(admin.kubeconfig, namespace=name)


def _dry_run(kubectl: Kubectl, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    text = yaml.safe_dump(manifest, sort_keys=False)
    return kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=text, check=False)


def test_the_valid_probe_applies(dry: Kubectl) -> None:
    proc = _dry_run(dry, _valid())
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("case", "edit", "fragment"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_refused_naming_the_field(dry: Kubectl, case: str, edit: Edit, fragment: str) -> None:
    manifest = copy.deepcopy(_valid())
    edit(manifest)
    proc = _dry_run(dry, manifest)
    assert proc.returncode != 0, f"{case}: accepted"
    assert fragment in proc.stderr, f"{case}: {proc.stderr}"


CONTROLLER_CHECKED = [
    ("bad cron syntax", {"quartz_cron_expression": "0 0 25 * * ?", "timezone_id": "UTC"}, "quartz_cron_expression"),
    ("bad timezone", {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "Mars/Olympus"}, "timezone_id"),
    # A CEL rule would be quadratic in 1000 tasks; the controller checks it (controller/api/validate.py).
    ("dangling depends_on", None, "depends_on"),
    ("depends_on cycle", "cycle", "dependency cycle a -> b -> a"),
]


@pytest.mark.parametrize(("case", "schedule", "fragment"), CONTROLLER_CHECKED, ids=[c[0] for c in CONTROLLER_CHECKED])
def test_what_the_schema_cannot_check_is_invalid_spec_without_a_databricks_write(
    ns: Kubectl,
    emulator: EmulatorServer,
    controller: ControllerProcess,
    case: str,
    schedule: dict[str, Any] | str | None,
    fragment: str,
) -> None:
    settings = _base()
    if schedule is None:
        settings["tasks"][1]["depends_on"] = [{"task_key": "ghost"}]
    elif schedule == "cycle":
        settings["tasks"][0]["depends_on"] = [{"task_key": "b"}]
    else:
        settings["schedule"] = schedule
    name = "ctl-" + case.replace(" ", "-").replace("_", "-")
    settings["name"] = name
    ns.apply([job_manifest(name, settings)])

    def invalid() -> dict[str, Any] | None:
        cond = condition(ns.get("databricksjob", name), "Synced")
        return cond if cond and cond["reason"] == "InvalidSpec" else None

    try:
        cond = wait_for(invalid, timeout=60, what=f"{name} InvalidSpec")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{controller.log_tail()}") from err
    assert fragment in cond["message"]
    assert "jobId" not in ns.get("databricksjob", name)["status"]
    names = [emulator.workspace.get_settings(j).get("name") for j in emulator.workspace.job_ids()]
    assert name not in names
    # The controller's own check, not a refused Databricks call (other namespaces' jobs keep the emulator's
    # request counters moving, so the message is the evidence here).
    assert "Databricks refused" not in cond["message"]


# ---- the real corpus ---------------------------------------------------------------------------------


def _corpus() -> list[Path]:
    spec = importlib.util.spec_from_file_location("dbjobs_tests_conftest", REPO_ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.corpus_files()) or [Path("corpus-absent")]


#: INDEX.md's deliberately broken files and the field each is refused for at admission...
BROKEN = {
    "009-": "tasks[].job_cluster_key",
    "024-": "email_notifications.on_failure",
}
#: ...and those whose broken jobs ``dbjobs convert`` refuses already (no manifest), with the rule.
REFUSED_BY_CONVERT = {"019-": "task-field", "028-": "task-type", "033-": "task-field"}


def _schema_at(schema: dict[str, Any], value: Any, path: str, out: list[str]) -> None:
    """Paths where an unresolved bundle reference ``${…}`` stands where the schema needs more than a string (a
    reference to a DatabricksJob in a job-id field is admitted: docs/gitops.md, "Jobs that trigger jobs")."""
    if isinstance(value, str) and "${" in value:
        job_id_field = schema.get("x-kubernetes-int-or-string") or schema.get("pattern") == STRING_ID_PATTERN
        if job_id_field and reference_name(value) is not None:
            return
        if schema.get("type") != "string" or "enum" in schema or "pattern" in schema:
            out.append(path)
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) or (extra if isinstance(extra, dict) else None)
            if sub is not None:
                _schema_at(sub, v, f"{path}.{k}", out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            _schema_at(schema["items"], v, f"{path}[{i}]", out)


def _settings_schema() -> dict[str, Any]:
    return crdgen.settings_schema()


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_corpus_jobs_apply_and_broken_ones_are_refused(corpus_dir: Path, dry: Kubectl, path: Path) -> None:
    try:
        result = convert_file(path, namespace=dry.namespace)
    except ConversionError:
        return  # the unrendered Go template (022): test_convert_corpus covers it
    schema = _settings_schema()
    broken = next((f for p, f in BROKEN.items() if path.name.startswith(p)), None)
    rule = next((r for p, r in REFUSED_BY_CONVERT.items() if path.name.startswith(p)), None)
    if rule is not None:
        assert any(line.endswith(f"[rule {rule}]") for line in result.refused), result.refused
    for manifest in result.manifests:
        unresolved: list[str] = []
        _schema_at(schema, manifest["spec"]["settings"], "spec.settings", unresolved)
        proc = _dry_run(dry, manifest)
        name = f"{path.name}#{manifest['metadata']['name']}"
        if broken is None and not unresolved:
            assert proc.returncode == 0, f"{name}: {proc.stderr}"
        elif broken is not None:
            assert proc.returncode != 0 and broken in proc.stderr, f"{name}: {proc.stderr}"
        else:
            # A bundle reference left unresolved where Databricks needs a number, an enum or a key.
            assert proc.returncode != 0, f"{name}: accepted with {unresolved}"
            assert any(u.split("[")[0] in proc.stderr for u in unresolved), f"{name}: {proc.stderr}"


# ---- size and Argo CD --------------------------------------------------------------------------------

LAST_APPLIED_LIMIT = 262144  # bytes of annotations kubectl's client-side apply must fit


def test_crd_applies_server_side_as_argo_cd_does(admin: Kubectl) -> None:
    size = (CRD_DIR / crdgen.JOB_FILE).stat().st_size
    assert size > LAST_APPLIED_LIMIT, "README says ServerSideApply=true is needed; update it if this changes"
    proc = admin("apply", "--server-side", "--field-manager=argocd-controller", "--force-conflicts", "-f", str(CRD_DIR))
    assert "serverside-applied" in proc.stdout
    client_side = admin("apply", "--dry-run=server", "-f", str(CRD_DIR / crdgen.JOB_FILE), check=False)
    assert client_side.returncode != 0 and "Too long" in client_side.stderr
