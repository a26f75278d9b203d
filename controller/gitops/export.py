"""``dbjobs export``: jobs that exist in a workspace → ``DatabricksJob`` manifests that adopt them.

Each selected job becomes one manifest that changes nothing on its first sync: ``spec.adopt.jobId`` takes the
existing job over (no second job), ``driftPolicy: Report`` only reports differences, ``deletionPolicy:
Orphan`` leaves the job in place if the manifest is ever deleted (all three can be changed on the command
line). ``spec.settings`` is the job as a person would write it: the server's defaults are taken out by the
drift engine's own table (:func:`controller.reconcile.written.without_defaults`), so the manifest compares
in sync with the live job. Names are DNS-1123 subdomains made from the job name, unique in the directory.

Jobs already carrying the controller's owner tag (``dbjobs-owner``) are managed by a DatabricksJob already
and are skipped (adopting them would be refused as ``AdoptTargetOwned``).

Manifests that already exist in the target directory are found by the job id they adopt and updated in
place, keeping comments, order and every field but ``spec.settings`` and ``spec.adopt``
(:mod:`controller.gitops.yamlupdate`); a file that holds no manifest for an exported job is never touched.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.databricks.jobs import ListedJob
from controller.gitops.manifest import API_VERSION, KIND, SOURCE_ANNOTATION, dns_name, render, unique_name
from controller.gitops.yamlupdate import dump_all, load_all, update_manifest
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.written import without_defaults

OWNED = ("settings", "adopt")


@dataclass(frozen=True)
class Selection:
    """Which jobs: name patterns (shell globs, case-insensitive), tags (``key`` or ``key=value``), job ids.

    Kinds combine with AND, values of one kind with OR; nothing given selects every job.
    """

    names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    job_ids: tuple[int, ...] = ()

    def matches(self, job: ListedJob) -> bool:
        """True when ``job`` is selected."""
        name = str(job.settings.get("name") or "").lower()
        if self.names and not any(fnmatch.fnmatchcase(name, p.lower()) for p in self.names):
            return False
        tags = job.settings.get("tags") or {}
        if self.tags and not any(_tag_matches(tags, t) for t in self.tags):
            return False
        return not self.job_ids or job.job_id in self.job_ids


def _tag_matches(tags: Mapping[str, Any], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in tags and (not sep or str(tags[key]) == value)


@dataclass(frozen=True)
class ExportOptions:
    """The manifest fields export chooses: ``namespace`` (omitted when None), ``workspace_ref``, policies."""

    namespace: str | None = None
    workspace_ref: str = "default"
    drift_policy: str = "Report"
    deletion_policy: str = "Orphan"


@dataclass
class ExportResult:
    """What an export writes: ``files`` (``{path in the directory: text}``, only new or changed ones), the
    jobs exported (``(manifest name, job id, job name)``), skipped (``(job id, why)``), and the paths
    ``created``, ``updated`` and ``unchanged``."""

    files: dict[str, str] = field(default_factory=dict)
    exported: list[tuple[str, int, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def export_settings(job: ListedJob) -> dict[str, Any]:
    """The job's settings without server defaults (a job without a name gets the one Databricks shows)."""
    settings = without_defaults(job.settings, owner=job.creator)
    if not isinstance(settings.get("name"), str) or not settings["name"].strip():
        settings = {"name": "Untitled", **settings}
    return settings


def export_manifest(job: ListedJob, name: str, options: ExportOptions) -> dict[str, Any]:
    """The ``DatabricksJob`` manifest adopting ``job`` under ``name`` (see the module doc for its fields)."""
    metadata: dict[str, Any] = {"name": name}
    if options.namespace:
        metadata["namespace"] = options.namespace
    metadata["annotations"] = {SOURCE_ANNOTATION: f"workspace job {job.job_id}"}
    spec = {
        "workspaceRef": {"name": options.workspace_ref},
        "adopt": {"jobId": job.job_id},
        "driftPolicy": options.drift_policy,
        "deletionPolicy": options.deletion_policy,
        "settings": export_settings(job),
    }
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _existing(files: Mapping[str, str]) -> tuple[dict[int, tuple[str, int]], set[str]]:
    """``({adopted job id: (path, document index)}, names taken)`` of the manifests in ``files``."""
    adopted: dict[int, tuple[str, int]] = {}
    taken = {path.rsplit("/", 1)[-1].rsplit(".", 1)[0] for path in files}
    for path, text in files.items():
        try:
            docs = load_all(text)
        except Exception:  # ruamel raises many error types for text that is not YAML; such files are left alone
            continue
        for i, doc in enumerate(docs):
            if isinstance(doc, Mapping) and doc.get("kind") == KIND:
                taken.add(str((doc.get("metadata") or {}).get("name")))
                job_id = ((doc.get("spec") or {}).get("adopt") or {}).get("jobId")
                if isinstance(job_id, int):
                    adopted[job_id] = (path, i)
    return adopted, taken


def plan_export(
    jobs: list[ListedJob], selection: Selection, options: ExportOptions, existing: Mapping[str, str]
) -> ExportResult:
    """What exporting ``jobs`` (those ``selection`` picks, by job id) into a directory holding ``existing``
    (``{path: text}``) writes; pure."""
    result = ExportResult()
    adopted, taken = _existing(existing)
    changed: dict[str, list[Any]] = {}
    for job in sorted((j for j in jobs if selection.matches(j)), key=lambda j: j.job_id):
        owner = (job.settings.get("tags") or {}).get(OWNER_TAG)
        if owner is not None:
            result.skipped.append((job.job_id, f"managed by a DatabricksJob already (tag {OWNER_TAG}={owner})"))
            continue
        if job.job_id in adopted:
            path, index = adopted[job.job_id]
            docs = changed.setdefault(path, load_all(existing[path]))
            name = str(docs[index]["metadata"]["name"])
            update_manifest(docs[index], export_manifest(job, name, options), OWNED)
        else:
            name = unique_name(dns_name(str(job.settings.get("name") or ""), f"job-{job.job_id}"), taken)
            path = f"{name}.yaml"
            result.files[path] = render([export_manifest(job, name, options)])
            result.created.append(path)
        result.exported.append((name, job.job_id, str(job.settings.get("name") or "")))
    for path, docs in changed.items():
        text = dump_all(docs)
        if text == existing[path] or dump_all(load_all(existing[path])) == text:
            result.unchanged.append(path)
        else:
            result.files[path] = text
            result.updated.append(path)
    return result
