"""The run-now annotation: one run per new value, also across a controller restart."""

from __future__ import annotations

import json

import pytest

# tests/e2e is on sys.path (rootdir-relative test modules); importing the fixture registers it here.
from health_fixtures import Site, site_fixture  # noqa: F401

from dbjobs_testkit.harness import wait_for

pytestmark = pytest.mark.e2e


ANNOTATION = "dbjobs.io/run-now"


def test_run_now_annotation_once_per_value_across_restart(site: Site) -> None:
    settings = {
        "name": "on-demand",
        "parameters": [{"name": "day", "default": "today"}],
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}],
    }
    job_id = site.apply_job("on-demand", settings)
    ws = site.emu.workspace

    def annotate(value: str, params: dict[str, str] | None = None) -> None:
        extra = [f"dbjobs.io/run-now-parameters={json.dumps(params)}"] if params else []
        site.kubectl("annotate", "--overwrite", "databricksjob", "on-demand", f"{ANNOTATION}={value}", *extra)

    def recorded(value: str) -> int | None:
        obj = site.kubectl.get("databricksjob", "on-demand")
        run_now = (obj.get("status") or {}).get("runNow") or {}
        return run_now.get("runId") if run_now.get("value") == value else None

    annotate("first", {"day": "2026-01-02"})
    first = wait_for(lambda: recorded("first"), timeout=60, what="status.runNow for 'first'")
    assert [r.run_id for r in ws.list_runs(job_id)] == [first]
    assert {p["name"]: p["value"] for p in ws.get_run(first).job_parameters} == {"day": "2026-01-02"}

    # The same value again (a re-apply from Git): no new run, over several health cycles.
    annotate("first")
    gets = ws.request_count("jobs/list", "GET")
    wait_for(lambda: ws.request_count("jobs/list", "GET") >= gets + 4, timeout=60, what="four drift checks")
    assert len(ws.list_runs(job_id)) == 1

    # A restart in between repeats nothing; a new value afterwards gives exactly one more run.
    site.controller.kill()
    site.controller.start()
    gets = ws.request_count("jobs/list", "GET")
    wait_for(lambda: ws.request_count("jobs/list", "GET") >= gets + 4, timeout=120, what="checks after the restart")
    assert len(ws.list_runs(job_id)) == 1
    annotate("second")
    second = wait_for(lambda: recorded("second"), timeout=60, what="status.runNow for 'second'")
    assert second != first and {r.run_id for r in ws.list_runs(job_id)} == {first, second}
    history = site.kubectl.get("databricksjob", "on-demand")["status"]["runNow"]["history"]
    assert [(h["value"], h["runId"]) for h in history] == [("second", second), ("first", first)]
