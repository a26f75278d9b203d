"""The CRDs' operator fields and ``status`` are generated from the pydantic models in ``controller/api``.

Aspects: every model field (operator part of ``DatabricksJob.spec``, ``DatabricksJob.status``, both parts of
``DatabricksWorkspace``) is in the committed CRD under its camelCase name with the model's description and its
``required``-ness; no ``default:``, ``title`` or ``$ref`` anywhere; the CEL rules and list-map keys declared on
the models reach the CRD; the committed CRDs hold exactly what the generator makes of the models; the
generator's translations (nullable, exclusive bounds, open objects, int64, const) and its refusals (unions,
recursion), and that class docstrings never become descriptions.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from controller.api import crdgen, schemagen
from controller.api.meta import ApiModel, OpenModel
from controller.api.models import (
    DatabricksJobSpec,
    DatabricksJobStatus,
    DatabricksWorkspaceSpec,
    DatabricksWorkspaceStatus,
)

pytestmark = pytest.mark.unit

Schema = dict[str, Any]


def _root(name: str) -> Schema:
    crd = yaml.safe_load((crdgen.CRD_DIR / name).read_text(encoding="utf-8"))
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X``, ``X | None`` or ``list[X]`` (None for a plain type)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _node(prop: Schema) -> Schema:
    return dict(prop["items"]) if prop.get("type") == "array" else prop


def _check(model: type[BaseModel], schema: Schema, path: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """What differs between ``model``'s fields and ``schema``'s properties (recursively)."""
    problems = []
    props = schema.get("properties") or {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in skip:
            continue
        where = f"{path}.{key}"
        if key not in props:
            problems.append(f"{where} missing")
            continue
        if props[key].get("description") != field.description:
            problems.append(f"{where} description {props[key].get('description')!r} != {field.description!r}")
        if (key in (schema.get("required") or [])) != field.is_required():
            problems.append(f"{where} required in the CRD is not required in the model (or the reverse)")
        inner = _model_of(field.annotation)
        if inner is not None:
            problems += _check(inner, _node(props[key]), where)
    extra = set(props) - {f.alias or n for n, f in model.model_fields.items()} - skip
    problems += [f"{path}.{key} is in the CRD but not in {model.__name__}" for key in sorted(extra)]
    return problems


def _walk(schema: Schema, path: str = "") -> list[tuple[str, Schema]]:
    nodes = [(path, schema)]
    for name, prop in (schema.get("properties") or {}).items():
        nodes += _walk(prop, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            nodes += _walk(schema[key], f"{path}[{key}]")
    return nodes


JOB = crdgen.JOB_FILE
WORKSPACE = crdgen.WORKSPACE_FILE


@pytest.mark.parametrize(
    ("file", "part", "model", "skip"),
    [
        (JOB, "spec", DatabricksJobSpec, frozenset({"settings"})),
        (JOB, "status", DatabricksJobStatus, frozenset()),
        (WORKSPACE, "spec", DatabricksWorkspaceSpec, frozenset()),
        (WORKSPACE, "status", DatabricksWorkspaceStatus, frozenset()),
    ],
)
def test_every_model_field_is_in_the_crd_with_its_description(
    file: str, part: str, model: type[BaseModel], skip: frozenset[str]
) -> None:
    schema = _root(file)["properties"][part]
    assert _check(model, schema, part, skip) == []
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict) and schema["description"] == extra["description"]


@pytest.mark.parametrize("file", [JOB, WORKSPACE])
def test_no_default_title_or_ref_and_a_type_everywhere(file: str) -> None:
    for path, node in _walk(_root(file)):
        if node.get("x-kubernetes-int-or-string"):  # the one structural form of int-or-string (api/jobrefs.py)
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            node = {k: v for k, v in node.items() if k != "anyOf"} | {"type": "integer", "format": "int64"}
        assert not {"default", "title", "$ref", "anyOf", "allOf", "nullable"} & set(node), path
        assert "type" in node, path
        if node["type"] == "integer":
            assert node.get("format") == "int64", path


def test_cel_rules_and_list_map_keys_reach_the_crd() -> None:
    spec = _root(JOB)["properties"]["spec"]
    assert spec["required"] == ["workspaceRef", "settings"]
    # Immutable, where an absent kind and kind DatabricksWorkspace are the same reference (issue 11 item 5).
    assert spec["properties"]["workspaceRef"]["x-kubernetes-validations"] == [
        {
            "rule": "self.name == oldSelf.name && (has(self.kind) ? self.kind : 'DatabricksWorkspace') == "
            "(has(oldSelf.kind) ? oldSelf.kind : 'DatabricksWorkspace')",
            "message": "workspaceRef is immutable; create a new DatabricksJob",
        }
    ]
    for file in (JOB, WORKSPACE):
        conditions = _root(file)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert conditions["items"]["required"] == ["type", "status", "lastTransitionTime", "reason", "message"]


def test_status_objects_other_parts_fill_preserve_unknown_fields() -> None:
    status = _root(JOB)["properties"]["status"]["properties"]
    for key in ("drift", "lastRun", "runs", "runNow"):
        assert status[key]["x-kubernetes-preserve-unknown-fields"] is True, key
    assert status["drift"]["properties"]["appliedWriteOnly"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "lastCheckedTime" not in status["drift"]["properties"]  # the time of a check is the workspace's
    workspace_status = _root(WORKSPACE)["properties"]["status"]
    assert "x-kubernetes-preserve-unknown-fields" not in workspace_status


def test_committed_crds_hold_the_generated_operator_part() -> None:
    spec = _root(JOB)["properties"]["spec"]["properties"]
    generated = schemagen.crd_schema(DatabricksJobSpec)["properties"]
    assert {k: v for k, v in spec.items() if k != "settings"} == {k: v for k, v in generated.items() if k != "settings"}
    assert _root(JOB)["properties"]["status"] == schemagen.crd_schema(DatabricksJobStatus)
    assert _root(WORKSPACE)["properties"]["status"] == schemagen.crd_schema(DatabricksWorkspaceStatus)


def test_workspace_columns_and_names() -> None:
    crd = yaml.safe_load((crdgen.CRD_DIR / WORKSPACE).read_text(encoding="utf-8"))
    assert "dbworkspaces" in crd["spec"]["names"]["shortNames"]  # `kubectl get dbworkspaces`
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns if not c.get("priority")] == [
        "Host", "Reachable", "Jobs", "Calls", "Held", "Last Cycle", "Age"
    ]  # fmt: skip
    assert [c["jsonPath"] for c in columns if c.get("priority") == 1] == [
        '.status.conditions[?(@.type=="Reachable")].reason',
        ".status.throttled.count",
    ]
    assert next(c for c in columns if c["name"] == "Last Cycle")["type"] == "date"


class _Inner(OpenModel):
    """A docstring that must not become a description."""

    rate: float = Field(default=1.0, gt=0, description="rate")


class _Sample(ApiModel):
    """Another docstring."""

    model_config = ConfigDict(json_schema_extra={"description": "the sample"})

    inner: _Inner | None = Field(default=None, description="inner", json_schema_extra={"x-kubernetes-foo": True})
    count: int = Field(default=0, le=5, description="count")
    kind: Literal["A"] = Field(default="A", description="kind")
    labels: dict[str, str] = Field(default_factory=dict, description="labels")
    anything: dict[str, Any] = Field(default_factory=dict, description="anything")


def test_generator_translations() -> None:
    schema = schemagen.crd_schema(_Sample)
    assert schema["description"] == "the sample"
    props = schema["properties"]
    assert props["inner"] == {
        "type": "object",
        "description": "inner",
        "properties": {"rate": {"type": "number", "description": "rate", "minimum": 0, "exclusiveMinimum": True}},
        "x-kubernetes-foo": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert props["count"] == {"type": "integer", "format": "int64", "description": "count", "maximum": 5}
    assert props["kind"] == {"type": "string", "description": "kind", "enum": ["A"]}
    assert props["labels"] == {"type": "object", "description": "labels", "additionalProperties": {"type": "string"}}
    assert props["anything"] == {
        "type": "object",
        "description": "anything",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert "required" not in schema


class _Union(ApiModel):
    value: int | str = 0


class _Tree(ApiModel):
    children: list[_Tree] = Field(default_factory=list)


def test_generator_refuses_what_is_not_structural() -> None:
    with pytest.raises(ValueError, match="union of 2 types"):
        schemagen.crd_schema(_Union)
    with pytest.raises(ValueError, match="refers to itself"):
        schemagen.crd_schema(_Tree)
