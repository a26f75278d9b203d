"""Running the emulator: in a background thread for tests (:class:`EmulatorServer`) or in the
foreground for ``dbjobs-testkit emulator`` (:func:`serve_forever`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType

from aiohttp import web

from dbjobs_testkit.emulator.app import build_app
from dbjobs_testkit.emulator.clock import Clock
from dbjobs_testkit.emulator.config import EmulatorConfig
from dbjobs_testkit.emulator.oauth import OAuthServer
from dbjobs_testkit.emulator.runs import RunTiming
from dbjobs_testkit.emulator.workspace import DEFAULT_USER, Workspace

#: Seconds to let in-flight requests finish on stop; tests should not wait long for a stop.
SHUTDOWN_TIMEOUT_S = 2.0
START_TIMEOUT_S = 30.0


class EmulatorServer:
    """The Jobs API emulator on ``host:port`` (port 0 picks a free port), served from its own
    thread and event loop so a test can talk to it synchronously and edit ``workspace`` directly.

    Usable as a context manager or through :meth:`start` / :meth:`stop`. ``url`` is
    ``"http://HOST:PORT"`` once started. Keyword-only extras: ``user_name`` (identity behind the
    token), ``clock`` (e.g. ``ManualClock``), ``run_timing`` (run phase lengths in ms), ``seed``
    (reproducible IDs), ``config`` (:class:`EmulatorConfig`: §10 switches and §4.5 limits). ``oauth`` is the
    workspace's OAuth authorization server (:class:`~dbjobs_testkit.emulator.oauth.OAuthServer`: clients,
    federation policies, issued tokens).
    """

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | Path | None = None,
        *,
        user_name: str = DEFAULT_USER,
        clock: Clock | None = None,
        run_timing: RunTiming | None = None,
        seed: int | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.workspace = Workspace(
            user_name=user_name, clock=clock, run_timing=run_timing, state_file=state_file, seed=seed, config=config
        )
        self.oauth = OAuthServer()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; the bound port once started."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Bind and serve in a background thread; returns once the socket accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"dbjobs-emulator-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self) -> None:
        """Close the socket and open connections and join the thread; safe to call twice."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join()
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        runner = await start_runner(self.workspace, self.token, self.host, self.port, self.oauth)
        try:
            self.port = runner.addresses[0][1]
            self.workspace.host_url = self.url
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()


async def start_runner(
    workspace: Workspace, token: str, host: str, port: int, oauth: OAuthServer | None = None
) -> web.AppRunner:
    """Set up and start an ``AppRunner`` for the emulator on ``host:port``."""
    runner = web.AppRunner(build_app(workspace, token, oauth), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def serve_forever(host: str, port: int, token: str, state_file: str | None) -> int:
    """``dbjobs-testkit emulator``: serve until SIGINT or SIGTERM, printing one line with the URL when
    ready. Returns 0 after a clean stop, 1 when the port is taken or the state file is unreadable,
    2 for a port out of range; the reason is printed on stderr, without a traceback."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        workspace = Workspace(state_file=state_file)
        runner = await start_runner(workspace, token, host, port)
        try:
            bound = runner.addresses[0][1]
            workspace.host_url = f"http://{host}:{bound}"
            print(f"Databricks Jobs API emulator listening on {workspace.host_url}", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()

    if not 0 <= port <= 65535:
        print(f"dbjobs-testkit emulator: --port {port} is not a TCP port (0-65535)", file=sys.stderr)
        return 2
    try:
        asyncio.run(main())
    except OSError as err:  # the port is taken, or the address is not this machine's
        print(f"dbjobs-testkit emulator: cannot listen on {host}:{port}: {err.strerror or err}", file=sys.stderr)
        return 1
    except ValueError as err:  # json.JSONDecodeError is a ValueError: an unreadable --state-file
        print(f"dbjobs-testkit emulator: cannot load the state file {state_file}: {err}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return 0
