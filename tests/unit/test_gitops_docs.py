"""The Git-side documentation stays true: the GitHub Actions workflow in docs/ parses and runs a ``dbjobs plan``
command line the CLI accepts, and docs/gitops.md lists every refusal rule of controller/api/refusals.py with
its public source and names every command's options it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from controller.api.refusals import RULES
from controller.cli import _parser

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_workflow_runs_a_plan_the_cli_accepts() -> None:
    workflow = yaml.safe_load((DOCS / "github-actions" / "dbjobs-plan.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    (script,) = [s["run"] for s in steps if "dbjobs plan --" in s.get("run", "")]
    line = " ".join(script.replace("\\\n", " ").split("dbjobs plan", 1)[1].split(">")[0].split())
    line = line.replace('"origin/${{ github.base_ref }}"', "origin/main").replace('"$JOBS_PATH"', "jobs")
    assert "against=(--against workspace)" in script and 'if [ -n "$DATABRICKS_TOKEN" ]' in script
    args = _parser().parse_args(["plan", *shlex.split(line.replace('"${against[@]}"', "--against workspace"))])
    assert args.base == "origin/main" and args.against == ["workspace"] and args.output == "markdown"
    assert args.max_chars <= 65_536, "a GitHub comment holds at most 65,536 characters"
    without_secret = _parser().parse_args(["plan", *shlex.split(line.replace('"${against[@]}"', ""))])
    assert without_secret.against == []  # a fork's pull request: --base only
    assert any(s.get("with", {}).get("fetch-depth") == 0 for s in steps), "the merge base needs the history"
    (install,) = [s["run"] for s in steps if "pip install" in s.get("run", "")]
    package = workflow["env"]["DBJOBS_PACKAGE"]
    assert "$DBJOBS_PACKAGE" in install and package.startswith("git+https://") and "@" in package


def test_every_refusal_rule_is_documented_with_its_source() -> None:
    text = (DOCS / "gitops.md").read_text()
    for rule in RULES.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{rule.rule}` |")), None)
        assert row is not None, rule.rule
        assert rule.error_code in row and ("https://" in row or "docstring" in row), row


@pytest.mark.parametrize("command", ["plan", "export", "convert"])
def test_documented_command_lines_parse(command: str) -> None:
    text = (DOCS / "gitops.md").read_text()
    lines = re.findall(rf"^\$ dbjobs {command} (.*?)(?:\s+#.*)?$", text, flags=re.M)
    assert lines, command
    for line in lines:
        _parser().parse_args([command, *shlex.split(line)])
