"""The ``dbjobs export`` command: read a workspace, write manifests to stdout, a directory, or a new branch.

* no ``--to``: the manifests go to stdout (multi-document YAML);
* ``--to DIR``: files in ``DIR`` (existing manifests adopting the same jobs are updated in place, keeping
  comments; see :mod:`controller.gitops.export`);
* ``--to DIR --branch B --commit``: nothing is written to disk; a commit on the new branch ``B`` (from
  ``--base``, default ``HEAD``) adds or updates the files under ``DIR`` (a path inside ``--repo``), with a
  message listing the jobs. The current branch, the index and uncommitted work are not touched. ``B`` must be
  a valid branch name (``git check-ref-format --branch``, and not ``HEAD``); ``DIR`` must be inside the
  repository (relative to its root, or an absolute path inside its working tree) and not inside ``.git``.

The workspace comes from the usual databricks-sdk configuration (``--profile`` or the environment). Exit
codes: 0 exported (or nothing to export; jobs already managed by a DatabricksJob are skipped, and listed, but
that is no error), 2 trouble (no workspace configuration, an API error, a Git error, a branch that exists or
is no valid name, a directory outside the repository). A summary goes to stderr.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

import git

from controller.databricks.environment import client_from_environment, workspace_host
from controller.databricks.jobs import ListedJob, list_jobs
from controller.gitops.export import ExportOptions, ExportResult, Selection, plan_export
from controller.gitops.gitcommit import GitError, commit_on_new_branch, default_author, files_at, open_repo, resolve
from controller.gitops.manifest import render
from controller.gitops.outputs import write_all

PREFIX = "dbjobs export:"


def existing_on_disk(directory: Path) -> dict[str, str]:
    """``{file name: text}`` of the YAML files directly in ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return {}
    out = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            try:
                out[path.name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
    return out


MAX_NAME_IN_MESSAGE = 100


def printable(text: str, limit: int = MAX_NAME_IN_MESSAGE) -> str:
    """``text`` on one line of printable characters (control and format characters, such as ANSI escapes and
    line breaks, become spaces), cut to ``limit`` characters with ``…``."""
    clean = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def commit_message(result: ExportResult, host: str) -> str:
    """``dbjobs export: N jobs from HOST`` and one line per job (name, id, manifest). Job names come from the
    workspace and are made one printable line each (:func:`printable`): a name cannot add lines or trailers
    (``Co-authored-by:``) to the message."""
    lines = [f"dbjobs export: {len(result.exported)} job(s) from {printable(host)}", ""]
    lines += [f"- {printable(job_name)} (job {job_id}) -> {name}" for name, job_id, job_name in result.exported]
    return "\n".join(lines) + "\n"


def branch_target(repo_path: str, branch: str, to: str | None) -> str:
    """The folder of ``--to`` relative to the repository root, after checking ``branch`` and ``to``.

    Raises :class:`GitError` for a branch name Git refuses (``git check-ref-format --branch``) or ``HEAD``, and
    for a folder outside the repository (``..``, an absolute path outside its working tree) or inside ``.git``.
    """
    repo = open_repo(repo_path)
    if branch == "HEAD" or branch.startswith("-"):
        raise GitError(f"{branch!r} is not a valid branch name")
    try:
        repo.git.check_ref_format("--branch", branch)
    except git.GitCommandError as exc:
        raise GitError(f"{branch!r} is not a valid branch name (git check-ref-format --branch)") from exc
    folder = to or ""
    if Path(folder).is_absolute():
        root = Path(str(repo.working_tree_dir)).resolve()
        try:
            folder = Path(folder).resolve().relative_to(root).as_posix()
        except ValueError as exc:
            raise GitError(f"--to {to}: outside the repository {root}") from exc
    parts = PurePosixPath(folder.replace("\\", "/")).parts
    if ".." in parts:
        raise GitError(f"--to {to}: outside the repository (paths are relative to its root)")
    if any(p.lower() == ".git" for p in parts):
        raise GitError(f"--to {to}: inside the Git metadata (.git)")
    return "/".join(p for p in parts if p not in (".", "/"))


def export_to_branch(result: ExportResult, repo_path: str, directory: str, branch: str, base: str, host: str) -> str:
    """Commit ``result.files`` under ``directory`` on the new ``branch``; returns the commit SHA."""
    repo = open_repo(repo_path)
    commit = commit_on_new_branch(
        repo,
        branch,
        resolve(repo, base),
        {
            f"{directory.strip('/')}/{name}" if directory.strip("/") else name: text
            for name, text in result.files.items()
        },
        commit_message(result, host),
        default_author(repo),
    )
    return commit.hexsha


def existing_in_git(repo_path: str, base: str, directory: str) -> dict[str, str]:
    """``{file name: text}`` of the YAML files directly in ``directory`` at ``base`` (none when absent)."""
    repo = open_repo(repo_path)
    commit = resolve(repo, base)
    prefix = directory.strip("/")
    try:
        found = list(files_at(commit, prefix, (".yaml", ".yml")))
    except GitError:
        return {}
    cut = len(prefix) + 1 if prefix else 0
    return {f.path[cut:]: f.text for f in found if "/" not in f.path[cut:]}


def _summary(result: ExportResult, err: TextIO) -> None:
    print(
        f"{PREFIX} {len(result.exported)} job(s): {len(result.created)} new, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged manifest(s); {len(result.skipped)} skipped",
        file=err,
    )
    for job_id, why in result.skipped:
        print(f"{PREFIX} skipped job {job_id}: {printable(why, 300)}", file=err)


def export_main(args: Any, *, jobs: list[ListedJob] | None = None, out: TextIO | None = None) -> int:
    """Run ``dbjobs export`` from parsed arguments (see :func:`controller.gitops.cli_args.export_arguments`).

    ``jobs`` replaces reading the workspace (tests); ``out`` replaces stdout.
    """
    out, err = out or sys.stdout, sys.stderr
    if args.branch:
        try:
            args.to = branch_target(args.repo, args.branch, args.to)
        except GitError as exc:
            print(f"{PREFIX} {exc}", file=err)
            return 2
    host = "the workspace"
    if jobs is None:
        try:
            client = client_from_environment(profile=args.profile)
            host = workspace_host(client)
            jobs = list_jobs(client)
        except Exception as exc:  # configuration (ValueError) or any SDK/API error: report it, exit 2
            print(f"{PREFIX} cannot read the workspace: {str(exc).splitlines()[0] if str(exc) else exc!r}", file=err)
            return 2
    selection = Selection(tuple(args.name), tuple(args.tag), tuple(args.job_id))
    options = ExportOptions(args.namespace, args.workspace_ref, args.drift_policy, args.deletion_policy)
    try:
        if args.branch:
            existing = existing_in_git(args.repo, args.base, args.to or "")
            result = plan_export(jobs, selection, options, existing)
            if result.files:
                sha = export_to_branch(result, args.repo, args.to or "", args.branch, args.base, host)
                print(f"{PREFIX} committed {len(result.files)} file(s) on branch {args.branch} ({sha[:12]})", file=err)
        elif args.to:
            directory = Path(args.to)
            result = plan_export(jobs, selection, options, existing_on_disk(directory))
            directory.mkdir(parents=True, exist_ok=True)
            write_all(directory, result.files, force=True)
        else:
            result = plan_export(jobs, selection, options, {})
            out.write("".join(result.files[p] for p in result.created) or render([]))
    except (GitError, OSError) as exc:
        print(f"{PREFIX} {exc}", file=err)
        return 2
    _summary(result, err)
    return 0
