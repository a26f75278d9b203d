"""Small process and port helpers for the local control plane (loopback only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

STOP_GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL
LOG_TAIL_LINES = 30


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 at the time of the call."""
    # Holding every socket open until all are bound guarantees distinct ports among ours.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (at most its last 16 KiB), or a placeholder."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``STOP_GRACE_SECONDS``, and reap it."""
    # Signalling the group while the leader is unreaped cannot hit a recycled process group id.
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 30.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
