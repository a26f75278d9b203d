"""Read an input file and find the jobs in it, whatever form it has.

Forms, tried in this order (see :mod:`controller.gitops.apiforms` and :mod:`controller.gitops.bundle`):
a Jobs API create body or 2.0 single-task job, a ``jobs/get`` response, a ``jobs/list`` response, a dbx
deployment file, bundle YAML (with the files its ``include:`` names).
``.json`` files are read as JSON (exact error positions); anything else
as YAML with YAML 1.2 scalar rules, which is what the Databricks CLI (Go ``yaml.v3``) applies to bundles:
``on``/``yes``/``no`` stay strings, ``2024-01-01`` stays a string, ``1:30`` is not sexagesimal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from controller.gitops.apiforms import api_jobs
from controller.gitops.bundle import BundleOptions, bundle_jobs, is_bundle
from controller.gitops.bundle_files import BundleConfig, load_bundle
from controller.gitops.bundle_permissions import from_create_bodies
from controller.gitops.conversion import ConversionError, Finding, JobSource
from controller.gitops.yamlsafe import LimitedSafeLoader


class _Yaml12Loader(LimitedSafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and numbers and no implicit timestamps."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in {
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        }
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

# Go text/template actions (``{{ if … }}``, ``{{- end }}``, ``{{template …}}``) mark an unrendered template.
_GO_TEMPLATE = re.compile(r"\{\{-?\s*(?:if|else|end|range|with|template|define)\b")


def _int_constructor(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    # YAML 1.2 writes octal as 0o17; SafeLoader's own constructor reads it in the YAML 1.1 way (017).
    text = loader.construct_scalar(node).replace("_", "")
    return int(text, 8) if text.startswith("0o") else int(text, 0) if text.startswith("0x") else int(text)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int_constructor)


def parse(text: str, name: str) -> Any:
    """Parse ``text`` (JSON when ``name`` ends in ``.json``, else YAML) into plain Python values.

    Raises :class:`ConversionError` naming the file, the line and column, and, for an unrendered Go
    template, saying so.
    """
    if name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConversionError(f"{name}: line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}") from exc
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = " (it looks like an unrendered Go template; render it first)" if _GO_TEMPLATE.search(text) else ""
        raise ConversionError(f"{name}: {where}not valid YAML: {problem}{hint}") from exc


def find_jobs(
    doc: Any, name: str, options: BundleOptions | None = None, path: Path | None = None
) -> tuple[list[JobSource], list[Finding]]:
    """The jobs in a parsed document and the findings made on the way.

    ``options`` carry the bundle target (or dbx environment) and the other bundle choices; ``path`` is the
    file ``doc`` was read from, needed to follow a bundle's ``include:`` (without it only ``doc`` is read).
    Raises :class:`ConversionError` (message naming the file) when the document holds no job or its form
    needs a choice the caller did not make (a dbx file with several environments).
    """
    options = options or BundleOptions()
    try:
        found = api_jobs(doc, options.target)
        if found is None and is_bundle(doc):
            if path is not None:
                config, loaded = load_bundle(path, doc, parse)
            else:
                config, loaded = BundleConfig(doc=dict(doc), root=Path("."), root_file=name), []
                config.job_files = {str(k): name for k in ((doc.get("resources") or {}).get("jobs") or {})}
            sources, findings = bundle_jobs(config, options)
            found = (sources, loaded + findings)
    except ConversionError as exc:
        raise ConversionError(f"{name}: {exc}") from exc
    if found is None:
        kind = type(doc).__name__ if not isinstance(doc, dict) else "mapping"
        raise ConversionError(
            f"{name}: no job found (a {kind} that is not a Jobs API body, jobs/get response, "
            "dbx deployment file or bundle YAML)"
        )
    sources, findings = from_create_bodies(*found)
    if not sources:
        raise ConversionError(f"{name}: no job found" + "".join(f"; {p}: {m}" if p else f"; {m}" for p, m in findings))
    return sources, findings


def read_jobs(path: Path, options: BundleOptions | None = None) -> tuple[list[JobSource], list[Finding]]:
    """Read ``path`` and return its jobs (see :func:`find_jobs`); I/O errors become :class:`ConversionError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path.name}: cannot read: {exc}") from exc
    return find_jobs(parse(text, path.name), path.name, options, path)
