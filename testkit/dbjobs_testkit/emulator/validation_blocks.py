"""Validation of the job-level blocks with their own syntax (spec §4.4): the Quartz cron schedule
and its Java time zone, ``git_source``, webhook destinations, ``parameters``, ``trigger.periodic``
and ``depends_on.outcome``. Called from :func:`validation.check_fields`; every failure is 400
``INVALID_PARAMETER_VALUE`` starting with the field path (the real texts are not public, §10).

Cron syntax is checked by the ``quartz-cron-checker`` package (6-7 fields, seconds first, ``?``
in exactly one of day-of-month / day-of-week, ``L``, ``W``, ``#``, names), time zones by
``zoneinfo`` (the IANA ids that Java's ``ZoneId`` accepts, plus ``UTC``/``GMT``).
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from quartz_cron_checker import QuartzCronChecker

from dbjobs_testkit.emulator.errors import invalid

Settings = dict[str, Any]

#: ``git_provider`` values, compared case-insensitively (§4.4, [docs OpenAPI; fake]).
GIT_PROVIDERS = frozenset(
    {
        "github",
        "bitbucketcloud",
        "azuredevopsservices",
        "githubenterprise",
        "bitbucketserver",
        "gitlab",
        "gitlabenterpriseedition",
        "awscodecommit",
    }
)
GIT_REFS = ("git_branch", "git_tag", "git_commit")
GIT_LIMITS = {"git_url": 300, "git_branch": 255, "git_tag": 255, "git_commit": 64}
MAX_WEBHOOKS_PER_EVENT = 3
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_\-.]+$")
PERIODIC_UNITS = frozenset({"HOURS", "DAYS", "WEEKS"})
CONDITION_OUTCOMES = frozenset({"true", "false"})


def check_blocks(settings: Settings) -> None:
    """All the checks of this module on one JobSettings (or partial update) object."""
    _check_schedule(settings.get("schedule"))
    _check_git_source(settings.get("git_source"))
    _check_webhooks(settings.get("webhook_notifications"), "webhook_notifications")
    _check_parameters(settings.get("parameters"))
    _check_periodic(settings.get("trigger"))
    for i, task in enumerate(settings.get("tasks") or []):
        if isinstance(task, dict):
            _check_webhooks(task.get("webhook_notifications"), f"tasks[{i}].webhook_notifications")
            _check_outcomes(task, f"tasks[{i}]")


def check_quartz_cron(expression: str) -> str | None:
    """Why ``expression`` is not valid Quartz cron, or None when it is."""
    try:
        QuartzCronChecker.from_cron_string(expression.strip()).validate()
    except Exception as exc:  # the checker raises its own hierarchy (and ValueError for odd input)
        return str(exc) or type(exc).__name__
    return None


def _check_schedule(schedule: Any) -> None:
    if not isinstance(schedule, dict):
        return
    cron = schedule.get("quartz_cron_expression")
    if isinstance(cron, str) and cron.strip():
        reason = check_quartz_cron(cron)
        if reason:
            raise invalid(f"schedule.quartz_cron_expression: invalid Quartz cron expression {cron!r}: {reason}")
    tz = schedule.get("timezone_id")
    if isinstance(tz, str) and tz.strip() and not _known_zone(tz):
        raise invalid(f"schedule.timezone_id: unknown time zone {tz!r} (expected a Java time zone id).")


def _known_zone(tz: str) -> bool:
    if tz in ("UTC", "GMT", "Z"):
        return True
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_git_source(git: Any) -> None:
    if git is None:
        return
    if not isinstance(git, dict):
        raise invalid("git_source: must be an object.")
    url = git.get("git_url")
    if not isinstance(url, str) or not url:
        raise invalid("git_source.git_url: is required.")
    provider = git.get("git_provider")
    if not isinstance(provider, str) or provider.casefold() not in GIT_PROVIDERS:
        raise invalid(f"git_source.git_provider must be one of: {','.join(sorted(GIT_PROVIDERS))}")
    refs = [r for r in GIT_REFS if git.get(r)]
    if len(refs) > 1:
        raise invalid(f"git_source: only one of git_branch, git_tag or git_commit can be set (got {refs}).")
    for field, limit in GIT_LIMITS.items():
        value = git.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise invalid(f"git_source.{field}: must be a string of at most {limit} characters.")


def _check_webhooks(block: Any, path: str) -> None:
    if block is None:
        return
    if not isinstance(block, dict):
        raise invalid(f"{path}: must be an object.")
    for event, destinations in block.items():
        if not isinstance(destinations, list):
            raise invalid(f"{path}.{event}: must be an array.")
        if len(destinations) > MAX_WEBHOOKS_PER_EVENT:
            raise invalid(
                f"{path}.{event}: at most {MAX_WEBHOOKS_PER_EVENT} destinations per event, got {len(destinations)}."
            )
        for j, dest in enumerate(destinations):
            if not isinstance(dest, dict) or not isinstance(dest.get("id"), str):
                raise invalid(f"{path}.{event}[{j}].id: is required.")


def _check_parameters(params: Any) -> None:
    if params is None:
        return
    if not isinstance(params, list):
        raise invalid("parameters: must be an array.")
    seen: set[str] = set()
    for i, param in enumerate(params):
        name = param.get("name") if isinstance(param, dict) else None
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            raise invalid(f"parameters[{i}].name: must consist of letters, digits, '_', '-' and '.' (got {name!r}).")
        if name in seen:
            raise invalid(f"parameters[{i}].name: duplicate parameter name '{name}'.")
        seen.add(name)
        if "default" not in param:
            raise invalid(f"parameters[{i}].default: is required.")


def _check_periodic(trigger: Any) -> None:
    periodic = trigger.get("periodic") if isinstance(trigger, dict) else None
    if periodic is None:
        return
    interval, unit = periodic.get("interval"), periodic.get("unit")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise invalid(f"trigger.periodic.interval: must be an integer of at least 1 (got {interval!r}).")
    if unit not in PERIODIC_UNITS:
        raise invalid(f"trigger.periodic.unit: must be one of HOURS, DAYS, WEEKS (got {unit!r}).")


def _check_outcomes(task: Settings, path: str) -> None:
    for j, dep in enumerate(task.get("depends_on") or []):
        if isinstance(dep, dict) and dep.get("outcome") is not None and dep["outcome"] not in CONDITION_OUTCOMES:
            raise invalid(f"{path}.depends_on[{j}].outcome: must be 'true' or 'false' (got {dep['outcome']!r}).")
