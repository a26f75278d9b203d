"""Reading files at a Git revision and committing files on a new branch, without a checkout.

Everything goes through Git's object database with gitpython: the working tree, the index (staging area)
and the current branch are never touched, so uncommitted work stays exactly as it was. A commit is built
from a temporary index (``git read-tree`` of the base into a throw-away index file, the new blobs added, a
tree written) and a branch ref is created pointing at it (https://git-scm.com/book/en/v2/Git-Internals-Git-
Objects shows the plumbing this mirrors).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git
from git.index.typ import BaseIndexEntry
from gitdb.base import IStream

FILE_MODE = 0o100644


class GitError(Exception):
    """A Git operation that cannot be done; the message says which and why."""


def open_repo(path: str | Path) -> git.Repo:
    """The repository containing ``path``; raises :class:`GitError` when there is none."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise GitError(f"{path}: not inside a Git repository") from exc


def resolve(repo: git.Repo, rev: str) -> git.Commit:
    """The commit ``rev`` names (a branch, tag, SHA or expression such as ``HEAD~1``)."""
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError) as exc:
        raise GitError(f"{rev!r} names no commit in {repo.working_dir}") from exc


@dataclass(frozen=True)
class TreeFile:
    """A file at a revision: ``path`` relative to the repository root (POSIX), ``text`` its content."""

    path: str
    text: str


def files_at(
    commit: git.Commit, under: str = "", suffixes: tuple[str, ...] = (".yaml", ".yml", ".json")
) -> Iterator[TreeFile]:
    """Every file of ``commit`` under the folder (or file) ``under`` whose name ends in ``suffixes``.

    Files that are not UTF-8 text are skipped. Raises :class:`GitError` when ``under`` does not exist there.
    """
    root = commit.tree
    under = under.strip("/")
    if under:
        try:
            root = commit.tree / under
        except KeyError as exc:
            raise GitError(f"{under!r} does not exist at {commit.hexsha[:12]}") from exc
    items = [root] if isinstance(root, git.Blob) else root.traverse()
    for item in items:
        if not isinstance(item, git.Blob) or not str(item.path).endswith(suffixes):
            continue
        try:
            yield TreeFile(str(item.path), item.data_stream.read().decode("utf-8"))
        except UnicodeDecodeError:
            continue


def exists_at(commit: git.Commit, under: str) -> bool:
    """True when the folder or file ``under`` (``""``: the root) exists at ``commit``."""
    under = under.strip("/")
    if not under:
        return True
    try:
        commit.tree / under
    except KeyError:
        return False
    return True


def merge_base(repo: git.Repo, a: git.Commit, b: git.Commit) -> git.Commit:
    """The best common ancestor of ``a`` and ``b`` (what ``git diff a...b`` compares ``b`` with)."""
    bases = repo.merge_base(a, b)
    if not bases:
        raise GitError(f"{a.hexsha[:12]} and {b.hexsha[:12]} have no common ancestor")
    return bases[0]


def commit_on_new_branch(
    repo: git.Repo,
    branch: str,
    base: git.Commit,
    files: Mapping[str, str],
    message: str,
    author: git.Actor,
) -> git.Commit:
    """Create branch ``branch`` at a new commit: ``base`` plus ``files`` (``{repository path: text}``).

    Raises :class:`GitError` when ``branch`` exists (nothing is overwritten) or a path is not relative.
    Neither the working tree, nor the index, nor ``HEAD`` changes.
    """
    if branch in {h.name for h in repo.heads}:
        raise GitError(f"branch {branch!r} already exists; choose another name or delete it first")
    index = git.IndexFile.from_tree(repo, base)  # a temporary index: the repository's own is not read or written
    entries = []
    for path, text in sorted(files.items()):
        posix = PurePosixPath(path)
        if posix.is_absolute() or ".." in posix.parts:
            raise GitError(f"{path}: paths in a commit are relative to the repository root")
        data = text.encode("utf-8")
        stored = repo.odb.store(IStream(git.Blob.type, len(data), io.BytesIO(data)))
        entries.append(BaseIndexEntry((FILE_MODE, stored.binsha, 0, posix.as_posix())))
    index.add(entries, write=False)
    tree = index.write_tree()
    commit = git.Commit.create_from_tree(
        repo, tree, message, parent_commits=[base], head=False, author=author, committer=author
    )
    repo.create_head(branch, commit)
    return commit


def default_author(repo: git.Repo) -> git.Actor:
    """The repository's configured committer (``user.name``/``user.email``), else ``dbjobs export``."""
    try:
        actor = git.Actor.committer(repo.config_reader())
    except Exception:  # gitpython reads several config files and environment variables; any may be missing
        actor = None
    if actor is None or not actor.email:
        return git.Actor("dbjobs export", "dbjobs-export@localhost")
    return actor
