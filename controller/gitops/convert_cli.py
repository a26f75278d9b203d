"""The ``dbjobs convert`` command: files in, manifests to stdout or a directory, a report on stderr.

Exit codes: 0 every file converted and no job refused; 1 a file could not be converted, a job was refused,
or writing failed (everything else is still converted and written); 2 usage trouble (no files, an unusable
output directory). stderr lines all start with ``dbjobs convert:``; warnings are grouped per input file
after a line with their count (``--quiet`` leaves them out; errors and refusals are always printed); with 20
files or more a progress line is printed about every tenth of the way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from controller.api.refusals import RULES
from controller.gitops.bundle import BundleOptions
from controller.gitops.codepaths import GitOptions
from controller.gitops.convert import ConversionError, ConversionResult, convert_file
from controller.gitops.manifest import render
from controller.gitops.outputs import write_all

PREFIX = "dbjobs convert:"
PROGRESS_FROM = 20


@dataclass
class Report:
    """Where and how much to say: ``err`` (stderr), ``quiet`` (no warnings)."""

    err: TextIO
    quiet: bool = False
    rules: set[str] = field(default_factory=set)

    def say(self, text: str) -> None:
        print(f"{PREFIX} {text}", file=self.err)

    def result(self, name: str, result: ConversionResult) -> None:
        for line in result.refused:
            self.say(f"refused: {line}")
            self.rules.update(re.findall(r"\[rule ([\w-]+)\]$", line))
        if result.warnings and not self.quiet:
            self.say(f"{name}: {len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}")
            for line in result.warnings:
                self.say(f"warning: {line}")

    def legend(self) -> None:
        """One line per refusal rule used: what it says and its public source."""
        for rule in sorted(self.rules):
            self.say(f"rule {rule}: {RULES[rule].summary}; source: {RULES[rule].source}")

    def progress(self, done: int, total: int) -> None:
        if self.quiet or total < PROGRESS_FROM:
            return
        step = max(1, total // 10)
        if done % step == 0 or done == total:
            self.say(f"progress: {done}/{total} files")


def bundle_options(
    target: str | None,
    variables: list[str] | Mapping[str, Any] | None = None,
    current_user: str | None = None,
    git_url: str | None = None,
    git_ref: str | None = None,
    git_provider: str | None = None,
    git_path: str | None = None,
) -> BundleOptions:
    """:class:`BundleOptions` from command-line values; ``variables`` as ``NAME=VALUE`` strings or a mapping.

    Raises ``ValueError`` for a ``--var`` without ``=`` or ``--git-url`` without ``--git-ref`` (or the reverse).
    """
    values: dict[str, Any] = {}
    if isinstance(variables, Mapping):
        values = dict(variables)
    else:
        for item in variables or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise ValueError(f"--var {item!r}: expected NAME=VALUE")
            values[name] = value
    if bool(git_url) != bool(git_ref):
        raise ValueError("--git-url and --git-ref go together")
    git = GitOptions(git_url, git_ref, git_provider, git_path) if git_url and git_ref else None
    return BundleOptions(target, values, current_user, git)


def convert_main(
    files: list[str],
    *,
    output_dir: str | None = None,
    namespace: str | None = None,
    workspace_ref: str = "default",
    target: str | None = None,
    options: BundleOptions | None = None,
    force: bool = False,
    quiet: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``dbjobs convert`` (see the module doc for output and exit codes).

    Manifests go to ``stdout`` as multi-document YAML, or with ``output_dir`` one ``<name>.yaml`` per manifest
    (each file of one input written together or not at all); a file that exists there with other content is
    not replaced unless ``force``.
    """
    out = stdout if stdout is not None else sys.stdout
    report = Report(stderr if stderr is not None else sys.stderr, quiet)
    options = options or BundleOptions(target=target)
    if not files:
        report.say("no input files")
        return 2
    directory = Path(output_dir) if output_dir is not None else None
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            report.say(f"cannot use output directory {directory}: {exc}")
            return 2
    taken: set[str] = set()
    failed = False
    for done, name in enumerate(files, start=1):
        try:
            result = convert_file(
                Path(name), namespace=namespace, workspace_ref=workspace_ref, taken_names=taken, options=options
            )
        except ConversionError as exc:
            report.say(f"error: {exc}")
            failed = True
            report.progress(done, len(files))
            continue
        report.result(Path(name).name, result)
        failed = failed or bool(result.refused)
        if directory is None:
            out.write(render(result.manifests))
        else:
            try:
                write_all(
                    directory, {f"{m['metadata']['name']}.yaml": render([m]) for m in result.manifests}, force=force
                )
            except OSError as exc:
                report.say(f"error: {Path(name).name}: cannot write to {directory}: {exc}")
                failed = True
        report.progress(done, len(files))
    report.legend()
    out.flush()
    return 1 if failed else 0


def run(args: Any) -> int:
    """``dbjobs convert`` from parsed arguments (see :func:`controller.gitops.cli_args.convert_arguments`)."""
    try:
        options = bundle_options(
            args.target, args.var, args.current_user, args.git_url, args.git_ref, args.git_provider, args.git_path
        )
    except ValueError as exc:
        print(f"{PREFIX} {exc}", file=sys.stderr)
        return 2
    return convert_main(
        args.files,
        output_dir=args.output_dir,
        namespace=args.namespace,
        workspace_ref=args.workspace_ref,
        options=options,
        force=args.force,
        quiet=args.quiet,
    )
