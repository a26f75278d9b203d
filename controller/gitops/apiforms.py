"""Jobs found in Jobs API shaped documents: create bodies, ``jobs/get`` and ``jobs/list`` responses,
legacy 2.0 single-task jobs and the dbx wrappers around them.

Sources followed: Jobs API 2.2 reference (``jobs/create`` body = ``JobSettings``; ``jobs/get`` wraps it in
``settings`` beside response-only fields), the Jobs API 2.0 → 2.1 migration guide (a 2.0 job *is* its
single task: task type, cluster, libraries and retry fields at the top level) and the dbx deployment
file reference (``deployment.json``: ``{"<env>": {"jobs": [...]}}``; ``deployment.yml``:
``environments.<env>.workflows[]`` or ``.jobs[]``).
"""

from __future__ import annotations

import re
from typing import Any

from controller.gitops.conversion import ConversionError, Finding, JobSource, join_path
from controller.gitops.jobschema import JOB_SETTINGS, TASK, check_fields, field_names
from controller.reconcile.rules import Kind, Scope, rules_of

# Fields jobs/get and jobs/list return beside ``settings``; they describe the stored job, not its desired
# state. One list for the project: the drift rules' response-only rows (jobs-api-spec §4.2).
RESPONSE_ONLY = frozenset(r.field for r in rules_of(Kind.RESPONSE_ONLY, Scope.RESPONSE))
# dbx reads these itself and never sends them to the Jobs API.
DBX_ONLY = frozenset({"deployment_config"})

TASK_TYPE_FIELDS = frozenset(f for f in field_names(TASK) if f.endswith("_task"))
# A 2.0 job carried its one task's compute, libraries and retry policy at the top level; in 2.1 they
# belong to the task. Fields that exist at both levels with their own meaning (email_notifications,
# webhook_notifications, health) stay on the job.
LEGACY_TASK_FIELDS = TASK_TYPE_FIELDS | {
    "new_cluster",
    "existing_cluster_id",
    "libraries",
    "max_retries",
    "min_retry_interval_millis",
    "retry_on_timeout",
    "timeout_seconds",
}


def is_job_mapping(value: Any) -> bool:
    """A mapping that is a job: it has ``tasks`` or, for a 2.0 job, a top-level task type field."""
    return isinstance(value, dict) and (isinstance(value.get("tasks"), list) or bool(TASK_TYPE_FIELDS & value.keys()))


def is_legacy(job: dict[str, Any]) -> bool:
    """A 2.0 single-task job: no ``tasks`` and a task type field at the top level."""
    return "tasks" not in job and bool(TASK_TYPE_FIELDS & job.keys())


def legacy_task_key(name: Any) -> str:
    """A task key (``^[\\w-]+$``, at most 100 characters) derived from the job name; ``main`` without one."""
    key = re.sub(r"[^\w-]+", "_", str(name or "")).strip("_-")[:100]
    return key or "main"


def from_legacy(job: dict[str, Any], origin: str) -> tuple[dict[str, Any], list[Finding]]:
    """Rewrite a 2.0 single-task job as a 2.1 job with one task; findings use the 2.0 field paths.

    Task fields move into ``tasks[0]`` (keyed by :func:`legacy_task_key` of ``name``); all other fields
    stay at job level. Unknown top-level fields stay on the job and are reported.
    """
    job_level = {k: v for k, v in job.items() if k not in LEGACY_TASK_FIELDS}
    task = {"task_key": legacy_task_key(job.get("name"))}
    task.update({k: v for k, v in job.items() if k in LEGACY_TASK_FIELDS})
    task_hints = {k: v for k, v in job.items() if k in LEGACY_TASK_FIELDS}
    findings = check_fields(job_level, JOB_SETTINGS, origin)
    findings += check_fields(task_hints, TASK, origin)
    settings = {**job_level, "tasks": [task]}
    return settings, findings


def _drop_dbx_only(job: dict[str, Any], origin: str) -> tuple[dict[str, Any], list[Finding]]:
    findings: list[Finding] = []

    def strip(mapping: dict[str, Any], path: str) -> dict[str, Any]:
        kept = {}
        for key, value in mapping.items():
            if key in DBX_ONLY:
                findings.append((join_path(path, key), "dbx-only setting dropped (not part of the Jobs API)"))
            else:
                kept[key] = value
        return kept

    job = strip(job, origin)
    if isinstance(job.get("tasks"), list):
        job["tasks"] = [
            strip(t, join_path(join_path(origin, "tasks"), i)) if isinstance(t, dict) else t
            for i, t in enumerate(job["tasks"])
        ]
    return job, findings


def job_settings(job: dict[str, Any], origin: str) -> tuple[dict[str, Any], list[Finding]]:
    """``JobSettings`` of one job mapping (legacy or multi-task), with unknown-field findings."""
    if is_legacy(job):
        return from_legacy(job, origin)
    return dict(job), check_fields(job, JOB_SETTINGS, origin)


def _response_jobs(response: dict[str, Any], origin: str) -> tuple[JobSource, list[Finding]]:
    settings_path = join_path(origin, "settings")
    findings = [
        (join_path(origin, k), "not a jobs/get response field; dropped")
        for k in response
        if k != "settings" and k not in RESPONSE_ONLY
    ]
    settings, more = job_settings(response["settings"], settings_path)
    return JobSource(settings, settings_path), findings + more


def dbx_environments(doc: dict[str, Any]) -> dict[str, list[Any]] | None:
    """``{env: [job, ...]}`` when ``doc`` is a dbx deployment file, else ``None``.

    ``deployment.json`` keeps environments at the top level, ``deployment.yml`` under ``environments``;
    each environment lists jobs under ``jobs`` (dbx < 0.8) or ``workflows``.
    """
    envs: dict[str, Any] = doc["environments"] if isinstance(doc.get("environments"), dict) else doc
    found: dict[str, list[Any]] = {}
    for env, body in envs.items():
        if isinstance(body, dict):
            for list_key in ("workflows", "jobs"):
                if isinstance(body.get(list_key), list):
                    found[str(env)] = body[list_key]
    return found or None


def _dbx_jobs(
    doc: dict[str, Any], envs: dict[str, list[Any]], target: str | None
) -> tuple[list[JobSource], list[Finding]]:
    if target is not None:
        if target not in envs:
            raise ConversionError(f"dbx environment {target!r} not found (have: {', '.join(envs)})")
        env = target
    elif "default" in envs:
        env = "default"
    elif len(envs) == 1:
        (env,) = envs
    else:
        raise ConversionError(f"several dbx environments ({', '.join(envs)}); name one with --target")
    body = doc["environments"][env] if isinstance(doc.get("environments"), dict) else doc[env]
    list_key = "workflows" if isinstance(body.get("workflows"), list) else "jobs"
    base = join_path(join_path("environments", env) if "environments" in doc else env, list_key)
    sources: list[JobSource] = []
    findings: list[Finding] = []
    for i, job in enumerate(envs[env]):
        origin = join_path(base, i)
        if not is_job_mapping(job):
            findings.append((origin, "not a job (no tasks and no task type field); skipped"))
            continue
        job, dropped = _drop_dbx_only(job, origin)
        settings, more = job_settings(job, origin)
        sources.append(JobSource(settings, origin))
        findings += dropped + more
    return sources, findings


def api_jobs(doc: Any, target: str | None) -> tuple[list[JobSource], list[Finding]] | None:
    """Jobs of a Jobs API shaped document, or ``None`` when ``doc`` is not one of these forms.

    Raises :class:`ConversionError` when a dbx file has several environments and none can be chosen.
    """
    if not isinstance(doc, dict):
        return None
    if is_job_mapping(doc):
        settings, findings = job_settings(doc, "")
        return [JobSource(settings, "")], findings
    if isinstance(doc.get("settings"), dict):
        source, findings = _response_jobs(doc, "")
        return [source], findings
    if isinstance(doc.get("jobs"), list) and all(isinstance(j, dict) and "settings" in j for j in doc["jobs"]):
        sources, findings = [], []
        for i, response in enumerate(doc["jobs"]):
            source, more = _response_jobs(response, join_path("jobs", i))
            sources.append(source)
            findings += more
        return sources, findings
    envs = dbx_environments(doc)
    if envs is not None:
        return _dbx_jobs(doc, envs, target)
    return None
