#!/usr/bin/env bash
# Runs a browser test file from tests/e2e (default chromium_native.test.mjs: real headless
# Chromium <-> tabagent-server over native messaging) inside a private network namespace that has only loopback,
# so nothing the browser or the host does can reach or depend on the network.
#
# Needs: TABAGENT_SERVER_BIN (the host binary), node >= 18, playwright-core under
# $TA_SOURCE_DIR/node_modules, Chromium at $CHROMIUM_BIN (default /usr/lib/chromium/chromium),
# and root (or unprivileged user namespaces) for unshare. Anything missing is an error,
# never a skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TA_SOURCE_DIR="${TA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/lib/chromium/chromium}"

die() {
  echo "run-chromium-e2e: FAIL: $*" >&2
  exit 1
}

[[ -n "${TABAGENT_SERVER_BIN:-}" ]] || die "TABAGENT_SERVER_BIN is not set (path of the tabagent-server binary; ctest sets it)"
[[ -x "$TABAGENT_SERVER_BIN" ]] || die "TABAGENT_SERVER_BIN=$TABAGENT_SERVER_BIN is not an executable file (build the tabagent-server target)"
export TABAGENT_SERVER_BIN="$(cd "$(dirname "$TABAGENT_SERVER_BIN")" && pwd)/$(basename "$TABAGENT_SERVER_BIN")"

[[ -x "$CHROMIUM_BIN" ]] || die "Chromium not found at $CHROMIUM_BIN (Debian: apt-get install chromium)"

command -v node >/dev/null 2>&1 || die "node is not on PATH (Debian: apt-get install nodejs; needs >= 18.15 for node:test)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 15) ? 0 : 1)' \
  || die "node $(node --version) is too old; node:test with --test-reporter needs >= 18.15"

node -e 'require.resolve("playwright-core", { paths: [process.argv[1]] })' "$TA_SOURCE_DIR" 2>/dev/null \
  || die "playwright-core is not installed under $TA_SOURCE_DIR/node_modules (run the setup script, or: cd $TA_SOURCE_DIR && npm install)"

command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing"
command -v ip >/dev/null 2>&1 || die "ip (iproute2) is missing"
if [[ "$(id -u)" == 0 ]]; then
  unshare_args=(-n)
else
  unshare_args=(-r -n) # map ourselves to root in a new user namespace to get a network namespace
fi
unshare "${unshare_args[@]}" true 2>/dev/null \
  || die "cannot create a network namespace with: unshare ${unshare_args[*]} (run as root, or enable unprivileged user namespaces)"

test_file="$here/${1:-chromium_native.test.mjs}"
[[ -f "$test_file" ]] || die "no test file $test_file"
echo "run-chromium-e2e: host=$TABAGENT_SERVER_BIN chromium=$CHROMIUM_BIN node=$(node --version)"

# `timeout` is the last line of defence; the test has its own watchdog well below it.
set +e
timeout -k 5 150 unshare "${unshare_args[@]}" bash -c '
  set -e
  ip link set lo up
  exec node --test --test-reporter=spec "$1"
' _ "$test_file"
rc=$?
set -e
if (( rc == 124 || rc == 137 )); then
  die "the test timed out (rc=$rc)"
elif (( rc != 0 )); then
  die "node --test exited with $rc (see the output above)"
fi
echo "run-chromium-e2e: PASS"
