#!/usr/bin/env bash
# Builds the real Databricks clients the integration suite drives against the emulator (issue 3
# item 6), into a cache outside the repository:
#
#   $DBJOBS_CACHE/clients/sdk-<v>/             venv with databricks-sdk <v> (< 0.101: no start-up probe)
#   $DBJOBS_CACHE/clients/databricks-cli-<v>/  venv with the legacy Python databricks-cli (Jobs 2.0/2.1)
#   $DBJOBS_CACHE/clients/gosdk-<hash>/bin/gosdkdriver  tests/integration/clients/gosdk built on the
#                                               official Go SDK. (The Go Databricks CLI would be the
#                                               better client, but the Go module proxy refuses the
#                                               source of github.com/databricks/cli: 403 on its .zip/.mod.)
#   $DBJOBS_CACHE/clients/openapi/jobs-2.1-aws.yaml  the official Jobs 2.1 OpenAPI document, taken from
#                                               the prefect-databricks wheel on PyPI (never copied into
#                                               the repository)
#
# Each piece is finished by writing its .complete marker last, so a second run with everything present
# is a no-op, and a half-built piece is rebuilt. Concurrent runs serialise on a lock file. The Go build
# shares the machine's GOMODCACHE with the control-plane build and uses -trimpath.
set -euo pipefail

SDK_OLD_VERSION="${SDK_OLD_VERSION:-0.100.0}"
LEGACY_CLI_VERSION="${LEGACY_CLI_VERSION:-0.18.0}"
PREFECT_DATABRICKS_VERSION="${PREFECT_DATABRICKS_VERSION:-0.4.2}"
PYTHON="${PYTHON:-python3}"
CACHE="${DBJOBS_CACHE:-$HOME/.cache/dbjobs}"
OUT="$CACHE/clients"

SDK_DIR="$OUT/sdk-$SDK_OLD_VERSION"
LEGACY_DIR="$OUT/databricks-cli-$LEGACY_CLI_VERSION"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
GO_DRIVER_SRC="$REPO/tests/integration/clients/gosdk"
# The driver's build is keyed by its source, so editing main.go or go.mod rebuilds it.
GO_DRIVER_HASH="$(cat "$GO_DRIVER_SRC/go.mod" "$GO_DRIVER_SRC/main.go" | sha256sum | cut -c1-16)"
GO_DIR="$OUT/gosdk-$GO_DRIVER_HASH"
OPENAPI_DIR="$OUT/openapi"

ready() { [ -f "$1/.complete" ]; }
all_ready() { ready "$SDK_DIR" && ready "$LEGACY_DIR" && ready "$GO_DIR" && ready "$OPENAPI_DIR"; }

if all_ready; then
  echo "clients: cached in $OUT (no build needed)"
  exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  echo "clients: another build into $OUT is running; waiting for it"
  flock 9
fi

start=$(date +%s)
log() { echo "clients [$(( $(date +%s) - start ))s]: $*"; }

python_venv() {  # python_venv <dir> <pip requirement>
  local dir=$1 req=$2
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$req"
  echo "$req" > "$dir/.complete"
}

if ! ready "$SDK_DIR"; then
  log "databricks-sdk==$SDK_OLD_VERSION into $SDK_DIR"
  python_venv "$SDK_DIR" "databricks-sdk==$SDK_OLD_VERSION"
fi

if ! ready "$LEGACY_DIR"; then
  log "databricks-cli==$LEGACY_CLI_VERSION into $LEGACY_DIR"
  python_venv "$LEGACY_DIR" "databricks-cli==$LEGACY_CLI_VERSION"
fi

if ! ready "$OPENAPI_DIR"; then
  log "Jobs 2.1 OpenAPI document from prefect-databricks==$PREFECT_DATABRICKS_VERSION"
  rm -rf "$OPENAPI_DIR"
  mkdir -p "$OPENAPI_DIR/wheel"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
    "prefect-databricks==$PREFECT_DATABRICKS_VERSION" -d "$OPENAPI_DIR/wheel"
  "$PYTHON" - "$OPENAPI_DIR" <<'PY'
import pathlib, sys, zipfile
out = pathlib.Path(sys.argv[1])
wheel = next((out / "wheel").glob("prefect_databricks-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    data = zf.read("prefect_databricks/schemas/jobs-2.1-aws.yaml")
(out / "jobs-2.1-aws.yaml").write_bytes(data)
PY
  rm -rf "$OPENAPI_DIR/wheel"
  echo "prefect-databricks==$PREFECT_DATABRICKS_VERSION" > "$OPENAPI_DIR/.complete"
fi

if ! ready "$GO_DIR"; then
  command -v go >/dev/null || { echo "error: Go is required to build the Go SDK driver (not found on PATH)" >&2; exit 1; }
  log "Go SDK driver ($GO_DRIVER_SRC, databricks-sdk-go from the Go module proxy; cold: about 3-4 minutes on 2 cores)"
  rm -rf "$GO_DIR"
  mkdir -p "$GO_DIR/src" "$GO_DIR/bin"
  cp "$GO_DRIVER_SRC/go.mod" "$GO_DRIVER_SRC/main.go" "$GO_DIR/src/"
  cd "$GO_DIR/src"
  # go.sum is generated here, from the proxy's checksums, rather than kept in the repository.
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }
  t0=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -o "$GO_DIR/bin/gosdkdriver.tmp" .
  mv -f "$GO_DIR/bin/gosdkdriver.tmp" "$GO_DIR/bin/gosdkdriver"
  log "built the Go SDK driver in $(( $(date +%s) - t0 ))s"
  cd "$OUT"
  rm -rf "$GO_DIR/src"
  echo "$GO_DRIVER_HASH" > "$GO_DIR/.complete"
fi

log "done: clients in $OUT"
