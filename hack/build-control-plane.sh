#!/usr/bin/env bash
# Builds kube-apiserver and etcd of one pinned Kubernetes release from their published Go
# modules (through the Go module proxy) into a cache outside the repository; kubectl too when the
# machine has none on PATH (or BUILD_KUBECTL=1).
#
# k8s.io/kubernetes replaces every k8s.io staging module with a local path, so
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v…` is refused. A throwaway wrapper module
# requires the release and points each staging module at its published twin (v0.<minor>.<patch>).
# etcd's server module has local replaces too; the wrapper builds its main package the same way,
# at the etcd version the Kubernetes release itself pins.
#
# Output: $DBJOBS_CACHE/controlplane/<k8s-version>/bin/{kube-apiserver,etcd[,kubectl]}
# A second run with the binaries present is a no-op. Concurrent runs serialise on a lock file and the
# later one finds the cache filled; binaries are installed atomically and .complete is written last.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.32.13}"
CACHE="${DBJOBS_CACHE:-$HOME/.cache/dbjobs}"
OUT="$CACHE/controlplane/$K8S_VERSION"
BIN="$OUT/bin"
BUILD_KUBECTL="${BUILD_KUBECTL:-0}"

core_ready() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -f "$OUT/.complete" ]; }
kubectl_ready() { { [ "$BUILD_KUBECTL" != 1 ] && command -v kubectl >/dev/null; } || [ -x "$BIN/kubectl" ]; }

if core_ready && kubectl_ready; then
  echo "control plane $K8S_VERSION: cached at $BIN (no build needed)"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go is required to build the control plane (not found on PATH)" >&2; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  echo "control plane $K8S_VERSION: another build into $OUT is running; waiting for it"
  flock 9
  if core_ready && kubectl_ready; then
    echo "control plane $K8S_VERSION: built by the other run, cached at $BIN"
    exit 0
  fi
fi

start=$(date +%s)
log() { echo "control plane $K8S_VERSION [$(( $(date +%s) - start ))s]: $*"; }

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
build() {  # build <label> <output> <go build args...>
  local label=$1 out=$2 t0; shift 2
  t0=$(date +%s)
  # fd 9 (the lock) closed so the heartbeat never holds it; 1 s sleeps so a killed heartbeat leaves
  # no long-lived orphan.
  ( exec 9>&-; while :; do for _ in $(seq 30); do sleep 1; done; log "still building $label ($(( $(date +%s) - t0 ))s so far)"; done ) &
  heartbeat_pid=$!
  CGO_ENABLED=0 go build -trimpath -o "$out.tmp" "$@"
  stop_heartbeat
  mv -f "$out.tmp" "$out"
  log "built $label in $(( $(date +%s) - t0 ))s"
}

SRC="$OUT/src"
rm -rf "$SRC"
mkdir -p "$SRC" "$BIN"
minor_patch="${K8S_VERSION#v1.}"
staging_version="v0.${minor_patch}"
version_ldflags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor_patch%%.*}"

log "resolving the release's go.mod through the module proxy"
cd "$SRC"
cat > go.mod <<MOD
module dbjobs.local/controlplane

go 1.23
MOD
# Learn the staging module list and the pinned etcd version from the release's own go.mod.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > dl.json
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' dl.json)
[ -f "$gomod" ] || { echo "error: go mod download gave no go.mod for k8s.io/kubernetes@$K8S_VERSION:" >&2; cat dl.json >&2; exit 1; }
staging=$(grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}')
etcd_version=$(grep -E '^\s*go\.etcd\.io/etcd/server/v3 v' "$gomod" | awk '{print $2}')
[ -n "$staging" ] || { echo "error: no staging replaces found in $gomod" >&2; exit 1; }
[ -n "$etcd_version" ] || { echo "error: no etcd server version found in $gomod" >&2; exit 1; }

{
  echo "module dbjobs.local/controlplane"
  echo
  echo "go 1.23"
  echo
  echo "require ("
  echo "  k8s.io/kubernetes $K8S_VERSION"
  echo "  go.etcd.io/etcd/server/v3 $etcd_version"
  echo ")"
  echo
  echo "replace ("
  for m in $staging; do echo "  $m => $m $staging_version"; done
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
log "etcd $etcd_version; resolving dependencies (go mod tidy)"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }

if ! core_ready; then
  # Removed first so a reader never pairs the marker with a half-replaced binary.
  rm -f "$OUT/.complete"
  log "building etcd $etcd_version (cold: about 1-2 minutes on 2 cores)"
  build "etcd $etcd_version" "$BIN/etcd" go.etcd.io/etcd/server/v3
  log "building kube-apiserver (cold: about 4-5 minutes on 2 cores)"
  build kube-apiserver "$BIN/kube-apiserver" -ldflags "$version_ldflags" k8s.io/kubernetes/cmd/kube-apiserver
  echo "$K8S_VERSION etcd=$etcd_version" > "$OUT/.complete"
fi
if ! kubectl_ready; then
  log "building kubectl (no kubectl on PATH, or BUILD_KUBECTL=1)"
  build kubectl "$BIN/kubectl" -ldflags "$version_ldflags" k8s.io/kubernetes/cmd/kubectl
fi
log "done: binaries in $BIN"
