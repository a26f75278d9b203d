"""The emulator's broken answers (``garble.py``, issue 13 item 4): ``POST /_emulator/garble`` makes the next matching
answers malformed JSON, truncated mid-body or full of unknown enum values, after the request took effect; what
databricks-sdk raises for each (the controller classifies those as API errors); the count is honoured and later
answers are whole again; a bad kind is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from databricks.sdk import WorkspaceClient

from dbjobs_testkit.emulator import EmulatorServer
from dbjobs_testkit.emulator.garble import UNKNOWN_ENUM

pytestmark = pytest.mark.integration
TOKEN = "garble-token"


@pytest.fixture()
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN) as server:
        yield server


def _garble(emu: EmulatorServer, **body: object) -> requests.Response:
    return requests.post(f"{emu.url}/_emulator/garble", json=body, timeout=10)


def _get(emu: EmulatorServer, job_id: int) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return requests.get(f"{emu.url}/api/2.2/jobs/get", params={"job_id": job_id}, headers=headers, timeout=10)


def _job(emu: EmulatorServer) -> int:
    return emu.workspace.create_job(
        {"name": "g", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}, "2.2"
    )


def test_malformed_json_is_answered_200_with_a_body_that_is_not_json(emu: EmulatorServer) -> None:
    job_id = _job(emu)
    assert _garble(emu, path_suffix="jobs/get", kind="malformed-json").status_code == 200
    resp = _get(emu, job_id)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert _get(emu, job_id).json()["settings"]["name"] == "g"  # count 1: the next answer is whole


def test_truncated_answer_breaks_the_connection_mid_body(emu: EmulatorServer) -> None:
    job_id = _job(emu)
    _garble(emu, path_suffix="jobs/get", kind="truncated", count=2)
    for _ in range(2):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _get(emu, job_id)
    assert _get(emu, job_id).status_code == 200
    assert [s for m, p, s in emu.workspace.request_log if p.endswith("jobs/get")] == [200, 200, 200]


def test_unknown_enum_values_replace_every_enum_field(emu: EmulatorServer) -> None:
    job_id = _job(emu)
    _garble(emu, path_suffix="jobs/get", kind="unknown-enum", method="GET")
    settings = _get(emu, job_id).json()["settings"]
    assert settings["format"] == UNKNOWN_ENUM
    assert settings["tasks"][0]["run_if"] == UNKNOWN_ENUM
    assert settings["name"] == "g"  # other strings untouched


def test_the_request_takes_effect_before_its_answer_is_broken(emu: EmulatorServer) -> None:
    job_id = _job(emu)
    _garble(emu, path_suffix="jobs/delete", kind="malformed-json")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    resp = requests.post(f"{emu.url}/api/2.2/jobs/delete", json={"job_id": job_id}, headers=headers, timeout=10)
    assert resp.status_code == 200
    assert job_id not in emu.workspace.job_ids()


def test_what_databricks_sdk_raises_for_each_kind(emu: EmulatorServer) -> None:
    client = WorkspaceClient(host=emu.url, token=TOKEN)
    job_id = _job(emu)
    _garble(emu, path_suffix="jobs/get", kind="malformed-json")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        client.jobs.get(job_id)
    _garble(emu, path_suffix="jobs/get", kind="truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.jobs.get(job_id)
    _garble(emu, path_suffix="jobs/get", kind="unknown-enum")
    job = client.jobs.get(job_id)  # the SDK drops an enum value it does not know
    assert job.settings is not None and job.settings.format is None and job.settings.name == "g"


def test_a_bad_kind_or_count_is_refused(emu: EmulatorServer) -> None:
    resp = _garble(emu, path_suffix="jobs/get", kind="gibberish")
    assert resp.status_code == 400 and "kind" in resp.json()["message"]
    resp = _garble(emu, path_suffix="jobs/get", kind="truncated", count=0)
    assert resp.status_code == 400
    assert emu.workspace.garbles == []
