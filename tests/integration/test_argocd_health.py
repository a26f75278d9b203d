"""The DatabricksJob health check evaluated by Argo CD v3.6.1's own code, not by a re-implementation.

``argocd-healthcheck`` (tests/argocd/healthcheck/main.go, built on github.com/argoproj/argo-cd/v3 by
``make argocd``) runs the script through ``lua.VM.ExecuteHealthLua`` (what Argo CD's own
resource_customizations tests call) and ``health.GetResourceHealth`` with ``lua.ResourceHealthOverrides``
(what the application controller calls), with and without the Lua open libraries. Aspects: every
``health_test.yaml`` case gives its expected status and message both ways; the testdata reaches every
assignment of the script (statement coverage by an instrumented copy); a script that calls the string
library shows Unknown without open libraries (the failure the check avoids); the shipped argocd-cm snippet
gives the same answers through ``argocd admin settings resource-overrides health``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbjobs_testkit import argocd
from dbjobs_testkit.harness import MissingComponentError

pytestmark = pytest.mark.integration

CHECK_DIR = argocd.HEALTH_DIR
HEALTH_LUA = CHECK_DIR / "health.lua"
TESTS = CHECK_DIR / "health_test.yaml"
CONFIG_KEY = "dbjobs.io/DatabricksJob"


@pytest.fixture(scope="module")
def built() -> None:
    try:
        argocd.healthcheck_binary()
        argocd.argocd_binary()
    except MissingComponentError as err:
        pytest.fail(str(err), pytrace=False)


def _expected() -> dict[str, dict[str, str]]:
    return {t["inputPath"]: t["healthStatus"] for t in yaml.safe_load(TESTS.read_text())["tests"]}


def _object(input_path: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((CHECK_DIR / input_path).read_text())
    return obj


def _what_argocd_shows(input_path: str, expected: dict[str, str]) -> tuple[str, str]:
    """What the application controller shows for the resource (GetResourceHealth's rules for deletion)."""
    meta = _object(input_path)["metadata"]
    if meta.get("deletionTimestamp"):
        if expected.get("deletionMessage"):
            return expected["status"], expected["deletionMessage"]
        # No deletionMessage: Argo CD's own terminating message.
        return "Progressing", "Pending deletion; blocked by finalizers: " + ", ".join(meta.get("finalizers") or [])
    return expected["status"], expected.get("message", "")


def test_every_case_with_and_without_open_libraries(built: None) -> None:
    expected = _expected()
    results = argocd.evaluate_health(HEALTH_LUA, tests=TESTS)
    assert {(r["inputPath"], r["useOpenLibs"]) for r in results} == {
        (path, libs) for path in expected for libs in (False, True)
    }
    failures = []
    for r in results:
        want = expected[r["inputPath"]]
        assert r["configKey"] == CONFIG_KEY
        lua = r["lua"]
        got = {"status": lua["status"], "message": lua["message"], "deletionMessage": lua.get("deletionMessage", "")}
        if lua.get("error") or got != {
            "status": want["status"],
            "message": want.get("message", ""),
            "deletionMessage": want.get("deletionMessage", ""),
        }:
            failures.append(f"{r['inputPath']} (useOpenLibs={r['useOpenLibs']}) script returned {lua}, want {want}")
        res = r["resource"]
        status, message = _what_argocd_shows(r["inputPath"], want)
        if res.get("error") or (res["status"], res["message"]) != (status, message):
            failures.append(
                f"{r['inputPath']} (useOpenLibs={r['useOpenLibs']}) GetResourceHealth gave {res}, "
                f"want {status}: {message}"
            )
    assert not failures, "\n".join(failures)


def test_testdata_reaches_every_assignment(built: None, tmp_path: Path) -> None:
    """An instrumented copy records which ``hs.*`` assignments ran and returns that record as its message."""
    lines = HEALTH_LUA.read_text().splitlines()
    out = ['local __cov = ""']
    assignments = []
    for number, line in enumerate(lines, 1):
        indent = line[: len(line) - len(line.lstrip())]
        if re.match(r"\s*hs\.\w+ = ", line):
            assignments.append(number)
            out.append(f'{indent}__cov = __cov .. " L{number}"')
        if line.strip() == "return hs":
            out.append(f"{indent}hs.message = __cov")
        out.append(line)
    instrumented = tmp_path / "health.lua"
    instrumented.write_text("\n".join(out) + "\n")
    objects = [CHECK_DIR / path for path in _expected()]
    reached: set[int] = set()
    for r in argocd.evaluate_health(instrumented, *objects):
        assert not r["lua"].get("error"), r
        reached |= {int(n) for n in re.findall(r"L(\d+)", r["lua"]["message"])}
    missed = [f"health.lua:{n}: {lines[n - 1].strip()}" for n in assignments if n not in reached]
    assert not missed, "no testdata case reaches:\n" + "\n".join(missed)


def test_a_library_call_shows_unknown_without_open_libraries(built: None, tmp_path: Path) -> None:
    script = tmp_path / "uses-string.lua"
    script.write_text('local hs = {}\nhs.status = "Healthy"\nhs.message = string.lower("READY")\nreturn hs\n')
    results = {r["useOpenLibs"]: r for r in argocd.evaluate_health(script, CHECK_DIR / "testdata" / "healthy.yaml")}
    assert results[True]["resource"]["status"] == "Healthy" and results[True]["resource"]["message"] == "ready"
    closed = results[False]["resource"]
    assert closed["status"] == "Unknown" and closed["error"], closed


@pytest.mark.parametrize(
    "input_path",
    [
        "testdata/healthy.yaml",
        "testdata/degraded-drift-report.yaml",
        "testdata/degraded-run-failed-affects-ready.yaml",
        "testdata/suspended-paused-drifted.yaml",
        "testdata/progressing-generation-behind.yaml",
        "testdata/deleting.yaml",
    ],
)
def test_argocd_admin_with_the_shipped_argocd_cm(built: None, input_path: str) -> None:
    want = _expected()[input_path]
    status, message = argocd.admin_health(CHECK_DIR / input_path)
    assert (status, message) == _what_argocd_shows(input_path, want)
