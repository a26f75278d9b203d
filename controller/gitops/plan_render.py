"""The three forms of a plan: text for people, Markdown for a pull-request comment, JSON for tools.

JSON shape (stable; ``null`` never written, absent instead)::

    {"compared": str, "exitCode": 0|1|2, "summary": {"create": n, "adopt": n, "update": n, "delete": n,
     "no-op": n, "invalid": n}, "errors": [str],
     "items": [{"action", "key", "source", "jobName", "jobId"?, "against"?, "deletionPolicy"?,
                "changes": [{"path", "desired"?, "live"?}], "specChanges": [str], "problems": [str],
                "dependsOn": [{"name", "jobId"?, "note"?}]}]}

In ``changes`` ``desired`` is the manifest's value and ``live`` the value it is compared with (the job in the
workspace, the resource in the cluster, or the base revision's manifest); a side without the path has no key.
``dependsOn`` lists the DatabricksJobs the manifest references (``${resources.jobs.<name>.id}``) with the job id each
resolves to, or a note on why it does not yet (text and Markdown: a ``depends on:`` line under the job).
"""

from __future__ import annotations

import json
from typing import Any

from controller.gitops.plan import Action, Plan, PlanItem
from controller.reconcile.drift import ABSENT

SYMBOL = {
    Action.CREATE: "+",
    Action.ADOPT: ">",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.NOOP: "=",
    Action.INVALID: "!",
}
ORDER = (Action.INVALID, Action.CREATE, Action.ADOPT, Action.UPDATE, Action.DELETE, Action.NOOP)
MAX_VALUE = 120


def _value(value: Any) -> str:
    text = "(absent)" if value is ABSENT else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def summary(plan: Plan) -> str:
    """``2 to create, 1 to update, …`` (only the actions present), or ``nothing to do``."""
    words = {
        Action.CREATE: "to create",
        Action.ADOPT: "to adopt",
        Action.UPDATE: "to update",
        Action.DELETE: "to delete",
        Action.NOOP: "unchanged",
        Action.INVALID: "invalid",
    }
    parts = [f"{plan.count(a)} {words[a]}" for a in ORDER if plan.count(a)]
    return ", ".join(parts) if parts else "no DatabricksJob manifests"


def _headline(item: PlanItem) -> str:
    job = f"job {item.job_id} " if item.job_id is not None else ""
    name = f'"{item.job_name}"' if item.job_name else ""
    if item.action is Action.DELETE:
        fate = "left in the workspace" if item.deletion_policy == "Orphan" else "deleted in Databricks"
        return f"{job}{name}: {fate} (deletionPolicy {item.deletion_policy})"
    if item.action is Action.ADOPT and not item.against:
        return f"{job}{name}: adopted as it is (give --against workspace to see what the manifest changes on it)"
    if item.action in (Action.UPDATE, Action.ADOPT):
        count = len(item.drift.items) + len(item.spec_changes)
        return f"{job}{name}: {count} change(s) against {item.against or 'nothing'}"
    return f"{job}{name} ({item.source})".strip()


def _details(item: PlanItem) -> list[str]:
    lines = [f"depends on: {', '.join(str(d) for d in item.depends_on)}"] if item.depends_on else []
    lines += [f"{c.path}: {_value(c.live)} -> {_value(c.desired)}" for c in item.drift.items]
    return lines + list(item.spec_changes) + list(item.problems)


def render_text(plan: Plan) -> str:
    """The human form: a summary line, then one line per job that changes (details indented), no-ops last."""
    lines = [f"dbjobs plan ({plan.compared}): {summary(plan)}"]
    lines += [f"error: {e}" for e in plan.errors]
    for action in ORDER:
        items = [i for i in plan.items if i.action is action]
        if action is Action.NOOP:
            if items:
                lines.append(f"= unchanged: {', '.join(i.key for i in items)}")
            continue
        for item in items:
            lines.append(f"{SYMBOL[action]} {action.value:<8} {item.key}  {_headline(item)}")
            lines += [f"      {d}" for d in _details(item)]
    return "\n".join(lines) + "\n"


def render_markdown(plan: Plan) -> str:
    """A pull-request comment: summary, a table of the jobs that change, the details folded per job."""
    lines = [f"### dbjobs plan: {summary(plan)}", "", f"Compared: {plan.compared}", ""]
    lines += [f"> **error:** {e}" for e in plan.errors]
    changing = [i for a in ORDER if a is not Action.NOOP for i in plan.items if i.action is a]
    if changing:
        lines += ["| | action | DatabricksJob | what happens |", "|---|---|---|---|"]
        for item in changing:
            lines.append(f"| {SYMBOL[item.action]} | {item.action.value} | `{item.key}` | {_headline(item)} |")
        lines.append("")
    for item in changing:
        details = _details(item)
        if details:
            lines += [f"<details><summary>{item.action.value} <code>{item.key}</code></summary>", "", "```"]
            lines += [*details, "```", "", "</details>", ""]
    unchanged = [i.key for i in plan.items if i.action is Action.NOOP]
    if unchanged:
        lines.append(f"Unchanged: {', '.join(f'`{k}`' for k in unchanged)}")
    return "\n".join(lines).rstrip() + "\n"


def _item_json(item: PlanItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": item.action.value,
        "key": item.key,
        "source": item.source,
        "jobName": item.job_name,
    }
    if item.job_id is not None:
        out["jobId"] = item.job_id
    if item.against:
        out["against"] = item.against
    if item.deletion_policy:
        out["deletionPolicy"] = item.deletion_policy
    changes = []
    for change in item.drift.items:
        entry: dict[str, Any] = {"path": change.path}
        if change.desired is not ABSENT:
            entry["desired"] = change.desired
        if change.live is not ABSENT:
            entry["live"] = change.live
        changes.append(entry)
    out.update(changes=changes, specChanges=list(item.spec_changes), problems=list(item.problems))
    out["dependsOn"] = [
        {"name": d.name, **({"jobId": d.job_id} if d.job_id is not None else {"note": d.note})} for d in item.depends_on
    ]
    return out


def render_json(plan: Plan) -> str:
    """The machine form (see the module doc)."""
    doc = {
        "compared": plan.compared,
        "exitCode": plan.exit_code,
        "summary": {a.value: plan.count(a) for a in ORDER},
        "errors": plan.errors,
        "items": [_item_json(i) for i in plan.items],
    }
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
