"""The Argo CD health check for DatabricksJob, as files: one source, two derived copies, testdata that fits.

Aspects: ``argocd-cm.yaml`` and ``argo-cd-values.yaml`` are what ``hack/gen-argocd-health.py`` writes from
``health.lua`` and carry it byte for byte; ``health.lua`` calls no Lua library (it must run in argocd-cm
without ``useOpenLibs``); ``health_test.yaml`` and ``testdata/`` match one to one, cover every health status
and a deletion; the reasons the script names and the testdata's conditions are the controller's own
vocabulary (``controller/reconcile/reasons.py``, ``health.py``). Evaluating the script with Argo CD's code is
``tests/integration/test_argocd_health.py``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from controller.api.models import DatabricksJobSpec
from controller.reconcile import health
from controller.reconcile.reasons import ConditionType, Reason

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "manifests" / "argocd" / "resource_customizations" / "dbjobs.io" / "DatabricksJob"
HEALTH_LUA = CHECK_DIR / "health.lua"
CM_KEY = "resource.customizations.health.dbjobs.io_DatabricksJob"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_argocd_health", ROOT / "hack" / "gen-argocd-health.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]
    return tests


def _lua_code() -> str:
    """health.lua without comments and string literals (what is left is code)."""
    text = HEALTH_LUA.read_text()
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
    text = re.sub(r"'(?:[^'\\\n]|\\.)*'", "''", text)
    return re.sub(r"--[^\n]*", "", text)


def _lua_set(name: str) -> set[str]:
    """The keys of the Lua table ``local NAME = { Key = true, ... }`` in health.lua."""
    match = re.search(rf"local {name} = \{{(.*?)\}}", HEALTH_LUA.read_text(), re.S)
    assert match, f"health.lua has no table {name}"
    return set(re.findall(r"(\w+) = true", match.group(1)))


def test_derived_files_match_regeneration() -> None:
    gen = _generator()
    stale = gen.stale()
    assert not stale, f"{[str(p.relative_to(ROOT)) for p in stale]} differ: run python3 hack/gen-argocd-health.py"


def test_derived_files_carry_the_script_exactly() -> None:
    script = HEALTH_LUA.read_text()
    cm = yaml.safe_load((ROOT / "manifests" / "argocd" / "argocd-cm.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    # Argo CD's settings manager only watches ConfigMaps with this label.
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert cm["data"] == {CM_KEY: script}
    values = yaml.safe_load((ROOT / "manifests" / "argocd" / "argo-cd-values.yaml").read_text())
    assert values == {"configs": {"cm": {CM_KEY: script}}}


def test_generator_refuses_what_yaml_cannot_round_trip() -> None:
    gen = _generator()
    with pytest.raises(ValueError, match="trailing whitespace"):
        gen.render("local hs = {} \nreturn hs\n")
    with pytest.raises(ValueError, match="one newline"):
        gen.render("return {}")


def test_script_calls_no_lua_library() -> None:
    code = _lua_code()
    calls = re.findall(r"\b(?:string|math|os|table|io|debug|coroutine|utf8|package)\s*\.\s*\w+", code)
    assert not calls, f"health.lua calls library functions unavailable without useOpenLibs: {calls}"
    assert not re.search(r"\brequire\b", code)
    # s:find(...) and friends are string-library methods too.
    methods = re.findall(r"[\w\)\]\"']\s*:\s*\w+\s*\(", code)
    assert not methods, f"health.lua uses method calls (string library): {methods}"


def test_named_reasons_are_the_controllers() -> None:
    reasons = {r.value for r in Reason}
    terminal = _lua_set("TERMINAL")
    assert terminal == {
        "InvalidSpec",
        "WorkspaceNotFound",
        "SecretNotFound",
        "Unauthorized",
        "AdoptTargetMissing",
        "AdoptTargetOwned",
        "AdoptTargetAmbiguous",
        "DriftNotConverging",
        "HostNotAllowed",
        "SecretNotAllowed",
        "JobsVanished",
        "PolicyViolation",
        "WorkspaceNotAllowed",
        "WorkspaceChanged",
    }
    assert terminal <= reasons
    assert _lua_set("RUN_UNHEALTHY") == {r.value for r in health.UNHEALTHY_REASONS}
    for literal in re.findall(r'reason [~=]= "(\w+)"', HEALTH_LUA.read_text()):
        assert literal in reasons, literal
    for ctype in re.findall(r'find\(conditions, "(\w+)"\)', HEALTH_LUA.read_text()):
        assert ctype in {c.value for c in ConditionType}, ctype


def test_tests_and_testdata_match_one_to_one() -> None:
    referenced = [t["inputPath"] for t in _tests()]
    assert len(referenced) == len(set(referenced)), "an inputPath is listed twice"
    present = sorted(f"testdata/{p.name}" for p in (CHECK_DIR / "testdata").glob("*.yaml"))
    assert sorted(referenced) == present


def test_tests_cover_every_status_and_a_deletion() -> None:
    statuses = {t["healthStatus"]["status"] for t in _tests()}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}
    assert any("deletionMessage" in t["healthStatus"] for t in _tests())
    for t in _tests():
        hs = t["healthStatus"]
        assert set(hs) <= {"status", "message", "deletionMessage"}, t
        assert hs.get("message") or hs.get("deletionMessage"), f"{t['inputPath']}: a person needs a message"


@pytest.mark.parametrize("test", _tests(), ids=lambda t: t["inputPath"])
def test_testdata_is_what_the_controller_writes(test: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECK_DIR / test["inputPath"]).read_text())
    assert (obj["apiVersion"], obj["kind"]) == ("dbjobs.io/v1alpha1", "DatabricksJob")
    DatabricksJobSpec.model_validate(obj["spec"])
    types, reasons = {c.value for c in ConditionType}, {r.value for r in Reason}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        assert cond["type"] in types and cond["reason"] in reasons, cond
        assert cond["status"] in ("True", "False", "Unknown")
        assert set(cond) == {"type", "status", "reason", "message", "observedGeneration", "lastTransitionTime"}
