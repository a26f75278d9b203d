"""A local emulator of the Databricks Jobs REST API (2.2, with the 2.1 alias), served over HTTP
so the unmodified databricks-sdk can be pointed at it. See ``docs/emulator.md``.

Stands alone: nothing here imports the controller's reconcile, handlers or databricks layers.

    from dbjobs_testkit.emulator import EmulatorServer
    with EmulatorServer(token="t0k") as emu:
        emu.url, emu.workspace.job_ids(), emu.workspace.inject_fault("jobs/create", 429, ...)
"""

from dbjobs_testkit.emulator.clock import ManualClock, SystemClock
from dbjobs_testkit.emulator.config import EmulatorConfig
from dbjobs_testkit.emulator.errors import ApiError, JobDoesNotExist, RunDoesNotExist
from dbjobs_testkit.emulator.runs import RunTiming
from dbjobs_testkit.emulator.server import EmulatorServer, serve_forever
from dbjobs_testkit.emulator.workspace import Workspace

__all__ = [
    "ApiError",
    "EmulatorConfig",
    "EmulatorServer",
    "JobDoesNotExist",
    "ManualClock",
    "RunDoesNotExist",
    "RunTiming",
    "SystemClock",
    "Workspace",
    "serve_forever",
]
