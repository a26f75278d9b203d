"""Wire-level behaviour of the emulator over raw HTTP: auth, envelopes, 2.1 vs 2.2, paging,
the admin surface, persistence and clean shutdown (spec §1-§3)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbjobs_testkit.emulator import EmulatorServer

pytestmark = pytest.mark.integration

TOKEN = "t0k"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN) as server:
        yield server


def api(emu: EmulatorServer, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    return requests.request(method, emu.url + path, json=body, params=params or None, headers=AUTH, timeout=10)


def tasks(n: int) -> list[dict[str, Any]]:
    return [{"task_key": f"t{i:04d}", "notebook_task": {"notebook_path": "/x"}} for i in range(n)]


def test_missing_token_is_401_and_wrong_token_is_403_with_numeric_code(emu: EmulatorServer) -> None:
    missing = requests.get(emu.url + "/api/2.2/jobs/list", timeout=10)
    wrong = requests.get(emu.url + "/api/2.2/jobs/list", headers={"Authorization": "Bearer nope"}, timeout=10)

    assert missing.status_code == 401 and missing.json()["error_code"] == "UNAUTHENTICATED"
    assert wrong.status_code == 403
    assert wrong.json() == {"error_code": 403, "message": "Invalid access token.", "details": []}
    assert wrong.headers["X-Databricks-Reason-Phrase"] == "Invalid access token."
    assert emu.workspace.request_count("jobs/list", "GET") == 2


def test_error_envelopes(emu: EmulatorServer) -> None:
    unknown = api(emu, "GET", "/api/2.2/jobs/nope")
    bad_json = requests.post(emu.url + "/api/2.2/jobs/create", data=b"{not json", headers=AUTH, timeout=10)
    missing = api(emu, "GET", "/api/2.2/jobs/get", job_id=42)
    missing_run = api(emu, "GET", "/api/2.1/jobs/runs/get", run_id=7)

    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    assert (bad_json.status_code, bad_json.json()["error_code"]) == (400, "MALFORMED_REQUEST")
    assert missing.status_code == 400
    assert missing.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Job 42 does not exist.",
        "details": [],
    }
    assert (missing_run.status_code, missing_run.json()["message"]) == (400, "Run 7 does not exist.")


def test_host_metadata_probe_is_a_fast_json_404_without_auth_and_scim_me_answers(emu: EmulatorServer) -> None:
    probe = requests.get(emu.url + "/.well-known/databricks-config", timeout=10)
    me = api(emu, "GET", "/api/2.0/preview/scim/v2/Me")

    assert probe.status_code == 404 and probe.json()["error_code"] == "NOT_FOUND"
    assert me.status_code == 200 and me.json()["userName"] == emu.workspace.user_name and me.json()["active"]


def test_queue_default_depends_on_the_api_version_of_the_write(emu: EmulatorServer) -> None:
    v21 = api(emu, "POST", "/api/2.1/jobs/create", {"name": "old"}).json()["job_id"]
    v22 = api(emu, "POST", "/api/2.2/jobs/create", {"name": "new"}).json()["job_id"]

    assert "queue" not in emu.workspace.get_settings(v21)
    assert emu.workspace.get_settings(v22)["queue"] == {"enabled": True}
    assert api(emu, "GET", "/api/2.1/jobs/get", job_id=v22).json()["settings"]["queue"] == {"enabled": True}


def test_jobs_get_pages_inner_arrays_at_100_in_22(emu: EmulatorServer) -> None:
    settings = {
        "name": "big",
        "tasks": tasks(250),
        "job_clusters": [{"job_cluster_key": f"c{i:03d}", "new_cluster": {"num_workers": 1}} for i in range(120)],
    }
    job_id = api(emu, "POST", "/api/2.2/jobs/create", settings).json()["job_id"]

    pages, token = [], None
    while True:
        page = api(emu, "GET", "/api/2.2/jobs/get", job_id=job_id, **({"page_token": token} if token else {})).json()
        pages.append(page)
        token = page.get("next_page_token")
        if token is None:
            break

    assert [len(p["settings"].get("tasks", [])) for p in pages] == [100, 100, 50]
    assert [len(p["settings"].get("job_clusters", [])) for p in pages] == [100, 20, 0]
    assert all("settings" in p for p in pages) and "next_page_token" not in pages[-1]
    assert pages[0]["settings"]["name"] == "big"
    merged = [t["task_key"] for p in pages for t in p["settings"].get("tasks", [])]
    assert merged == [t["task_key"] for t in emu.workspace.get_settings(job_id)["tasks"]]


def test_api_21_refuses_jobs_over_100_tasks(emu: EmulatorServer) -> None:
    job_id = api(emu, "POST", "/api/2.2/jobs/create", {"name": "big", "tasks": tasks(101)}).json()["job_id"]

    got = api(emu, "GET", "/api/2.1/jobs/get", job_id=job_id)
    created = api(emu, "POST", "/api/2.1/jobs/create", {"name": "big", "tasks": tasks(101)})

    for response in (got, created):
        assert response.status_code == 400
        assert response.json()["message"] == (
            "Resources with more than 100 tasks can only be handled by API 2.2 and above. Your resource has 101 tasks"
        )


def test_1000_tasks_accepted_1001_refused(emu: EmulatorServer) -> None:
    ok = api(emu, "POST", "/api/2.2/jobs/create", {"name": "max", "tasks": tasks(1000)})
    too_many = api(emu, "POST", "/api/2.2/jobs/create", {"name": "over", "tasks": tasks(1001)})

    assert ok.status_code == 200
    assert too_many.status_code == 400 and too_many.json()["message"].startswith("tasks:")


def test_list_without_expand_tasks_omits_tasks_and_job_clusters(emu: EmulatorServer) -> None:
    api(
        emu,
        "POST",
        "/api/2.2/jobs/create",
        {
            "name": "a",
            "tasks": tasks(2),
            "job_clusters": [
                {"job_cluster_key": "c", "new_cluster": {"apply_policy_default_values": True, "num_workers": 1}}
            ],
        },
    )

    plain = api(emu, "GET", "/api/2.2/jobs/list").json()["jobs"][0]
    expanded = api(emu, "GET", "/api/2.2/jobs/list", expand_tasks="true").json()["jobs"][0]

    assert "tasks" not in plain["settings"] and "job_clusters" not in plain["settings"]
    assert "run_as_user_name" not in plain
    assert len(expanded["settings"]["tasks"]) == 2 and expanded["has_more"] is False
    assert expanded["settings"]["job_clusters"][0]["new_cluster"] == {"num_workers": 1}


def test_empty_list_omits_jobs_and_token(emu: EmulatorServer) -> None:
    assert api(emu, "GET", "/api/2.2/jobs/list").json() == {"has_more": False}


def test_admin_surface_edits_deletes_counts_and_injects(emu: EmulatorServer) -> None:
    job_id = api(emu, "POST", "/api/2.2/jobs/create", {"name": "a", "tags": {"x": "1"}}).json()["job_id"]
    admin = emu.url + "/_emulator"

    edited = requests.post(f"{admin}/jobs/{job_id}/edit", json={"name": "ui-edit", "tags": None}, timeout=10)
    fault = requests.post(
        f"{admin}/faults",
        json={"path_suffix": "jobs/get", "status": 503, "error_code": "TEMPORARILY_UNAVAILABLE"},
        timeout=10,
    )
    first, second = (api(emu, "GET", "/api/2.2/jobs/get", job_id=job_id) for _ in range(2))
    counts = requests.get(f"{admin}/requests", params={"path_suffix": "jobs/get"}, timeout=10).json()

    assert edited.status_code == 200 and edited.json()["settings"]["name"] == "ui-edit"
    assert "tags" not in edited.json()["settings"]
    assert fault.status_code == 200
    assert first.status_code == 503 and first.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert second.json()["settings"]["name"] == "ui-edit"
    assert counts["count"] == 2 and counts["counts"]["GET jobs/get"] == 2
    assert counts["log"][-2:] == [["GET", "/api/2.2/jobs/get", 503], ["GET", "/api/2.2/jobs/get", 200]]

    assert requests.post(f"{admin}/jobs/{job_id}/delete", timeout=10).status_code == 200
    assert requests.post(f"{admin}/jobs/{job_id}/delete", timeout=10).status_code == 404
    assert requests.post(f"{admin}/reset-counters", timeout=10).status_code == 200
    assert emu.workspace.request_log == [] and emu.workspace.job_ids() == []


def test_in_process_edit_and_delete(emu: EmulatorServer) -> None:
    job_id = api(emu, "POST", "/api/2.2/jobs/create", {"name": "a"}).json()["job_id"]

    emu.workspace.edit_settings(job_id, {"max_concurrent_runs": 5})
    assert api(emu, "GET", "/api/2.2/jobs/get", job_id=job_id).json()["settings"]["max_concurrent_runs"] == 5

    emu.workspace.delete_job(job_id)
    with pytest.raises(KeyError):
        emu.workspace.edit_settings(job_id, {"name": "b"})
    with pytest.raises(KeyError):
        emu.workspace.delete_job(job_id)


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "ws.json"
    with EmulatorServer(token=TOKEN, state_file=state) as first:
        job_id = api(first, "POST", "/api/2.2/jobs/create", {"name": "kept", "tasks": tasks(1)}).json()["job_id"]
        run_id = api(first, "POST", "/api/2.2/jobs/run-now", {"job_id": job_id}).json()["run_id"]

    with EmulatorServer(token=TOKEN, state_file=state) as second:
        assert second.workspace.job_ids() == [job_id]
        assert second.workspace.get_settings(job_id)["name"] == "kept"
        assert api(second, "GET", "/api/2.2/jobs/runs/get", run_id=run_id).json()["job_id"] == job_id


def test_stop_leaves_no_thread_or_listening_socket() -> None:
    before = set(threading.enumerate())
    server = EmulatorServer(token=TOKEN).start()
    port = server.port
    with requests.Session() as session:  # holds a keep-alive connection open across stop()
        assert session.get(server.url + "/api/2.2/jobs/list", headers=AUTH, timeout=10).status_code == 200
        server.stop()
        server.stop()

    assert set(threading.enumerate()) - before == set()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
