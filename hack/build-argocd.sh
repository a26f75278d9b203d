#!/usr/bin/env bash
# Builds Argo CD (one pinned release) from its published Go module, for the health-check tests and
# the Git → Argo CD → Databricks loop test, into a cache outside the repository:
#
#   $DBJOBS_CACHE/argocd/<version>/bin/argocd          the multi-call binary (…/v3/cmd, version ldflags set)
#   $DBJOBS_CACHE/argocd/<version>/bin/argocd-application-controller, argocd-repo-server
#                                                       symlinks to it: cmd/main.go dispatches on argv[0]
#   $DBJOBS_CACHE/argocd/<version>/bin/git-verify-wrapper.sh
#                                                       from the same module (the repo-server runs it from PATH)
#   $DBJOBS_CACHE/argocd/<version>/crds/*.yaml          Argo CD's CRDs (manifests/crds/ of the module)
#   $DBJOBS_CACHE/argocd/<version>/healthcheck-<hash>/bin/argocd-healthcheck
#                                                       tests/argocd/healthcheck/main.go, keyed by its source
#
# Argo CD's go.mod replaces its gitops-engine with the local path ./gitops-engine, so
# `go install github.com/argoproj/argo-cd/v3/cmd@…` is refused. A throwaway wrapper module requires
# the release and the published github.com/argoproj/argo-cd/gitops-engine/v3 of the same version,
# and copies every other replace of the release's go.mod (read at build time, never hand-kept).
# The release needs Go 1.27: GOTOOLCHAIN (default go1.27.3) is fetched by the go command through
# the module proxy. Nothing fetched or built here is ever copied into the repository.
#
# A second run with everything present is a no-op. Concurrent runs serialise on a lock file and the
# later one finds the cache filled; binaries are installed atomically and .complete is written last.
set -euo pipefail

ARGOCD_VERSION="${ARGOCD_VERSION:-v3.6.1}"
export GOTOOLCHAIN="${ARGOCD_GOTOOLCHAIN:-go1.27.3}"
CACHE="${DBJOBS_CACHE:-$HOME/.cache/dbjobs}"
OUT="$CACHE/argocd/$ARGOCD_VERSION"
BIN="$OUT/bin"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
HC_SRC="$REPO/tests/argocd/healthcheck/main.go"
# The health-check program's build is keyed by its source, so editing main.go rebuilds it alone.
HC_HASH="$(sha256sum "$HC_SRC" | cut -c1-16)"
HC_DIR="$OUT/healthcheck-$HC_HASH"
MODULE=github.com/argoproj/argo-cd/v3
ENGINE=github.com/argoproj/argo-cd/gitops-engine/v3

argocd_ready() {
  [ -x "$BIN/argocd" ] && [ -x "$BIN/git-verify-wrapper.sh" ] && [ -f "$OUT/crds/application-crd.yaml" ] \
    && [ -f "$OUT/.complete" ]
}
hc_ready() { [ -x "$HC_DIR/bin/argocd-healthcheck" ] && [ -f "$HC_DIR/.complete" ]; }

if argocd_ready && hc_ready; then
  echo "argocd $ARGOCD_VERSION: cached at $BIN and $HC_DIR/bin (no build needed)"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go is required to build Argo CD (not found on PATH)" >&2; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  echo "argocd $ARGOCD_VERSION: another build into $OUT is running; waiting for it"
  flock 9
  if argocd_ready && hc_ready; then
    echo "argocd $ARGOCD_VERSION: built by the other run, cached at $BIN"
    exit 0
  fi
fi

start=$(date +%s)
log() { echo "argocd $ARGOCD_VERSION [$(( $(date +%s) - start ))s]: $*"; }

# A cold build is silent for many minutes; a heartbeat shows it is alive. Stopped on any exit.
heartbeat_pid=""
stop_heartbeat() {
  if [ -n "$heartbeat_pid" ]; then
    kill "$heartbeat_pid" 2>/dev/null || true
    wait "$heartbeat_pid" 2>/dev/null || true
    heartbeat_pid=""
  fi
}
trap stop_heartbeat EXIT
build() {  # build <label> <output> <package> <go build args...>
  local label=$1 out=$2 pkg=$3 t0 total; shift 3
  t0=$(date +%s)
  # Progress: `go build -v` names each package it compiles; out of the packages the target depends on
  # (an upper bound: packages already in GOCACHE are not compiled again).
  total=$(go list -deps "$pkg" 2>/dev/null | wc -l) || total="?"
  # fd 9 (the lock) closed so the heartbeat never holds it; 1 s sleeps so a killed heartbeat leaves
  # no long-lived orphan.
  : > "$SRC/build-$label.log"
  ( exec 9>&-; while :; do for _ in $(seq 30); do sleep 1; done
      log "still building $label ($(( $(date +%s) - t0 ))s so far; compiled $(wc -l < "$SRC/build-$label.log") of at most $total packages)"
    done ) &
  heartbeat_pid=$!
  if ! CGO_ENABLED=0 go build -v -trimpath -o "$out.tmp" "$@" "$pkg" 2> "$SRC/build-$label.log"; then
    stop_heartbeat
    grep -v '^[a-zA-Z0-9._/~-]*$' "$SRC/build-$label.log" >&2 || tail -40 "$SRC/build-$label.log" >&2
    echo "error: building $label failed (full log: $SRC/build-$label.log)" >&2
    exit 1
  fi
  stop_heartbeat
  mv -f "$out.tmp" "$out"
  log "built $label in $(( $(date +%s) - t0 ))s"
}

SRC="$OUT/src"
rm -rf "$SRC"
mkdir -p "$SRC"
cd "$SRC"
log "Go toolchain $GOTOOLCHAIN (fetched through the module proxy the first time); resolving $MODULE@$ARGOCD_VERSION"
cat > go.mod <<MOD
module dbjobs.local/argocd

go 1.27.0
MOD
go mod download -json "$MODULE@$ARGOCD_VERSION" > dl.json
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" dl.json; }
gomod=$(field GoMod)
moddir=$(field Dir)
[ -f "$gomod" ] && [ -d "$moddir" ] || { echo "error: go mod download gave no module for $MODULE@$ARGOCD_VERSION:" >&2; cat dl.json >&2; exit 1; }
go_version=$(awk '$1 == "go" {print $2; exit}' "$gomod")
# Every replace of the release except the local-path one for gitops-engine (a path into the
# argo-cd repository that the module zip does not contain). Comments dropped.
replaces=$(awk '
  /^replace \($/ {inblock=1; next}
  inblock && /^\)$/ {inblock=0; next}
  inblock {print; next}
  /^replace / {sub(/^replace /, ""); print}
' "$gomod" | sed 's://.*$::' | awk 'NF' | grep -v "=> \./" || true)
[ -n "$replaces" ] || { echo "error: no replace directives found in $gomod" >&2; exit 1; }
client_go=$(awk '$1 == "k8s.io/client-go" && $2 == "=>" {print $4}' <<<"$replaces")

{
  echo "module dbjobs.local/argocd"
  echo
  echo "go $go_version"
  echo
  echo "require ("
  echo "  $MODULE $ARGOCD_VERSION"
  echo "  $ENGINE $ARGOCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  sed 's/^[[:space:]]*/  /' <<<"$replaces"
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/argoproj/argo-cd/v3/cmd"
)
GO
mkdir -p healthcheck
cp "$HC_SRC" healthcheck/main.go
log "go $go_version; gitops-engine $ENGINE $ARGOCD_VERSION from the proxy; resolving dependencies (go mod tidy)"
GOFLAGS=-mod=mod go mod tidy -e > tidy.log 2>&1 || { cat tidy.log >&2; exit 1; }
# `go: downloading github.com/go-errors/errors …` on a cold module cache is not an error: judge the other lines.
if grep -v '^go: downloading ' tidy.log | grep -Eq 'error|cannot|missing'; then
  grep -v '^go: downloading ' tidy.log | grep -E 'error|cannot|missing' >&2
  echo "error: go mod tidy could not resolve the wrapper module (full log: $SRC/tidy.log)" >&2
  exit 1
fi

if ! argocd_ready; then
  # Removed first so a reader never pairs the marker with a half-replaced binary.
  rm -f "$OUT/.complete"
  mkdir -p "$BIN" "$OUT/crds"
  # The release's own ldflags (its Makefile's LDFLAGS): version from the VERSION file, the tag, the
  # module's publication time as build date, kubectl's version from client-go. The module proxy does not
  # carry the commit, so gitCommit stays empty and `argocd version` says v<version>+unknown.
  pkg="$MODULE/common"
  version_ldflags="-X $pkg.version=$(cat "$moddir/VERSION")"
  version_ldflags+=" -X $pkg.gitTag=$ARGOCD_VERSION"
  version_ldflags+=" -X $pkg.buildDate=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(field Info)")"
  version_ldflags+=" -X $pkg.gitTreeState=clean"
  version_ldflags+=" -X $pkg.kubectlVersion=${client_go}"
  log "building the argocd multi-call binary (cold: about 13 minutes on 2 busy cores; progress every 30s)"
  build argocd "$BIN/argocd" "$MODULE/cmd" -ldflags "$version_ldflags"
  for name in argocd-application-controller argocd-repo-server argocd-server; do
    ln -sfn argocd "$BIN/$name"
  done
  install -m 0755 "$moddir/hack/git-verify-wrapper.sh" "$BIN/git-verify-wrapper.sh"
  install -m 0644 "$moddir"/manifests/crds/*-crd.yaml "$OUT/crds/"
  echo "$ARGOCD_VERSION go=$go_version toolchain=$GOTOOLCHAIN" > "$OUT/.complete"
  log "$("$BIN/argocd" version --client --short 2>/dev/null || echo 'argocd: version unknown')"
fi
if ! hc_ready; then
  rm -f "$HC_DIR/.complete"
  mkdir -p "$HC_DIR/bin"
  log "building argocd-healthcheck ($HC_SRC)"
  build healthcheck "$HC_DIR/bin/argocd-healthcheck" ./healthcheck
  echo "$ARGOCD_VERSION $HC_HASH" > "$HC_DIR/.complete"
fi
log "done: binaries in $BIN and $HC_DIR/bin"
