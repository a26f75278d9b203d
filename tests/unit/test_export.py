"""``dbjobs export`` without a workspace: manifests from listed jobs, updates that keep comments, commits on a
new branch made with gitpython in a temporary repository.

Covers: server defaults removed (the result compares in sync with the live job), adopt/Report/Orphan by
default, names DNS-1123 and unique, selection by name pattern, tag and id, jobs already managed skipped; an
existing manifest found by the job it adopts and updated in place with its comments, its own policies and
its file name kept; a commit on a new branch listing the jobs, with the current branch, the index and
uncommitted work untouched, and an existing branch refused.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from controller.databricks.jobs import ListedJob
from controller.gitops.export import ExportOptions, Selection, plan_export
from controller.gitops.export_cli import export_main
from controller.gitops.gitcommit import GitError, commit_on_new_branch, files_at
from controller.reconcile.drift import compare

pytestmark = pytest.mark.unit
ACTOR = git.Actor("Dev", "dev@example.com")


def live(job_id: int, name: str, **extra: Any) -> ListedJob:
    """A job as jobs/list returns it: every server default filled in."""
    settings = {
        "name": name,
        "format": "MULTI_TASK",
        "email_notifications": {},
        "webhook_notifications": {},
        "timeout_seconds": 0,
        "max_concurrent_runs": 1,
        "queue": {"enabled": True},
        "run_as": {"user_name": "creator@example.com"},
        "tasks": [
            {
                "task_key": "main",
                "run_if": "ALL_SUCCESS",
                "timeout_seconds": 0,
                "email_notifications": {},
                "notebook_task": {"notebook_path": f"/Shared/{job_id}", "source": "WORKSPACE"},
            }
        ],
        **extra,
    }
    return ListedJob(job_id, settings, "creator@example.com")


JOBS = [
    live(101, "Nightly ETL", tags={"team": "data"}),
    live(
        102,
        "nightly etl",
        schedule={"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
    ),
    live(103, "Report", max_concurrent_runs=3),
    live(104, "managed", tags={"dbjobs-owner": "team-a_x-0123456789abcdef"}),
]


def test_manifests_adopt_report_orphan_and_hold_what_a_person_writes() -> None:
    result = plan_export(JOBS, Selection(), ExportOptions(namespace="jobs"), {})
    assert [e[:2] for e in result.exported] == [("nightly-etl", 101), ("nightly-etl-2", 102), ("report", 103)]
    assert result.skipped == [(104, "managed by a DatabricksJob already (tag dbjobs-owner=team-a_x-0123456789abcdef)")]
    (first,) = yaml.safe_load_all(result.files["nightly-etl.yaml"])
    assert first["metadata"] == {
        "name": "nightly-etl",
        "namespace": "jobs",
        "annotations": {"dbjobs.io/source": "workspace job 101"},
    }
    spec = first["spec"]
    assert spec["adopt"] == {"jobId": 101} and spec["driftPolicy"] == "Report" and spec["deletionPolicy"] == "Orphan"
    assert spec["settings"] == {
        "name": "Nightly ETL",
        "tags": {"team": "data"},
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/101"}}],
    }
    for job, path in zip(JOBS[:3], ("nightly-etl.yaml", "nightly-etl-2.yaml", "report.yaml"), strict=True):
        (doc,) = yaml.safe_load_all(result.files[path])
        assert compare(doc["spec"]["settings"], job.settings, owner=job.creator).in_sync, path
    (second,) = yaml.safe_load_all(result.files["nightly-etl-2.yaml"])
    assert second["spec"]["settings"]["schedule"] == {"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC"}


@pytest.mark.parametrize(
    ("selection", "ids"),
    [
        (Selection(names=("nightly*",)), [101, 102]),
        (Selection(names=("NIGHTLY ETL",)), [101, 102]),
        (Selection(tags=("team=data",)), [101]),
        (Selection(tags=("team",), names=("report",)), []),
        (Selection(job_ids=(103,)), [103]),
    ],
)
def test_selection(selection: Selection, ids: list[int]) -> None:
    assert [e[1] for e in plan_export(JOBS, selection, ExportOptions(), {}).exported] == ids


EXISTING = """\
# Our nightly job. Owned by the data team.
apiVersion: dbjobs.io/v1alpha1
kind: DatabricksJob
metadata:
  name: etl-nightly   # renamed by hand
spec:
  workspaceRef:
    name: prod
  adopt:
    jobId: 101
  driftPolicy: Correct  # we trust Git now
  deletionPolicy: Orphan
  settings:
    name: Nightly ETL
    tags:
      team: data   # cost centre
    tasks:
      # the only task
      - task_key: main
        notebook_task:
          notebook_path: /Shared/101
"""


def test_an_existing_manifest_is_updated_in_place_keeping_comments_and_choices() -> None:
    changed = [live(101, "Nightly ETL", tags={"team": "data", "tier": "gold"}, max_concurrent_runs=2)]
    result = plan_export(changed, Selection(), ExportOptions(), {"etl.yaml": EXISTING})
    assert result.updated == ["etl.yaml"] and result.created == [] and list(result.files) == ["etl.yaml"]
    text = result.files["etl.yaml"]
    for comment in (
        "# Our nightly job.",
        "# renamed by hand",
        "# we trust Git now",
        "# cost centre",
        "# the only task",
    ):
        assert comment in text, comment
    doc = yaml.safe_load(text)
    assert doc["metadata"]["name"] == "etl-nightly" and doc["spec"]["driftPolicy"] == "Correct"
    assert doc["spec"]["workspaceRef"] == {"name": "prod"}
    assert doc["spec"]["settings"]["tags"] == {"team": "data", "tier": "gold"}
    assert doc["spec"]["settings"]["max_concurrent_runs"] == 2
    same = plan_export(
        [live(101, "Nightly ETL", tags={"team": "data"})], Selection(), ExportOptions(), {"etl.yaml": EXISTING}
    )
    assert same.unchanged == ["etl.yaml"] and same.files == {}


def _repo(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    root = Path(str(repo.working_tree_dir))
    (root / "jobs").mkdir()
    (root / "jobs" / "etl.yaml").write_text(EXISTING)
    (root / "README.md").write_text("hello\n")
    repo.index.add(["jobs/etl.yaml", "README.md"])
    repo.index.commit("start", author=ACTOR, committer=ACTOR)
    (root / "README.md").write_text("uncommitted work\n")  # a dirty working tree
    (root / "scratch.txt").write_text("untracked\n")
    return repo


def staged(repo: git.Repo) -> dict[str, str]:
    """What the index holds: ``{path: blob sha}``."""
    return {str(k[0]): v.hexsha for k, v in git.IndexFile(repo).entries.items()}


def _args(repo: git.Repo, **extra: Any) -> argparse.Namespace:
    defaults = {
        "name": [], "tag": [], "job_id": [], "profile": None, "to": "jobs", "repo": str(repo.working_tree_dir),
        "branch": "export/jobs", "commit": True, "base": "HEAD", "namespace": None, "workspace_ref": "default",
        "drift_policy": "Report", "deletion_policy": "Orphan",
    }  # fmt: skip
    return argparse.Namespace(**{**defaults, **extra})


def test_export_commits_on_a_new_branch_without_touching_the_checkout(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    head, index, status = (
        repo.head.commit.hexsha,
        staged(repo),
        repo.git.status("--porcelain"),
    )
    assert export_main(_args(repo), jobs=[*JOBS[:3], JOBS[3]]) == 0  # one managed job skipped: no error
    assert repo.active_branch.name == "main" and repo.head.commit.hexsha == head
    assert staged(repo) == index and repo.git.status("--porcelain") == status
    branch = repo.heads["export/jobs"].commit
    assert branch.parents == (repo.head.commit,)
    assert branch.message.splitlines()[0] == "dbjobs export: 3 job(s) from the workspace"
    assert "- Nightly ETL (job 101) -> etl-nightly" in branch.message
    files = {f.path: f.text for f in files_at(branch, "jobs")}
    assert sorted(files) == ["jobs/etl.yaml", "jobs/nightly-etl.yaml", "jobs/report.yaml"]
    assert "# we trust Git now" in files["jobs/etl.yaml"]
    assert export_main(_args(repo), jobs=JOBS[:3]) == 2  # the branch exists now


def test_commit_refuses_an_existing_branch_and_paths_outside(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(GitError, match="already exists"):
        commit_on_new_branch(repo, "main", repo.head.commit, {"a.yaml": "x"}, "m", ACTOR)
    with pytest.raises(GitError, match="relative to the repository root"):
        commit_on_new_branch(repo, "new", repo.head.commit, {"../a.yaml": "x"}, "m", ACTOR)


def test_export_to_a_directory_and_to_stdout(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    target = Path(str(repo.working_tree_dir)) / "jobs"
    assert export_main(_args(repo, branch=None, commit=False, to=str(target)), jobs=JOBS[:3]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["etl.yaml", "nightly-etl.yaml", "report.yaml"]
    assert (target / "etl.yaml").read_text() == EXISTING  # unchanged job: the file is not rewritten
    out = io.StringIO()
    assert export_main(_args(repo, branch=None, commit=False, to=None), jobs=JOBS[2:3], out=out) == 0
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(out.getvalue())] == ["report"]
