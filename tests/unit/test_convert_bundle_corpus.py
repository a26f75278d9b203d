"""Every real multi-file bundle of the bundle corpus converts with each of its targets.

The bundles are read in place through ``DBJOBS_BUNDLE_CORPUS`` (default ``../shared/corpus/bundles``), never
copied. Each is converted as its ``SOURCE.md`` says it was published: relative code paths read from the
original repository at the recorded commit (``--git-url``/``--git-ref``, ``--git-path`` for a bundle in a
folder of its repository). Checked per target, against the source files read here: no refusal and no error;
one manifest per job key (the target's own jobs included); the task count of each job; a bundle-wide
``run_as`` on every job without its own; permissions kept in the annotation; non-job resources listed; no
relative workspace path left. ``-s`` prints one line per bundle and target.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.gitops.convert import ConversionResult, convert_file
from controller.gitops.convert_cli import bundle_options

pytestmark = pytest.mark.unit
REPO_ROOT = Path(__file__).resolve().parents[2]


def _shared_conftest() -> Any:
    spec = importlib.util.spec_from_file_location("dbjobs_tests_conftest", REPO_ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUNDLES = _shared_conftest().bundle_corpus() or [Path("bundle-corpus-absent/databricks.yml")]


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    assert isinstance(doc, dict)
    return doc


def _included(root: Path) -> list[dict[str, Any]]:
    doc = _load(root)
    files: list[Path] = []
    for pattern in doc.get("include") or []:
        files += sorted(root.parent.glob(pattern))
    return [doc, *(_load(f) for f in dict.fromkeys(files))]


def _cases() -> list[tuple[Path, str]]:
    cases = []
    for root in BUNDLES:
        targets = _load(root).get("targets") if root.is_file() else None
        cases += [(root, str(t)) for t in (targets or {"absent": None})]
    return cases


def _published(root: Path) -> dict[str, str]:
    """``--git-url``, ``--git-ref`` and ``--git-path`` from the bundle's SOURCE.md."""
    text = (root.parent / "SOURCE.md").read_text(encoding="utf-8")
    repo = re.search(r"\*\*Repository:\*\* ([\w.-]+/[\w.-]+)", text)
    commit = re.search(r"\*\*Commit:\*\* ([0-9a-f]{40})", text)
    folder = re.search(r"[Ii]ts root is `([^`]+)`", text)
    assert repo and commit, f"{root.parent.name}/SOURCE.md names no repository and commit"
    return {
        "git_url": f"https://github.com/{repo.group(1)}",
        "git_ref": commit.group(1),
        "git_path": folder.group(1).strip("/") if folder else "",
    }


def _job_tasks(parts: list[dict[str, Any]], target: dict[str, Any]) -> dict[str, set[str]]:
    """``{job key: task keys}`` written in the source files and the target's overrides."""
    out: dict[str, set[str]] = {}
    for part in [*parts, target]:
        for key, job in ((part.get("resources") or {}).get("jobs") or {}).items():
            out.setdefault(key, set()).update(t["task_key"] for t in (job or {}).get("tasks") or [])
    return out


def _convert(root: Path, target: str) -> ConversionResult:
    return convert_file(root, options=bundle_options(target, **_published(root)))


@pytest.mark.parametrize(("root", "target"), _cases(), ids=lambda v: v.parent.name if isinstance(v, Path) else v)
def test_each_bundle_converts_with_each_target(bundle_corpus_dir: Path, root: Path, target: str) -> None:
    parts = _included(root)
    body = (parts[0].get("targets") or {})[target] or {}
    result = _convert(root, target)
    print(
        f"{root.parent.name} --target {target}: {len(result.manifests)} jobs, "
        f"{sum(len(m['spec']['settings'].get('tasks', [])) for m in result.manifests)} tasks, "
        f"{len(result.warnings)} warnings, {len(result.refused)} refused"
    )
    assert result.refused == []
    expected = _job_tasks(parts, body)
    by_key = {m["metadata"]["annotations"]["dbjobs.io/source"].rsplit(".", 1)[-1]: m for m in result.manifests}
    assert sorted(by_key) == sorted(expected)
    for key, manifest in by_key.items():
        settings = manifest["spec"]["settings"]
        assert {t["task_key"] for t in settings.get("tasks", [])} == expected[key], key
        for task in settings.get("tasks", []):
            path = (task.get("notebook_task") or {}).get("notebook_path")
            git_sourced = settings.get("git_source") is not None
            assert path is None or path.startswith("/") or git_sourced, f"{key}: relative path {path!r} left"
    run_as = body.get("run_as", parts[0].get("run_as"))
    if run_as is not None:
        assert all("run_as" in m["spec"]["settings"] for m in result.manifests)
    if parts[0].get("permissions") or body.get("permissions"):
        for manifest in result.manifests:
            assert manifest["spec"]["permissions"], manifest["metadata"]["name"]
    others = {(k, n) for p in parts for k, items in (p.get("resources") or {}).items() if k != "jobs" for n in items}
    for kind, name in others:
        assert any(f"resources.{kind}.{name}: not converted" in w for w in result.warnings), (kind, name)


def test_the_bundle_corpus_is_present_and_multi_file(bundle_corpus_dir: Path) -> None:
    assert len(BUNDLES) >= 3, f"expected the 3-bundle corpus in {bundle_corpus_dir}"
    for root in BUNDLES:
        assert _load(root).get("include"), f"{root.parent.name} is not a multi-file bundle"
