"""The committed CRDs are what the generator writes, and cover every JobSettings field of the pinned SDK.

Aspects: regeneration is byte-identical (``make crds`` is not forgotten); an independent walk of the SDK
dataclasses finds every field in the schema; every property has a description; the schema is structural
(a type on every node, no ``default:``); keyed lists and recursion are declared as intended.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk.service import jobs

from controller.api import crdgen

pytestmark = pytest.mark.unit


def _committed(name: str) -> str:
    return (crdgen.CRD_DIR / name).read_text(encoding="utf-8")


def _settings() -> dict[str, Any]:
    crd = yaml.safe_load(_committed(crdgen.JOB_FILE))
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(root["properties"]["spec"]["properties"]["settings"])


def test_committed_crds_match_regeneration() -> None:
    for name, text in crdgen.generate().items():
        assert _committed(name) == text, f"crds/{name} is stale: run `make crds`"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / crdgen.JOB_FILE).write_text("stale", encoding="utf-8")
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1


def _inner(hint: Any) -> Any:
    while True:
        origin = typing.get_origin(hint)
        if origin in (typing.Union, __import__("types").UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        elif origin in (list, dict):
            hint = typing.get_args(hint)[-1]
        else:
            return hint


def _node_for(schema: dict[str, Any]) -> dict[str, Any]:
    while schema.get("type") in ("array", "object") and "properties" not in schema:
        if schema["type"] == "array":
            schema = schema["items"]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            break
    return schema


def _missing(cls: type, schema: dict[str, Any], path: str, depth: dict[type, int]) -> list[str]:
    props = schema.get("properties", {})
    out = []
    for f in dataclasses.fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in props:
            out.append(where)
            continue
        inner = _inner(typing.get_type_hints(cls)[f.name])
        if dataclasses.is_dataclass(inner) and isinstance(inner, type):
            node = _node_for(props[f.name])
            if node.get("maxProperties") == 0 and "properties" not in node:  # the recursion's cut
                assert depth.get(inner, 0) >= 1, f"{where} is not expanded"
                continue
            out += _missing(inner, node, where, {**depth, inner: depth.get(inner, 0) + 1})
    return out


def test_every_sdk_job_settings_field_is_in_the_schema() -> None:
    assert _missing(jobs.JobSettings, _settings(), "", {jobs.JobSettings: 1}) == []


def _walk(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, prop in (schema.get("properties") or {}).items():
        nodes += _walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += _walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def test_every_property_has_a_description_and_a_type_and_no_default() -> None:
    crd = yaml.safe_load(_committed(crdgen.JOB_FILE))
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(root, ""):
        if node.get("x-kubernetes-int-or-string"):  # a job id or a reference to a DatabricksJob (api/jobrefs.py)
            assert "type" not in node and node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "type" in node, path
        assert "default" not in node, path
    for path, node in _walk(root["properties"]["spec"], "spec"):
        props = node.get("properties") or {}
        for name, prop in props.items():
            assert prop.get("description"), f"{path}.{name} has no description"


def test_keyed_lists_and_recursion() -> None:
    settings = _settings()["properties"]
    for field, key in [
        ("tasks", "task_key"),
        ("job_clusters", "job_cluster_key"),
        ("parameters", "name"),
        ("environments", "environment_key"),
    ]:
        assert settings[field]["x-kubernetes-list-type"] == "map"
        assert settings[field]["x-kubernetes-list-map-keys"] == [key]
    assert settings["tasks"]["maxItems"] == 1000
    task = settings["tasks"]["items"]
    inner = task["properties"]["for_each_task"]["properties"]["task"]
    assert "notebook_task" in inner["properties"]
    assert inner["x-kubernetes-validations"] == task["x-kubernetes-validations"]
    nested = inner["properties"]["for_each_task"]["properties"]["task"]
    # Cut empty, never free-form: a free-form node admits JSON nested deeper than the controller can decode.
    assert nested["maxProperties"] == 0 and "properties" not in nested
    assert "x-kubernetes-preserve-unknown-fields" not in nested


def test_notebook_task_descriptions_come_from_the_sdk() -> None:
    nb = _settings()["properties"]["tasks"]["items"]["properties"]["notebook_task"]
    assert "notebook" in nb["description"].lower()
    assert "absolute" in nb["properties"]["notebook_path"]["description"]
    assert nb["properties"]["source"]["enum"] == ["GIT", "WORKSPACE"]
