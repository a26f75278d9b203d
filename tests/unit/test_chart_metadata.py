"""The Helm chart's files on their own (no helm needed): Chart.yaml, values.yaml against
values.schema.json, the single source of the CRDs, and the chart README documenting every value.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "dbjobs"


def chart() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text()))


def values() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART_DIR / "values.yaml").read_text()))


def schema() -> dict[str, Any]:
    return dict(json.loads((CHART_DIR / "values.schema.json").read_text()))


def test_chart_is_v2_and_app_version_is_the_package_version() -> None:
    meta = chart()
    package = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "dbjobs"
    assert meta["appVersion"] == package, (
        f"Chart.yaml appVersion {meta['appVersion']!r} differs from pyproject.toml version {package!r}: "
        "bump both (the image tag defaults to appVersion)"
    )


def test_crds_have_one_source() -> None:
    """charts/dbjobs/crds is a relative symlink to crds/: no second, hand-kept copy that could drift."""
    link = CHART_DIR / "crds"
    assert link.is_symlink(), "charts/dbjobs/crds must be a symlink to ../../crds"
    assert os.readlink(link) == "../../crds"
    assert link.resolve() == (REPO_ROOT / "crds").resolve()
    assert sorted(p.name for p in link.iterdir()) == sorted(p.name for p in (REPO_ROOT / "crds").glob("*.yaml"))


def test_default_values_satisfy_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    jsonschema.Draft7Validator(schema()).validate(values())


def _leaves(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the values a user sets (maps of user data, like labels, count as one value)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in {"labels", "resources"} and not key.endswith("Context"):
            yield from _leaves(value, path + ".")
        else:
            yield path


def test_every_schema_property_has_a_default_in_values_yaml() -> None:
    def walk(sch: dict[str, Any], vals: dict[str, Any], path: str) -> Iterator[str]:
        for key, sub in (sch.get("properties") or {}).items():
            if key == "global":
                continue
            if key not in vals:
                yield path + key
            elif sub.get("type") == "object" and "properties" in sub:
                yield from walk(sub, vals[key], path + key + ".")

    assert list(walk(schema(), values(), "")) == []


def test_schema_refuses_unknown_keys_at_every_level_of_ours() -> None:
    def walk(sch: dict[str, Any], path: str) -> Iterator[str]:
        if "properties" in sch:
            if sch.get("additionalProperties") is not False:
                yield path or "(root)"
            for key, sub in sch["properties"].items():
                yield from walk(sub, f"{path}.{key}" if path else key)

    assert list(walk(schema(), "")) == []


def test_readme_documents_every_value() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    undocumented = [path for path in _leaves(values()) if f"`{path}`" not in readme]
    assert not undocumented, f"charts/dbjobs/README.md does not describe: {undocumented}"
