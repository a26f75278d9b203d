"""The ``dbjobs`` command line.

Subcommands (each module is imported only when its subcommand runs, so ``dbjobs convert``
does not pay for kopf and the Kubernetes client):

* ``dbjobs run``       run the operator (kopf) against the cluster in KUBECONFIG / in-cluster config.
* ``dbjobs convert``   turn job definitions as people keep them into DatabricksJob manifests.
* ``dbjobs diff``      compare desired settings with a live job, as the controller does (exit 0/1/2).
* ``dbjobs export``    write manifests that adopt a workspace's jobs, to files or a new Git branch.
* ``dbjobs plan``      what merging a Git revision would do to the workspace, for a pull request (exit 0/1/2).
* ``dbjobs uninstall`` release (``--jobs keep``) or delete (``--jobs delete``) every DatabricksJob before
  dbjobs is removed, so deleting the CRDs never hangs on finalizers.

The emulator, the local control plane and the demo are the test ground's (``dbjobs-testkit``), not
the product's.

Exit codes follow the subcommand; usage errors exit 2 (argparse convention). An unexpected exception in
``convert``, ``diff``, ``export`` or ``plan`` is a bug: it is reported in one line (``dbjobs <cmd>: internal
error: <type>: <message> (a bug; please report)``) and exits 2, never 1 (which means "changes" to CI); the
traceback is printed too with ``dbjobs --debug`` or ``DBJOBS_LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from controller.gitops import cli_args as gitops_args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbjobs",
        description="GitOps controller for Databricks jobs: run the operator, convert job definitions into "
        "DatabricksJob manifests, diff desired settings against a live job, prepare an uninstall.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error (also DBJOBS_LOG_LEVEL=DEBUG)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="watch only this namespace (repeatable; adds to DBJOBS_WATCH_NAMESPACES); default: all namespaces",
    )
    run.add_argument("--verbose", action="store_true", help="log at DEBUG (default: DBJOBS_LOG_LEVEL or INFO)")
    run.add_argument(
        "--liveness",
        default=None,
        help="health endpoint URL, e.g. http://0.0.0.0:8080/healthz (default: from DBJOBS_HEALTH_PORT)",
    )

    uninst = sub.add_parser(
        "uninstall", help="release or delete every DatabricksJob so dbjobs can be removed (the chart's hook)"
    )
    uninst.add_argument(
        "--jobs",
        choices=["keep", "delete"],
        required=True,
        help="keep: Databricks jobs stay, finalizers are released; delete: every DatabricksJob and its job go",
    )
    uninst.add_argument("--namespace", "-n", action="append", default=[], help="only this namespace (repeatable)")
    uninst.add_argument(
        "--deployment", default=None, help="NAMESPACE/NAME of the controller Deployment to scale to 0 first (keep)"
    )
    uninst.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")

    conv = sub.add_parser("convert", help="convert job definitions into DatabricksJob manifests")
    conv.add_argument("files", nargs="+", help="Jobs API JSON, jobs/get responses, legacy 2.0 jobs, bundle YAML")
    gitops_args.convert_arguments(conv)

    exp = sub.add_parser("export", help="write DatabricksJob manifests that adopt a workspace's jobs")
    gitops_args.export_arguments(exp)

    plan = sub.add_parser("plan", help="what merging a Git revision would do to the workspace (exit 0/1/2)")
    gitops_args.plan_arguments(plan)

    diff = sub.add_parser("diff", help="show where a live job differs from the desired settings")
    diff.add_argument("desired", help="JobSettings or a DatabricksJob manifest (JSON or YAML)")
    diff.add_argument("live", help="JobSettings or a jobs/get response (JSON or YAML)")
    diff.add_argument("--output", "-o", choices=["text", "json"], default="text")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the chosen subcommand; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        try:
            # Importing the settings module reads the environment (its CONFIG): a bad value raises here.
            from controller.operator.config import ControllerConfig

            ControllerConfig.from_env()
        except ValueError as err:  # ConfigError
            print(f"dbjobs run: {err}", file=sys.stderr)
            return 2
        from controller.handlers import run_operator

        return run_operator(namespaces=args.namespace, verbose=args.verbose, liveness=args.liveness)
    if args.command == "uninstall":
        from controller.operator.uninstall import uninstall

        return uninstall(jobs=args.jobs, namespaces=args.namespace, deployment=args.deployment, timeout_s=args.timeout)
    if args.command in GITOPS_COMMANDS:
        return guarded(args, GITOPS_COMMANDS[args.command])
    print(f"unknown command {args.command}", file=sys.stderr)
    return 2


def _convert(args: Any) -> int:
    from controller.gitops.convert_cli import run

    return run(args)


def _export(args: Any) -> int:
    if args.branch and not args.commit:
        print("dbjobs export: --branch needs --commit (the commit is made on the new branch)", file=sys.stderr)
        return 2
    from controller.gitops.export_cli import export_main

    return export_main(args)


def _plan(args: Any) -> int:
    from controller.gitops.plan_cli import plan_main

    return plan_main(args)


def _diff(args: Any) -> int:
    from controller.gitops.diff import diff_main

    return diff_main(args.desired, args.live, output=args.output)


GITOPS_COMMANDS: dict[str, Callable[[Any], int]] = {
    "convert": _convert,
    "export": _export,
    "plan": _plan,
    "diff": _diff,
}


def guarded(args: Any, command: Callable[[Any], int]) -> int:
    """Run ``command(args)``; an unexpected exception is reported in one line and exits 2 (see the module doc).

    ``dbjobs plan -o markdown`` also writes the error as Markdown to stdout, so a pull-request comment made of
    stdout says why there is no plan.
    """
    try:
        return command(args)
    except Exception as exc:  # a bug: say so in one line, exit 2 (never 1, which means "changes")
        message = (
            f"dbjobs {args.command}: internal error: {type(exc).__name__}: {_first_line(exc)} (a bug; please report)"
        )
        if getattr(args, "debug", False) or os.environ.get("DBJOBS_LOG_LEVEL", "").upper() == "DEBUG":
            traceback.print_exc(file=sys.stderr)
        print(message, file=sys.stderr)
        if args.command == "plan" and getattr(args, "output", "") == "markdown":
            from controller.gitops.plan_render import markdown_error

            sys.stdout.write(markdown_error(message))
        return 2


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:500] if lines else "(no message)"
