"""``manifests/examples/`` holds DatabricksJobs only: applying the directory (as the README suggests) never
replaces a user's own Secret or DatabricksWorkspace; the workspace example lives apart under other names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
README_NAMES = {("Secret", "databricks-token"), ("DatabricksWorkspace", "default")}


def docs(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_examples_hold_only_jobs() -> None:
    files = sorted((MANIFESTS / "examples").glob("*.yaml"))
    assert files
    kinds = {(f.name, d["kind"]) for f in files for d in docs(f)}
    assert {k for _, k in kinds} == {"DatabricksJob"}, kinds


def test_workspace_example_does_not_reuse_the_readme_names() -> None:
    found = {(d["kind"], d["metadata"]["name"]) for d in docs(MANIFESTS / "workspace-example.yaml")}  # type: ignore[index]
    assert {k for k, _ in found} == {"Secret", "DatabricksWorkspace"}
    assert not found & README_NAMES, found
