"""``dbjobs plan --base main --rev feature`` on real Git repositories made with gitpython in a temporary directory.

The sample pull request (the same one docs/gitops.md shows) edits one job, adds one, adopts one, deletes two
(one ``Delete``, one ``Orphan``), renames a file without changing its job, and merges ``main`` back in (a merge
commit) after ``main`` gained a job of its own. Checked: every action and its details, that the rename is a
no-op and main's own job is no create (three-dot comparison), the three output forms, exit codes 0/1/2, a
manifest the admission rules refuse reported with its field, and that the working tree, the index and the
current branch are never touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from controller.cli import main

pytestmark = pytest.mark.unit
ACTOR = git.Actor("Dev", "dev@example.com")


def job(name: str, *tasks: dict[str, Any], **spec: Any) -> str:
    settings = {
        "name": name,
        "tasks": list(tasks) or [{"task_key": "main", "notebook_task": {"notebook_path": f"/{name}"}}],
    }
    doc = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"workspaceRef": {"name": "default"}, **spec, "settings": settings},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def commit(repo: git.Repo, message: str, files: dict[str, str | None]) -> git.Commit:
    root = Path(str(repo.working_tree_dir))
    for name, text in files.items():
        if text is None:
            repo.index.remove([name], working_tree=True)
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
        repo.index.add([name])
    return repo.index.commit(message, author=ACTOR, committer=ACTOR)


SILVER = {"task_key": "silver", "notebook_task": {"notebook_path": "/silver"}}
GOLD = {"task_key": "gold", "depends_on": [{"task_key": "silver"}], "notebook_task": {"notebook_path": "/gold"}}


@pytest.fixture()
def repo(tmp_path: Path) -> git.Repo:
    """main: five jobs; feature (the pull request, with main merged back in); a dirty working tree."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    commit(
        repo,
        "jobs",
        {
            "jobs/nightly.yaml": job("nightly"),
            "jobs/medallion.yaml": job("medallion", SILVER),
            "jobs/legacy.yaml": job("legacy", deletionPolicy="Delete"),
            "jobs/keep.yaml": job("keep", deletionPolicy="Orphan"),
            "jobs/old-name.yaml": job("stable"),
            "README.md": "jobs\n",
        },
    )
    feature = repo.create_head("feature")
    feature.checkout()
    commit(
        repo,
        "the pull request",
        {
            "jobs/medallion.yaml": job("medallion", {**SILVER, "timeout_seconds": 600}, GOLD, driftPolicy="Correct"),
            "jobs/legacy.yaml": None,
            "jobs/keep.yaml": None,
            "jobs/etl.yaml": job("etl"),
            "jobs/imported.yaml": job("imported", adopt={"jobId": 555}),
        },
    )
    (Path(str(repo.working_tree_dir)) / "jobs" / "renamed").mkdir()
    repo.git.mv("jobs/old-name.yaml", "jobs/renamed/stable.yaml")
    repo.index.commit("rename a file", author=ACTOR, committer=ACTOR)
    repo.heads.main.checkout()
    commit(repo, "main moves on", {"jobs/other.yaml": job("other")})
    feature.checkout()
    repo.git.merge("main", "--no-edit")
    assert len(repo.head.commit.parents) == 2  # a merge commit
    (Path(str(repo.working_tree_dir)) / "README.md").write_text("uncommitted work\n")
    return repo


def plan(repo: git.Repo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["plan", "--repo", str(repo.working_tree_dir), *args])
    return code, capsys.readouterr().out


def test_a_pull_request_plan_names_every_change(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = plan(repo, capsys, "--base", "main", "--rev", "feature", "--output", "json")
    assert code == 1
    doc = json.loads(out)
    actions = {i["key"]: i["action"] for i in doc["items"]}
    assert actions == {
        "team-a/etl": "create",
        "team-a/imported": "adopt",
        "team-a/medallion": "update",
        "team-a/legacy": "delete",
        "team-a/keep": "delete",
        "team-a/nightly": "no-op",
        "team-a/stable": "no-op",  # renamed file, same resource
        "team-a/other": "no-op",  # main's own job, merged into the branch: not the pull request's
    }
    medallion = next(i for i in doc["items"] if i["key"] == "team-a/medallion")
    assert medallion["against"] == "base"
    assert {c["path"] for c in medallion["changes"]} == {
        "tasks[task_key=gold]",
        "tasks[task_key=silver].timeout_seconds",
    }
    assert medallion["specChanges"] == ['driftPolicy: (unset) -> "Correct"']  # values as JSON
    deletes = {i["key"]: i["deletionPolicy"] for i in doc["items"] if i["action"] == "delete"}
    assert deletes == {"team-a/keep": "Orphan", "team-a/legacy": "Delete"}
    assert doc["summary"] == {"create": 1, "adopt": 1, "update": 1, "delete": 2, "no-op": 3, "invalid": 0}


def test_text_and_markdown_forms(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = plan(repo, capsys, "--base", "main", "--rev", "feature")
    assert code == 1
    assert text.splitlines()[0].startswith("dbjobs plan (main...feature (")
    assert "1 to create, 1 to adopt, 1 to update, 2 to delete, 3 unchanged" in text
    assert "~ update   team-a/medallion" in text
    assert "      tasks[task_key=silver].timeout_seconds: (absent) -> 600" in text
    assert '- delete   team-a/keep  "keep": left in the workspace (deletionPolicy Orphan)' in text
    assert '- delete   team-a/legacy  "legacy": deleted in Databricks (deletionPolicy Delete)' in text
    assert "= unchanged: team-a/nightly, team-a/other, team-a/stable" in text
    code, markdown = plan(repo, capsys, "--base", "main", "--rev", "feature", "--output", "markdown")
    assert markdown.startswith("### dbjobs plan: 1 to create")
    assert "| ~ | update | <code>team-a/medallion</code> |" in markdown and "<details><summary>update" in markdown


def test_nothing_to_do_is_exit_0_and_an_invalid_manifest_exit_2_naming_the_field(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(repo, capsys, "--base", "feature", "--rev", "feature")[0] == 0
    repo.git.checkout("-b", "broken")
    bad = yaml.safe_load(job("bad"))
    bad["spec"]["settings"]["tasks"][0] = {"task_key": "t"}  # no task type
    bad["spec"]["settings"]["max_concurrent_runs"] = "many"
    commit(repo, "bad", {"jobs/bad.yaml": yaml.safe_dump(bad)})
    code, out = plan(repo, capsys, "--base", "main", "--rev", "broken")
    assert code == 2
    assert "! invalid  team-a/bad" in out
    assert "      spec.settings.max_concurrent_runs: 'many' is not of type 'integer'" in out
    assert "spec.settings.tasks[0]: sets no task type" in out


def test_the_working_tree_index_and_branch_are_untouched(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    head, index = repo.head.commit.hexsha, {str(k[0]): v.hexsha for k, v in git.IndexFile(repo).entries.items()}
    status = repo.git.status("--porcelain")
    plan(repo, capsys, "--base", "main", "--rev", "main~0", "--path", "jobs")
    assert repo.active_branch.name == "feature" and repo.head.commit.hexsha == head
    assert {str(k[0]): v.hexsha for k, v in git.IndexFile(repo).entries.items()} == index
    assert repo.git.status("--porcelain") == status == " M README.md"


def test_files_on_disk_against_a_revision_and_usage_errors(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    jobs_dir = Path(str(repo.working_tree_dir)) / "jobs"
    code, out = plan(repo, capsys, str(jobs_dir), "--base", "main", "--path", "jobs", "--output", "json")
    assert code == 1
    assert {i["key"] for i in json.loads(out)["items"] if i["action"] == "delete"} == {"team-a/keep", "team-a/legacy"}
    assert main(["plan", "--repo", str(repo.working_tree_dir)]) == 2  # nothing to compare with
    assert "nothing to compare with" in capsys.readouterr().err
    assert main(["plan", "--repo", str(repo.working_tree_dir), "--base", "no-such-branch"]) == 2
    assert "'no-such-branch' names no commit" in capsys.readouterr().err
