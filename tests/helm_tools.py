"""The chart tools of ``make helm-tools`` (hack/build-helm-tools.sh) as the chart tests use them.

Versions come from ``hack/helm-tools.versions`` (the build script reads the same file) and the tools
from the cache ``${DBJOBS_CACHE:-~/.cache/dbjobs}/tools``. A missing tool fails the test with a message
naming ``make helm-tools``; nothing is skipped. Helm runs with its config, cache and data homes in a
temporary directory, so the tests never read or write ~/.config/helm or ~/.local.

Also here: turning a CRD's ``openAPIV3Schema`` into the strict JSON schema layout kubeconform reads
(``{kind}-{group's first label}-{version}.json``, the same names as the Kubernetes schemas).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = REPO_ROOT / "charts" / "dbjobs"
CRD_DIR = REPO_ROOT / "crds"
VERSIONS_FILE = REPO_ROOT / "hack" / "helm-tools.versions"
MAKE_HINT = "run `make helm-tools` (hack/build-helm-tools.sh builds it from the Go module proxy into the cache)"
#: The Kubernetes version the chart is rendered and validated for (the local control plane's minor).
KUBE_VERSION = "1.32.0"
#: kubeconform's -schema-location template, relative to a schema directory.
SCHEMA_TEMPLATE = "{{.ResourceKind}}{{.KindSuffix}}.json"


def versions() -> dict[str, str]:
    """The KEY=VALUE pins of hack/helm-tools.versions."""
    pins: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def tools_dir() -> Path:
    return Path(os.environ.get("DBJOBS_CACHE", str(Path.home() / ".cache" / "dbjobs"))) / "tools"


def _piece(name: str, what: str) -> Path:
    """The cache directory ``name`` of a finished build piece; fails the test when it is not there."""
    path = tools_dir() / name
    if not (path / ".complete").is_file():
        pytest.fail(f"{what} is not built ({path} has no .complete): {MAKE_HINT}", pytrace=False)
    return path


def helm_binary() -> Path:
    v = versions()["HELM_VERSION"]
    return _piece(f"helm-{v}", f"helm {v}") / "bin" / "helm"


def helm_plugins_dir() -> Path:
    v = versions()["HELM_UNITTEST_VERSION"]
    return _piece(f"helm-unittest-{v}", f"helm-unittest {v}") / "plugins"


def kubeconform_binary() -> Path:
    v = versions()["KUBECONFORM_VERSION"]
    return _piece(f"kubeconform-{v}", f"kubeconform {v}") / "bin" / "kubeconform"


def k8s_schema_dir() -> Path:
    pins = versions()
    k8s, kv = pins["K8S_SCHEMA_VERSION"], pins["KUBERNETES_VALIDATE_VERSION"]
    return _piece(f"kubernetes-json-schema-{k8s}-kv{kv}", f"the Kubernetes {k8s} JSON schemas")


def servicemonitor_crd() -> Path:
    v = versions()["PROMETHEUS_OPERATOR_VERSION"]
    piece = _piece(f"prometheus-operator-crds-{v}", f"the ServiceMonitor CRD of prometheus-operator {v}")
    return piece / "monitoring.coreos.com_servicemonitors.yaml"


def helm_env(home: Path) -> dict[str, str]:
    """The environment for helm: homes under ``home``, the cached helm-unittest plugin."""
    env = dict(os.environ)
    env.update(
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_DATA_HOME=str(home / "data"),
        HELM_PLUGINS=str(helm_plugins_dir()),
    )
    return env


def run(
    cmd: Sequence[str | Path], *, env: Mapping[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a tool; returns the completed process (callers check returncode and say what failed)."""
    return subprocess.run(
        [str(c) for c in cmd], input=stdin, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


# --- CRD → kubeconform JSON schema ----------------------------------------------------------------


def _strict(node: Any) -> Any:
    """A CRD structural schema as a strict draft-04 JSON schema, as kubeconform's openapi2jsonschema makes
    it: objects with properties refuse unknown ones (unless they preserve unknown fields or say otherwise),
    int-or-string becomes a oneOf, nullable adds null."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schema_files(crd_paths: Sequence[Path], out_dir: Path) -> list[Path]:
    """Write the JSON schema of every version of every CRD in ``crd_paths`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in crd_paths:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            kind, group_label = spec["names"]["kind"].lower(), spec["group"].split(".")[0]
            for version in spec["versions"]:
                schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                target = out_dir / f"{kind}-{group_label}-{version['name']}.json"
                target.write_text(json.dumps(schema))
                written.append(target)
    return written


def kubeconform_cmd(*schema_dirs: Path) -> list[str]:
    """kubeconform, strict, offline: only the given schema directories, the Kubernetes version pinned."""
    cmd = [str(kubeconform_binary()), "-strict", "-verbose", "-output", "json", "-kubernetes-version", KUBE_VERSION]
    for directory in schema_dirs:
        cmd += ["-schema-location", f"{directory}/{SCHEMA_TEMPLATE}"]
    return cmd
