"""``DatabricksJob`` manifests: names, shape and YAML rendering.

Manifest shape (CRD ``databricksjobs.dbjobs.io``, version ``v1alpha1``)::

    apiVersion: dbjobs.io/v1alpha1
    kind: DatabricksJob
    metadata: {name, namespace (only if given), annotations: {dbjobs.io/source: "<file>[#<path>]"}}
    spec: {workspaceRef: {name}, settings: <JobSettings>}

Names are Kubernetes DNS-1123 subdomains (lower-case alphanumerics, ``-`` and ``.``, alphanumeric at both
ends); they are kept to 63 characters so they also fit a label value.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

API_VERSION = "dbjobs.io/v1alpha1"
KIND = "DatabricksJob"
SOURCE_ANNOTATION = "dbjobs.io/source"
MAX_NAME = 63
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def dns_name(text: str, fallback: str = "job") -> str:
    """``text`` as a DNS-1123 subdomain: lower-cased, runs of other characters turned into ``-``."""
    name = re.sub(r"[^a-z0-9.]+", "-", text.lower())
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"-*\.-*", ".", name)
    name = name[:MAX_NAME].strip("-.")
    return name or fallback


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``… (still at most 63 characters), the first not in ``taken``; adds it."""
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)].rstrip("-.") + suffix
    taken.add(name)
    return name


def build_manifest(
    name: str, settings: dict[str, Any], source: str, *, namespace: str | None, workspace_ref: str
) -> dict[str, Any]:
    """A ``DatabricksJob`` manifest dict in the module doc's shape and key order."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["annotations"] = {SOURCE_ANNOTATION: source}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"workspaceRef": {"name": workspace_ref}, "settings": settings},
    }


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents block sequences under their key (the kubectl style) and never writes YAML
    anchors or aliases (``&id001``/``*id001``): a value shared by two jobs (a merged bundle override, a YAML
    anchor in the input) is written out in full each time, so every manifest stands alone."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(manifests: list[dict[str, Any]]) -> str:
    """Multi-document YAML (``---`` before each document), keys in insertion order, no anchors; ``""`` for none."""
    return "".join(
        "---\n" + yaml.dump(m, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096) for m in manifests
    )
