"""What the apiserver (and then the controller) would say about a ``DatabricksJob`` manifest, checked locally.

``dbjobs plan`` reports invalid manifests of a pull request with the field the admission rules would name,
before anything is applied. The checks are the CRD's, in Python:

* the structural schema of ``spec.settings`` (types, enums, limits, keyed lists and their duplicate keys, required
  fields), read from
  the same generator that writes ``crds/`` (:func:`controller.api.crdgen.settings_schema`) and applied with
  ``jsonschema``; fields the schema does not know (``kubectl apply`` refuses them under
  ``--validate=strict``, the default) are found by walking the SDK's ``JobSettings``;
* the CEL rules of :mod:`controller.api.rules` (one job-level schedule, owner tag reserved, cluster and
  environment keys that name something, one ``run_as`` principal, at most one Git reference) and the
  refusal rules of :mod:`controller.api.refusals`;
* the operator fields, through the pydantic model the controller reads them with;
* what the controller reports as ``InvalidSpec`` before any call (:func:`controller.api.validate.validate_settings`:
  Quartz syntax, timezone, ``depends_on``, a missing name).

Each problem is ``"<field path>: <message>"`` with the path from the manifest's root (``spec.settings.tasks[0]``).
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from typing import Any

import jsonschema
from databricks.sdk.service import jobs
from pydantic import ValidationError

from controller.api import refusals as refusals_module
from controller.api.crdgen import settings_schema
from controller.api.models import GROUP, VERSION, DatabricksJobSpec
from controller.api.refusals import refusals
from controller.api.rules import LIST_MAP_KEYS
from controller.api.validate import validate_settings

SETTINGS = "spec.settings"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft7Validator(settings_schema())


def _path(parts: typing.Iterable[Any]) -> str:
    out = SETTINGS
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


#: Deeper than any path of the JobSettings schema (about 12 levels): a manifest nested deeper is refused at once.
MAX_DEPTH = 64


def _cut(message: str, keep: int = 150) -> str:
    """A jsonschema message (``"<the value's repr> is too long"``: a 1 MB value makes a 1 MB message) cut in the
    middle, so the verdict at its end stays."""
    return message if len(message) <= 2 * keep else f"{message[:keep]} … {message[-keep:]}"


def too_deep(value: Any) -> list[Any]:
    """The path of the first node nested more than :data:`MAX_DEPTH` levels below ``value``, or []. Iterative: a
    manifest can be nested deeper than Python's recursion limit."""
    stack: list[tuple[Any, list[Any]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return path
        if isinstance(node, Mapping):
            stack += [(v, [*path, k]) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, [*path, i]) for i, v in enumerate(node)]
    return []


def unknown_fields(value: Any) -> list[str]:
    """Fields of ``spec.settings`` that the SDK's ``JobSettings`` does not declare, at every level."""
    return [
        f"{where}: field not declared in the schema (not a Jobs API {cls} field)"
        for where, _, cls in refusals_module.unknown_fields(value, jobs.JobSettings, SETTINGS)
    ]


def _keys(items: Any, key: str) -> list[str]:
    return [str(i.get(key)) for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def duplicate_keys(settings: Mapping[str, Any]) -> list[str]:
    """Items of a keyed list (``x-kubernetes-list-type: map``, :data:`controller.api.rules.LIST_MAP_KEYS`) repeating
    an earlier item's key, as the apiserver words it."""
    found = []
    for field, key in LIST_MAP_KEYS.items():
        items, seen = settings.get(field), set()
        for i, item in enumerate(items if isinstance(items, list) else []):
            value = item.get(key) if isinstance(item, Mapping) else None
            if isinstance(value, str) and value in seen:
                found.append(f'{SETTINGS}.{field}[{i}]: Duplicate value: {{"{key}":"{value}"}}')
            if isinstance(value, str):
                seen.add(value)
    return found


def cel_problems(settings: Mapping[str, Any]) -> list[str]:
    """The CEL rules of the CRD that :mod:`controller.api.refusals` does not already check."""
    found = []
    if sum(settings.get(k) is not None for k in ("schedule", "continuous", "trigger")) > 1:
        found.append(f"{SETTINGS}: at most one of schedule, continuous and trigger may be set")
    tags, tasks = settings.get("tags"), settings.get("tasks")  # wrong types are the schema's findings
    if isinstance(tags, Mapping) and "dbjobs-owner" in tags:
        found.append(f"{SETTINGS}.tags: tags.dbjobs-owner is reserved for the controller's owner tag")
    named = {
        "job_cluster_key": ("job_clusters", set(_keys(settings.get("job_clusters"), "job_cluster_key"))),
        "environment_key": ("environments", set(_keys(settings.get("environments"), "environment_key"))),
    }
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        for field, (owner, keys) in named.items():
            if isinstance(task, Mapping) and task.get(field) is not None and str(task[field]) not in keys:
                found.append(f"{SETTINGS}.tasks[{i}].{field}: must name a {owner}[].{field} of this job")
    run_as = settings.get("run_as")
    principals = ("user_name", "service_principal_name", "group_name")
    if isinstance(run_as, Mapping) and sum(bool(run_as.get(k)) for k in principals) != 1:
        found.append(f"{SETTINGS}.run_as: must set exactly one of user_name, service_principal_name, group_name")
    git = settings.get("git_source")
    if isinstance(git, Mapping) and sum(bool(git.get(k)) for k in ("git_branch", "git_tag", "git_commit")) > 1:
        found.append(f"{SETTINGS}.git_source: may set at most one of git_branch, git_tag, git_commit")
    return found


def _spec_problems(spec: Any) -> list[str]:
    if not isinstance(spec, Mapping):
        return ["spec: Required value"]
    try:
        DatabricksJobSpec.model_validate({k: v for k, v in spec.items() if k != "settings"} | {"settings": {}})
    except ValidationError as exc:
        return [f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return [] if isinstance(spec.get("settings"), Mapping) else [f"{SETTINGS}: Required value"]


def manifest_problems(doc: Mapping[str, Any]) -> list[str]:
    """Every problem admission or the controller's pre-call checks would report for ``doc``; [] when valid."""
    found = []
    if doc.get("apiVersion") != f"{GROUP}/{VERSION}":
        found.append(f"apiVersion: {doc.get('apiVersion')!r}: this dbjobs serves {GROUP}/{VERSION}")
    name = str((doc.get("metadata") or {}).get("name") or "")
    if not DNS_1123.match(name) or len(name) > 253:
        found.append(f"metadata.name: {name!r}: a lowercase RFC 1123 subdomain is required")
    spec_problems = _spec_problems(doc.get("spec"))
    if spec_problems:
        return found + spec_problems
    settings = doc["spec"]["settings"]
    deep = too_deep(settings)
    if deep:  # the schema ends far above; jsonschema (and repr in its messages) would recurse past Python's limit
        return [*found, f"{_path(deep)}: nested more than {MAX_DEPTH} levels deep: no Jobs API field is"]
    schema = [f"{_path(e.absolute_path)}: {_cut(e.message)}" for e in _validator().iter_errors(settings)]
    unknown = unknown_fields(settings)
    seen = {p.split(": ", 1)[0] for p in unknown}
    refused = [str(r) for r in refusals(settings)]
    told = [f"{SETTINGS}.{r}" for r in refused if f"{SETTINGS}.{r.split(': ', 1)[0]}" not in seen]
    found += schema + duplicate_keys(settings) + unknown + cel_problems(settings) + told
    if not schema:  # the controller sees only what admission let through
        later = [p for p in validate_settings(settings) if p not in refused]
        found += [f"{SETTINGS}.{p} (the controller reports InvalidSpec)" for p in later]
    return list(dict.fromkeys(found))
