"""The ``dbjobs-testkit`` command: the test ground a developer or a new user runs locally.

Not part of the product (the ``dbjobs`` command, the wheel and the image hold the controller alone).

* ``dbjobs-testkit emulator``      serve the Databricks Jobs API emulator on loopback. The bearer token
  clients must send is read from ``--token-file`` or the ``DBJOBS_EMULATOR_TOKEN`` environment
  variable, never from the command line (a command line is visible to every user in ``ps``).
* ``dbjobs-testkit controlplane``  a local kube-apiserver + etcd (RBAC on) until Ctrl-C; prints the
  admin kubeconfig path.
* ``dbjobs-testkit demo``          the end-to-end demo (local control plane + emulator + controller).
* ``dbjobs-testkit demo-argocd``   the same story through the real Argo CD: commits to a local Git repository,
  Argo CD syncing them, our health check in its dashboard's terms.

Usage errors exit 2 (argparse convention).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

TOKEN_ENV = "DBJOBS_EMULATOR_TOKEN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbjobs-testkit", description="The dbjobs test ground: Jobs API emulator, local control plane, demo."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    emu = sub.add_parser("emulator", help="serve the Databricks Jobs API emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8765)
    emu.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help=f"file holding the bearer token clients must send (default: the {TOKEN_ENV} environment variable)",
    )
    emu.add_argument("--state-file", default=None, help="persist the workspace to this JSON file")

    cp = sub.add_parser("controlplane", help="run a local kube-apiserver + etcd until Ctrl-C")
    cp.add_argument("--workdir", type=Path, default=None, help="keep data, logs and kubeconfigs here")

    demo = sub.add_parser("demo", help="run the end-to-end demo on a local control plane")
    demo.add_argument(
        "--corpus", default=None, help="directory of real job definitions (default: ../shared/corpus/jobs)"
    )
    sub.add_parser("demo-argocd", help="the Git -> Argo CD -> Databricks loop on real Argo CD v3.6.1 (make argocd)")
    return parser


def read_token(token_file: Path | None) -> str:
    """The emulator's token from ``token_file`` (stripped) or ``$DBJOBS_EMULATOR_TOKEN``.

    Raises ``ValueError`` naming both sources when neither gives a non-empty token.
    """
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as err:
            raise ValueError(f"cannot read --token-file {token_file}: {err.strerror or err}") from err
        if not token:
            raise ValueError(f"--token-file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ValueError(f"no token: pass --token-file FILE or set {TOKEN_ENV}")
    return token


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the chosen subcommand; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from dbjobs_testkit.emulator.server import serve_forever

        try:
            token = read_token(args.token_file)
        except ValueError as err:
            print(f"dbjobs-testkit emulator: {err}", file=sys.stderr)
            return 2
        return serve_forever(host=args.host, port=args.port, token=token, state_file=args.state_file)
    if args.command == "controlplane":
        from dbjobs_testkit.controlplane import main as controlplane_main

        return controlplane_main(["--serve", *(["--workdir", str(args.workdir)] if args.workdir else [])])
    if args.command == "demo":
        from dbjobs_testkit.demo import run_demo

        return run_demo(corpus=args.corpus)
    if args.command == "demo-argocd":
        from dbjobs_testkit.demo_argocd import run_demo_argocd

        return run_demo_argocd()
    print(f"unknown command {args.command}", file=sys.stderr)
    return 2
