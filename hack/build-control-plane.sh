#!/usr/bin/env bash
# Builds kube-apiserver and etcd of one pinned Kubernetes release from their published Go
# modules (through the Go module proxy) into a cache outside the repository.
#
# k8s.io/kubernetes replaces every k8s.io staging module with a local path, so
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v…` is refused. A throwaway wrapper module
# requires the release and points each staging module at its published twin (v0.<minor>.<patch>).
# etcd's server module has local replaces too; the wrapper builds its main package the same way,
# at the etcd version the Kubernetes release itself pins.
#
# Output: $DBJOBS_CACHE/controlplane/<k8s-version>/bin/{kube-apiserver,etcd}
# A second run with the binaries present is a no-op.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.32.13}"
CACHE="${DBJOBS_CACHE:-$HOME/.cache/dbjobs}"
OUT="$CACHE/controlplane/$K8S_VERSION"
BIN="$OUT/bin"

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -f "$OUT/.complete" ]; then
  echo "control plane $K8S_VERSION: cached at $BIN (no build needed)"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go is required to build the control plane (not found on PATH)" >&2; exit 1; }

start=$(date +%s)
SRC="$OUT/src"
rm -rf "$SRC"
mkdir -p "$SRC" "$BIN"
minor_patch="${K8S_VERSION#v1.}"
staging_version="v0.${minor_patch}"

echo "control plane $K8S_VERSION: resolving the release's go.mod through the module proxy"
cd "$SRC"
cat > go.mod <<MOD
module dbjobs.local/controlplane

go 1.23
MOD
# Learn the staging module list and the pinned etcd version from the release's own go.mod.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > dl.json
gomod=$(python3 -c 'import json,sys; print(json.load(open("dl.json"))["GoMod"])')
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
)
GO
echo "control plane $K8S_VERSION: etcd $etcd_version; resolving dependencies (go mod tidy)"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }

echo "control plane $K8S_VERSION: building etcd $etcd_version (cold: a few minutes on 2 cores)"
CGO_ENABLED=0 go build -trimpath -o "$BIN/etcd" go.etcd.io/etcd/server/v3
echo "control plane $K8S_VERSION: building kube-apiserver (cold: several minutes on 2 cores)"
CGO_ENABLED=0 go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor_patch%%.*}" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "$K8S_VERSION etcd=$etcd_version" > "$OUT/.complete"
echo "control plane $K8S_VERSION: built in $(( $(date +%s) - start ))s into $BIN"
