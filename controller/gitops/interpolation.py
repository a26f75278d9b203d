"""Bundle ``${…}`` references: resolve the ones a single file determines, report the rest.

Follows the Databricks Asset Bundles "substitutions and variables" docs: ``${var.NAME}`` is the
variable's value (target override, else ``default``); a string that is exactly one reference takes the
referenced value whole, so a complex variable (map or list) replaces the field; a reference inside a
longer string is spliced in as text. ``${bundle.name}`` and ``${bundle.target}`` (pre-GA
``${bundle.environment}``) are known when the file names the bundle / a target is selected. Every
other reference (``resources.*``, ``workspace.*``, ``bundle.git.*``) only exists at deploy time: it is
left as written and reported. Databricks ``{{…}}`` dynamic value references are runtime references and
are not touched here.
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
    """What a file determines: variable values (``None`` = declared without a value) and bundle fields."""

    variables: dict[str, Any] = field(default_factory=dict)
    bundle: dict[str, str] = field(default_factory=dict)


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
    return value


def _lookup(ref: str, scope: Scope) -> Any:
    parts = [p for p in re.split(r"[.\[\]]+", ref) if p]
    if parts[0] == "var" and len(parts) >= 2:
        if scope.variables.get(parts[1]) is None:
            raise _Unresolved
        return _walk_path(scope.variables[parts[1]], parts[2:])
    if parts[0] == "bundle" and len(parts) == 2:
        name = "target" if parts[1] == "environment" else parts[1]
        if name in scope.bundle:
            return scope.bundle[name]
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
    if parts[0] == "var" and len(parts) >= 2:
        if parts[1] not in scope.variables:
            return f" (variable {parts[1]!r} is not declared in this file)"
        if scope.variables[parts[1]] is None:
            return f" (variable {parts[1]!r} has no default here)"
        return " (not resolvable as text or a cycle)"
    if parts[0] == "bundle" and parts[1:2] in (["target"], ["environment"]):
        return " (no target selected)"
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
