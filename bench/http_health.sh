#!/usr/bin/env bash
# http_health.sh - latency and throughput of `GET /v1/health` under wrk.
#
# Starts tabagent-server (--mode http --port 0) with its data dir in a temp dir, runs wrk
# against /v1/health with bench/wrk_json.lua, stops the server, and prints ONE JSON object
# on stdout. Everything else (wrk's own report, progress, server log on failure) goes to stderr.
#
# Usage: bench/http_health.sh [-d SECS] [-c CONNS] [-t THREADS] [-w WARMUP_SECS] [-s SERVER_BIN]
#   -d, --duration      seconds to measure        (env TABAGENT_BENCH_DURATION,    default 10)
#   -c, --connections   concurrent connections    (env TABAGENT_BENCH_CONNECTIONS, default 2)
#   -t, --threads       wrk threads (<= conns)    (env TABAGENT_BENCH_THREADS,     default 2)
#   -w, --warmup        unmeasured warm-up run    (env TABAGENT_BENCH_WARMUP,      default 1; 0 = none)
#   -s, --server        tabagent-server binary    (env TABAGENT_SERVER_BIN, default build/tabagent-server)
#       --wrk           wrk binary                (env WRK, default wrk)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

duration="${TABAGENT_BENCH_DURATION:-10}"
conns="${TABAGENT_BENCH_CONNECTIONS:-2}"
threads="${TABAGENT_BENCH_THREADS:-2}"
warmup="${TABAGENT_BENCH_WARMUP:-1}"
server="${TABAGENT_SERVER_BIN:-$root/build/tabagent-server}"
wrk="${WRK:-wrk}"

die() { echo "http_health: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        -d|--duration) duration="${2:?}"; shift 2 ;;
        -c|--connections) conns="${2:?}"; shift 2 ;;
        -t|--threads) threads="${2:?}"; shift 2 ;;
        -w|--warmup) warmup="${2:?}"; shift 2 ;;
        -s|--server) server="${2:?}"; shift 2 ;;
        --wrk) wrk="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done

for v in duration conns threads warmup; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
[ "$duration" -ge 1 ] || die "duration must be >= 1"
[ "$conns" -ge 1 ] || die "connections must be >= 1"
[ "$threads" -ge 1 ] || die "threads must be >= 1"
# wrk refuses fewer connections than threads.
[ "$threads" -le "$conns" ] || threads="$conns"
[ -x "$server" ] || die "server binary not found: $server (build first, or set TABAGENT_SERVER_BIN)"
command -v "$wrk" >/dev/null || die "wrk not found (Debian: apt-get install wrk)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tabagent-bench-http.XXXXXX")"
log="$tmp/server.log"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nothing may be written in the real home: data dir, database and models under $tmp.
XDG_DATA_HOME="$tmp/data" "$server" --mode http --host 127.0.0.1 --port 0 \
    --log-file "$log" --log-level info </dev/null >&2 &
pid=$!

port=""
for _ in $(seq 1 200); do   # up to ~10 s
    if [ -f "$log" ]; then
        port="$(sed -n 's|.*HTTP API listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n1)"
        [ -n "$port" ] && break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2 2>/dev/null || true; die "server exited during start-up"; }
    sleep 0.05
done
[ -n "$port" ] || { cat "$log" >&2 2>/dev/null || true; die "server did not report its port within 10 s"; }
url="http://127.0.0.1:$port/v1/health"
echo "http_health: server pid $pid on $url" >&2

# A sanity check that the endpoint answers what the bench claims to measure.
if command -v curl >/dev/null; then
    body="$(curl -fsS --max-time 5 "$url")" || die "GET $url failed"
    case "$body" in *'"status":"ok"'*|*'"status": "ok"'*) ;; *) die "unexpected health body: $body" ;; esac
fi

if [ "$warmup" -gt 0 ]; then
    echo "http_health: warm-up ${warmup}s" >&2
    "$wrk" -t"$threads" -c"$conns" -d"${warmup}s" "$url" >/dev/null
fi

echo "http_health: wrk -t$threads -c$conns -d${duration}s --latency $url" >&2
out="$("$wrk" -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$here/wrk_json.lua" "$url")" \
    || { echo "$out" >&2; die "wrk failed"; }
grep -v '^WRK_JSON ' <<<"$out" >&2 || true
json="$(sed -n 's/^WRK_JSON //p' <<<"$out" | tail -n1)"
[ -n "$json" ] || die "wrk printed no JSON (is bench/wrk_json.lua intact?)"

# Stop the server the way a user would and require a clean exit.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
if [ "$rc" -ne 0 ]; then
    cat "$log" >&2 || true
    die "server exited with status $rc after SIGTERM"
fi

printf '{"bench":"http_health","url_path":"/v1/health","connections":%d,"threads":%d,"duration_s":%d,%s\n' \
    "$conns" "$threads" "$duration" "${json#\{}"
