#!/usr/bin/env bash
# run-all.sh - builds what the benchmarks need (if needed) and runs them all.
#
# stdout: one JSON object per line, one per benchmark run. Everything else goes to stderr.
#
# Usage: bench/run-all.sh [--build-dir DIR] [--no-build] [--repeat N] [-d SECS]
#   --build-dir DIR  CMake build dir (env TABAGENT_BUILD_DIR, default <repo>/build)
#   --no-build       use the binaries as they are
#   --repeat N       run each benchmark N times (default 1)
#   -d SECS          wrk duration for http_health (default 10)
# Binaries: $TABAGENT_SERVER_BIN and $TABAGENT_BENCH_NATIVE_BIN override the build dir's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${TABAGENT_BUILD_DIR:-$root/build}"
do_build=1
repeat=1
duration="${TABAGENT_BENCH_DURATION:-10}"

while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build="${2:?}"; shift 2 ;;
        --no-build) do_build=0; shift ;;
        --repeat) repeat="${2:?}"; shift 2 ;;
        -d|--duration) duration="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) echo "run-all: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "run-all: --repeat needs a positive number" >&2; exit 2; }

server="${TABAGENT_SERVER_BIN:-$build/tabagent-server}"
native="${TABAGENT_BENCH_NATIVE_BIN:-$build/bench/native_roundtrip}"

if [ "$do_build" = 1 ]; then
    {
        [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build"
        cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target tabagent-server
        # bench/ is a CMake subdirectory once the top level adds it; until then, compile directly.
        if ! cmake --build "$build" --target native_roundtrip 2>/dev/null; then
            echo "run-all: no native_roundtrip CMake target; compiling bench/native_roundtrip.c with cc" >&2
            mkdir -p "$(dirname "$native")"
            "${CC:-cc}" -std=c17 -O2 -Wall -Wextra -Werror -o "$native" "$here/native_roundtrip.c"
        fi
    } >&2
fi
[ -x "$server" ] || { echo "run-all: no server binary at $server" >&2; exit 1; }
[ -x "$native" ] || { echo "run-all: no native_roundtrip binary at $native" >&2; exit 1; }

status=0
for i in $(seq 1 "$repeat"); do
    echo "run-all: round $i/$repeat: http_health" >&2
    TABAGENT_SERVER_BIN="$server" "$here/http_health.sh" -d "$duration" || status=1
    echo "run-all: round $i/$repeat: native_roundtrip" >&2
    "$native" --pipelined --server "$server" || status=1
done
exit "$status"
