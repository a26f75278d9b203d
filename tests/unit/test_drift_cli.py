"""``dbjobs diff DESIRED LIVE``: file forms, output forms and diff(1) exit codes; input that is not a job is
exit 2 naming what was expected; the desired side is shown as written (server defaults named as such)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli import main

pytestmark = pytest.mark.unit

SETTINGS: dict[str, Any] = {
    "name": "nightly",
    "tasks": [{"task_key": "ingest", "notebook_task": {"notebook_path": "/x", "base_parameters": {"date": "a"}}}],
}


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if name.endswith(".yaml") else json.dumps(doc))
    return str(path)


def manifest(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "metadata": {"name": "n"},
        "spec": {"settings": settings},
    }


def response(settings: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": 1, "creator_user_name": "me@x", "run_as_user_name": "me@x", "settings": settings}


def test_in_sync_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = {**SETTINGS, "format": "MULTI_TASK", "tags": {"dbjobs-owner": "u"}, "max_concurrent_runs": 1}
    code = main(["diff", write(tmp_path, "d.yaml", manifest(SETTINGS)), write(tmp_path, "l.json", response(live))])
    assert code == 0
    assert "in sync" in capsys.readouterr().out


def test_drift_exits_1_and_names_path_with_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = json.loads(json.dumps(SETTINGS))
    live["tasks"][0]["notebook_task"]["base_parameters"]["date"] = "b"
    desired, live_file = write(tmp_path, "d.json", SETTINGS), write(tmp_path, "l.yaml", live)
    assert main(["diff", desired, live_file]) == 1
    text = capsys.readouterr().out
    assert "~ tasks[task_key=ingest].notebook_task.base_parameters.date" in text
    assert 'desired: "a"' in text and 'live:    "b"' in text
    assert main(["diff", desired, live_file, "--output", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "inSync": False,
        "count": 1,
        "items": [
            {
                "path": "tasks[task_key=ingest].notebook_task.base_parameters.date",
                "desired": "a",
                "live": "b",
                "writeOnly": False,
            }
        ],
    }


def test_deleted_job_is_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 1 does not exist."}
    assert main(["diff", write(tmp_path, "d.json", SETTINGS), write(tmp_path, "l.json", gone)]) == 1
    assert "~ <job>" in capsys.readouterr().out


@pytest.mark.parametrize(
    "live",
    [
        "not: [valid",
        {"http_status": 403, "message": "Forbidden"},
        {"settings": {"name": "x"}, "next_page_token": "2"},
    ],
)
def test_trouble_exits_2(tmp_path: Path, live: Any, capsys: pytest.CaptureFixture[str]) -> None:
    live_file = tmp_path / "l.yaml"
    live_file.write_text(live if isinstance(live, str) else json.dumps(live))
    assert main(["diff", write(tmp_path, "d.json", SETTINGS), str(live_file)]) == 2
    assert "dbjobs diff:" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["diff", str(tmp_path / "nope.json"), write(tmp_path, "l.json", SETTINGS)]) == 2


RBAC = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "r"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
}


@pytest.mark.parametrize(
    ("desired", "live", "fragment"),
    [
        ({"foo": 1}, {"foo": 1}, "foo are not JobSettings fields; expected JobSettings or a DatabricksJob manifest"),
        (
            SETTINGS,
            RBAC,
            "a Kubernetes rbac.authorization.k8s.io/v1 ClusterRole manifest, expected JobSettings, a jobs/get",
        ),
        (RBAC, SETTINGS, "ClusterRole manifest, expected JobSettings or a DatabricksJob manifest"),
        ({}, SETTINGS, "an empty mapping"),
        (SETTINGS, {"settings": SETTINGS, "colour": "red"}, "not a jobs/get answer: colour"),
        (SETTINGS, {"bar": 2}, "bar are not JobSettings fields"),
    ],
)
def test_input_that_is_not_a_job_exits_2_saying_what_was_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], desired: Any, live: Any, fragment: str
) -> None:
    assert main(["diff", write(tmp_path, "d.json", desired), write(tmp_path, "l.json", live)]) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err and captured.out == ""


def test_desired_is_shown_as_written_not_with_server_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = json.loads(json.dumps(SETTINGS))
    live["tasks"][0]["timeout_seconds"] = 3600
    live["run_as"] = {"user_name": "other@x"}
    code = main(["diff", write(tmp_path, "d.yaml", manifest(SETTINGS)), write(tmp_path, "l.json", response(live))])
    assert code == 1
    text = capsys.readouterr().out
    assert (
        "~ tasks[task_key=ingest].timeout_seconds\n    desired: (not set; server default 0)\n    live:    3600" in text
    )
    assert '~ run_as\n    desired: (not set; server default "me@x")' in text
    main(
        ["diff", write(tmp_path, "d.yaml", manifest(SETTINGS)), write(tmp_path, "l.json", response(live)), "-o", "json"]
    )
    items = {i["path"]: i for i in json.loads(capsys.readouterr().out)["items"]}
    assert items["tasks[task_key=ingest].timeout_seconds"] == {
        "path": "tasks[task_key=ingest].timeout_seconds",
        "default": 0,
        "live": 3600,
        "writeOnly": False,
    }
    written = {**SETTINGS, "max_concurrent_runs": 2}
    main(["diff", write(tmp_path, "w.json", written), write(tmp_path, "l2.json", response(SETTINGS))])
    assert "~ max_concurrent_runs\n    desired: 2\n    live:    1" in capsys.readouterr().out
