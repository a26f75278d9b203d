"""The bundle target a conversion applies: which one, and what it sets besides resources.

Mirrors the Databricks CLI (https://docs.databricks.com/aws/en/dev-tools/bundles/settings#targets, databricks/cli
``bundle/config/root.go`` ``MergeTargetOverrides``):

* selection: the named ``--target``; else the only target; else the one marked ``default: true``; else none
  (reported); pre-GA files say ``environments`` instead of ``targets``;
* ``bundle``, ``workspace``, ``permissions`` and ``presets`` of the target merge into the top level
  (mappings key by key, sequences appended); ``run_as`` and ``mode`` replace the top-level value;
* ``variables``: a target sets a value (``name: value``), a ``default`` or a ``lookup``; ``--var name=value``
  wins over both, as ``databricks bundle deploy --var`` does;
* ``workspace`` paths: ``root_path`` defaults to ``~/.bundle/<bundle name>/<target>``; ``~`` is the deploying
  user's home folder (``/Workspace/Users/<user>``, known with ``--current-user``); ``file_path``,
  ``artifact_path``, ``state_path`` and ``resource_path`` default to ``root_path`` + ``/files``, ``/artifacts``,
  ``/state``, ``/resources`` (``default_workspace_root.go``, ``default_workspace_paths.go``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.gitops.bundle_merge import merge
from controller.gitops.conversion import ConversionError, Finding, join_path
from controller.gitops.interpolation import Scope


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else ``{}``: a malformed section reads as empty, not as a crash."""
    return value if isinstance(value, dict) else {}


@dataclass
class TargetContext:
    """What the selected target means for every job.

    ``name`` is the target (None when none is selected); ``path`` its field path (``targets.prod``);
    ``body`` its mapping; ``scope`` the values references resolve to; ``mode`` the target's ``mode``;
    ``presets`` the merged presets; ``run_as`` and ``permissions`` the bundle-wide values with the field path
    they come from (``(None, "")`` when unset).
    """

    name: str | None
    path: str
    body: dict[str, Any]
    scope: Scope
    mode: str | None = None
    presets: dict[str, Any] = field(default_factory=dict)
    run_as: tuple[Any, str] = (None, "")
    permissions: tuple[list[Any], str] = ([], "")
    findings: list[Finding] = field(default_factory=list)


def targets_of(doc: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[Finding]]:
    """``(section name, targets, findings)``: ``targets``, or the pre-GA ``environments``."""
    if isinstance(doc.get("targets"), dict):
        findings: list[Finding] = []
        if isinstance(doc.get("environments"), dict):
            findings.append(("environments", "both targets and pre-GA environments present; environments ignored"))
        return "targets", doc["targets"], findings
    return "environments", mapping(doc.get("environments")), []


def select_target(targets: dict[str, Any], named: str | None) -> tuple[str | None, list[Finding]]:
    """The target whose overrides apply (see module doc) and findings explaining a non-obvious choice.

    Raises :class:`ConversionError` when ``named`` is not among ``targets`` (a bundle with no targets, such as
    a lone ``resources/*.yml`` fragment, accepts any name)."""
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


def variables(
    doc: Mapping[str, Any], target_body: Mapping[str, Any], given: Mapping[str, Any]
) -> tuple[dict[str, Any], frozenset[str]]:
    """``(values, lookups)``: each declared variable's value (None when it has none) and those left to a lookup."""
    values: dict[str, Any] = {}
    lookups: set[str] = set()
    for name, decl in mapping(doc.get("variables")).items():
        if isinstance(decl, dict):
            values[str(name)] = decl.get("default")
            if decl.get("lookup") is not None and decl.get("default") is None:
                lookups.add(str(name))
        else:
            values[str(name)] = decl
    for name, value in mapping(target_body.get("variables")).items():
        if isinstance(value, dict) and ("default" in value or "lookup" in value):
            if value.get("lookup") is not None:
                lookups.add(str(name))
                values[str(name)] = None
                continue
            value = value.get("default")
        if value is not None:
            values[str(name)] = value
            lookups.discard(str(name))
    for name, value in given.items():
        values[str(name)] = value
        lookups.discard(str(name))
    return values, frozenset(lookups)


def short_user_name(user: str) -> str:
    """The CLI's short name of a user: the part before ``@``, lower-cased, other characters as single ``_``."""
    local = user.split("@", 1)[0].lower()
    return re.sub(r"_+", "_", re.sub(r"[^\w]|_", "_", local)).strip("_")


def workspace_fields(
    doc: Mapping[str, Any], body: Mapping[str, Any], bundle: Mapping[str, Any], user: str | None
) -> dict[str, Any]:
    """``${workspace.*}`` values: the merged ``workspace`` section with the CLI's default paths (module doc)."""
    ws = merge(mapping(doc.get("workspace")), mapping(body.get("workspace")))
    root = ws.get("root_path")
    if root is None and bundle.get("name") is not None and bundle.get("target") is not None:
        root = "~/.bundle/${bundle.name}/${bundle.target}"
    if isinstance(root, str) and root.startswith("~/"):
        root = f"/Workspace/Users/{user}/{root[2:]}" if user else None
    ws["root_path"] = root
    for name, leaf in (("file_path", "files"), ("artifact_path", "artifacts"), ("state_path", "state")):
        if ws.get(name) is None:
            ws[name] = f"{root}/{leaf}" if root is not None else None
    if ws.get("resource_path") is None:
        ws["resource_path"] = f"{root}/resources" if root is not None else None
    if user:
        ws["current_user"] = {"userName": user, "user_name": user, "short_name": short_user_name(user)}
    return dict(ws)


def development_presets(presets: dict[str, Any], user: str | None) -> dict[str, Any]:
    """The CLI's ``mode: development`` defaults on top of ``presets`` (``apply_target_mode.go``)."""
    short = short_user_name(user) if user else "${workspace.current_user.short_name}"
    out = dict(presets)
    if not out.get("name_prefix"):
        out["name_prefix"] = f"[dev {short}] "
    out["tags"] = {"dev": short, **mapping(out.get("tags"))}
    if not out.get("jobs_max_concurrent_runs"):
        out["jobs_max_concurrent_runs"] = 4
    if not out.get("trigger_pause_status"):
        out["trigger_pause_status"] = "PAUSED"
    return out


def target_context(
    doc: Mapping[str, Any], named: str | None, given: Mapping[str, Any], user: str | None
) -> TargetContext:
    """Select the target (module doc) and compute what it sets; raises :class:`ConversionError` for a bad name."""
    section, targets, findings = targets_of(doc)
    chosen, why = select_target(targets, named)
    findings += why
    body = mapping(targets.get(chosen)) if chosen is not None else {}
    path = join_path(section, str(chosen)) if chosen is not None else ""
    bundle = {k: v for k, v in merge(mapping(doc.get("bundle")), mapping(body.get("bundle"))).items()}
    if chosen is not None:
        bundle["target"] = chosen
    values, lookups = variables(doc, body, given)
    scope = Scope(values, bundle, workspace_fields(doc, body, bundle, user), lookups)
    mode = body.get("mode", mapping(doc.get("bundle")).get("mode"))
    presets = merge(mapping(doc.get("presets")), mapping(body.get("presets")))
    if mode == "development":
        presets = development_presets(presets, user)
    run_as = (body["run_as"], join_path(path, "run_as")) if "run_as" in body else (doc.get("run_as"), "run_as")
    permissions: list[Any] = [*(doc.get("permissions") or []), *(body.get("permissions") or [])]
    where = join_path(path, "permissions") if body.get("permissions") else "permissions"
    context = TargetContext(chosen, path, body, scope, mode, presets, run_as, (permissions, where), findings)
    if body.get("cluster_id") or mapping(doc.get("bundle")).get("cluster_id"):
        findings.append(
            (join_path(path, "cluster_id"), "cluster_id (compute override) is a deploy option; not applied")
        )
    return context
