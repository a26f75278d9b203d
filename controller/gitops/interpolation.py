"""Bundle ``${…}`` references: resolve the ones the bundle's configuration determines, report the rest.

Follows the Databricks Asset Bundles "substitutions and variables" docs: ``${var.NAME}`` is the
variable's value (target override, else ``default``); a string that is exactly one reference takes the
referenced value whole, so a complex variable (map or list) replaces the field; a reference inside a
longer string is spliced in as text. ``${bundle.name}`` and ``${bundle.target}`` (pre-GA
``${bundle.environment}``) are known when the bundle is named / a target is selected; ``${workspace.*}``
when the configuration sets it or it follows from what is set (``file_path`` from ``root_path``, a home
folder from ``--current-user``). Every other reference (``resources.*``, ``bundle.git.*``, lookups) only
exists at deploy time: it is left as written and reported by field. Databricks ``{{…}}`` dynamic value
references are runtime references and are not touched here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from controller.gitops.conversion import Finding, join_path

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+|\[[0-9]+\])*)\}")
# Resolution re-scans what a variable expands to (a default may use ``${var.other}``); this bounds cycles.
MAX_DEPTH = 10


@dataclass(frozen=True)
class Scope:
    """What convert determines: variable values (``None`` = declared without a value), bundle fields
    (``name``, ``target``, ``uuid``), workspace fields (``host``, ``root_path``, ``file_path``, …, and
    ``current_user`` when ``--current-user`` names the deploying identity; ``None`` = known only at deploy).

    ``lookups`` names variables whose value is a ``lookup`` the bundle CLI resolves against the workspace.
    """

    variables: dict[str, Any] = field(default_factory=dict)
    bundle: dict[str, Any] = field(default_factory=dict)
    workspace: dict[str, Any] = field(default_factory=dict)
    lookups: frozenset[str] = frozenset()


class _Unresolved(Exception):
    pass


def _walk_path(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise _Unresolved
    if value is None:
        raise _Unresolved
    return value


def _lookup(ref: str, scope: Scope) -> Any:
    parts = [p for p in re.split(r"[.\[\]]+", ref) if p]
    head, rest = parts[0], parts[1:]
    if head == "var" and rest:
        if scope.variables.get(rest[0]) is None:
            raise _Unresolved
        return _walk_path(scope.variables[rest[0]], rest[1:])
    if head == "bundle" and rest:
        name = "target" if rest[0] == "environment" else rest[0]
        if name in scope.bundle:
            return _walk_path(scope.bundle[name], rest[1:])
    if head == "workspace" and rest and scope.workspace.get(rest[0]) is not None:
        return _walk_path(scope.workspace[rest[0]], rest[1:])
    raise _Unresolved


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve_string(text: str, scope: Scope, depth: int) -> Any:
    whole = REFERENCE.fullmatch(text)
    if whole:
        try:
            return _resolve(_lookup(whole.group(1), scope), scope, depth + 1)
        except _Unresolved:
            return text

    def splice(match: re.Match[str]) -> str:
        try:
            value = _resolve(_lookup(match.group(1), scope), scope, depth + 1)
        except _Unresolved:
            return match.group(0)
        if isinstance(value, (dict, list)):
            return match.group(0)  # a map cannot be spliced into text; left and reported
        return _as_text(value)

    return REFERENCE.sub(splice, text)


def _resolve(value: Any, scope: Scope, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Unresolved
    if isinstance(value, str) and "${" in value:
        return _resolve_string(value, scope, depth)
    if isinstance(value, dict):
        return {k: _resolve(v, scope, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, scope, depth) for v in value]
    return value


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every reference ``scope`` determines substituted; the rest left as written.

    Shapes: ``value`` is any YAML value (dicts, lists, scalars); the result has the same shape except
    where a whole-string reference is replaced by a map, list or non-string scalar. Mapping keys are not
    interpolated (bundles do not interpolate keys). Never raises: cyclic variables stay unresolved.
    """
    return _resolve(value, scope, 0)


def _why(ref: str, scope: Scope) -> str:
    parts = [p for p in re.split(r"[.\[\]]+", ref) if p]
    head, rest = parts[0], parts[1:]
    if head == "var" and rest:
        if rest[0] in scope.lookups:
            return f" (variable {rest[0]!r} is a lookup the bundle CLI resolves at deploy; give it with --var)"
        if rest[0] not in scope.variables:
            return f" (variable {rest[0]!r} is not declared in this bundle)"
        if scope.variables[rest[0]] is None:
            return f" (variable {rest[0]!r} has no value for this target; give it with --var {rest[0]}=VALUE)"
        return " (not resolvable as text or a cycle)"
    if head == "bundle" and rest[:1] in (["target"], ["environment"]):
        return " (no target selected)"
    if head == "bundle" and rest[:1] == ["git"]:
        return " (the bundle CLI reads it from the deploying checkout)"
    if head == "workspace" and rest[:1] == ["current_user"]:
        return " (the deploying identity; give it with --current-user)"
    if head == "workspace":
        return " (depends on the deploying user's home folder; set workspace.root_path or give --current-user)"
    if head == "resources" and len(rest) >= 3:
        return f" (the {rest[2]} of {rest[0]} {rest[1]!r} exists only after the bundle CLI deploys it)"
    return " (known only at deploy time)"


def unresolved(value: Any, path: str, scope: Scope) -> list[Finding]:
    """One ``(path, message)`` per ``${…}`` reference still present in ``value``, saying why it is left."""
    if isinstance(value, str):
        return [(path, f"unresolved reference ${{{m}}} left as is{_why(m, scope)}") for m in REFERENCE.findall(value)]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in unresolved(v, join_path(path, str(k)), scope)]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in unresolved(v, join_path(path, i), scope)]
    return []
