#!/usr/bin/env bash
# Builds the chart tools from the Go module proxy (and two data sets from package registries) into a
# cache outside the repository, at the versions pinned in hack/helm-tools.versions:
#
#   $DBJOBS_CACHE/tools/helm-<v>/bin/helm            helm.sh/helm/v3/cmd/helm, with the release's version
#                                                    ldflags (so `helm version` prints <v>) and the
#                                                    Kubernetes version its Makefile derives from client-go
#   $DBJOBS_CACHE/tools/helm-unittest-<v>/plugins/unittest/{plugin.yaml,untt}
#                                                    a helm plugin directory: HELM_PLUGINS=…/plugins
#                                                    makes `helm unittest` work without touching ~/.local.
#                                                    Its go.mod has a replace directive, so `go install`
#                                                    is refused: a throwaway wrapper module requires the
#                                                    release and copies its replaces (as for the control plane)
#   $DBJOBS_CACHE/tools/kubeconform-<v>/bin/kubeconform
#   $DBJOBS_CACHE/tools/kubernetes-json-schema-<k8s>-kv<kv>/*.json
#                                                    the Kubernetes <k8s> strict JSON schemas shipped in the PyPI
#                                                    package kubernetes-validate <kv>, their `$ref`s rewritten
#                                                    to the local _definitions.json so kubeconform needs no
#                                                    network: -schema-location '<dir>/{{.ResourceKind}}{{.KindSuffix}}.json'
#   $DBJOBS_CACHE/tools/prometheus-operator-crds-<v>/monitoring.coreos.com_servicemonitors.yaml
#                                                    the ServiceMonitor CRD, from the prometheus-operator module
#                                                    zip (downloaded into the shared GOMODCACHE)
#
# Each piece is finished by writing its .complete marker last, so a second run with everything present is
# a no-op and a half-built piece is rebuilt. Concurrent runs serialise on a lock file. Go builds use
# -trimpath and the machine's shared GOCACHE/GOMODCACHE.
#
# Measured on 2 cores with empty GOCACHE, GOMODCACHE and cache (other builds running beside it): 377 s in all
# (helm 291 s, helm-unittest 71 s, kubeconform 6 s, schemas 2 s); a second run is a no-op (0.01 s).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=helm-tools.versions
. "$REPO/hack/helm-tools.versions"
PYTHON="${PYTHON:-python3}"
CACHE="${DBJOBS_CACHE:-$HOME/.cache/dbjobs}"
TOOLS="$CACHE/tools"

HELM_DIR="$TOOLS/helm-$HELM_VERSION"
UNITTEST_DIR="$TOOLS/helm-unittest-$HELM_UNITTEST_VERSION"
KUBECONFORM_DIR="$TOOLS/kubeconform-$KUBECONFORM_VERSION"
SCHEMAS_DIR="$TOOLS/kubernetes-json-schema-$K8S_SCHEMA_VERSION-kv$KUBERNETES_VALIDATE_VERSION"
PROMOP_DIR="$TOOLS/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"

start=$(date +%s)
log() { echo "helm tools [$(( $(date +%s) - start ))s]: $*"; }

ready() { [ -f "$1/.complete" ]; }
all_ready() {
  ready "$HELM_DIR" && ready "$UNITTEST_DIR" && ready "$KUBECONFORM_DIR" && ready "$SCHEMAS_DIR" && ready "$PROMOP_DIR"
}

if all_ready; then
  log "cached in $TOOLS (no build needed)"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go is required to build the helm tools (not found on PATH)" >&2; exit 1; }
command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON is required to prepare the JSON schemas" >&2; exit 1; }

mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
if ! flock -n 9; then
  log "another build into $TOOLS is running; waiting for it"
  flock 9
  if all_ready; then
    log "built by the other run, cached in $TOOLS"
    exit 0
  fi
fi

# A cold build is silent for minutes; a heartbeat shows it is alive. Stopped on any exit.
heartbeat_pid=""
stop_heartbeat() {
  if [ -n "$heartbeat_pid" ]; then
    kill "$heartbeat_pid" 2>/dev/null || true
    wait "$heartbeat_pid" 2>/dev/null || true
    heartbeat_pid=""
  fi
}
trap stop_heartbeat EXIT
start_heartbeat() {  # start_heartbeat <label>
  local label=$1 t0
  t0=$(date +%s)
  # fd 9 (the lock) closed so the heartbeat never holds it; 1 s sleeps so a killed heartbeat leaves
  # no long-lived orphan.
  ( exec 9>&-; while :; do for _ in $(seq 30); do sleep 1; done; log "still building $label ($(( $(date +%s) - t0 ))s so far)"; done ) &
  heartbeat_pid=$!
}

gomod_of() {  # gomod_of <module@version>: the path of its go.mod in the module cache
  local json gomod
  json=$(GOFLAGS=-mod=mod go mod download -json "$1")
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  [ -f "$gomod" ] || { echo "error: go mod download gave no go.mod for $1: $json" >&2; exit 1; }
  echo "$gomod"
}
dir_of() {  # dir_of <module@version>: its extracted source directory in the module cache
  local json dir
  json=$(GOFLAGS=-mod=mod go mod download -json "$1")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  [ -d "$dir" ] || { echo "error: go mod download gave no source directory for $1: $json" >&2; exit 1; }
  echo "$dir"
}

# --- helm -----------------------------------------------------------------------------------------
if ! ready "$HELM_DIR"; then
  rm -rf "$HELM_DIR"
  mkdir -p "$HELM_DIR/bin"
  # helm's Makefile: version from the tag, empty metadata for a release, and the Kubernetes version that
  # `helm template`/`helm lint` assume by default from client-go (v0.M.m → 1+0 . M). The git commit is not
  # known from the module proxy, so it stays empty rather than made up.
  client_go=$(awk '$1 == "k8s.io/client-go" {print $2}' "$(gomod_of "helm.sh/helm/v3@$HELM_VERSION")")
  [ -n "$client_go" ] || { echo "error: no k8s.io/client-go requirement in helm $HELM_VERSION's go.mod" >&2; exit 1; }
  kv=${client_go#v}; k8s_major=$(( ${kv%%.*} + 1 )); kv=${kv#*.}; k8s_minor=${kv%%.*}
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$k8s_major -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  log "building helm $HELM_VERSION (client-go $client_go; cold: about 4-5 minutes on 2 cores)"
  t0=$(date +%s)
  start_heartbeat "helm $HELM_VERSION"
  GOBIN="$HELM_DIR/.gobin" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stop_heartbeat
  mv -f "$HELM_DIR/.gobin/helm" "$HELM_DIR/bin/helm"
  rm -rf "$HELM_DIR/.gobin"
  "$HELM_DIR/bin/helm" version --short | grep -qx "$HELM_VERSION" \
    || { echo "error: the built helm does not report $HELM_VERSION: $("$HELM_DIR/bin/helm" version)" >&2; exit 1; }
  echo "$HELM_VERSION client-go=$client_go" > "$HELM_DIR/.complete"
  log "built helm $HELM_VERSION in $(( $(date +%s) - t0 ))s"
fi

# --- helm-unittest (a wrapper module: its go.mod's replaces make `go install` refuse it) ----------
if ! ready "$UNITTEST_DIR"; then
  rm -rf "$UNITTEST_DIR"
  src="$UNITTEST_DIR/src"
  plugin="$UNITTEST_DIR/plugins/unittest"
  mkdir -p "$src" "$plugin"
  upstream_gomod=$(gomod_of "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION")
  go_directive=$(awk '$1 == "go" {print $2; exit}' "$upstream_gomod")
  cd "$src"
  printf 'module dbjobs.local/helmunittest\n\ngo %s\n\nrequire github.com/helm-unittest/helm-unittest %s\n' \
    "$go_directive" "$HELM_UNITTEST_VERSION" > go.mod
  # Copy every replace directive of the release (module → published module; a local path cannot be copied).
  replaces=$(go mod edit -json "$upstream_gomod" | "$PYTHON" -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    if "Version" not in new:
        sys.exit("error: helm-unittest replaces " + old["Path"] + " with the local path " + new["Path"])
    print(old["Path"] + ("@" + old["Version"] if old.get("Version") else "") + "=" + new["Path"] + "@" + new["Version"])
')
  for r in $replaces; do go mod edit -replace="$r"; done
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/helm-unittest/helm-unittest/cmd/helm-unittest"
GO
  log "helm-unittest $HELM_UNITTEST_VERSION: wrapper module with replaces: ${replaces:-none}; go mod tidy"
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }
  log "building helm-unittest $HELM_UNITTEST_VERSION (cold: about 1-2 minutes on 2 cores)"
  t0=$(date +%s)
  start_heartbeat "helm-unittest $HELM_UNITTEST_VERSION"
  CGO_ENABLED=0 go build -trimpath -o "$plugin/untt.tmp" \
    -ldflags "-s -w -X github.com/helm-unittest/helm-unittest/internal/build.version=${HELM_UNITTEST_VERSION#v}" \
    github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  stop_heartbeat
  mv -f "$plugin/untt.tmp" "$plugin/untt"
  cat > "$plugin/plugin.yaml" <<YAML
name: "unittest"
version: "${HELM_UNITTEST_VERSION#v}"
usage: "unittest for helm charts"
description: "helm-unittest ${HELM_UNITTEST_VERSION}, built from the Go module proxy by dbjobs' hack/build-helm-tools.sh"
ignoreFlags: false
command: "\$HELM_PLUGIN_DIR/untt"
YAML
  cd "$TOOLS"
  rm -rf "$src"
  echo "$HELM_UNITTEST_VERSION" > "$UNITTEST_DIR/.complete"
  log "built helm-unittest $HELM_UNITTEST_VERSION in $(( $(date +%s) - t0 ))s"
fi

# --- kubeconform ------------------------------------------------------------------------------------
if ! ready "$KUBECONFORM_DIR"; then
  rm -rf "$KUBECONFORM_DIR"
  mkdir -p "$KUBECONFORM_DIR/bin"
  log "building kubeconform $KUBECONFORM_VERSION (cold: under a minute on 2 cores)"
  t0=$(date +%s)
  start_heartbeat "kubeconform $KUBECONFORM_VERSION"
  GOBIN="$KUBECONFORM_DIR/.gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  stop_heartbeat
  mv -f "$KUBECONFORM_DIR/.gobin/kubeconform" "$KUBECONFORM_DIR/bin/kubeconform"
  rm -rf "$KUBECONFORM_DIR/.gobin"
  echo "$KUBECONFORM_VERSION" > "$KUBECONFORM_DIR/.complete"
  log "built kubeconform $KUBECONFORM_VERSION in $(( $(date +%s) - t0 ))s"
fi

# --- Kubernetes JSON schemas (kubernetes-validate on PyPI), $refs made local ------------------------
if ! ready "$SCHEMAS_DIR"; then
  rm -rf "$SCHEMAS_DIR"
  mkdir -p "$SCHEMAS_DIR/.wheel"
  log "Kubernetes $K8S_SCHEMA_VERSION JSON schemas from kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" -d "$SCHEMAS_DIR/.wheel"
  "$PYTHON" - "$SCHEMAS_DIR" "$K8S_SCHEMA_VERSION" <<'PY'
"""Extract <version>-local-strict and make every $ref a file reference kubeconform resolves offline.

Each schema has "$id": "https://kubernetes.io/api/<kind>/<group>/<version>" and refers to
"/api/_definitions.json#/$defs/…", i.e. https://kubernetes.io/api/_definitions.json: a loader would
fetch it over the network. Without the "$id" a schema's base is its own file, so the relative
"_definitions.json#/$defs/…" resolves to the _definitions.json beside it.
"""
import json
import pathlib
import sys
import zipfile

out, version = pathlib.Path(sys.argv[1]), sys.argv[2]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict/"
REMOTE = "/api/_definitions.json"


def rewrite(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref.startswith(REMOTE):
                node["$ref"] = "_definitions.json" + ref[len(REMOTE):]
            elif not ref.startswith("#"):
                sys.exit(f"error: unexpected $ref {ref!r}: only {REMOTE}… and local #… are known")
        for value in node.values():
            rewrite(value)
    elif isinstance(node, list):
        for value in node:
            rewrite(value)


wheel = next((out / ".wheel").glob("kubernetes_validate-*.whl"))
count = 0
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if not name.startswith(prefix) or not name.endswith(".json"):
            continue
        schema = json.loads(zf.read(name))
        schema.pop("$id", None)
        rewrite(schema)
        (out / name[len(prefix):]).write_text(json.dumps(schema, separators=(",", ":")))
        count += 1
if count == 0 or not (out / "_definitions.json").is_file() or not (out / "deployment-apps-v1.json").is_file():
    sys.exit(f"error: no {version} strict schemas in {wheel.name} (looked under {prefix})")
print(f"  {count} schemas written")
PY
  rm -rf "$SCHEMAS_DIR/.wheel"
  echo "$K8S_SCHEMA_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" > "$SCHEMAS_DIR/.complete"
fi

# --- the ServiceMonitor CRD (prometheus-operator module zip, shared GOMODCACHE) ----------------------
if ! ready "$PROMOP_DIR"; then
  rm -rf "$PROMOP_DIR"
  mkdir -p "$PROMOP_DIR"
  log "ServiceMonitor CRD from github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
  moddir=$(dir_of "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  crd="$moddir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  [ -f "$crd" ] || { echo "error: $crd is not in the module" >&2; exit 1; }
  cp "$crd" "$PROMOP_DIR/"
  chmod 644 "$PROMOP_DIR/monitoring.coreos.com_servicemonitors.yaml"  # the module cache is read-only
  echo "$PROMETHEUS_OPERATOR_VERSION" > "$PROMOP_DIR/.complete"
fi

log "done in $(( $(date +%s) - start ))s: helm $HELM_VERSION, helm-unittest $HELM_UNITTEST_VERSION, kubeconform $KUBECONFORM_VERSION, schemas $K8S_SCHEMA_VERSION in $TOOLS"
