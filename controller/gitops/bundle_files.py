"""A Databricks Asset Bundle as its files: ``databricks.yml`` and every file its ``include:`` names, merged.

Follows the Databricks CLI's loader (https://docs.databricks.com/aws/en/dev-tools/bundles/settings#include and
databricks/cli ``bundle/config/loader/process_root_includes.go``):

* ``include`` entries are paths or globs relative to the bundle root (the directory of ``databricks.yml``);
  an absolute entry is an error, a plain path that matches nothing is an error, a glob that matches nothing
  is not (reported); matches are taken in sorted order per entry, a file matched twice is read once, and only
  ``.yml``/``.yaml``/``.json`` files may be included;
* every file's ``resources``, ``targets`` and ``variables`` are merged into one configuration; a resource key
  defined in two files is an error (the CLI refuses it too); ``include`` in an included file is ignored
  (reported), as the CLI only reads it from the root file.

Each job remembers the file it came from (:attr:`BundleConfig.job_files`): relative code paths in a job are
relative to that file's directory, as the CLI resolves them.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from controller.gitops.bundle_merge import merge
from controller.gitops.conversion import ConversionError, Finding, join_path

TOP_LEVEL_MERGED = ("resources", "targets", "environments", "variables")
INCLUDE_SUFFIXES = (".yml", ".yaml", ".json")


@dataclass
class BundleConfig:
    """The merged configuration of a bundle.

    ``doc`` is the root document with every included file's ``resources``, ``targets`` and ``variables``
    merged in; ``root`` the bundle root directory; ``files`` the included files read (paths relative to the
    root, in load order); ``job_files`` maps each ``resources.jobs`` key to the file (relative to the root)
    that defines it; ``resource_files`` the same for every resource kind, keyed ``(kind, key)``.
    """

    doc: dict[str, Any]
    root: Path
    root_file: str
    files: list[str] = field(default_factory=list)
    job_files: dict[str, str] = field(default_factory=dict)
    resource_files: dict[tuple[str, str], str] = field(default_factory=dict)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def include_matches(root: Path, patterns: list[str]) -> tuple[list[str], list[Finding]]:
    """Files (relative to ``root``, POSIX form) the ``include`` ``patterns`` name, in the CLI's order.

    Raises :class:`ConversionError` for an absolute pattern, a plain path matching no file, or a match that is
    not YAML or JSON.
    """
    findings: list[Finding] = []
    seen: set[str] = set()
    files: list[str] = []
    for i, pattern in enumerate(patterns):
        where = join_path("include", i)
        if PurePosixPath(pattern).is_absolute():
            raise ConversionError(f"{where}: {pattern!r}: includes must be relative paths")
        matches = sorted(glob.glob(pattern, root_dir=root))
        matches = [m for m in matches if (root / m).is_file()]
        if not matches:
            if not _is_glob(pattern):
                raise ConversionError(f"{where}: {pattern!r} defined in 'include' does not match any file")
            findings.append((where, f"{pattern!r} matches no file"))
        for match in matches:
            rel = PurePosixPath(Path(match).as_posix()).as_posix()
            if rel in seen:
                continue
            seen.add(rel)
            if not rel.endswith(INCLUDE_SUFFIXES):
                raise ConversionError(f"{where}: {rel}: only YAML or JSON files may be included")
            files.append(rel)
    return files, findings


def _merge_resources(config: BundleConfig, part: dict[str, Any], rel: str) -> None:
    resources = part.get("resources")
    if not isinstance(resources, dict):
        return
    merged = config.doc.setdefault("resources", {})
    if not isinstance(merged, dict):
        raise ConversionError(f"{config.root_file}: resources: expected a mapping")
    for kind, items in resources.items():
        if not isinstance(items, dict):
            continue
        into = merged.setdefault(kind, {})
        for key, value in items.items():
            if key in into:
                first = config.resource_files.get((str(kind), str(key)), config.root_file)
                raise ConversionError(
                    f"{rel}: resources.{kind}.{key}: defined twice (also in {first}); the bundle CLI refuses this too"
                )
            into[key] = value
            config.resource_files[(str(kind), str(key))] = rel


def _merge_mapping(config: BundleConfig, part: dict[str, Any], section: str) -> None:
    value = part.get(section)
    if isinstance(value, dict):
        config.doc[section] = merge(config.doc.get(section) or {}, value)


def load_bundle(root_file: Path, doc: dict[str, Any], parse: Any) -> tuple[BundleConfig, list[Finding]]:
    """Merge ``doc`` (the parsed ``root_file``) with every file its ``include`` names; ``parse(text, name)``
    parses one included file.

    Returns the merged :class:`BundleConfig` and findings (globs matching nothing, ``include`` in an
    included file). Raises :class:`ConversionError` naming the file for unreadable or unparsable files and
    for the include errors above.
    """
    root = root_file.parent
    config = BundleConfig(doc={k: v for k, v in doc.items() if k != "resources"}, root=root, root_file=root_file.name)
    _merge_resources(config, doc, root_file.name)
    patterns = doc.get("include") or []
    patterns = [patterns] if isinstance(patterns, str) else [str(p) for p in patterns if p is not None]
    try:
        files, findings = include_matches(root, patterns)
    except ConversionError as exc:
        raise ConversionError(f"{root_file.name}: {exc}") from exc
    for rel in files:
        if rel == root_file.name:
            continue
        part = _read(root / rel, rel, parse)
        if "include" in part:
            findings.append((f"{rel}: include", "include is only read from the root file, as the bundle CLI does"))
        _merge_resources(config, part, rel)
        for section in ("targets", "environments", "variables"):
            _merge_mapping(config, part, section)
        for key in part:
            if key not in (*TOP_LEVEL_MERGED, "include") and key not in config.doc:
                config.doc[key] = part[key]
        config.files.append(rel)
    jobs = (config.doc.get("resources") or {}).get("jobs") or {}
    config.job_files = {str(k): config.resource_files.get(("jobs", str(k)), root_file.name) for k in jobs}
    return config, findings


def _read(path: Path, name: str, parse: Any) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{name}: cannot read: {exc}") from exc
    doc = parse(text, name)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConversionError(f"{name}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc
