#!/usr/bin/env bash
# pull_bench.sh - model download throughput from the local Hub emulator (tests/hub):
# `tabagent pull` with 1 part against 8 parts, and curl fetching the same file (alone,
# and followed by what a pull also does: sha256 check, sync to disk), on the same nginx
# CDN. Run twice: with the CDN unthrottled (loopback: measures the client's
# own overhead) and with a per-connection rate cap, as real CDNs have (there parallel
# ranges are what makes a download fast). JSON lines on stdout, medians of REPEATS.
#   bench/pull_bench.sh [SIZE_MIB=1024] [RATE=50m] [REPEATS=3]
# Needs the tabagent binary (BUILD_DIR, default build/), node and nginx (scripts/setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$root/build}
size_mib=${1:-1024} rate=${2:-50m} repeats=${3:-3}
work=$(mktemp -d /tmp/ta-pull-bench.XXXXXX)
hub_pid=
cleanup() {
    [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null
    "$root/tests/hub/cdn.sh" stop "$work/cdn" >/dev/null 2>&1 || true
    "$root/tests/hub/cdn.sh" stop "$work/cdn-slow" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cmake --build "$build" --target tabagent >&2
mkdir -p "$work/blobs"
head -c $((size_mib << 20)) /dev/urandom >"$work/model.gguf"
sha=$(sha256sum "$work/model.gguf" | cut -d' ' -f1)
fast=$("$root/tests/hub/cdn.sh" start "$work/cdn" "$work/blobs")
slow=$("$root/tests/hub/cdn.sh" start "$work/cdn-slow" "$work/blobs" "$rate")
cat >"$work/hub.json" <<JSON
{"cdn":"http://127.0.0.1:$fast","blobs_dir":"$work/blobs","repos":{
 "bench/model":{"files":[{"path":"model-Q4_K_M.gguf","source":"$work/model.gguf","lfs":true}]}}}
JSON
node "$root/tests/hub/hub.mjs" --config "$work/hub.json" --port 0 >"$work/hub.out" 2>&1 &
hub_pid=$!
for _ in $(seq 100); do grep -q listening "$work/hub.out" && break; sleep 0.1; done
hub=$(sed -n 's/hub listening on //p' "$work/hub.out")

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# one timed pull of repo with N parts into a fresh cache; prints seconds
pull_s() {
    rm -rf "$work/cache"
    local t0 t1
    t0=$(now)
    HF_ENDPOINT=$hub "$build/tabagent" pull --model-cache-path "$work/cache" --parts "$2" "$1" >/dev/null
    t1=$(now)
    awk "BEGIN { print $t1 - $t0 }"
}
curl_s() {
    local t0 t1
    rm -f "$work/curl.out"
    t0=$(now)
    curl -sS -o "$work/curl.out" "http://127.0.0.1:$1/$sha"
    t1=$(now)
    awk "BEGIN { print $t1 - $t0 }"
}
# curl, then what a pull does after the transfer: the sha256 check and the file on disk
curl_verified_s() {
    local t0 t1
    rm -f "$work/curl.out"
    t0=$(now)
    curl -sS -o "$work/curl.out" "http://127.0.0.1:$1/$sha"
    [[ $(sha256sum "$work/curl.out" | cut -d' ' -f1) == "$sha" ]] || echo "curl: bad sha256" >&2
    sync -d "$work/curl.out"
    t1=$(now)
    awk "BEGIN { print $t1 - $t0 }"
}
for cdn in fast slow; do
    port=$fast label=unthrottled
    [[ $cdn == slow ]] && port=$slow label="per-connection cap $rate"
    # the hub redirects to one CDN: point it at this round's
    sed -i "s#\"cdn\":\"http://127.0.0.1:[0-9]*\"#\"cdn\":\"http://127.0.0.1:$port\"#" "$work/hub.json"
    kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true
    node "$root/tests/hub/hub.mjs" --config "$work/hub.json" --port 0 >"$work/hub.out" 2>&1 &
    hub_pid=$!
    for _ in $(seq 100); do grep -q listening "$work/hub.out" && break; sleep 0.1; done
    hub=$(sed -n 's/hub listening on //p' "$work/hub.out")
    one=() eight=() cur=() curv=()
    for _ in $(seq "$repeats"); do # alternate, so drift hits all three alike
        one+=("$(pull_s bench/model 1)")
        eight+=("$(pull_s bench/model 8)")
        cur+=("$(curl_s "$port")")
        curv+=("$(curl_verified_s "$port")")
    done
    m1=$(printf '%s\n' "${one[@]}" | median)
    m8=$(printf '%s\n' "${eight[@]}" | median)
    mc=$(printf '%s\n' "${cur[@]}" | median)
    mv=$(printf '%s\n' "${curv[@]}" | median)
    mib=$size_mib
    awk -v l="$label" -v mib="$mib" -v r="$repeats" -v a="$m1" -v b="$m8" -v c="$mc" -v v="$mv" 'BEGIN {
        printf "{\"bench\":\"pull\",\"cdn\":\"%s\",\"size_mib\":%d,\"repeats\":%d,", l, mib, r
        printf "\"parts1_mib_s\":%.1f,\"parts8_mib_s\":%.1f,\"curl_mib_s\":%.1f,", mib / a, mib / b, mib / c
        printf "\"curl_sha256_sync_mib_s\":%.1f,", mib / v
        printf "\"parts8_over_parts1\":%.2f,\"parts8_over_curl\":%.2f,", a / b, c / b
        printf "\"parts8_over_curl_sha256_sync\":%.2f}\n", v / b }'
done
