"""Generate the CustomResourceDefinitions in ``crds/`` (``make crds`` / ``python -m controller.api.crdgen``).

``spec.settings`` comes from the pinned databricks-sdk's ``JobSettings`` (:mod:`controller.api.sdkschema`)
with the admission rules of :mod:`controller.api.rules`; the operator fields and ``status`` of both kinds are
generated from the pydantic models (:mod:`controller.api.models`, :mod:`controller.api.jobstatus`,
:mod:`controller.api.workspace`) by :mod:`controller.api.schemagen`; printer columns are
:mod:`controller.api.columns`. Output is deterministic (declaration order, fixed YAML style), so
``--check`` can fail CI when the committed files differ from what the code generates.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk.service import jobs

from controller.api import rules
from controller.api.columns import job_columns, workspace_columns
from controller.api.models import (
    CLUSTER_WORKSPACE_PLURAL,
    GROUP,
    JOB_PLURAL,
    VERSION,
    WORKSPACE_PLURAL,
    ClusterDatabricksWorkspaceSpec,
    DatabricksJobSpec,
    DatabricksJobStatus,
    DatabricksWorkspaceSpec,
    DatabricksWorkspaceStatus,
)
from controller.api.schemagen import crd_schema
from controller.api.sdkschema import SchemaBuilder

Schema = dict[str, Any]
CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
JOB_FILE = f"{GROUP}_{JOB_PLURAL}.yaml"
WORKSPACE_FILE = f"{GROUP}_{WORKSPACE_PLURAL}.yaml"
CLUSTER_WORKSPACE_FILE = f"{GROUP}_{CLUSTER_WORKSPACE_PLURAL}.yaml"


def _refine_field(path: str, cls: type, name: str, schema: Schema) -> Schema:
    if (cls, name) in rules.JOB_ID_FIELDS:
        return rules.job_id_schema(rules.JOB_ID_FIELDS[(cls, name)], schema)
    extra = {**rules.PATH_LIMITS.get(path, {}), **rules.CLASS_FIELD_LIMITS.get((cls, name), {})}
    key = rules.LIST_MAP_KEYS.get(path)
    if key is not None:
        extra |= {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}
    return {**schema, **extra}


def _refine_object(path: str, cls: type, schema: Schema) -> Schema:
    found = rules.class_rules(cls)
    return {**schema, "x-kubernetes-validations": found} if found else schema


def settings_schema() -> Schema:
    """``spec.settings``: the SDK's JobSettings with limits, keyed lists and CEL rules."""
    schema = SchemaBuilder(_refine_field, _refine_object).object_schema(jobs.JobSettings)
    schema["description"] = (
        "Jobs API JobSettings, spelled as the API spells it (snake_case), as sent to jobs/create and jobs/reset. "
        f"Schema generated from databricks-sdk {metadata.version('databricks-sdk')}."
    )
    schema["x-kubernetes-validations"] = rules.settings_rules()
    schema["required"] = [*schema.get("required", []), *rules.SETTINGS_REQUIRED]
    return schema


def _crd(
    kind: str, plural: str, short: list[str], columns: list[Schema], root: Schema, scope: str = "Namespaced"
) -> Schema:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["databricks"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _root(description: str, spec: Schema, status: Schema) -> Schema:
    return {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: dbjobs.io/v1alpha1."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def job_crd() -> Schema:
    """The DatabricksJob CRD: ``spec`` from :class:`DatabricksJobSpec` with ``settings`` from the SDK (and
    required), ``status`` from :class:`DatabricksJobStatus`."""
    spec = crd_schema(DatabricksJobSpec)
    spec["properties"]["settings"] = settings_schema()
    spec["required"] = [*spec.get("required", []), "settings"]
    root = _root(
        "A Databricks job whose settings are kept in Git and reconciled against a workspace by dbjobs.",
        spec,
        crd_schema(DatabricksJobStatus),
    )
    return _crd("DatabricksJob", JOB_PLURAL, ["dbjob", "dbjobs"], job_columns(), root)


def workspace_crd() -> Schema:
    """The DatabricksWorkspace CRD: ``spec`` and ``status`` from :class:`DatabricksWorkspaceSpec` and
    :class:`DatabricksWorkspaceStatus`."""
    root = _root(
        "A Databricks workspace that DatabricksJobs in the same namespace may use.",
        crd_schema(DatabricksWorkspaceSpec),
        crd_schema(DatabricksWorkspaceStatus),
    )
    return _crd(
        "DatabricksWorkspace", WORKSPACE_PLURAL, ["dbws", "dbworkspace", "dbworkspaces"], workspace_columns(), root
    )


def cluster_workspace_crd() -> Schema:
    """The ClusterDatabricksWorkspace CRD (cluster-scoped): ``spec`` from :class:`ClusterDatabricksWorkspaceSpec`,
    ``status`` the DatabricksWorkspace's."""
    root = _root(
        "A Databricks workspace the platform team offers to the namespaces its namespaceSelector admits; its "
        "Secrets live in the controller's namespace.",
        crd_schema(ClusterDatabricksWorkspaceSpec),
        crd_schema(DatabricksWorkspaceStatus),
    )
    short = ["cdbws", "clusterdbworkspace", "clusterdbworkspaces"]
    return _crd(
        "ClusterDatabricksWorkspace", CLUSTER_WORKSPACE_PLURAL, short, workspace_columns(), root, scope="Cluster"
    )


def render(crd: Schema, header: str) -> str:
    """Deterministic YAML text of ``crd`` under a comment ``header``."""
    body = yaml.safe_dump(crd, sort_keys=False, width=120, allow_unicode=True)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def generate() -> dict[str, str]:
    """``{file name: text}`` of every CRD file."""
    note = "Generated by `make crds` (python -m controller.api.crdgen); do not edit by hand."
    return {
        JOB_FILE: render(
            job_crd(),
            "DatabricksJob: a Databricks job (Jobs API JobSettings) kept in Git and reconciled by dbjobs.\n"
            f"spec.settings is generated from databricks-sdk {metadata.version('databricks-sdk')}. {note}",
        ),
        WORKSPACE_FILE: render(
            workspace_crd(),
            f"DatabricksWorkspace: where a Databricks workspace is and how dbjobs authenticates.\n{note}",
        ),
        CLUSTER_WORKSPACE_FILE: render(
            cluster_workspace_crd(),
            "ClusterDatabricksWorkspace: a platform team's Databricks workspace, for the namespaces it admits.\n"
            f"{note}",
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Write the CRDs into ``--out`` (default ``crds/``); with ``--check`` only compare and exit 1 on a difference."""
    parser = argparse.ArgumentParser(prog="python -m controller.api.crdgen", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=CRD_DIR)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from what would be written")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate().items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"CRDs out of date, run `make crds`: {', '.join(stale)}", file=sys.stderr)
        return 1
    print(("out of date: " if args.check else "written: ") + (", ".join(stale) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
