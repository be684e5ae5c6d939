#!/bin/sh
# Builds the hnsw_gen and hnsw_bench targets (bench/CMakeLists.txt) in build/, makes
# the data once (cached in $HNSW_BENCH_DATA, default /tmp/ta_hnsw_bench) and runs the
# benchmark: JSON lines on stdout.
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
exec "$build/bench/hnsw_bench" "$data" "$m" "$efc" "$st"
