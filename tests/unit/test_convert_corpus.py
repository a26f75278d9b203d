"""``dbjobs convert`` over the real job corpus (read in place through ``DBJOBS_CORPUS``, never copied).

The assertions are properties of the conversion, computed from each source file here: every file
converts or fails with its name in the message, every job is either a manifest or refused by a named rule
(task counts of both together match the source), names are DNS-1123 and unique, variables with defaults are
resolved, the known-broken files are refused (or warned about) at the right fields, and no manifest holds a
YAML anchor.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api.refusals import RULES
from controller.gitops.convert import ConversionError, ConversionResult, convert_file
from controller.gitops.manifest import render

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
UNPARSEABLE = "022-"


def _shared_conftest() -> Any:
    # tests/conftest.py is the one place the corpus location is decided; it is loaded by path because
    # several conftest modules share the name ``conftest``.
    spec = importlib.util.spec_from_file_location("dbjobs_tests_conftest", REPO_ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# An absent corpus must fail, not skip: the placeholder keeps one test per check, and the corpus_dir
# fixture it requests fails with a message naming DBJOBS_CORPUS.
CORPUS = _shared_conftest().corpus_files() or [Path("corpus-absent")]


def _ids(path: Path) -> str:
    return path.name


def _load_source(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _count_source_tasks(value: Any, in_job_list: bool = False) -> int:
    """Tasks written in the source: elements of every ``tasks`` list, plus one per 2.0 single-task job."""
    if isinstance(value, list):
        return sum(_count_source_tasks(v, in_job_list) for v in value)
    if not isinstance(value, dict):
        return 0
    legacy = "tasks" not in value and any(k.endswith("_task") for k in value) and (in_job_list or "name" in value)
    total = 1 if legacy else 0
    for key, item in value.items():
        if key == "tasks" and isinstance(item, list):
            total += len(item)
        else:
            total += _count_source_tasks(item, key in {"jobs", "workflows"})
    return total


def _convert(path: Path) -> ConversionResult | ConversionError:
    try:
        return convert_file(path)
    except ConversionError as exc:
        return exc


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_corpus_is_present(corpus_dir: Path) -> None:
    files = [p.name for p in CORPUS]
    assert len(files) >= 40, f"expected the 40-file corpus in {corpus_dir}, found {len(files)}"
    assert any(n.startswith(UNPARSEABLE) for n in files)


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_each_file_converts_or_fails_naming_itself(corpus_dir: Path, path: Path) -> None:
    outcome = _convert(path)
    if isinstance(outcome, ConversionError):
        assert path.name in str(outcome)
        assert path.name.startswith(UNPARSEABLE), f"{path.name} should convert: {outcome}"
        return
    assert not path.name.startswith(UNPARSEABLE), "the unrendered Go template must not convert"
    assert outcome.manifests or outcome.refused
    assert len(outcome.refused_jobs) <= len(outcome.refused)
    for line in outcome.refused:
        rule = re.search(r"\[rule ([\w-]+)\]$", line)
        assert line.startswith(f"{path.name}: ") and rule and rule.group(1) in RULES, line
    names = [m["metadata"]["name"] for m in outcome.manifests]
    assert len(set(names)) == len(names)
    for manifest in outcome.manifests:
        assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
        assert DNS_1123.fullmatch(manifest["metadata"]["name"]) and len(manifest["metadata"]["name"]) <= 63
        assert isinstance(manifest["spec"]["settings"], dict) and manifest["spec"]["settings"]
        assert manifest["metadata"]["annotations"]["dbjobs.io/source"].startswith(path.name)
        assert "format" not in manifest["spec"]["settings"]
    assert all(w.startswith(f"{path.name}: ") for w in outcome.warnings)


def test_only_the_go_template_fails_to_parse(corpus_dir: Path) -> None:
    failed = {p.name: str(o) for p in CORPUS if isinstance(o := _convert(p), ConversionError)}
    assert [n for n in failed if n.startswith(UNPARSEABLE)] == list(failed), failed
    (message,) = failed.values()
    assert re.search(r"line \d+, column \d+", message) and "Go template" in message


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_task_count_and_job_names_match_the_source(corpus_dir: Path, path: Path) -> None:
    outcome = _convert(path)
    if isinstance(outcome, ConversionError):
        return
    source = _load_source(path)
    every = [m["spec"]["settings"] for m in outcome.manifests] + outcome.refused_jobs
    assert sum(len(s.get("tasks", [])) for s in every) == _count_source_tasks(source)
    source_names = {s for s in _names_in(source) if "${" not in s}
    # A bundle target's name prefix (presets, mode: development) comes before the name.
    names = [str(s.get("name")) for s in every]
    assert all(any(n.endswith(source) for n in names) for source in source_names), (source_names, names)


def _names_in(value: Any) -> list[str]:
    """``name`` of every job mapping (one that has ``tasks`` or a ``*_task`` field) in the source."""
    if isinstance(value, list):
        return [n for v in value for n in _names_in(v)]
    if not isinstance(value, dict):
        return []
    own = (
        [value["name"]]
        if isinstance(value.get("name"), str)
        and ("tasks" in value or any(k.endswith("_task") for k in value))
        and "task_key" not in value
        else []
    )
    return own + [n for v in value.values() for n in _names_in(v)]


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_variables_with_defaults_are_resolved(corpus_dir: Path, path: Path) -> None:
    outcome = _convert(path)
    if isinstance(outcome, ConversionError) or path.suffix == ".json":
        return
    declared = _load_source(path).get("variables") or {}
    with_default = {n for n, d in declared.items() if isinstance(d, dict) and d.get("default") is not None}
    for manifest in outcome.manifests:
        for text in _strings(manifest["spec"]["settings"]):
            left = set(re.findall(r"\$\{var\.([\w-]+)", text)) & with_default
            assert not left, f"{path.name}: ${{var.{left.pop()}}} has a default but is still in {text!r}"


@pytest.mark.parametrize(
    ("prefix", "fragments"),
    [
        ("009-", ["tasks[0].job_cluster_key", "'serverless'"]),
        ("024-", ["email_notifications.on_failure", "expected a list"]),
    ],
)
def test_known_broken_files_convert_with_warnings(corpus_dir: Path, prefix: str, fragments: list[str]) -> None:
    (path,) = [p for p in CORPUS if p.name.startswith(prefix)]
    outcome = _convert(path)
    assert isinstance(outcome, ConversionResult)
    assert any(all(f in w for f in fragments) for w in outcome.warnings), outcome.warnings


@pytest.mark.parametrize(
    ("prefix", "fragments"),
    [
        ("019-", ["tasks[1].git_source_info", "not a field of a Jobs API Task", "[rule task-field]"]),
        ("028-", ["tasks[5]", "sets 2 task types (condition_task, notebook_task)", "[rule task-type]"]),
        ("033-", ["tasks[0].min_retries", "[rule task-field]"]),
        ("019-", ["run_job_task.git_source_info", "not a field of a Jobs API RunJobTask", "[rule task-field]"]),
        ("033-", ["depends_on[0].job_id", "not a field of a Jobs API TaskDependency", "[rule task-field]"]),
        ("031-", ["python_file", "'file://", "[rule no-file-uri]"]),
        ("018-", ["notebook_path", "'../src/sample_notebook.ipynb' is a file the bundle CLI uploads", "--git-url"]),
    ],
)
def test_what_databricks_refuses_is_refused_by_field_and_rule(
    corpus_dir: Path, prefix: str, fragments: list[str]
) -> None:
    (path,) = [p for p in CORPUS if p.name.startswith(prefix)]
    outcome = _convert(path)
    assert isinstance(outcome, ConversionResult)
    assert any(all(f in line for f in fragments) for line in outcome.refused), outcome.refused


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_manifests_hold_no_yaml_anchors(corpus_dir: Path, path: Path) -> None:
    outcome = _convert(path)
    if isinstance(outcome, ConversionError):
        return
    text = render(outcome.manifests)
    assert not re.search(r"(^|\s)[&*]id\d+", text), "a manifest holds a YAML anchor or alias"
    assert list(yaml.safe_load_all(text)) == outcome.manifests


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", "convert", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_prints_good_files_and_exits_1_with_the_go_template(corpus_dir: Path) -> None:
    (good,) = [p for p in CORPUS if p.name.startswith("006-")]
    (bad,) = [p for p in CORPUS if p.name.startswith(UNPARSEABLE)]
    proc = _run_cli(str(good), str(bad))
    assert proc.returncode == 1, proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    assert len(docs) == 1 and docs[0]["kind"] == "DatabricksJob"
    assert docs[0]["metadata"]["annotations"]["dbjobs.io/source"].startswith(good.name)
    assert any(bad.name in line and line.startswith("dbjobs convert:") for line in proc.stderr.splitlines())


def test_cli_writes_one_file_per_manifest_with_unique_names(corpus_dir: Path, tmp_path: Path) -> None:
    expected = sum(len(o.manifests) for p in CORPUS if isinstance(o := _convert(p), ConversionResult))
    proc = _run_cli("--output-dir", str(tmp_path), "--namespace", "jobs", *map(str, CORPUS))
    assert proc.returncode == 1  # 022 fails; every other file is still written
    written = sorted(tmp_path.iterdir())
    assert len(written) == expected
    for file in written:
        (doc,) = list(yaml.safe_load_all(file.read_text()))
        assert file.name == f"{doc['metadata']['name']}.yaml"
        assert doc["metadata"]["namespace"] == "jobs"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
