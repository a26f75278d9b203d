"""``dbjobs convert FILE…``: job definitions as people keep them → ``DatabricksJob`` manifests.

Accepted inputs (detected per file, see :mod:`controller.gitops.sources`): Jobs API create bodies,
``jobs/get`` and ``jobs/list`` responses, legacy Jobs API 2.0 single-task jobs, dbx ``deployment.json`` /
``deployment.yml``, Databricks Asset Bundle YAML. The output is one manifest per job (shape in
:mod:`controller.gitops.manifest`) whose ``spec.settings`` is the Jobs API ``JobSettings``.

What is changed on the way: response-only fields and the output-only ``format`` are dropped silently;
dbx-only and bundle-only keys (``deployment_config``, ``permissions``) are dropped with a warning; bundle
references a single file determines are resolved and the rest reported. What is kept but reported:
fields the Jobs API does not define (the CRD admission refuses them later), dangling keys, ``{{…}}``
tokens Databricks does not substitute.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from controller.gitops.checks import dynamic_reference_problems, local_path_problems, reference_problems
from controller.gitops.conversion import ConversionError, Finding, JobSource
from controller.gitops.manifest import build_manifest, dns_name, render, unique_name
from controller.gitops.sources import read_jobs

__all__ = ["ConversionError", "ConversionResult", "convert_file", "convert_main"]

PREFIX = "dbjobs convert:"
OUTPUT_ONLY = ("format",)


@dataclass
class ConversionResult:
    """Manifests made from one file (full ``DatabricksJob`` dicts, in file order) and the warnings,
    each ``"<file name>: <field path>: <message>"``."""

    manifests: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _warning(file_name: str, finding: Finding) -> str:
    path, message = finding
    return f"{file_name}: {path}: {message}" if path else f"{file_name}: {message}"


def _source_annotation(file_name: str, job: JobSource) -> str:
    return f"{file_name}#{job.origin}" if job.origin else file_name


def _base_name(job: JobSource, file_stem: str) -> str:
    if job.key is not None:
        return dns_name(job.key, dns_name(file_stem))
    name = job.settings.get("name")
    # An unresolved ``${…}`` in a name would turn into noise; the file name is a better handle then.
    if isinstance(name, str) and name.strip() and "${" not in name:
        return dns_name(name, dns_name(file_stem))
    return dns_name(file_stem)


def convert_file(
    path: Path,
    *,
    namespace: str | None = None,
    workspace_ref: str = "default",
    target: str | None = None,
    taken_names: set[str] | None = None,
) -> ConversionResult:
    """Convert one file into ``DatabricksJob`` manifests.

    ``target`` selects the bundle target (or dbx environment) whose settings apply. Without one, a bundle
    uses its only target, else the one marked ``default: true``, else none (reported), as the Databricks
    CLI does; a dbx file uses ``default``, else its only environment. ``taken_names``
    lets a caller keep names unique across several files (it is updated). Raises
    :class:`ConversionError` (message naming the file, and the line or field when known) when the file
    cannot be read or parsed or holds no job; nothing is returned for such a file.
    """
    jobs, findings = read_jobs(path, target)
    taken = taken_names if taken_names is not None else set()
    result = ConversionResult()
    for job in jobs:
        settings = {k: v for k, v in job.settings.items() if k not in OUTPUT_ONLY}
        findings += reference_problems(settings, job.origin)
        findings += dynamic_reference_problems(settings, job.origin)
        findings += local_path_problems(settings, job.origin)
        name = unique_name(_base_name(job, path.stem), taken)
        result.manifests.append(
            build_manifest(
                name, settings, _source_annotation(path.name, job), namespace=namespace, workspace_ref=workspace_ref
            )
        )
    result.warnings = [_warning(path.name, f) for f in findings]
    return result


def _write_all(directory: Path, files: dict[str, str]) -> None:
    """Write every ``{file name: text}`` or none: all go to temp files first, then each is renamed."""
    staged: list[tuple[str, str]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            staged.append((tmp, name))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    # A rename within one directory is atomic, so a reader never sees half a manifest.
    for tmp, name in staged:
        os.replace(tmp, directory / name)


def convert_main(
    files: list[str],
    *,
    output_dir: str | None = None,
    namespace: str | None = None,
    workspace_ref: str = "default",
    target: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``dbjobs convert``: returns 0 when every file converted, 1 when any could not (the others still
    are), 2 for usage trouble (no files, output directory unusable).

    Manifests go to ``stdout`` as multi-document YAML, or with ``output_dir`` one ``<name>.yaml`` per
    manifest (each written to a temp file and renamed; a failing file writes nothing). Warnings and
    errors go to ``stderr``, each line prefixed ``dbjobs convert:``.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if not files:
        print(f"{PREFIX} no input files", file=err)
        return 2
    directory = Path(output_dir) if output_dir is not None else None
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"{PREFIX} cannot use output directory {directory}: {exc}", file=err)
            return 2
    taken: set[str] = set()
    failed = False
    for name in files:
        try:
            result = convert_file(
                Path(name), namespace=namespace, workspace_ref=workspace_ref, target=target, taken_names=taken
            )
        except ConversionError as exc:
            print(f"{PREFIX} error: {exc}", file=err)
            failed = True
            continue
        for warning in result.warnings:
            print(f"{PREFIX} warning: {warning}", file=err)
        if directory is None:
            out.write(render(result.manifests))
            continue
        try:
            _write_all(directory, {f"{m['metadata']['name']}.yaml": render([m]) for m in result.manifests})
        except OSError as exc:
            print(f"{PREFIX} error: {Path(name).name}: cannot write to {directory}: {exc}", file=err)
            failed = True
    out.flush()
    return 1 if failed else 0
