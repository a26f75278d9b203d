"""Relative code paths in bundle jobs: files the bundle CLI uploads, which dbjobs does not.

In a bundle, ``notebook_path: ../src/x.py`` or ``python_file: ./main.py`` names a file next to the YAML that
``databricks bundle deploy`` uploads and rewrites into a workspace path (relative to the file that defines the
job; databricks/cli ``bundle/config/mutator/translate_paths.go``; a job with its own ``git_source`` is left as
written). dbjobs applies manifests; it never uploads code. So a relative code path either becomes a path in
Git, or the job is refused with that advice:

* with ``--git-url URL --git-ref REF`` the job gets a ``git_source`` and each such task reads its code from
  the repository (``source: GIT``, path relative to the repository root; a notebook without its file
  extension, as Databricks stores notebooks); the job's other code tasks get ``source: WORKSPACE`` so that
  adding ``git_source`` does not move them;
* libraries and environment dependencies the bundle builds (``whl: ../dist/*.whl``) are reported by field:
  publish the artifact (a Unity Catalog volume, a workspace file or a package index) and reference that.

The provider of ``git_source`` comes from the URL's host (``--git-provider`` otherwise); the reference kind
from its shape (40 hex digits: a commit; ``refs/tags/…``/``tags/…``: a tag) or, when the bundle sits in a
local Git checkout, from that checkout's tags and branches; else a branch. Sources: the Jobs API
``git_source`` (https://docs.databricks.com/api/workspace/jobs/create) and "Use Git with jobs"
(https://docs.databricks.com/aws/en/jobs/configure-job#git).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import git

from controller.gitops.conversion import ConversionError, Finding, join_path

#: ``(task type, keys of the path inside it)`` of the code fields the CLI uploads and Git can serve.
CODE_FIELDS = (
    ("notebook_task", ("notebook_path",)),
    ("spark_python_task", ("python_file",)),
    ("sql_task", ("file", "path")),
    ("dbt_task", ("project_directory",)),
)
#: What a relative code path needs instead of an upload (said once per run by ``dbjobs convert``).
UPLOAD_ADVICE = "dbjobs does not upload code: give --git-url and --git-ref to run it from Git, or deploy it"
NOTEBOOK_EXTENSIONS = (".py", ".ipynb", ".scala", ".r", ".sql")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
PROVIDERS = (
    ("github.com", "gitHub"),
    ("gitlab.com", "gitLab"),
    ("bitbucket.org", "bitbucketCloud"),
    ("dev.azure.com", "azureDevOpsServices"),
    ("visualstudio.com", "azureDevOpsServices"),
    ("amazonaws.com", "awsCodeCommit"),
)


class LocalPath(str):
    """A relative code path as written (the string value), and ``from_root``: the same file's path from the
    bundle root (POSIX, normalized; it may start with ``../`` when the file lies outside the root)."""

    from_root: str

    def __new__(cls, written: str, from_root: str) -> LocalPath:
        obj = super().__new__(cls, written)
        obj.from_root = from_root
        return obj

    def __deepcopy__(self, memo: Any) -> LocalPath:
        return self


@dataclass(frozen=True)
class GitOptions:
    """``--git-url``/``--git-ref`` (+ ``--git-provider``, ``--git-path``: where the bundle root sits inside
    the repository, ``None`` = found from the local checkout, else the repository root)."""

    url: str
    ref: str
    provider: str | None = None
    path: str | None = None


def is_local(value: Any) -> bool:
    """A value the bundle CLI would upload: a relative path without a scheme and without a reference."""
    return (
        isinstance(value, str)
        and bool(value)
        and not value.startswith("/")
        and not _URI.match(value)
        and ("${" not in value and "{{" not in value)
    )


def _blocks(task: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    for task_type, keys in CODE_FIELDS:
        block = task.get(task_type)
        for key in keys[:-1]:
            block = block.get(key) if isinstance(block, dict) else None
        if isinstance(block, dict):
            yield ".".join((task_type, *keys)), block, keys[-1]


def tasks_of(job: dict[str, Any], origin: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, task)`` of every task of ``job``, for-each inner tasks included."""
    for i, task in enumerate(job.get("tasks") or []):
        if not isinstance(task, dict):
            continue
        path = join_path(join_path(origin, "tasks"), i)
        yield path, task
        inner = task.get("for_each_task", {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
        if isinstance(inner, dict):
            yield f"{path}.for_each_task.task", inner


def mark_local_paths(job: dict[str, Any], file_dir: str) -> None:
    """Replace each relative code path of ``job`` (in place) by a :class:`LocalPath`; ``file_dir`` is the
    directory of the defining file relative to the bundle root (``""`` for the root)."""
    for _, task in tasks_of(job, ""):
        for _, block, key in _blocks(task):
            value = block.get(key)
            if isinstance(value, str) and is_local(value) and not isinstance(value, LocalPath):
                block[key] = LocalPath(value, posixpath.normpath(posixpath.join(file_dir, value)))


def unmark(value: Any) -> Any:
    """``value`` with every :class:`LocalPath` turned back into the plain string as written."""
    if isinstance(value, LocalPath):
        return str.__str__(value)
    if isinstance(value, dict):
        return {k: unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark(v) for v in value]
    return value


def provider_of(url: str, given: str | None) -> str:
    """The ``git_provider`` for ``url`` (module doc); raises :class:`ConversionError` when it cannot tell."""
    if given:
        return given
    host = (urlparse(url).hostname or url.split("@")[-1].split(":")[0]).lower()
    for suffix, provider in PROVIDERS:
        if host == suffix or host.endswith("." + suffix):
            return provider
    raise ConversionError(f"--git-url {url}: cannot tell the Git provider from the host; give --git-provider")


def _checkout(root: Path) -> git.Repo | None:
    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def reference(ref: str, root: Path) -> dict[str, str]:
    """``{git_branch|git_tag|git_commit: value}`` for ``--git-ref`` (module doc)."""
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return {"git_commit": ref}
    for prefix, kind in (("refs/tags/", "git_tag"), ("tags/", "git_tag"), ("refs/heads/", "git_branch")):
        if ref.startswith(prefix):
            return {kind: ref[len(prefix) :]}
    repo = _checkout(root)
    if repo is not None:
        if ref in {t.name for t in repo.tags}:
            return {"git_tag": ref}
        branches = {h.name for h in repo.heads} | {r.remote_head for r in repo.remote().refs} if repo.remotes else set()
        if ref in branches or ref in {h.name for h in repo.heads}:
            return {"git_branch": ref}
        if re.fullmatch(r"[0-9a-f]{7,39}", ref):
            try:
                return {"git_commit": repo.commit(ref).hexsha}
            except (ValueError, git.BadName):
                pass
    return {"git_branch": ref}


def repository_prefix(root: Path, given: str | None) -> tuple[str, list[Finding]]:
    """Where the bundle root sits inside the repository (``""`` = at its root) and why, when guessed."""
    if given is not None:
        return given.strip("/"), []
    repo = _checkout(root)
    if repo is None or repo.working_tree_dir is None:
        return "", [
            (
                "",
                "the bundle is not in a Git checkout: code paths are taken from the bundle root as the "
                "repository root; give --git-path when the bundle sits in a folder of the repository",
            )
        ]
    rel = Path(root).resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    return ("" if rel == "." else rel), []


def _git_path(local: LocalPath, prefix: str, is_notebook: bool) -> str | None:
    path = posixpath.normpath(posixpath.join(prefix, local.from_root)) if prefix else local.from_root
    if path.startswith("../") or path == "..":
        return None
    if is_notebook and path.lower().endswith(NOTEBOOK_EXTENSIONS):
        path = path[: path.rindex(".")]
    return path


def to_git(
    settings: dict[str, Any], origin: str, options: GitOptions, root: Path
) -> tuple[dict[str, Any], list[Finding]]:
    """``settings`` reading its relative code from Git (module doc), and findings; unchanged without any."""
    found = [(p, t, b, k) for p, t in tasks_of(settings, origin) for _, b, k in _blocks(t)]
    if not any(isinstance(b.get(k), LocalPath) for _, _, b, k in found):
        return settings, []
    prefix, findings = repository_prefix(root, options.path)
    for path, _, block, key in found:
        value = block.get(key)
        if isinstance(value, LocalPath):
            new = _git_path(value, prefix, key == "notebook_path")
            if new is None:
                raise ConversionError(f"{join_path(path, key)}: {value!r} lies outside the Git repository")
            block[key], block["source"] = new, "GIT"
        elif block.get("source") is None:
            block["source"] = "WORKSPACE"
    git_source = {"git_url": options.url, "git_provider": provider_of(options.url, options.provider)}
    settings["git_source"] = {**git_source, **reference(options.ref, root)}
    findings.append((join_path(origin, "git_source"), f"relative code paths read from {options.url} at {options.ref}"))
    return settings, findings


def local_path_advice(settings: dict[str, Any], origin: str) -> list[Finding]:
    """One finding per relative code path left (no ``--git-url``): what to do instead."""
    out: list[Finding] = []
    for path, task in tasks_of(settings, origin):
        for field, block, key in _blocks(task):
            if isinstance(block.get(key), LocalPath):
                out.append(
                    (
                        f"{path}.{field}",
                        f"{str.__str__(block[key])!r} is a file the bundle CLI uploads ({UPLOAD_ADVICE})",
                    )
                )
    return out


def artifact_advice(settings: dict[str, Any], origin: str) -> list[Finding]:
    """Libraries and environment dependencies that are local files the bundle CLI builds or uploads."""
    out: list[Finding] = []
    advice = (
        "is a local file the bundle CLI builds or uploads; dbjobs does not: publish it (a Unity Catalog volume, "
        "a workspace file or a package index) and reference that"
    )
    for path, task in tasks_of(settings, origin):
        for i, lib in enumerate(task.get("libraries") or []):
            for kind in ("whl", "jar", "egg", "requirements"):
                value = lib.get(kind) if isinstance(lib, dict) else None
                if is_local(value):
                    out.append((f"{path}.libraries[{i}].{kind}", f"{value!r} {advice}"))
    for i, env in enumerate(settings.get("environments") or []):
        deps = (env.get("spec") or {}).get("dependencies") if isinstance(env, dict) else None
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            if isinstance(dep, str) and dep.startswith("."):
                out.append((join_path(origin, f"environments[{i}].spec.dependencies[{j}]"), f"{dep!r} {advice}"))
    return out
