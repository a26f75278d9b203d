"""The Git side after the fresh-user review (issue 12), with real repositories made by gitpython in tmp dirs:
``plan --base`` where ``--path`` does not exist at the base yet (every job new) and does not at ``--rev`` (exit 2,
the Markdown says why); YAML alias bombs refused in one line with exit 2 (plan, convert, diff); ``export
--branch`` refuses ``HEAD`` and names Git refuses, ``--to`` outside the repository or inside ``.git``, and takes
an absolute ``--to`` inside it; job names in the commit message are one printable line each; a skipped managed
job is exit 0; files are written 0666 minus the umask."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from controller.cli import main
from controller.databricks.jobs import ListedJob
from controller.gitops.export_cli import export_main
from controller.gitops.gitcommit import files_at

pytestmark = pytest.mark.unit
ACTOR = git.Actor("Dev", "dev@example.com")

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def job(name: str) -> str:
    doc = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "workspaceRef": {"name": "default"},
            "settings": {"name": name, "tasks": [{"task_key": "m", "notebook_task": {"notebook_path": "/n"}}]},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def commit(repo: git.Repo, files: dict[str, str]) -> git.Commit:
    root = Path(str(repo.working_tree_dir))
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
        repo.index.add([name])
    return repo.index.commit("c", author=ACTOR, committer=ACTOR)


@pytest.fixture()
def repo(tmp_path: Path) -> git.Repo:
    """main: a README only; import-jobs: adds jobs/imported/ with two jobs (the first pull request)."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    commit(repo, {"README.md": "hi\n"})
    repo.create_head("import-jobs").checkout()
    commit(repo, {"jobs/imported/a.yaml": job("a"), "jobs/imported/b.yaml": job("b")})
    repo.heads.main.checkout()
    return repo


def test_a_path_missing_at_the_base_is_empty_there(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    where = str(repo.working_tree_dir)
    args = ["plan", "--repo", where, "--base", "main", "--rev", "import-jobs", "--path", "jobs/imported"]
    assert main([*args, "-o", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {i["key"]: i["action"] for i in doc["items"]} == {"team-a/a": "create", "team-a/b": "create"}
    # files on disk against a base that lacks the folder: the same
    assert main(["plan", "--repo", where, "--base", "main", "--path", "jobs/imported", where, "-o", "json"]) == 0


def test_a_path_missing_at_the_revision_is_an_error_in_markdown_too(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", "--repo", str(repo.working_tree_dir), "--base", "import-jobs", "--rev", "main"]
    assert main([*args, "--path", "jobs/imported", "-o", "markdown"]) == 2
    out, err = capsys.readouterr()
    assert "'jobs/imported' does not exist at" in err
    assert out.startswith("### dbjobs plan: error") and "'jobs/imported' does not exist at" in out


def test_alias_bombs_are_refused_in_one_line(
    repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.heads["import-jobs"].checkout()
    commit(repo, {"jobs/imported/bomb.yaml": BOMB})
    args = ["plan", "--repo", str(repo.working_tree_dir), "--base", "main", "--path", "jobs/imported"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "jobs/imported/bomb.yaml: not valid YAML: aliases expand the document" in err
    assert "alias bomb" in err and "Traceback" not in err
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert main(["convert", str(bomb)]) == 1  # convert's "could not be converted"
    assert "aliases expand the document" in capsys.readouterr().err
    assert main(["diff", str(bomb), str(bomb)]) == 2
    assert "aliases expand the document" in capsys.readouterr().err
    recursive = tmp_path / "loop.yaml"
    recursive.write_text("a: &a [*a]\n")
    assert main(["diff", str(recursive), str(recursive)]) == 2
    assert "without end" in capsys.readouterr().err


def test_ordinary_anchors_still_load(tmp_path: Path) -> None:
    from controller.gitops.yamlsafe import safe_load_all

    text = "base: &b {cluster: x, retries: 2}\njobs: [*b, *b, {<<: *b, retries: 3}]\n"
    (doc,) = safe_load_all(text)
    assert doc["jobs"][2] == {"cluster": "x", "retries": 3}


def listed(job_id: int, name: str, **tags: str) -> ListedJob:
    settings = {"name": name, "tasks": [{"task_key": "m", "notebook_task": {"notebook_path": "/n"}}], "tags": tags}
    return ListedJob(job_id, settings, "me@example.com")


def export_args(repo: git.Repo, **extra: Any) -> argparse.Namespace:
    defaults = {
        "name": [], "tag": [], "job_id": [], "profile": None, "to": "jobs", "repo": str(repo.working_tree_dir),
        "branch": "b1", "commit": True, "base": "HEAD", "namespace": None, "workspace_ref": "default",
        "drift_policy": "Report", "deletion_policy": "Orphan",
    }  # fmt: skip
    return argparse.Namespace(**{**defaults, **extra})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"branch": "HEAD"}, "'HEAD' is not a valid branch name"),
        ({"branch": "bad..name"}, "'bad..name' is not a valid branch name (git check-ref-format --branch)"),
        ({"branch": "-x"}, "'-x' is not a valid branch name"),
        ({"to": ".git/hooks"}, "inside the Git metadata (.git)"),
        ({"to": "jobs/../../outside"}, "outside the repository"),
        ({"to": "/abs/path"}, "outside the repository"),
    ],
)
def test_export_refuses_bad_branches_and_folders(
    repo: git.Repo, extra: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = {h.name for h in repo.heads}
    assert export_main(export_args(repo, **extra), jobs=[listed(1, "one")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert {h.name for h in repo.heads} == heads
    assert not (Path(str(repo.git_dir)) / "refs" / "heads" / "HEAD").exists()


def test_export_takes_an_absolute_folder_inside_the_repository(repo: git.Repo) -> None:
    inside = Path(str(repo.working_tree_dir)) / "clusters" / "prod"
    assert export_main(export_args(repo, to=str(inside)), jobs=[listed(1, "one")]) == 0
    assert [f.path for f in files_at(repo.heads["b1"].commit, "clusters")] == ["clusters/prod/one.yaml"]


def test_commit_message_holds_one_printable_line_per_job_and_skips_are_no_error(repo: git.Repo) -> None:
    evil = "ok\x1b[31mred\x1b[0m\n\nCo-authored-by: Mallory <m@evil.example>\r" + "x" * 300
    jobs = [listed(1, evil), listed(2, "managed", **{"dbjobs-owner": "team-a_x-0123456789abcdef"})]
    assert export_main(export_args(repo), jobs=jobs) == 0  # the managed job is skipped: exit 0
    message = repo.heads["b1"].commit.message
    lines = message.splitlines()
    assert lines[0] == "dbjobs export: 1 job(s) from the workspace" and len(lines) == 3
    assert not any(line.startswith("Co-authored-by:") for line in lines)
    assert "\x1b" not in message and "\r" not in message
    assert lines[2].startswith("- ok [31mred [0m Co-authored-by: Mallory") and "…" in lines[2]
    assert len(lines[2]) < 200  # name cut to 100 characters, then id and the 63-character manifest name


def test_files_are_written_with_the_umask(tmp_path: Path) -> None:
    from controller.gitops.outputs import write_all

    old = os.umask(0o022)
    try:
        write_all(tmp_path, {"a.yaml": "a: 1\n"})
        assert (tmp_path / "a.yaml").stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        write_all(tmp_path, {"b.yaml": "b: 1\n"})
        assert (tmp_path / "b.yaml").stat().st_mode & 0o777 == 0o640
        (tmp_path / "a.yaml").chmod(0o664)
        write_all(tmp_path, {"a.yaml": "a: 2\n"}, force=True)
        assert (tmp_path / "a.yaml").stat().st_mode & 0o777 == 0o664  # a replaced file keeps its mode
    finally:
        os.umask(old)
