#!/bin/sh
# Builds the hnsw_gen and hnsw_bench targets (bench/CMakeLists.txt) in build/, makes
# the data once (cached in $HNSW_BENCH_DATA, default /tmp/ta_hnsw_bench) and runs the
# benchmark, then hnswlib on the same data when it is installed, and the ratios: JSON
# lines on stdout.
#   bench/hnsw/run.sh [N=100000] [DIM=384] [M=16] [EF_CONSTRUCTION=200] [f32|i8]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
n=${1:-100000} dim=${2:-384} m=${3:-16} efc=${4:-200} st=${5:-f32}
data=${HNSW_BENCH_DATA:-/tmp/ta_hnsw_bench}/$n-$dim
cmake --build "$build" --target hnsw_gen hnsw_bench >&2
if [ ! -f "$data/gt.ivecs" ]; then
    mkdir -p "$data"
    "$build/bench/hnsw_gen" "$data" "$n" "$dim"
fi
out=$(mktemp)
"$build/bench/hnsw_bench" "$data" "$m" "$efc" "$st" | tee "$out"
# The reference, when Debian's libhnswlib-dev is installed (scripts/setup.sh does):
# hnswlib on the same data, then one line of ratios per (threads, efSearch).
if [ "$st" = f32 ] && [ -f /usr/include/hnswlib/hnswlib.h ] && command -v g++ >/dev/null; then
    g++ -std=c++17 -O3 -march=native -pthread -o "$build/bench/hnswlib_bench" \
        "$here/hnswlib_bench.cpp"
    "$build/bench/hnswlib_bench" "$data" "$m" "$efc" | tee -a "$out"
    python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda lib, b: [r for r in rows if r["lib"] == lib and r["bench"] == b]
ours, ref = get("tabagent", "hnsw_build"), get("hnswlib", "hnsw_build")
if ours and ref:
    print(json.dumps({"bench": "hnsw_vs_hnswlib", "build_time_ratio":
                      round(ours[0]["build_s"] / ref[0]["build_s"], 3)}))
for o in get("tabagent", "hnsw_search"):
    for r in get("hnswlib", "hnsw_search"):
        if (r["threads"], r["ef"]) == (o["threads"], o["ef"]):
            print(json.dumps({"bench": "hnsw_vs_hnswlib", "threads": o["threads"],
                              "ef": o["ef"], "recall_ours": o["recall_at_10"],
                              "recall_hnswlib": r["recall_at_10"],
                              "qps_ratio": round(o["qps"] / r["qps"], 3)}))
PY
fi
rm -f "$out"
