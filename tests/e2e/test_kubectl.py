"""kubectl UX on the real apiserver: explain, categories, ``kubectl get dbjobs`` columns, describe Events.

Aspects: ``kubectl explain`` prints the SDK's descriptions; ``kubectl get databricks`` lists both kinds;
the default columns are NAME, JOB ID, READY, SYNCED, DRIFT, LAST RUN, DEPENDS ON, AGE (extras only with ``-o wide``;
DEPENDS ON is filled in tests/e2e/test_references.py),
asserted cell by cell for a synced, a drifted (driftPolicy Report) and an invalid resource; ``kubectl
describe`` shows the controller's Events.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.harness import ControllerProcess, Kubectl, condition, job_manifest, wait_for

pytestmark = pytest.mark.e2e
COLUMNS = ["NAME", "JOB ID", "READY", "SYNCED", "DRIFT", "LAST RUN", "DEPENDS ON", "AGE"]


def _job(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}], **extra}


def _rows(kubectl: Kubectl, *args: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header cells and ``{name: cells}``; cells are split at the header's column starts."""
    lines = kubectl("get", "dbjobs", *args).stdout.splitlines()
    header = lines[0]
    # Column starts: a non-space after at least two spaces (names like "JOB ID" contain one space).
    starts = [0] + [i for i in range(2, len(header)) if header[i] != " " and header[i - 2 : i] == "  "]
    ends: list[int | None] = [*starts[1:], None]

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]

    return cells(header), {cells(ln)[0]: cells(ln) for ln in lines[1:]}


def _wait_reason(kubectl: Kubectl, name: str, ctype: str, reason: str, controller: ControllerProcess) -> None:
    def seen() -> bool:
        cond = condition(kubectl.get("databricksjob", name), ctype)
        return bool(cond and cond["reason"] == reason)

    try:
        wait_for(seen, timeout=60, what=f"{name} {ctype} reason {reason}")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{controller.log_tail()}") from err


def test_explain_prints_sdk_descriptions(admin: Kubectl) -> None:
    # The apiserver publishes a new CRD's OpenAPI a moment after it is Established.
    def explained() -> str:
        proc = admin("explain", "databricksjob.spec.settings.tasks.notebook_task", check=False)
        return proc.stdout if proc.returncode == 0 else ""

    out = wait_for(explained, timeout=60, what="kubectl explain of the DatabricksJob schema")
    assert "notebook_path" in out and "absolute and begin with a slash" in out
    assert "<string> -required-" in out
    spec = admin("explain", "dbjob.spec").stdout
    for field in ("workspaceRef", "driftPolicy", "deletionPolicy", "paused", "healthPolicy", "adopt", "settings"):
        assert field in spec


def test_get_dbjobs_columns_for_synced_drifted_and_invalid(
    ns: Kubectl, emulator: EmulatorServer, controller: ControllerProcess
) -> None:
    bad_cron = {"quartz_cron_expression": "0 0 25 * * ?", "timezone_id": "UTC"}
    ns.apply(
        [
            job_manifest("ok", _job("ok")),
            job_manifest("drifty", _job("drifty"), driftPolicy="Report"),
            job_manifest("broken", _job("broken", schedule=bad_cron)),
        ]
    )
    _wait_reason(ns, "ok", "Synced", "UpToDate", controller)
    _wait_reason(ns, "drifty", "Synced", "UpToDate", controller)
    _wait_reason(ns, "broken", "Synced", "InvalidSpec", controller)
    drifty_id = ns.get("databricksjob", "drifty")["status"]["jobId"]
    emulator.workspace.edit_settings(drifty_id, {"max_concurrent_runs": 5})
    _wait_reason(ns, "drifty", "Drifted", "DriftDetected", controller)

    header, rows = _rows(ns)
    assert header == COLUMNS
    ok_id = str(ns.get("databricksjob", "ok")["status"]["jobId"])
    assert rows["ok"][1:7] == [ok_id, "True", "True", "False", "", ""]
    assert rows["drifty"][1:7] == [str(drifty_id), "True", "False", "True", "", ""]
    assert rows["broken"][1:7] == ["", "False", "False", "", "", ""]
    assert all(r[7] for r in rows.values())  # AGE

    wide_header, wide = _rows(ns, "-o", "wide")
    assert wide_header == [*COLUMNS, "REASON", "RUN HEALTH", "WORKSPACE", "URL"]
    assert wide["broken"][8] == "InvalidSpec" and wide["drifty"][8] == "DriftDetected"
    assert wide["ok"][10] == "default" and wide["ok"][11].endswith(f"/jobs/{ok_id}")

    described = ns("describe", "databricksjob", "broken").stdout
    assert "InvalidSpec" in described and "quartz_cron_expression" in described
    assert "JobCreated" in ns("describe", "databricksjob", "ok").stdout


def test_category_lists_both_kinds(ns: Kubectl, controller: ControllerProcess) -> None:
    ns.apply([job_manifest("listed", _job("listed"))])
    out = ns("get", "databricks").stdout
    assert "databricksjob.dbjobs.io/listed" in out
    assert "databricksworkspace.dbjobs.io/default" in out
