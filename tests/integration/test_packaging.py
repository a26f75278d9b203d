"""What a user installs: the product's wheel holds the controller alone, builds without warnings, and
the test ground (``dbjobs-testkit``) is a distribution of its own whose emulator never takes its token
on the command line.

Builds the real wheel with pip (build isolation, setuptools from PyPI) from a copy of the tracked files
(as a clean clone has them: no stale ``build/`` of an earlier layout) in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from controller.cli import main as dbjobs_main
from dbjobs_testkit.cli import TOKEN_ENV, read_token
from dbjobs_testkit.emulator.server import EmulatorServer
from dbjobs_testkit.processes import free_ports

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("dbjobs_controller-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0], proc.stdout + proc.stderr


def test_wheel_holds_the_controller_alone(wheel: tuple[Path, str]) -> None:
    names = zipfile.ZipFile(wheel[0]).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"controller", "dbjobs_controller-0.1.0.dist-info"}, tops
    assert not [n for n in names if "testing" in n or "emulator" in n], "test ground shipped in the wheel"


def test_wheel_needs_no_test_ground_dependencies(wheel: tuple[Path, str]) -> None:
    with zipfile.ZipFile(wheel[0]) as zf:
        meta = Parser().parsestr(zf.read("dbjobs_controller-0.1.0.dist-info/METADATA").decode())
    required = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = {r.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip().lower() for r in required}
    assert "aiohttp" not in names and "cryptography" not in names, names
    assert {"kopf", "kubernetes", "databricks-sdk", "prometheus-client"} <= names, names
    assert meta["License-Expression"] == "Apache-2.0"


def test_wheel_builds_without_deprecation_warnings(wheel: tuple[Path, str]) -> None:
    noisy = [line for line in wheel[1].splitlines() if "deprecat" in line.lower()]
    assert not noisy, "\n".join(noisy)


def test_dbjobs_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        dbjobs_main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "* ``" not in out, out
    offered = "{run,uninstall,convert,export,plan,diff}"
    assert offered in out, "the product's command offers only the product's subcommands"


def test_emulator_token_from_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert read_token(token_file) == "from-file"
    assert read_token(None) == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ValueError, match="--token-file FILE or set DBJOBS_EMULATOR_TOKEN"):
        read_token(None)
    token_file.write_text("  \n")
    with pytest.raises(ValueError, match="is empty"):
        read_token(token_file)


def test_emulator_command_keeps_the_token_out_of_ps(tmp_path: Path) -> None:
    """``dbjobs-testkit emulator`` serves with a token from the environment; its argv does not hold it."""
    token = "sentinel-token-4f1d"
    (port,) = free_ports(1)
    env = {**os.environ, TOKEN_ENV: token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbjobs_testkit", "emulator", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line, line
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert token not in cmdline
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.2/jobs/list", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_emulator_command_without_token_says_how(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "dbjobs_testkit", "emulator", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--token-file FILE or set DBJOBS_EMULATOR_TOKEN" in proc.stderr


def test_emulator_server_class_still_takes_a_token() -> None:
    """The in-process server (tests) keeps its keyword; only the command line changed."""
    with EmulatorServer(token="t") as emu:
        assert emu.url.startswith("http://127.0.0.1:")


def test_a_bad_setting_stops_dbjobs_run_with_one_line() -> None:
    """The settings are read when their module is imported: the error must still be one line, not a traceback."""
    env = {**os.environ, "DBJOBS_POLL_INTERVAL_SECONDS": "abc"}
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "dbjobs run: DBJOBS_POLL_INTERVAL_SECONDS='abc': expected a number of seconds"
