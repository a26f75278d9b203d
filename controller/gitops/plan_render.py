"""The three forms of a plan: text for people, Markdown for a pull-request comment, JSON for tools.

JSON shape (stable; ``null`` never written, absent instead)::

    {"compared": str, "exitCode": 0|1|2, "summary": {"create": n, "adopt": n, "update": n, "delete": n,
     "no-op": n, "invalid": n}, "errors": [str], "hints": [str], "deletionNote"?: str,
     "items": [{"action", "key", "source", "jobName", "jobId"?, "adoptName"?, "against"?, "deletionPolicy"?,
                "changes": [{"path", "desired"?, "live"?}], "specChanges": [str], "problems": [str],
                "dependsOn": [{"name", "jobId"?, "note"?}]}]}

In ``changes`` ``desired`` is the manifest's value and ``live`` the value it is compared with (the job in the
workspace, the resource in the cluster, or the base revision's manifest); a side without the path has no key.
``dependsOn`` lists the DatabricksJobs the manifest references (``${resources.jobs.<name>.id}``) with the job id each
resolves to, or a note on why it does not yet (text and Markdown: a ``depends on:`` line under the job).
"""

from __future__ import annotations

import json
import re
import sys
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
    if plan.deletion_note:
        parts = [f"{p} ({plan.deletion_note})" if p.endswith(words[Action.DELETE]) else p for p in parts]
    return ", ".join(parts) if parts else "no DatabricksJob manifests"


def _headline(item: PlanItem) -> str:
    job = f"job {item.job_id} " if item.job_id is not None else ""
    name = f'"{item.job_name}"' if item.job_name else ""
    if item.action is Action.DELETE:
        fate = "left in the workspace" if item.deletion_policy == "Orphan" else "deleted in Databricks"
        return f"{job}{name}: {fate} (deletionPolicy {item.deletion_policy})"
    if item.action is Action.ADOPT and item.job_id is None and item.adopt_name:
        job = f"the job named {json.dumps(item.adopt_name)} as "
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
    lines += [f"note: {h}" for h in plan.hints]
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


#: Characters that GitHub Markdown (tables, inline text, HTML) reads as syntax, and their HTML entities.
_MD_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "|": "&#124;",
    "`": "&#96;",
    "[": "&#91;",
    "]": "&#93;",
    "!": "&#33;",
    "*": "&#42;",
    "_": "&#95;",
    "~": "&#126;",
    "\\": "&#92;",
    "#": "&#35;",
    "\n": " ",
    "\r": " ",
}
_ZWJ = "\u200d"
#: Markdown over this many characters is cut (GitHub refuses comments over 65,536 characters).
MAX_MARKDOWN = 60_000


def md_escape(text: str) -> str:
    """``text`` safe in a GitHub Markdown table cell or paragraph: syntax characters as HTML entities, ``@`` (a
    mention) followed by a zero-width joiner, line breaks as spaces. https://github.github.com/gfm/"""
    return "".join(_MD_ENTITIES.get(c, c) for c in text).replace("@", "@" + _ZWJ)


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in ``lines`` (so no line can close it)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def markdown_error(message: str) -> str:
    """A Markdown block saying ``dbjobs plan`` could not run and why (for ``-o markdown`` on exit 2)."""
    fence = _fence([message])
    return f"### dbjobs plan: error\n\nNo plan was made:\n\n{fence}\n{message}\n{fence}\n"


def _row(item: PlanItem) -> str:
    key = md_escape(item.key)
    return f"| {SYMBOL[item.action]} | {item.action.value} | <code>{key}</code> | {md_escape(_headline(item))} |"


def _folded(item: PlanItem) -> list[str]:
    details = _details(item)
    if not details:
        return []
    fence = _fence(details)
    head = f"<details><summary>{item.action.value} <code>{md_escape(item.key)}</code></summary>"
    return [head, "", fence, *details, fence, "", "</details>", ""]


def render_markdown(plan: Plan, max_chars: int = MAX_MARKDOWN) -> str:
    """A pull-request comment: summary, a table of the jobs that change, the details folded per job.

    Job names and other text from the manifests are escaped (:func:`md_escape`). Output over ``max_chars``
    (0: no limit) keeps the summary and as many table rows and details as fit, then says how many jobs are
    left out and where to see them.
    """
    lines = [f"### dbjobs plan: {md_escape(summary(plan))}", "", f"Compared: {md_escape(plan.compared)}", ""]
    lines += [f"> **error:** {md_escape(e)}" for e in plan.errors]
    lines += [f"> **note:** {md_escape(h)}" for h in plan.hints]
    changing = [i for a in ORDER if a is not Action.NOOP for i in plan.items if i.action is a]
    unchanged = [i.key for i in plan.items if i.action is Action.NOOP]
    budget = (max_chars or sys.maxsize) - 400  # room for the closing note
    size = sum(len(line) + 1 for line in lines)
    shown: set[str] = set()
    table = ["| | action | DatabricksJob | what happens |", "|---|---|---|---|"] if changing else []
    for item in changing:
        row = _row(item)
        size += len(row) + 1
        if size > budget:
            break
        table.append(row)
        shown.add(item.key)
    lines += [*table, ""] if len(table) > 2 else []
    size = sum(len(line) + 1 for line in lines)
    for item in changing:
        block = _folded(item) if item.key in shown else []
        if size + sum(len(b) + 1 for b in block) > budget:
            shown.discard(item.key)
            continue
        lines += block
        size += sum(len(b) + 1 for b in block)
    left = len(changing) - len(shown)
    keys = f"Unchanged: {', '.join(f'<code>{md_escape(k)}</code>' for k in unchanged)}"
    if unchanged and size + len(keys) <= budget:
        lines.append(keys)
    else:
        left += len(unchanged)
    if left:
        lines += [
            "",
            f"… {left} more job(s) not shown in full here (the comment is limited to {max_chars} characters): "
            "see the job log or the JSON plan (`dbjobs plan -o json`).",
        ]
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
    if item.adopt_name:
        out["adoptName"] = item.adopt_name
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
        "hints": plan.hints,
        **({"deletionNote": plan.deletion_note} if plan.deletion_note else {}),
        "items": [_item_json(i) for i in plan.items],
    }
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
