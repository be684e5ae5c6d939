#!/usr/bin/env bash
# setup.sh - installs everything tabagent needs to build, run and test, on Debian 12.
# Idempotent: a second run installs nothing and finishes in about a second.
#   Debian packages: compiler, CMake, libraries, test tools, Chromium for browser tests.
#   npm packages (package.json): the docs UI assets and the browser test driver.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libmicrohttpd-dev libjansson-dev libcmocka-dev libpcre2-dev libutf8proc-dev libsqlite3-dev
  libhnswlib-dev libssl-dev libcurl4-openssl-dev nginx-light
  curl wrk openssl iproute2 util-linux procps
  python3 python3-numpy
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libsimde-dev
  chromium nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine that has Node.js from elsewhere (node + npm on PATH) does not need Debian's.
if command -v node >/dev/null && command -v npm >/dev/null; then
  keep=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || keep+=("$p"); done
  missing=("${keep[@]}")
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# npm packages, from the lock file; skipped when node_modules already matches it.
stamp=node_modules/.tabagent-setup-stamp
if [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
