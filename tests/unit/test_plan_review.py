"""``dbjobs plan`` after the fresh-user review (issue 12): a changed ``spec.workspaceRef`` is ``invalid`` with the
apiserver's CEL message and operator-field changes print as JSON; the Markdown form escapes job names (tables,
HTML, mentions, links) and stays under ``--max-chars``; a reference to a DatabricksJob the plan deletes says so
(not "nowhere"), the "give --against" hint is said once; deletions beyond the deletion guard's budget are named
in the summary; an error that stops the plan is written as Markdown for ``-o markdown``; an unexpected exception
in any Git-side command is one line and exit 2."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import yaml

from controller import cli
from controller.api.jobrefs import reference
from controller.gitops.gitcommit import TreeFile
from controller.gitops.manifests import ManifestSet, parse_files
from controller.gitops.plan import Action, ClusterObject, Live, Plan, PlanItem, build_plan
from controller.gitops.plan_render import md_escape, render_json, render_markdown, render_text

pytestmark = pytest.mark.unit
NS = "team"


def manifest(name: str, *refs: str, workspace: str = "w") -> dict[str, Any]:
    tasks = [{"task_key": f"run_{r}", "run_job_task": {"job_id": reference(r)}} for r in refs]
    settings = {"name": name, "tasks": tasks or [{"task_key": "main", "notebook_task": {"notebook_path": "/n"}}]}
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"workspaceRef": {"name": workspace}, "settings": settings},
    }


def revision(*docs: dict[str, Any]) -> ManifestSet:
    return parse_files([TreeFile(f"jobs/{d['metadata']['name']}.yaml", yaml.safe_dump(d)) for d in docs], NS)


def item(plan: Plan, name: str) -> PlanItem:
    return next(i for i in plan.items if i.key == f"{NS}/{name}")


EVIL = "x | y </details></td> <img src=x> @octocat ![t](https://evil.example/p.png)"


def named(name: str, job_name: str, **spec: Any) -> dict[str, Any]:
    doc = manifest(name)
    doc["spec"].update(spec)
    doc["spec"]["settings"]["name"] = job_name
    return doc


def test_a_changed_workspace_ref_is_invalid_with_the_apiservers_message() -> None:
    base = revision(manifest("etl", workspace="prod"))
    plan = build_plan(revision(manifest("etl", workspace="staging")), base=base)
    etl = item(plan, "etl")
    assert etl.action is Action.INVALID and plan.exit_code == 2
    (problem,) = etl.problems
    assert problem.startswith("spec.workspaceRef: workspaceRef is immutable; create a new DatabricksJob")
    assert '{"name": "prod"} -> {"name": "staging"}' in problem
    # spelling the default kind out is no change (the CEL rule says so too)
    same = revision(named("etl", "etl", workspaceRef={"name": "prod", "kind": "DatabricksWorkspace"}))
    assert item(build_plan(same, base=base), "etl").action is not Action.INVALID


def test_operator_field_changes_print_as_json() -> None:
    base = revision(named("etl", "etl", driftPolicy="Report", schedule={"paused": True}))
    plan = build_plan(revision(named("etl", "etl", driftPolicy="Correct")), base=base)
    assert item(plan, "etl").spec_changes == (
        'driftPolicy: "Report" -> "Correct"',
        'schedule: {"paused": true} -> (unset)',
    )


def test_markdown_escapes_job_names_everywhere() -> None:
    plan = build_plan(revision(named("evil", EVIL)), base=revision(named("evil", "old name")))
    markdown = render_markdown(plan)
    row = next(line for line in markdown.splitlines() if line.startswith("| ~ |"))
    assert row.count("|") == 5  # the name adds no cell
    for raw in ("</details>", "</td>", "<img", "@octocat", "![t]", "](https://", "x | y"):
        assert raw not in row, raw
    assert "&lt;img src=x&gt;" in row and "@\u200doctocat" in row and "&#33;&#91;t&#93;" in row
    assert md_escape("`code` *b* _i_ # h\nnext") == "&#96;code&#96; &#42;b&#42; &#95;i&#95; &#35; h next"


def test_markdown_code_blocks_cannot_be_closed_by_values() -> None:
    base = revision(named("etl", "etl", driftPolicy="Report"))
    plan = build_plan(revision(named("etl", "```\n</details> @octocat", driftPolicy="Correct")), base=base)
    markdown = render_markdown(plan)
    assert "\n````\n" in markdown  # a fence longer than the value's backticks


def test_markdown_stays_under_max_chars_keeping_the_summary() -> None:
    docs = [named(f"job-{n:03}", f"job {n}", driftPolicy="Correct") for n in range(300)]
    base = revision(*[named(f"job-{n:03}", f"job {n}", driftPolicy="Report") for n in range(300)])
    plan = build_plan(revision(*docs), base=base)
    full = render_markdown(plan, 0)
    assert len(full) > 20_000
    cut = render_markdown(plan, 20_000)
    assert len(cut) <= 20_000
    assert cut.startswith("### dbjobs plan: 300 to update")
    assert "| ~ | update | <code>team/job-000</code>" in cut
    tail = cut.rstrip().splitlines()[-1]
    assert tail.startswith("… ") and "more job(s) not shown in full" in tail and "-o json" in tail


def test_a_reference_to_a_job_the_plan_deletes_says_so() -> None:
    cluster = {
        f"{NS}/child": ClusterObject(f"{NS}/child", manifest("child")["spec"], {"jobId": 7}),
        f"{NS}/parent": ClusterObject(f"{NS}/parent", manifest("parent", "child")["spec"], {"jobId": 8}),
    }
    plan = build_plan(revision(manifest("parent", "child")), live=Live(cluster, namespaces=frozenset({NS})))
    assert item(plan, "child").action is Action.DELETE
    (dep,) = item(plan, "parent").depends_on
    assert "deleted by this plan" in dep.note and "not in this revision nor the cluster" not in dep.note


def test_deletions_over_the_guards_budget_are_named_in_the_summary() -> None:
    gone = [named(f"j{n}", f"j{n}", deletionPolicy="Delete") for n in range(12)]
    plan = build_plan(revision(), base=revision(*gone))
    assert plan.count(Action.DELETE) == 12
    assert "12 to delete (the deletion guard deletes at most 10 in its window and holds the rest for confirmation" in (
        render_text(plan)
    )
    assert "deletionNote" in render_json(plan)
    budgets = {f"DatabricksWorkspace/{NS}/w": 20}
    assert build_plan(revision(), base=revision(*gone), live=Live(deletion_budgets=budgets)).deletion_note == ""
    orphans = [named(f"j{n}", f"j{n}", deletionPolicy="Orphan") for n in range(12)]
    assert build_plan(revision(), base=revision(*orphans)).deletion_note == ""  # Orphan deletes no job


def _explode(args: Any) -> int:
    raise KeyError("boom")


@pytest.mark.parametrize("command", ["plan", "export", "convert", "diff"])
def test_an_unexpected_exception_is_one_line_and_exit_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.GITOPS_COMMANDS, command, _explode)
    monkeypatch.delenv("DBJOBS_LOG_LEVEL", raising=False)
    argv = {"plan": ["plan", "--base", "main", "-o", "markdown"], "export": ["export"], "convert": ["convert", "f"]}
    assert cli.main(argv.get(command, ["diff", "a", "b"])) == 2
    out, err = capsys.readouterr()
    assert err == f"dbjobs {command}: internal error: KeyError: 'boom' (a bug; please report)\n"
    if command == "plan":  # -o markdown: the pull-request comment says why
        assert out.startswith("### dbjobs plan: error") and "internal error: KeyError" in out
    assert cli.main(["--debug", *argv.get(command, ["diff", "a", "b"])]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_error_that_stops_the_plan_is_markdown_too(capsys: pytest.CaptureFixture[str]) -> None:
    from controller.gitops.plan_cli import plan_main

    args = argparse.Namespace(base=None, against=[], output="markdown")
    assert plan_main(args) == 2
    out, err = capsys.readouterr()
    assert "nothing to compare with" in err
    assert out.startswith("### dbjobs plan: error") and "nothing to compare with" in out
