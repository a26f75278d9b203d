"""Every vector of ../shared/data/drift-cases.json through the drift engine.

The file is read at test time (it is research data, not ours); when it is absent the test fails
and says where it looked. Three vectors are fragments that cannot be compared as written; their
amendments are listed in ``AMENDED`` with the reason, and printed.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.drift import compare, live_from_response

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(
    os.environ.get("DBJOBS_DRIFT_CASES", str(REPO_ROOT.parent / "shared" / "data" / "drift-cases.json"))
).resolve()


def _load() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(VECTORS.read_text())
    return cases


def _tasks(n: int) -> list[dict[str, Any]]:
    return [{"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": f"/Shared/t{i:03d}"}} for i in range(1, n + 1)]


def _d13(case: dict[str, Any]) -> None:
    case["desired"]["name"] = case["live"]["name"]


def _d28(case: dict[str, Any]) -> None:
    git = {"git_url": "https://example.com/repo.git", "git_provider": "gitHub", "git_branch": "main"}
    case["desired"]["git_source"] = git
    case["live"]["git_source"] = git


def _d31(case: dict[str, Any]) -> None:
    case["desired"] = {"tasks": _tasks(150), "job_clusters": [{"job_cluster_key": "c"}]}
    pages: list[dict[str, Any]] = [
        {"settings": {"tasks": _tasks(150)[:100], "job_clusters": [{"job_cluster_key": "c"}]}, "next_page_token": "1"},
        {"settings": {"tasks": _tasks(150)[100:]}},
    ]
    # What the SDK's jobs.get mixin does (verified over HTTP in tests/integration/test_drift_corpus.py).
    merged = copy.deepcopy(pages[0])
    merged["settings"]["tasks"] += pages[1]["settings"]["tasks"]
    merged.pop("next_page_token")
    case["live"] = merged


AMENDED = {
    "D13": ("desired omits name: the fragment's live name is given to it (else name would differ too)", _d13),
    "D28": ("the case says the job has git_source (source GIT) but the fragment omits it: added to both", _d28),
    "D31": ("placeholders '<150 tasks>' expanded; live is the two 2.2 pages merged", _d31),
}
CASES = _load()
#: An absent file still yields one test, which fails (never skips) naming the path.
PARAMS: list[dict[str, Any] | None] = [*CASES] or [None]
COUNTS = {"vectors": 0, "drift": 0, "no drift": 0}


@pytest.mark.parametrize("case", PARAMS, ids=[c["id"] for c in CASES] or ["drift-cases.json"])
def test_vector(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.fail(f"drift vectors absent: {VECTORS} does not exist (set DBJOBS_DRIFT_CASES or check out ../shared)")
    case = copy.deepcopy(case)
    if case["id"] in AMENDED:
        reason, amend = AMENDED[case["id"]]
        amend(case)
        print(f"{case['id']} amended: {reason}")
    live, owner = live_from_response(case["live"])
    report = compare(case["desired"], live, owner=owner)
    COUNTS["vectors"] += 1
    COUNTS[case["verdict"]] += 1
    if case["verdict"] == "no drift":
        assert report.in_sync, f"{case['id']} false drift: {report.items}"
    else:
        assert report.paths == sorted(case["paths"]), f"{case['id']}: {report.items}"


def test_incomplete_page_is_refused_not_compared() -> None:
    from controller.reconcile.drift import IncompleteRead

    with pytest.raises(IncompleteRead):
        live_from_response({"settings": {"tasks": _tasks(100)}, "has_more": True, "next_page_token": "x"})


def test_forbidden_read_is_not_a_missing_job() -> None:
    from controller.reconcile.drift import UnknownJobState

    with pytest.raises(UnknownJobState):
        live_from_response({"http_status": 403, "error_code": "PERMISSION_DENIED", "message": "no"})


def test_zz_counts() -> None:
    """Defined last, so it runs last: the tally for the closing note of the issue."""
    print(f"drift vectors: {COUNTS} (amended: {sorted(AMENDED)})")
    assert COUNTS["vectors"] == len(CASES) > 0
