"""Hypothesis strategies for hostile ``DatabricksJob`` manifests (issue 13 item 4), shared by the fast in-process
tier (``tests/unit/test_hostile_input.py``) and the tier that applies them through a real kube-apiserver
(``tests/e2e/test_hostile_manifests.py``).

Values come from the CRD's own schema (:func:`controller.api.crdgen.settings_schema`, the schema ``crds/`` is
generated from): :func:`from_schema` draws a value for any node of it (types, enums, patterns, lengths, item
counts, keyed lists with unique keys). On top of a small valid job, :func:`manifests` draws one *category*:

* ``schema`` — one to three top-level JobSettings fields drawn from the schema (valid as far as the structural
  schema goes; CEL rules and the controller's checks may still refuse them);
* ``task`` — a task of a random task type drawn from the schema;
* ``mutated`` — a valid job with one mutation that breaks the schema: wrong type, unknown field, unknown enum
  value, a string past its ``maxLength``, a list past its ``maxItems``, a required field removed;
* ``unicode`` — names, descriptions, tag keys and values in any Unicode (emoji, RTL, combining marks, controls);
* ``huge`` — strings at and past their limits (4096-character name, 27,700-character description, 1 MB strings);
* ``many-tasks`` — 1,000 tasks (the API's limit), or 1,001;
* ``depends-on`` — dangling, self and cyclic ``depends_on``;
* ``deep`` — nesting hundreds of levels deep (in the one free-form field of the schema, and in an unknown field);
* ``duplicate-key`` — two tasks with one ``task_key``, two job clusters with one key;
* ``schedule`` — Quartz expressions and timezone ids, valid and not.

Each example is ``(category, manifest)``; ``manifest["metadata"]["name"]`` is left for the caller to set.
"""

from __future__ import annotations

import copy
import functools
import string
from typing import Any

from hypothesis import strategies as st

from controller.api.crdgen import settings_schema

Json = dict[str, Any]
#: Depth below which optional object properties are no longer drawn (keeps examples small).
MAX_DEPTH = 4


@functools.cache
def schema() -> Json:
    return settings_schema()


def _string(node: Json) -> st.SearchStrategy[Any]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    low = int(node.get("minLength", 0))
    high = min(int(node.get("maxLength", 24)), low + 24)
    if "pattern" in node:
        return st.from_regex(node["pattern"], fullmatch=True).filter(
            lambda s: low <= len(s) <= node.get("maxLength", 10**9)
        )
    return st.text(alphabet=string.ascii_letters + string.digits + "_-/.", min_size=max(low, 1), max_size=max(high, 1))


def _number(node: Json, integer: bool) -> st.SearchStrategy[Any]:
    low, high = node.get("minimum", 0), node.get("maximum", 10**6)
    return st.integers(int(low), int(high)) if integer else st.floats(float(low), float(high), allow_nan=False)


def from_schema(node: Json, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value that the structural schema ``node`` accepts (CEL rules aside)."""
    if node.get("x-kubernetes-int-or-string"):
        return st.integers(1, 2**53 - 1)
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return st.just({})
    kind = node.get("type")
    if kind == "string":
        return _string(node)
    if kind == "integer":
        return _number(node, True)
    if kind == "number":
        return _number(node, False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return _array(node, depth)
    if kind == "object":
        return _object(node, depth)
    return st.none()


def _array(node: Json, depth: int) -> st.SearchStrategy[Any]:
    items = node.get("items") or {}
    low = int(node.get("minItems", 0))
    high = min(int(node.get("maxItems", 2)), low + (2 if depth < MAX_DEPTH else 0))
    keys = node.get("x-kubernetes-list-map-keys")
    if keys:
        return st.lists(from_schema(items, depth + 1), min_size=low, max_size=high, unique_by=lambda i: i.get(keys[0]))
    return st.lists(from_schema(items, depth + 1), min_size=low, max_size=high)


def _object(node: Json, depth: int) -> st.SearchStrategy[Any]:
    props: Json = node.get("properties") or {}
    extra = node.get("additionalProperties")
    if not props:
        if isinstance(extra, dict):
            keys = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
            high = min(int(node.get("maxProperties", 3)), 3)
            return st.dictionaries(keys, from_schema(extra, depth + 1), max_size=high)
        return st.just({})
    required = list(node.get("required") or [])
    optional = sorted(set(props) - set(required))
    pick = st.sets(st.sampled_from(optional), max_size=2 if depth < MAX_DEPTH else 0) if optional else st.just(set())

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        chosen = required + sorted(draw(pick))
        return {k: draw(from_schema(props[k], depth + 1)) for k in chosen}

    return build()


# ---- the valid base and the categories --------------------------------------------------------------------------


def base_settings(name: str = "hostile") -> Json:
    """A job the apiserver admits and the emulator accepts: one notebook task."""
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/hostile"}}]}


def manifest(settings: Json) -> Json:
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "placeholder"},
        "spec": {"workspaceRef": {"name": "default"}, "settings": settings},
    }


TOP_LEVEL_SKIP = ("tasks", "name")


@st.composite
def schema_fields(draw: st.DrawFn) -> Json:
    props = schema()["properties"]
    keys = draw(st.sets(st.sampled_from(sorted(k for k in props if k not in TOP_LEVEL_SKIP)), min_size=1, max_size=3))
    settings = base_settings()
    for key in sorted(keys):
        settings[key] = draw(from_schema(props[key], 1))
    return settings


TASK_TYPES = sorted(
    k for k in schema()["properties"]["tasks"]["items"]["properties"] if k.endswith("_task") and k != "for_each_task"
)


@st.composite
def schema_task(draw: st.DrawFn) -> Json:
    task_props = schema()["properties"]["tasks"]["items"]["properties"]
    kind = draw(st.sampled_from(TASK_TYPES))
    task = {"task_key": "generated", kind: draw(from_schema(task_props[kind], 2))}
    settings = base_settings()
    settings["tasks"].append(task)
    return settings


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every node of ``value`` (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        out.append((*path, key))
        out += _leaves(item, (*path, key))
    return out


def _set_at(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


WRONG_TYPES = st.sampled_from([None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"k": "v"}, 2**63])


@st.composite
def mutated(draw: st.DrawFn) -> Json:
    settings = draw(st.one_of(schema_fields(), schema_task()))
    how = draw(st.sampled_from(["wrong-type", "unknown-field", "bad-enum", "too-long", "too-many", "drop-required"]))
    paths = _leaves(settings)
    if how == "wrong-type":
        _set_at(settings, draw(st.sampled_from(paths)), draw(WRONG_TYPES))
    elif how == "unknown-field":
        objects = [()] + [p for p in paths if isinstance(_get(settings, p), dict)]
        target = _get(settings, draw(st.sampled_from(objects)))
        target[draw(st.sampled_from(["not_a_field", "Name", "task-key", "__proto__", "tasks_"]))] = "x"
    elif how == "bad-enum":
        settings["tasks"][0]["run_if"] = draw(st.sampled_from(["ALWAYS", "all_success", "", "ALL_SUCCESS "]))
    elif how == "too-long":
        field = draw(st.sampled_from(["name", "description"]))
        settings[field] = "x" * (4097 if field == "name" else 27701)
    elif how == "too-many":
        settings["tags"] = {f"t{i}": "v" for i in range(draw(st.integers(25, 40)))}
    else:
        owner = settings["tasks"][0] if draw(st.booleans()) else settings
        owner.pop("task_key" if owner is not settings else "name")
    return settings


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


UNICODE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@st.composite
def unicode_names(draw: st.DrawFn) -> Json:
    settings = base_settings(draw(UNICODE))
    if draw(st.booleans()):
        settings["description"] = draw(UNICODE)
    settings["tags"] = draw(st.dictionaries(UNICODE, st.text(max_size=30), max_size=4))
    if draw(st.booleans()):
        settings["tasks"][0]["description"] = draw(UNICODE)
    return settings


@st.composite
def huge(draw: st.DrawFn) -> Json:
    settings = base_settings()
    which = draw(st.sampled_from(["name-4096", "name-4096-emoji", "description-27700", "description-1mb", "tag-1mb"]))
    if which == "name-4096":
        settings["name"] = "n" * 4096
    elif which == "name-4096-emoji":
        settings["name"] = "🦆" * 4096  # 4096 characters, 16 KB of UTF-8
    elif which == "description-27700":
        settings["description"] = "d" * 27_700
    elif which == "description-1mb":
        settings["description"] = "d" * 1_000_000
    else:
        settings["tags"] = {"big": "v" * 1_000_000}
    return settings


def many_tasks(count: int) -> Json:
    settings = base_settings(f"many-{count}")
    settings["tasks"] = [
        {"task_key": f"t{i:04d}", "notebook_task": {"notebook_path": f"/Shared/many/{i}"}} for i in range(count)
    ]
    for i in range(1, count):  # a chain every 10 tasks keeps depends_on realistic without a 1000-long chain
        if i % 10:
            settings["tasks"][i]["depends_on"] = [{"task_key": f"t{i - 1:04d}"}]
    return settings


@st.composite
def dependencies(draw: st.DrawFn) -> Json:
    n = draw(st.integers(2, 6))
    settings = base_settings()
    settings["tasks"] = [{"task_key": f"k{i}", "notebook_task": {"notebook_path": f"/n{i}"}} for i in range(n)]
    how = draw(st.sampled_from(["cycle", "self", "dangling", "chain"]))
    if how == "cycle":
        for i in range(n):
            settings["tasks"][i]["depends_on"] = [{"task_key": f"k{(i + 1) % n}"}]
    elif how == "self":
        settings["tasks"][0]["depends_on"] = [{"task_key": "k0"}]
    elif how == "dangling":
        settings["tasks"][1]["depends_on"] = [{"task_key": draw(st.sampled_from(["ghost", "", "K0", "k0 "]))}]
    else:
        for i in range(1, n):
            settings["tasks"][i]["depends_on"] = [{"task_key": f"k{i - 1}"}]
    return settings


def nested(depth: int) -> Json:
    value: Json = {"leaf": "x"}
    for _ in range(depth):
        value = {"n": value}
    return value


@st.composite
def deep(draw: st.DrawFn) -> Json:
    depth = draw(st.sampled_from([10, 100, 500, 2000]))
    settings = base_settings()
    if draw(st.booleans()):  # the schema's free-form node: for_each_task.task.for_each_task.task
        inner = {"task_key": "inner", "for_each_task": {"inputs": "[1]", "task": nested(depth)}}
        settings["tasks"] = [{"task_key": "outer", "for_each_task": {"inputs": "[1]", "task": inner}}]
    else:
        settings["not_a_field"] = nested(depth)
    return settings


@st.composite
def duplicate_keys(draw: st.DrawFn) -> Json:
    settings = base_settings()
    if draw(st.booleans()):
        settings["tasks"].append(copy.deepcopy(settings["tasks"][0]))
    else:
        cluster = {"job_cluster_key": "c", "new_cluster": {"spark_version": "15.4.x-scala2.12", "num_workers": 1}}
        settings["job_clusters"] = [cluster, copy.deepcopy(cluster)]
    return settings


CRONS = ["0 0 2 * * ?", "0 0 25 * * ?", "* * * * *", "0 0 2 * * ? 2099", "", "0 0 2 ? * MON-FRI", "0 0 2 * * *"]
ZONES = ["UTC", "Europe/Amsterdam", "Mars/Olympus", "", "utc", "America/Argentina/Buenos_Aires"]


@st.composite
def schedules(draw: st.DrawFn) -> Json:
    settings = base_settings()
    settings["schedule"] = {
        "quartz_cron_expression": draw(st.sampled_from(CRONS)),
        "timezone_id": draw(st.sampled_from(ZONES)),
    }
    return settings


CATEGORIES: dict[str, st.SearchStrategy[Json]] = {
    "schema": schema_fields(),
    "task": schema_task(),
    "mutated": mutated(),
    "unicode": unicode_names(),
    "huge": huge(),
    "many-tasks": st.sampled_from([1000, 1001]).map(many_tasks),
    "depends-on": dependencies(),
    "deep": deep(),
    "duplicate-key": duplicate_keys(),
    "schedule": schedules(),
}


def examples(categories: list[str] | None = None) -> st.SearchStrategy[tuple[str, Json]]:
    """``(category, manifest)`` from the named categories (all by default)."""
    names = categories or sorted(CATEGORIES)
    return st.one_of(*(CATEGORIES[c].map(lambda s, c=c: (c, manifest(s))) for c in names))
