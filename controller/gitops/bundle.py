"""Jobs in a Databricks Asset Bundle, as the bundle CLI would deploy them for one target.

A bundle is ``databricks.yml`` (or pre-GA ``bundle.yml``) and the files its ``include:`` names
(:mod:`controller.gitops.bundle_files`). For the selected target (:mod:`controller.gitops.bundle_target`) each
``resources.jobs.<key>`` becomes one job, following the bundle configuration docs
(https://docs.databricks.com/aws/en/dev-tools/bundles/settings, .../bundles/deployment-modes):

* the target's ``resources.jobs.<key>`` merges into the job (:mod:`controller.gitops.bundle_merge`); a job
  only a target defines exists only in that target;
* a bundle-wide ``run_as`` (the target's, else the top-level one) applies to jobs that set none;
* ``presets`` (and the defaults of ``mode: development``: a ``[dev <user>]`` name prefix, a ``dev`` tag, at
  most 4 concurrent runs, paused schedules and triggers) apply as the CLI applies them (``apply_presets.go``);
* ``${var.*}``, ``${bundle.*}`` and ``${workspace.*}`` resolve where the bundle determines them; the rest
  (``${resources.*.id}``, lookups) is left as written and reported by field;
* relative code paths become Git paths with ``--git-url``, or are reported (:mod:`controller.gitops.codepaths`);
* ``permissions`` (per job, and the bundle's or target's applied to every job, the job's own entry winning for a
  principal both name, https://docs.databricks.com/aws/en/dev-tools/bundles/permissions) become
  ``spec.permissions`` (:mod:`controller.gitops.bundle_permissions`); an entry that cannot be converted is
  reported by field; ``lifecycle`` is dropped with a warning;
* a job without ``name`` is named after its resource key (dbjobs requires a name), with a warning;
* other resources (pipelines, dashboards, apps, …) and ``artifacts`` are listed as not converted.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.gitops.bundle_files import BundleConfig
from controller.gitops.bundle_merge import copy_value, merge, merge_keyed_lists
from controller.gitops.bundle_permissions import spec_permissions
from controller.gitops.bundle_target import TargetContext, mapping, target_context, targets_of
from controller.gitops.codepaths import (
    GitOptions,
    artifact_advice,
    local_path_advice,
    mark_local_paths,
    to_git,
    unmark,
)
from controller.gitops.conversion import Finding, JobSource, join_path
from controller.gitops.interpolation import resolve, unresolved
from controller.gitops.jobschema import JOB_SETTINGS, check_fields, drop_empty_strings

BUNDLE_KEYS = ("bundle", "resources", "targets", "environments", "variables", "include", "workspace")
PAUSE_STATUSES = ("PAUSED", "UNPAUSED")


@dataclass(frozen=True)
class BundleOptions:
    """What ``dbjobs convert`` is told about a bundle: ``target``, ``variables`` (``--var NAME=VALUE``),
    ``current_user`` (the deploying identity, for ``~`` and development-mode prefixes), ``git``."""

    target: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    current_user: str | None = None
    git: GitOptions | None = None


def is_bundle(doc: Any) -> bool:
    """A mapping with any top-level bundle configuration key."""
    return isinstance(doc, dict) and any(k in doc for k in BUNDLE_KEYS)


def _jobs_of(section: Any) -> dict[str, Any]:
    return mapping(mapping(mapping(section).get("resources")).get("jobs"))


def _in_file(file: str, root_file: str, finding: Finding) -> Finding:
    path, message = finding
    return (f"{file}: {path}" if path else file, message) if file != root_file else finding


def apply_presets(settings: dict[str, Any], presets: Mapping[str, Any]) -> None:
    """Apply bundle ``presets`` to one job in place, as the CLI does (see module doc)."""
    prefix = presets.get("name_prefix")
    if isinstance(prefix, str) and prefix:
        settings["name"] = prefix + str(settings.get("name") or "")
    tags = mapping(presets.get("tags"))
    if tags:
        own = dict(mapping(settings.get("tags")))
        settings["tags"] = {**own, **{k: v for k, v in tags.items() if not own.get(k)}}
    if not settings.get("max_concurrent_runs") and presets.get("jobs_max_concurrent_runs"):
        settings["max_concurrent_runs"] = presets["jobs_max_concurrent_runs"]
    pause = presets.get("trigger_pause_status")
    if pause in PAUSE_STATUSES:
        for block in ("schedule", "continuous", "trigger"):
            if isinstance(settings.get(block), dict) and not settings[block].get("pause_status"):
                settings[block] = {**settings[block], "pause_status": pause}


def _permissions(
    job: Mapping[str, Any], ctx: TargetContext, origin: str
) -> tuple[list[dict[str, str]] | None, list[Finding]]:
    own: list[Any] = job["permissions"] if isinstance(job.get("permissions"), list) else []
    bundle_wide, where = ctx.permissions
    if not own and not bundle_wide:
        return None, []
    return spec_permissions(
        resolve(own, ctx.scope), join_path(origin, "permissions"), resolve(bundle_wide, ctx.scope), where
    )


def _settings_of(
    job: Mapping[str, Any], origin: str, key: str, ctx: TargetContext
) -> tuple[dict[str, Any], list[Finding]]:
    findings: list[Finding] = []
    settings = {k: v for k, v in job.items() if k not in ("permissions", "lifecycle")}
    if "lifecycle" in job:
        findings.append((join_path(origin, "lifecycle"), "bundle-only setting dropped (not part of JobSettings)"))
    settings = merge_keyed_lists(settings)
    run_as, _ = ctx.run_as
    if run_as is not None and "run_as" not in settings:
        settings["run_as"] = copy_value(run_as)
    if not settings.get("name"):
        settings["name"] = key
        findings.append(
            (join_path(origin, "name"), f"no name: named after the resource key {key!r} (dbjobs requires one)")
        )
    apply_presets(settings, ctx.presets)
    return resolve(settings, ctx.scope), findings


def _finish_job(
    job: dict[str, Any], origin: str, key: str, ctx: TargetContext, config: BundleConfig, git: GitOptions | None
) -> tuple[dict[str, Any], list[Finding], list[dict[str, str]] | None]:
    settings, findings = _settings_of(job, origin, key, ctx)
    permissions, said = _permissions(job, ctx, origin)
    findings += said
    if settings.get("git_source") is not None:
        pass  # the job's own git_source: its relative paths are Git paths already, as the CLI leaves them
    elif git is not None:
        settings, more = to_git(settings, origin, git, config.root)
        findings += more
    else:
        findings += local_path_advice(settings, origin)
    findings += artifact_advice(settings, origin)
    settings = drop_empty_strings(unmark(settings))
    findings += unresolved(settings, origin, ctx.scope)
    findings += check_fields(settings, JOB_SETTINGS, origin)
    return settings, findings, permissions


def not_converted(config: BundleConfig) -> list[Finding]:
    """One finding per non-job resource and for ``artifacts``: listed, not errors."""
    findings: list[Finding] = []
    for kind, items in mapping(config.doc.get("resources")).items():
        if kind == "jobs":
            continue
        for key in mapping(items):
            file = config.resource_files.get((str(kind), str(key)), config.root_file)
            message = f"not converted: dbjobs manages jobs only; deploy {kind} with the bundle CLI"
            findings.append(_in_file(file, config.root_file, (f"resources.{kind}.{key}", message)))
    if config.doc.get("artifacts"):
        findings.append(("artifacts", "built by the bundle CLI at deploy time; dbjobs does not build artifacts"))
    return findings


def bundle_jobs(config: BundleConfig, options: BundleOptions) -> tuple[list[JobSource], list[Finding]]:
    """One :class:`JobSource` per ``resources.jobs.<key>`` for the selected target, with findings.

    Each source's ``settings`` is a ``JobSettings`` mapping; ``origin`` its path (``resources.jobs.<key>``, or
    ``targets.<t>.resources.jobs.<key>`` for a job only the target defines); ``file`` the file defining it.
    Findings on jobs of included files name that file first (``resources/a.yml: resources.jobs.a.name``).
    Raises :class:`ConversionError` for a ``--target`` the bundle does not have, a code path outside the
    repository, or a Git provider it cannot tell.
    """
    ctx = target_context(config.doc, options.target, options.variables, options.current_user)
    findings = list(ctx.findings) + not_converted(config)
    base, overrides = _jobs_of(config.doc), _jobs_of(ctx.body)
    sources: list[JobSource] = []
    for key in [*base, *(k for k in overrides if k not in base)]:
        file = config.job_files.get(str(key), config.root_file) if key in base else config.root_file
        origin = (
            join_path("resources.jobs", str(key)) if key in base else join_path(f"{ctx.path}.resources.jobs", str(key))
        )
        job = copy_value(base.get(key)) if isinstance(base.get(key), dict) else {}
        mark_local_paths(job, posixpath.dirname(file))
        if isinstance(overrides.get(key), dict):
            override = copy_value(overrides[key])
            mark_local_paths(override, posixpath.dirname(config.root_file))
            job = merge(job, override)
        if not job:
            findings.append((origin, "job definition is not a mapping; skipped"))
            continue
        settings, more, permissions = _finish_job(job, origin, str(key), ctx, config, options.git)
        findings += [_in_file(file, config.root_file, f) for f in more]
        file_of = None if file == config.root_file else file
        sources.append(JobSource(settings, origin, str(key), file_of, permissions=permissions))
    section, targets, _ = targets_of(config.doc)
    for name, body in targets.items():
        for key in _jobs_of(body):
            if name != ctx.name and key not in base:
                path = join_path(f"{section}.{name}.resources.jobs", str(key))
                findings.append((path, f"job defined only in target {name!r}, which is not selected; skipped"))
    return sources, findings
