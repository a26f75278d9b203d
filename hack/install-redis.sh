#!/usr/bin/env bash
# Makes sure redis-server is installed: Argo CD's application controller and repo-server keep their
# caches in Redis, and the Argo CD loop test (tests/e2e/test_argocd_loop.py) and `make demo-argocd`
# start a private one on a free loopback port. Installs the Debian package redis-server with apt-get
# when it is missing (as root, or through passwordless sudo), without starting the system service.
# A second run with redis-server on PATH is a no-op.
set -euo pipefail

if command -v redis-server >/dev/null; then
  echo "redis-server: $(redis-server --version | head -1)"
  exit 0
fi
fail() {
  echo "error: redis-server is not installed and $1. Install the Debian package redis-server" \
    "(apt-get install redis-server) or put a redis-server binary on PATH, then run \`make argocd\` again." >&2
  exit 1
}
command -v apt-get >/dev/null || fail "this machine has no apt-get"
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  fail "this user can neither run apt-get (not root) nor sudo without a password"
fi

# Package scripts must not start a system-wide Redis on port 6379: a policy-rc.d refusing every
# service start, only for this install, when the machine has none.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 0755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

echo "redis-server: not installed; installing the Debian package (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 -q)
"${apt[@]}" update >/dev/null || fail "apt-get update failed"
"${apt[@]}" install -y --no-install-recommends redis-server >/dev/null || fail "apt-get install redis-server failed"
command -v redis-server >/dev/null || fail "the package installed no redis-server on PATH"
echo "redis-server: $(redis-server --version | head -1)"
