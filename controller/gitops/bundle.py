"""Jobs in Databricks Asset Bundle YAML (``databricks.yml``, pre-GA ``bundle.yml``, ``resources/*.yml``).

Follows the bundle configuration docs:

* jobs are ``resources.jobs.<key>``; a target may add or override them under
  ``targets.<t>.resources.jobs.<key>`` (pre-GA files say ``environments`` instead of ``targets``);
* target selection mirrors the Databricks CLI: the named ``--target``; without one, the only target, or
  else the one marked ``default: true``; with none of those no target overrides apply (and a warning
  says so). A named target that a file does not define (a ``resources/*.yml`` fragment usually defines
  none) still gives ``${bundle.target}`` its value;
* target overrides merge into the job as the CLI merges configuration: mappings key by key, scalars
  replaced, sequences appended, then ``tasks``/``job_clusters``/``parameters``/``environments`` elements
  with the same key (``task_key``/``job_cluster_key``/``name``/``environment_key``) merged into one;
* a top-level or target ``run_as`` applies to jobs that do not set their own;
* ``permissions`` (and ``lifecycle``) are bundle settings, not ``JobSettings``: dropped with a warning.
"""

from __future__ import annotations

from typing import Any

from controller.gitops.conversion import ConversionError, Finding, JobSource, join_path
from controller.gitops.interpolation import Scope, resolve, unresolved
from controller.gitops.jobschema import JOB_SETTINGS, check_fields

BUNDLE_ONLY_JOB_KEYS = frozenset({"permissions", "lifecycle"})
KEYED_LISTS = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}
BUNDLE_KEYS = ("bundle", "resources", "targets", "environments", "variables", "include", "workspace")


def is_bundle(doc: Any) -> bool:
    """A mapping with any top-level bundle configuration key."""
    return isinstance(doc, dict) and any(k in doc for k in BUNDLE_KEYS)


def merge(base: Any, override: Any) -> Any:
    """Bundle-style merge: mappings merged recursively, sequences appended, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def merge_keyed(items: list[Any], key: str) -> list[Any]:
    """Merge elements sharing ``key`` into the first of them (later ones win); order of first use kept."""
    out: list[Any] = []
    index: dict[Any, int] = {}
    for item in items:
        k = item.get(key) if isinstance(item, dict) else None
        if k is not None and k in index:
            out[index[k]] = merge(out[index[k]], item)
        else:
            if k is not None:
                index[k] = len(out)
            out.append(item)
    return out


def _mapping(value: Any) -> dict[str, Any]:
    # Malformed sections (a list or scalar where a mapping belongs) read as empty, not as a crash.
    return value if isinstance(value, dict) else {}


def _jobs_of(section: Any) -> dict[str, Any]:
    return _mapping(_mapping(_mapping(section).get("resources")).get("jobs"))


def select_target(targets: dict[str, Any], named: str | None) -> tuple[str | None, list[Finding]]:
    """The target whose overrides apply (see module doc) and findings explaining a non-obvious choice.

    Raises :class:`ConversionError` when ``named`` is not among the file's ``targets`` (a file with no
    targets, such as a ``resources/*.yml`` fragment, accepts any name)."""
    if named is not None:
        if targets and named not in targets:
            # The bundle CLI refuses an unknown target too; a typo must not yield jobs named after it.
            raise ConversionError(
                f"targets: --target {named!r} is not a target of this bundle (have: {', '.join(targets)})"
            )
        return named, []
    if len(targets) == 1:
        return next(iter(targets)), []
    defaults = [t for t, body in targets.items() if isinstance(body, dict) and body.get("default") is True]
    if len(defaults) == 1:
        return defaults[0], []
    if targets:
        why = "several are marked default" if defaults else "none is marked default: true"
        return None, [("targets", f"no target selected ({why}); name one with --target; target overrides not applied")]
    return None, []


def _variables(doc: dict[str, Any], target_body: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    declared = _mapping(doc.get("variables"))
    for name, decl in declared.items():
        values[str(name)] = decl.get("default") if isinstance(decl, dict) else decl
    overrides = _mapping(target_body.get("variables"))
    for name, value in overrides.items():
        # A target may give the value directly or as ``{default: …}`` (or a ``lookup``, unknown here).
        if isinstance(value, dict) and ("default" in value or "lookup" in value):
            value = value.get("default")
        if value is not None:
            values[str(name)] = value
    return values


def _finish_job(job: dict[str, Any], origin: str, scope: Scope, run_as: Any) -> tuple[dict[str, Any], list[Finding]]:
    findings: list[Finding] = []
    settings: dict[str, Any] = {}
    for key, value in job.items():
        if key in BUNDLE_ONLY_JOB_KEYS:
            findings.append((join_path(origin, key), "bundle-only setting dropped (not part of JobSettings)"))
        else:
            settings[key] = value
    for list_key, item_key in KEYED_LISTS.items():
        if isinstance(settings.get(list_key), list):
            settings[list_key] = merge_keyed(settings[list_key], item_key)
    if run_as is not None and "run_as" not in settings:
        settings["run_as"] = run_as
    settings = resolve(settings, scope)
    findings += unresolved(settings, origin, scope)
    findings += check_fields(settings, JOB_SETTINGS, origin)
    return settings, findings


def bundle_jobs(doc: dict[str, Any], target: str | None) -> tuple[list[JobSource], list[Finding]]:
    """One :class:`JobSource` per ``resources.jobs.<key>`` after target overrides, with findings.

    Shapes: ``doc`` is the parsed YAML mapping; each source's ``settings`` is a ``JobSettings`` mapping
    with known references resolved, ``origin`` its path (``resources.jobs.<key>``, or
    ``targets.<t>.resources.jobs.<key>`` for a job only a target defines) and ``key`` the resource key.
    Jobs defined only by targets that are not selected are skipped with a finding. Raises
    :class:`ConversionError` only for a ``target`` the file's ``targets`` do not have.
    """
    findings: list[Finding] = []
    targets_key = "targets" if isinstance(doc.get("targets"), dict) else "environments"
    targets = _mapping(doc.get(targets_key))
    if targets_key == "targets" and isinstance(doc.get("environments"), dict):
        findings.append(("environments", "both targets and pre-GA environments present; environments ignored"))
    if doc.get("include"):
        # The bundle CLI merges these files into one configuration; convert reads one file at a time.
        patterns = ", ".join(str(p) for p in doc["include"]) if isinstance(doc["include"], list) else doc["include"]
        findings.append(("include", f"included files are not read ({patterns}); pass them to dbjobs convert too"))
    chosen, why = select_target(targets, target)
    findings += why
    target_body = _mapping(targets.get(chosen)) if chosen is not None else {}
    bundle_fields = {}
    bundle_section = _mapping(doc.get("bundle"))
    if isinstance(bundle_section.get("name"), str):
        bundle_fields["name"] = bundle_section["name"]
    if chosen is not None:
        bundle_fields["target"] = chosen
    scope = Scope(variables=_variables(doc, target_body), bundle=bundle_fields)
    mode = target_body.get("mode")
    if mode == "development":
        findings.append(
            (
                join_path(join_path(targets_key, str(chosen)), "mode"),
                "development mode (name prefix, paused schedules) is applied at deploy time; not applied",
            )
        )
    run_as = target_body.get("run_as", doc.get("run_as"))
    for where, section in (("", doc), (join_path(targets_key, str(chosen)), target_body)):
        if "permissions" in section:
            findings.append((join_path(where, "permissions"), "bundle permissions are not JobSettings; not converted"))

    base = _jobs_of(doc)
    overrides = _jobs_of(target_body)
    sources: list[JobSource] = []
    for key in list(base) + [k for k in overrides if k not in base]:
        job = base.get(key, {})
        origin = join_path(join_path("resources", "jobs"), str(key))
        if key in overrides:
            job = merge(job if isinstance(job, dict) else {}, overrides[key])
            if key not in base:
                origin = join_path(join_path(join_path(targets_key, str(chosen)), "resources.jobs"), str(key))
        if not isinstance(job, dict):
            findings.append((origin, "job definition is not a mapping; skipped"))
            continue
        settings, more = _finish_job(job, origin, scope, run_as)
        sources.append(JobSource(settings, origin, key=str(key)))
        findings += more
    for name, body in targets.items():
        for key in _jobs_of(body):
            if name != chosen and key not in base:
                path = join_path(join_path(join_path(targets_key, str(name)), "resources.jobs"), str(key))
                findings.append((path, f"job defined only in target {name!r}, which is not selected; skipped"))
    return sources, findings
