"""The field names the Jobs API knows at each level of ``JobSettings``, read from the Databricks SDK.

The SDK's ``databricks.sdk.service.jobs`` dataclasses are generated from the Jobs API OpenAPI spec
(the same fields as the Jobs API reference, ``JobSettings`` in jobs-api-spec §4.1), so walking them with
:func:`dataclasses.fields` and :func:`typing.get_type_hints` gives the known names per level without
keeping a hand-written copy that would drift.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
import typing
from typing import Any

from databricks.sdk.service import jobs

from controller.gitops.conversion import Finding, join_path

JOB_SETTINGS: type = jobs.JobSettings
TASK: type = jobs.Task


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """``{field name: type hint}`` of an SDK dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def field_names(cls: type) -> frozenset[str]:
    """The field names of an SDK dataclass (``Task`` → ``task_key``, ``notebook_task``, …)."""
    return frozenset(field_types(cls))


def _unwrap_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return hint


_WHOLE_VARIABLE = re.compile(r"\$\{var\.[^}]+\}")


def _is_unresolved(value: Any) -> bool:
    # An unresolved complex variable can stand for a whole map or list (``new_cluster: ${var.x}``); its
    # shape is unknown here, so it is not a shape error. Other references are always scalars.
    return isinstance(value, str) and _WHOLE_VARIABLE.fullmatch(value) is not None


def check_fields(value: Any, hint: Any, path: str) -> list[Finding]:
    """Unknown fields and wrong shapes in ``value`` against the SDK type ``hint`` (e.g. ``jobs.JobSettings``).

    Returns ``(path, message)`` findings: a key that is not a field of the dataclass at that level, a
    mapping where a list is expected or the reverse. Scalars are not type-checked (bundle references and
    YAML scalars make that noisy); free-form maps (``Dict[str, str]`` such as ``tags``) are not descended.
    """
    hint = _unwrap_optional(hint)
    if value is None or _is_unresolved(value):
        return []
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            return [(path, f"expected a mapping ({hint.__name__}), got {type(value).__name__}")]
        known = field_types(hint)
        findings: list[Finding] = []
        for key, item in value.items():
            sub = join_path(path, str(key))
            if key not in known:
                findings.append((sub, f"not a Databricks {hint.__name__} field"))
            else:
                findings.extend(check_fields(item, known[key], sub))
        return findings
    if origin is list:
        if not isinstance(value, list):
            return [(path, f"expected a list, got {type(value).__name__}")]
        (item_hint,) = typing.get_args(hint)
        return [f for i, item in enumerate(value) for f in check_fields(item, item_hint, join_path(path, i))]
    if origin is dict:
        if not isinstance(value, dict):
            return [(path, f"expected a mapping, got {type(value).__name__}")]
        _, item_hint = typing.get_args(hint)
        if dataclasses.is_dataclass(_unwrap_optional(item_hint)):
            return [f for k, item in value.items() for f in check_fields(item, item_hint, join_path(path, str(k)))]
        return []
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and isinstance(value, (dict, list)):
        return [(path, f"expected a {hint.__name__} value, got {type(value).__name__}")]
    return []


def drop_empty_strings(value: Any, hint: Any = JOB_SETTINGS) -> Any:
    """``value`` without ``""`` in optional string fields, as the bundle CLI drops them before deploying.

    The CLI's ``DropEmptyStrings`` mutator removes empty strings of ``omitempty`` fields (an empty variable
    such as ``git_commit: ${var.git_commit}`` with default ``""``), so they are never sent; required fields
    and map values keep theirs (databricks/cli ``bundle/config/mutator/drop_empty_strings.go``).
    """
    hint = _unwrap_optional(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        known = field_types(hint)
        out = {}
        for key, item in value.items():
            if key in known:
                optional = _unwrap_optional(known[key]) is not known[key]
                if optional and item == "":
                    continue
                out[key] = drop_empty_strings(item, known[key])
            else:
                out[key] = item
        return out
    if typing.get_origin(hint) is list and isinstance(value, list):
        (item_hint,) = typing.get_args(hint)
        return [drop_empty_strings(v, item_hint) for v in value]
    return value
