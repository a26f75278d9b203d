"""Pydantic models -> the structural OpenAPI v3 schema of a CustomResourceDefinition.

:func:`crd_schema` turns a model (``DatabricksJobSpec``, ``DatabricksJobStatus``, …) into the schema the
apiserver wants (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
#specifying-a-structural-schema) from pydantic's JSON Schema (``by_alias``: camelCase names):

* every ``$ref`` inlined (a structural schema has none), no ``title``, no ``default`` (defaults stay in the
  models: a server-side default is a diff to Argo CD), no class docstring (Python documentation, not
  ``kubectl explain`` text: descriptions come from ``Field(description=…)`` and a model's ``json_schema_extra``);
* ``X | None`` (``anyOf`` with ``null``) becomes ``X``: a status key is absent, never null;
* ``exclusiveMinimum: N`` (JSON Schema) becomes ``minimum: N, exclusiveMinimum: true`` (OpenAPI v3.0);
* an integer is ``format: int64``; ``Literal``/``const`` an ``enum``;
* an open object (``extra="allow"``, ``dict[str, Any]``) keeps unknown fields
  (``x-kubernetes-preserve-unknown-fields: true``) instead of ``additionalProperties: true``;
* ``x-kubernetes-*`` from ``json_schema_extra`` pass through.

Anything it cannot express structurally (a union of two types, a recursive model) raises ``ValueError``.
Keys come out in one fixed order, so the YAML is deterministic.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

Schema = dict[str, Any]

#: Key order of every generated node; keys not listed follow in alphabetical order.
ORDER = (
    "type",
    "format",
    "description",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
)
#: JSON Schema keys with no place in a CRD schema.
DROPPED = frozenset({"title", "default", "examples", "$defs"})


class _NoDocstrings(GenerateJsonSchema):
    """pydantic's generator without class and enum docstrings as descriptions."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        cls = schema["cls"]
        extra = cls.model_config.get("json_schema_extra")
        explicit = isinstance(extra, dict) and "description" in extra
        if cls.__doc__ and not explicit and out.get("description") == inspect.cleandoc(cls.__doc__):
            del out["description"]
        return out

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        """Keep declaration order (pydantic sorts keys): :func:`_ordered` fixes the order of schema keywords,
        and a CEL rule reads ``rule`` before ``message``."""
        return value

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        out = super().enum_schema(schema)
        out.pop("description", None)
        return out


def crd_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of ``model`` (an object node: ``{type: object, description?, properties, …}``)."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_NoDocstrings)
    return _node(raw, raw.get("$defs", {}), ())


def _resolve(node: Schema, defs: Schema, seen: tuple[str, ...]) -> tuple[Schema, tuple[str, ...]]:
    """``node`` with its ``$ref`` (or single-``allOf``/nullable ``anyOf``) merged in; the site's keys win."""
    site = dict(node)
    if "anyOf" in site:
        kinds = [k for k in site.pop("anyOf") if k.get("type") != "null"]
        if len(kinds) != 1:
            raise ValueError(f"not structural: a union of {len(kinds)} types ({kinds})")
        inner, seen = _resolve(kinds[0], defs, seen)
        return {**inner, **site}, seen
    if "allOf" in site:
        parts = site.pop("allOf")
        if len(parts) != 1:
            raise ValueError(f"not structural: allOf of {len(parts)} schemas")
        site = {**parts[0], **site}
    if "$ref" not in site:
        return site, seen
    name = site.pop("$ref").removeprefix("#/$defs/")
    if name in seen:
        raise ValueError(f"not structural: {name} refers to itself ({' -> '.join(seen)})")
    target, seen = _resolve(defs[name], defs, (*seen, name))
    return {**target, **site}, seen


def _node(node: Schema, defs: Schema, seen: tuple[str, ...]) -> Schema:
    resolved, seen = _resolve(node, defs, seen)
    out: Schema = {}
    for key, value in resolved.items():
        if key in DROPPED:
            continue
        if key == "properties":
            out[key] = {name: _node(prop, defs, seen) for name, prop in value.items()}
        elif key == "items":
            out[key] = _node(value, defs, seen)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _node(value, defs, seen)
            # False (extra="forbid"): a structural schema prunes unknown fields anyway
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out[key.replace("exclusive", "").lower()] = value
            out[key] = True
        else:
            out[key] = value
    if out.get("type") == "integer":
        out.setdefault("format", "int64")
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"])
    return _ordered(out)


def _enum_type(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if kinds == {py}:
            return name
    raise ValueError(f"not structural: an enum of mixed types {values}")


def _ordered(node: Schema) -> Schema:
    rank = {key: i for i, key in enumerate(ORDER)}
    return {key: node[key] for key in sorted(node, key=lambda k: (rank.get(k, len(ORDER)), k))}
