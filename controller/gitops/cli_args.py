"""Command-line arguments of the Git-side commands (``convert``, ``plan``, ``export``).

Kept free of heavy imports: ``controller.cli`` builds its parser from these functions for every command,
and only the chosen command's module is imported to run it.
"""

from __future__ import annotations

import argparse


def convert_arguments(conv: argparse.ArgumentParser) -> None:
    """The options of ``dbjobs convert`` besides its files."""
    conv.add_argument(
        "--output-dir", "-o", default=None, help="write one manifest per job into this directory (default: stdout)"
    )
    conv.add_argument("--force", action="store_true", help="with -o: replace files that exist with other content")
    conv.add_argument("--quiet", "-q", action="store_true", help="print no warnings (errors and refusals still)")
    conv.add_argument("--namespace", default=None, help="metadata.namespace of the manifests")
    conv.add_argument("--workspace-ref", default="default", help="spec.workspaceRef.name (default: default)")
    conv.add_argument("--target", "-t", default=None, help="bundle target (or dbx environment) whose overrides apply")
    conv.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="a bundle variable's value (repeatable)"
    )
    conv.add_argument(
        "--current-user",
        default=None,
        help="the deploying identity (user name or SP application id) for ~ and dev mode",
    )
    conv.add_argument("--git-url", default=None, help="run relative code paths from this Git repository")
    conv.add_argument("--git-ref", default=None, help="branch, tag or commit of --git-url")
    conv.add_argument("--git-provider", default=None, help="git_provider when the URL's host does not tell")
    conv.add_argument("--git-path", default=None, help="the bundle root's folder inside the repository")


def export_arguments(exp: argparse.ArgumentParser) -> None:
    """The options of ``dbjobs export``."""
    pick = exp.add_argument_group("which jobs (kinds combine with AND; none given: every job)")
    pick.add_argument("--name", action="append", default=[], help="job name pattern, shell glob (repeatable)")
    pick.add_argument("--tag", action="append", default=[], metavar="KEY[=VALUE]", help="job tag (repeatable)")
    pick.add_argument("--job-id", action="append", default=[], type=int, help="job id (repeatable)")
    exp.add_argument("--profile", default=None, help="~/.databrickscfg profile (default: the SDK's own choice)")
    exp.add_argument("--to", default=None, help="directory of the manifests (with --branch: inside --repo)")
    exp.add_argument("--repo", default=".", help="the Git repository for --branch (default: .)")
    exp.add_argument("--branch", default=None, help="commit on this new branch instead of writing files")
    exp.add_argument("--commit", action="store_true", help="with --branch: make the commit (required)")
    exp.add_argument("--base", default="HEAD", help="with --branch: the commit the branch starts from")
    exp.add_argument("--namespace", default=None, help="metadata.namespace of the manifests")
    exp.add_argument("--workspace-ref", default="default", help="spec.workspaceRef.name (default: default)")
    exp.add_argument("--drift-policy", default="Report", choices=["Report", "Correct"])
    exp.add_argument("--deletion-policy", default="Orphan", choices=["Orphan", "Delete"])


def plan_arguments(plan: argparse.ArgumentParser) -> None:
    """The options of ``dbjobs plan``."""
    plan.add_argument("files", nargs="*", help="manifest files or folders (default: read --rev from --repo)")
    plan.add_argument("--repo", default=".", help="the Git repository (default: .)")
    plan.add_argument("--rev", default="HEAD", help="the revision to plan (default: HEAD)")
    plan.add_argument("--path", default=None, help="folder or file of the manifests inside the repository")
    plan.add_argument("--base", default=None, help="compare with this revision (what the pull request changes)")
    plan.add_argument(
        "--against", action="append", choices=["cluster", "workspace"], default=[], help="compare with what is live"
    )
    plan.add_argument(
        "--namespace", "-n", default=None, help="namespace of manifests that name none (default: default)"
    )
    plan.add_argument("--kubeconfig", default=None, help="kubeconfig for --against cluster (default: $KUBECONFIG)")
    plan.add_argument("--context", default=None, help="kubeconfig context for --against cluster")
    plan.add_argument("--profile", default=None, help="databricks-sdk profile for --against workspace")
    plan.add_argument(
        "--cluster-name", default=None, help="the controller's DBJOBS_CLUSTER_NAME (finds jobs by owner tag)"
    )
    plan.add_argument("--output", "-o", choices=["text", "markdown", "json"], default="text")
    plan.add_argument(
        "--max-chars",
        type=int,
        default=60_000,
        help="-o markdown: cut the output to this many characters, listing how many jobs are left out "
        "(GitHub comments hold 65,536; default 60000; 0: no limit)",
    )
