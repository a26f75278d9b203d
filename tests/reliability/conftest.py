"""Fixtures of the reliability suite (issue 13): its own control plane (the suite restarts etcd and the apiserver,
deletes the CRD), its own emulator and its own controller process, reached through a relay that can black-hole
the controller's apiserver connections.

Every scenario runs twice over: a short form marked ``e2e`` (in ``make test``: a few kill points, each fault for
``SHORT_FAULT_S``) and the full form marked ``reliability`` (``make reliability``: at least 200 kill points, the
issue's fault durations). ``DBJOBS_RELIABILITY_SEED`` replays one kill point: see docs/reliability.md.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from faultkit import ALLOWED_HOSTS, WATCH_TIMEOUT_S, ApiRelay, make_namespace

from dbjobs_testkit.controlplane import ControlPlane, ControlPlaneError
from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import (
    ControllerProcess,
    Kubectl,
    MissingComponentError,
    install_crds_and_rbac,
)

CONTROLLER_USER = "dbjobs-controller"
POLL_INTERVAL = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("reliability-plane"))
    try:
        cp.start()
    except ControlPlaneError as err:
        cp.stop()
        pytest.fail(f"the local control plane could not start: {err}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def admin(plane: ControlPlane) -> Kubectl:
    try:
        kubectl = Kubectl(plane.admin_kubeconfig)
    except MissingComponentError as err:
        pytest.fail(str(err), pytrace=False)
    install_crds_and_rbac(kubectl, CONTROLLER_USER)
    return kubectl


@pytest.fixture(scope="session")
def emulator_token() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="session")
def emulator(emulator_token: str) -> Iterator[EmulatorServer]:
    with EmulatorServer(token=emulator_token) as emu:
        yield emu


@pytest.fixture(scope="session")
def relay(plane: ControlPlane) -> Iterator[ApiRelay]:
    port = int(plane.server_url.rsplit(":", 1)[1])
    proxy = ApiRelay(port)
    yield proxy
    proxy.close()


def relayed_kubeconfig(plane: ControlPlane, relay: ApiRelay, workdir: Path) -> Path:
    """The controller's kubeconfig, pointed at the relay (the serving certificate names 127.0.0.1)."""
    config = yaml.safe_load(plane.user_kubeconfig(CONTROLLER_USER).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    path = workdir / "controller-relayed.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def controller(
    plane: ControlPlane, admin: Kubectl, relay: ApiRelay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    work = tmp_path_factory.mktemp("reliability-controller")
    log = Path(os.environ.get("DBJOBS_RELIABILITY_LOG_DIR", work)) / "controller.log"
    proc = ControllerProcess(
        relayed_kubeconfig(plane, relay, work),
        log,
        poll_interval=POLL_INTERVAL,
        extra_env={
            "DBJOBS_METRICS_PORT": str(free_port()),
            "DBJOBS_ALLOWED_HOSTS": ALLOWED_HOSTS,
            "DBJOBS_WATCH_TIMEOUT_SECONDS": str(WATCH_TIMEOUT_S),
        },
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"controller log: {log}")


@pytest.fixture()
def ns(admin: Kubectl, emulator: EmulatorServer, emulator_token: str, controller: ControllerProcess) -> Kubectl:
    """A fresh namespace whose workspace ``default`` is the emulator."""
    return make_namespace(admin, emulator.url, emulator_token)
