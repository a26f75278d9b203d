"""``dbjobs convert FILE…``: job definitions as people keep them → ``DatabricksJob`` manifests.

Accepted inputs (detected per file, see :mod:`controller.gitops.sources`): Jobs API create bodies,
``jobs/get`` and ``jobs/list`` responses, legacy Jobs API 2.0 single-task jobs, dbx ``deployment.json`` /
``deployment.yml``, Databricks Asset Bundles (``databricks.yml`` and the files it includes). The output is one
manifest per job (shape in :mod:`controller.gitops.manifest`) whose ``spec.settings`` is the Jobs API
``JobSettings``.

What is changed on the way: response-only fields and the output-only ``format`` are dropped silently;
dbx-only and bundle-only keys (``deployment_config``, ``lifecycle``) are dropped with a warning; bundle
references the bundle determines are resolved and the rest reported, except ``${resources.jobs.<key>.id}`` where
the Jobs API takes a job id, which becomes a reference to the DatabricksJob made of job ``<key>``
(:mod:`controller.gitops.joblinks`); a job without a name gets the manifest's name. What is refused (no manifest
is written, exit 1): a job the Jobs API would refuse, by the rules of :mod:`controller.api.refusals` (each with
its public source; see docs/gitops.md), and jobs whose references to each other the controller would refuse as
``InvalidSpec`` (a cycle ``a -> b -> a``, :mod:`controller.reconcile.references`); a job that references a refused
job is converted and warned about (the reference never resolves). What is kept but reported: other fields the Jobs
API does not define (the CRD admission refuses them), dangling keys, ``{{…}}`` tokens Databricks does not
substitute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.api.jobrefs import job_id_fields, referenced_names
from controller.api.refusals import refusals
from controller.gitops.bundle import BundleOptions
from controller.gitops.checks import dynamic_reference_problems, local_path_problems, reference_problems
from controller.gitops.conversion import ConversionError, Finding, JobSource, join_path
from controller.gitops.joblinks import is_deploy_only_warning, link_jobs
from controller.gitops.manifest import build_manifest, dns_name, unique_name
from controller.gitops.sources import read_jobs
from controller.reconcile.reasons import Reason
from controller.reconcile.references import Peer, resolve

__all__ = ["BundleOptions", "ConversionError", "ConversionResult", "convert_file"]

OUTPUT_ONLY = ("format",)
_UPLOAD_ADVICE = "the bundle CLI uploads"


@dataclass
class ConversionResult:
    """Manifests made from one file (full ``DatabricksJob`` dicts, in file order), the warnings and the
    refusals, each ``"<file name>: <field path>: <message>"`` (a Jobs API refusal ends with ``[rule <id>]``, an id of
    :data:`controller.api.refusals.RULES`); ``refused_jobs`` holds the settings of each refused job."""

    manifests: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    refused_jobs: list[dict[str, Any]] = field(default_factory=list)


def _line(file_name: str, finding: Finding) -> str:
    path, message = finding
    return f"{file_name}: {path}: {message}" if path else f"{file_name}: {message}"


def _source_annotation(file_name: str, job: JobSource) -> str:
    where = job.file or file_name
    return f"{where}#{job.origin}" if job.origin else where


def _base_name(job: JobSource, file_stem: str) -> str:
    if job.key is not None:
        return dns_name(job.key, dns_name(file_stem))
    name = job.settings.get("name")
    # An unresolved ``${…}`` in a name would turn into noise; the file name is a better handle then.
    if isinstance(name, str) and name.strip() and "${" not in name:
        return dns_name(name, dns_name(file_stem))
    return dns_name(file_stem)


def _in_file(job: JobSource, path: str) -> str:
    return f"{job.file}: {path}" if job.file else path


def _refusals(job: JobSource, settings: dict[str, Any], findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """``(refusals, findings left)``: the job's refusals as findings (the upload advice folded into the
    refusal of the same field; warnings on a refused field dropped)."""
    advice = {p: m for p, m in findings if _UPLOAD_ADVICE in m}
    refused: list[Finding] = []
    for refusal in refusals(settings, skip_references=True):
        path = _in_file(job, join_path(job.origin, refusal.path) if job.origin else refusal.path)
        message = advice.get(path, refusal.message)
        refused.append((path, f"{message} [rule {refusal.rule}]"))
    refused_paths = {p for p, _ in refused}
    left = [(p, m) for p, m in findings if p not in refused_paths]
    return refused, left


def convert_file(
    path: Path,
    *,
    namespace: str | None = None,
    workspace_ref: str = "default",
    target: str | None = None,
    taken_names: set[str] | None = None,
    options: BundleOptions | None = None,
) -> ConversionResult:
    """Convert one file into ``DatabricksJob`` manifests.

    ``target`` (or ``options.target``) selects the bundle target or dbx environment whose settings apply.
    Without one, a bundle uses its only target, else the one marked ``default: true``, else none (reported),
    as the Databricks CLI does; a dbx file uses ``default``, else its only environment. ``options`` carries
    the other bundle choices (``--var``, ``--current-user``, ``--git-url``). ``taken_names`` lets a caller keep
    names unique across several files (it is updated). A job the Jobs API would refuse gives no manifest
    and one entry in ``refused`` per rule it breaks. Raises :class:`ConversionError` (message naming the
    file, and the line or field when known) when the file cannot be read or parsed or holds no job.
    """
    options = options or BundleOptions(target=target)
    if target is not None and options.target is None:
        options = BundleOptions(target, options.variables, options.current_user, options.git)
    jobs, file_findings = read_jobs(path, options)
    taken = taken_names if taken_names is not None else set()
    result = ConversionResult()
    findings = list(file_findings)
    names = [unique_name(_base_name(job, path.stem), taken) for job in jobs]  # first: references name them
    by_key = {job.key: name for job, name in zip(jobs, names, strict=True) if job.key is not None}
    made: list[tuple[JobSource, dict[str, Any]]] = []
    refused_names: set[str] = set()
    for job, name in zip(jobs, names, strict=True):
        settings, findings = _linked(job, by_key, findings)
        if not isinstance(settings.get("name"), str) or not settings["name"].strip():
            settings["name"] = name
            findings.append((job.origin, f"no name: named {name!r} (dbjobs requires one)"))
        job_findings = reference_problems(settings, job.origin)
        job_findings += dynamic_reference_problems(settings, job.origin)
        if job.key is None:  # bundle jobs report each local path by field (controller.gitops.codepaths)
            job_findings += local_path_problems(settings, job.origin)
        job_findings = [(_in_file(job, p), m) for p, m in job_findings]
        refused, _ = _refusals(job, settings, findings + job_findings)
        if refused:
            result.refused += [_line(path.name, r) for r in refused]
            result.refused_jobs.append(settings)
            findings = [f for f in findings if f[0] not in {p for p, _ in refused}]
            taken.discard(name)
            refused_names.add(name)
            continue
        findings += job_findings
        result.manifests.append(_manifest(path, job, name, settings, namespace, workspace_ref))
        made.append((job, settings))
    made = _refuse_invalid_references(result, made, refused_names, path.name, workspace_ref)
    result.warnings = [_line(path.name, f) for f in findings + _references_to_refused(made, refused_names)]
    return result


def _manifest(
    path: Path, job: JobSource, name: str, settings: dict[str, Any], namespace: str | None, workspace_ref: str
) -> dict[str, Any]:
    """The DatabricksJob manifest of one converted job: its source annotations and, when the bundle gives
    them, ``spec.permissions`` (before ``settings``, so the manifest reads top-down)."""
    manifest = build_manifest(
        name, settings, _source_annotation(path.name, job), namespace=namespace, workspace_ref=workspace_ref
    )
    manifest["metadata"]["annotations"].update(job.annotations)
    if job.permissions is not None:
        spec = manifest["spec"]
        manifest["spec"] = {k: v for k, v in spec.items() if k != "settings"} | {
            "permissions": job.permissions,
            "settings": spec["settings"],
        }
    return manifest


def _linked(job: JobSource, by_key: dict[str, str], findings: list[Finding]) -> tuple[dict[str, Any], list[Finding]]:
    """The job's settings (output-only fields dropped) with ``${resources.jobs.<key>.id}`` linked to the manifests
    made of those jobs, and ``findings`` with the deploy-only warnings of the linked fields replaced."""
    settings, linked, said = link_jobs(
        {k: v for k, v in job.settings.items() if k not in OUTPUT_ONLY}, job.origin, by_key
    )
    told = {_in_file(job, p) for p in [*linked, *(p for p, _ in said)]}
    kept = [f for f in findings if not is_deploy_only_warning(f, told)]
    return settings, kept + [(_in_file(job, p), m) for p, m in said]


def _refuse_invalid_references(
    result: ConversionResult,
    made: list[tuple[JobSource, dict[str, Any]]],
    refused_names: set[str],
    file_name: str,
    workspace_ref: str,
) -> list[tuple[JobSource, dict[str, Any]]]:
    """Move the jobs whose references the controller refuses (``InvalidSpec``: a cycle) from the manifests to the
    refusals; returns what is left of ``made``."""
    names = [str(m["metadata"]["name"]) for m in result.manifests]
    peers = {
        n: Peer(None, referenced_names(settings), workspace_ref) for n, (_, settings) in zip(names, made, strict=True)
    }
    keep: list[int] = []
    for i, (name, (job, settings)) in enumerate(zip(names, made, strict=True)):
        found = resolve(settings, name=name, workspace=workspace_ref, peers=peers)
        invalid = [text for reason, text in found.findings if reason is Reason.INVALID_SPEC]
        if not invalid:
            keep.append(i)
            continue
        where = _in_file(job, job.origin)
        result.refused += [
            _line(file_name, (where, f"{text}: the controller refuses it (InvalidSpec), so does dbjobs plan"))
            for text in invalid
        ]
        result.refused_jobs.append(settings)
        refused_names.add(name)
    result.manifests = [result.manifests[i] for i in keep]
    return [made[i] for i in keep]


def _references_to_refused(made: list[tuple[JobSource, dict[str, Any]]], refused: set[str]) -> list[Finding]:
    """A warning per reference to a job that was refused (it gets no manifest, so the reference never resolves)."""
    found: list[Finding] = []
    for job, settings in made:
        for site in job_id_fields(settings):
            if site.name in refused:
                where = _in_file(job, join_path(job.origin, site.path) if job.origin else site.path)
                message = f"references DatabricksJob {site.name!r}, which was not converted (refused): no manifest"
                found.append((where, f"{message}; the job waits for it (ReferenceNotFound)"))
    return found
