"""``DatabricksJob`` manifests as a repository holds them: at a Git revision, or in files on disk.

A manifest's identity is ``namespace/name`` (``metadata.namespace``, else the namespace the manifests are
applied to), never its file: a file renamed or moved holds the same resource. Other documents (Secrets,
DatabricksWorkspaces, anything else) are ignored; a file that is not YAML, and two manifests with one identity,
are reported as problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.gitops.gitcommit import TreeFile, files_at
from controller.gitops.manifest import KIND
from controller.gitops.yamlsafe import safe_load_all

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    """One DatabricksJob: ``namespace``, ``name``, the document ``doc`` and the ``source`` file it is in."""

    namespace: str
    name: str
    doc: Mapping[str, Any]
    source: str

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> Mapping[str, Any]:
        """``spec`` (empty when missing)."""
        spec = self.doc.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def settings(self) -> Mapping[str, Any]:
        """``spec.settings`` (empty when missing)."""
        settings = self.spec.get("settings")
        return settings if isinstance(settings, Mapping) else {}


@dataclass
class ManifestSet:
    """Manifests by key, and ``problems``: ``(file, message)`` for unreadable files and duplicate keys."""

    manifests: dict[str, Manifest] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


def parse_files(files: Iterable[TreeFile], namespace: str) -> ManifestSet:
    """The DatabricksJob manifests in ``files``; ``namespace`` for those that name none."""
    out = ManifestSet()
    for file in sorted(files, key=lambda f: f.path):
        try:
            docs = safe_load_all(file.text)
        except yaml.YAMLError as exc:
            out.problems.append((file.path, f"not valid YAML: {str(exc).splitlines()[0]}"))
            continue
        for doc in docs:
            if not isinstance(doc, Mapping) or doc.get("kind") != KIND:
                continue
            metadata: Mapping[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), Mapping) else {}
            manifest = Manifest(
                str(metadata.get("namespace") or namespace), str(metadata.get("name") or ""), doc, file.path
            )
            if manifest.key in out.manifests:
                first = out.manifests[manifest.key].source
                out.problems.append((file.path, f"{manifest.key} is also defined in {first}"))
                continue
            out.manifests[manifest.key] = manifest
    return out


def at_revision(commit: Any, under: str, namespace: str) -> ManifestSet:
    """The manifests of a Git ``commit`` (gitpython) under the folder or file ``under``."""
    return parse_files(files_at(commit, under, SUFFIXES), namespace)


def on_disk(paths: Iterable[str], namespace: str) -> ManifestSet:
    """The manifests in ``paths`` (files, or folders read recursively); unreadable files are problems."""
    files: list[TreeFile] = []
    problems: list[tuple[str, str]] = []
    for given in paths:
        root = Path(given)
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        if not root.exists():
            problems.append((given, "no such file or directory"))
        for path in found:
            try:
                files.append(TreeFile(path.as_posix(), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append((path.as_posix(), f"cannot read: {exc}"))
    out = parse_files(files, namespace)
    out.problems = problems + out.problems
    return out
