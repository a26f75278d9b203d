"""The ``dbjobs plan`` command: read, compare, render, exit 0 (nothing to do) / 1 (changes) / 2 (errors).

The revision's manifests come from ``--repo``/``--rev`` (``--path`` a folder or file inside the repository),
or from FILES on disk. They are compared with the base revision (``--base``), the cluster
(``--against cluster``) and/or the workspace (``--against workspace``); at least one is needed. Output goes
to stdout as text, Markdown or JSON (``--output``); what could not be read goes to stderr too. With
``-o markdown`` an error that stops the plan (exit 2) is also written to stdout as a Markdown block, so a
pull-request comment made of stdout says why; Markdown is kept under ``--max-chars``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from controller.gitops.gitcommit import GitError
from controller.gitops.manifests import ManifestSet, on_disk
from controller.gitops.plan import EXIT_ERRORS, Live, build_plan
from controller.gitops.plan_render import RENDERERS, markdown_error, render_markdown
from controller.gitops.plan_sources import (
    base_revision,
    cluster_objects,
    deletion_budgets,
    revisions,
    workspace_jobs,
)

PREFIX = "dbjobs plan:"


def _read_revisions(args: Any) -> tuple[ManifestSet, ManifestSet | None, str]:
    namespace = args.namespace or "default"
    if args.files:
        desired = on_disk(args.files, namespace)
        if args.base is None:
            return desired, None, "files"
        base, where = base_revision(args.repo, args.base, args.path or "", namespace)
        return desired, base, f"{where}...files"
    return revisions(args.repo, args.rev, args.base, args.path or "", namespace)


def _live(args: Any, desired: ManifestSet, described: list[str]) -> Live:
    against = set(args.against or [])
    namespaces = frozenset(
        [*(m.namespace for m in desired.manifests.values()), *([args.namespace] if args.namespace else [])]
    )
    cluster, budgets = None, None
    if "cluster" in against:
        cluster = cluster_objects(namespaces, args.kubeconfig, args.context)
        budgets = deletion_budgets(namespaces, args.kubeconfig, args.context)
        described.append(
            f"cluster ({len(cluster)} DatabricksJobs in {', '.join(sorted(namespaces)) or 'all namespaces'})"
        )
    jobs = None
    if "workspace" in against:
        jobs, host = workspace_jobs(args.profile)
        described.append(f"workspace {host} ({len(jobs)} jobs)")
    cluster_name = args.cluster_name if args.cluster_name is not None else os.environ.get("DBJOBS_CLUSTER_NAME", "")
    return Live(cluster, jobs, cluster_name, namespaces, budgets)


def plan_main(args: Any, out: TextIO | None = None) -> int:
    """Run ``dbjobs plan`` from parsed arguments (:func:`controller.gitops.cli_args.plan_arguments`)."""
    out = out or sys.stdout
    if not args.base and not args.against:
        return _stop(args, out, "nothing to compare with: give --base REV and/or --against cluster|workspace")
    try:
        desired, base, revision = _read_revisions(args)
        described = [revision]
        live = _live(args, desired, described)
    except GitError as exc:
        return _stop(args, out, str(exc))
    except Exception as exc:  # kubeconfig, Kubernetes API, databricks-sdk configuration or API: report, exit 2
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _stop(args, out, f"cannot read what to compare with: {first}")
    plan = build_plan(desired, base, live, "; ".join(described))
    max_chars = getattr(args, "max_chars", None)
    if args.output == "markdown" and max_chars is not None:
        out.write(render_markdown(plan, max_chars))
    else:
        out.write(RENDERERS[args.output](plan))
    for error in plan.errors:
        print(f"{PREFIX} {error}", file=sys.stderr)
    return plan.exit_code


def _stop(args: Any, out: TextIO, message: str) -> int:
    """Report ``message`` on stderr (and, for ``-o markdown``, as Markdown on ``out``); exit 2."""
    print(f"{PREFIX} {message}", file=sys.stderr)
    if args.output == "markdown":
        out.write(markdown_error(f"{PREFIX} {message}"))
    return EXIT_ERRORS
