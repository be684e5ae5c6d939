#!/bin/sh
# Builds the hnsw_gen and hnsw_bench targets (bench/CMakeLists.txt) in a Release build
# (-O3, as hnswlib gets; $BUILD_DIR, default build-release/), makes
# the data once (cached in $HNSW_BENCH_DATA, default /tmp/ta_hnsw_bench) and runs the
# benchmark, then hnswlib on the same data when it is installed, and the ratios: JSON
# lines on stdout.
#   bench/hnsw/run.sh [N=100000] [DIM=384] [M=16] [EF_CONSTRUCTION=200] [f32i8|f32|i8]
# Storage: f32i8 (the default, as the server's memory index uses) keeps float32 vectors
# and walks an int8 copy, re-ranking by float32; f32 walks the floats; i8 keeps int8
# only. hnswlib (float32) is run against the two float32 ones.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-release}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
n=${1:-100000} dim=${2:-384} m=${3:-16} efc=${4:-200} st=${5:-f32i8}
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
if [ "$st" != i8 ] && [ -f /usr/include/hnswlib/hnswlib.h ] && command -v g++ >/dev/null; then
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
# The issue's measure: queries/s at equal recall. For each of our rows, hnswlib's
# queries/s at our recall on its own recall/QPS curve (same threads), log-linear
# between the two hnswlib points that bracket it. Rows whose recall lies outside
# hnswlib's range say so ("beyond": "above"/"below") and give the ratio against
# hnswlib's nearest end point: a lower bound above (hnswlib would need a larger ef),
# an upper bound below.
import math
for o in get("tabagent", "hnsw_search"):
    pts = {}
    for r in get("hnswlib", "hnsw_search"):
        if r["threads"] == o["threads"]:
            x = r["recall_at_10"]
            pts[x] = max(pts.get(x, 0), r["qps"])
    if not pts:
        continue
    # Keep the curve monotone: a point is dropped when a higher recall is as fast.
    curve = []
    for x in sorted(pts, reverse=True):
        if not curve or pts[x] > curve[-1][1]:
            curve.append((x, pts[x]))
    curve.reverse()
    x = o["recall_at_10"]
    line = {"bench": "hnsw_vs_hnswlib_equal_recall", "threads": o["threads"],
            "ef": o["ef"], "recall_ours": x, "qps_ours": o["qps"]}
    if x > curve[-1][0]:
        line.update(beyond="above", qps_hnswlib=curve[-1][1])
    elif x < curve[0][0]:
        line.update(beyond="below", qps_hnswlib=curve[0][1])
    else:
        for (x0, q0), (x1, q1) in zip(curve, curve[1:] + [curve[-1]]):
            if x0 <= x <= x1:
                t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
                line["qps_hnswlib"] = round(math.exp(math.log(q0) + t * (math.log(q1) -
                                                                         math.log(q0))))
                break
    line["qps_ratio_equal_recall"] = round(o["qps"] / line["qps_hnswlib"], 3)
    print(json.dumps(line))
PY
fi
rm -f "$out"
