#!/usr/bin/env bash
# avx512_kernels.sh - checks the AVX-512 kernel sets (src/engine/kernels_avx512*.c) and
# distances (src/index/distance_avx512*.c) on any x86-64 CPU, AVX-512 or not: the same
# source files are compiled with -DTA_SIMDE_AVX512, which makes src/core/simd_avx512.h
# take the AVX-512 intrinsics from SIMDe's portable implementations instead of the
# compiler's (no -mavx512*: the build is plain AVX2 + FMA + F16C, SIMDe's backend), and
# two checkers run every kernel of the sets "avx512", "avx512vnni" and "avx512bf16"
# (tests/cross/kernels_main.c, with matvec.c so that BF16 prompts go through ta_matmul
# too) and both distance sets (tests/cross/distance_main.c) against the scalar
# references. On an AVX-512 CPU the unit tests (test_kernels, test_hnsw) run the
# natively compiled code as well.
#
# Needs SIMDe's headers (Debian: libsimde-dev; SIMDE_DIR=dir for others) and a CPU with
# AVX2 + FMA + F16C (the AVX2 files and the emulation use them); without them it says so
# and exits 0. Debian 12's SIMDe (0.7.4~rc2) lacks a few intrinsics; simd_avx512.h
# defines those for this build.
# Usage: tests/cross/avx512_kernels.sh [build-dir]   (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/../.."

CC=${CC:-cc}
SIMDE_DIR=${SIMDE_DIR:-/usr/include} # where simde/x86/avx512.h is
if [[ ! -f $SIMDE_DIR/simde/x86/avx512.h ]]; then
  echo "avx512_kernels: skipped: no SIMDe headers ($SIMDE_DIR/simde; Debian: libsimde-dev)"
  exit 0
fi
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo || ! grep -qw f16c /proc/cpuinfo; then
  echo "avx512_kernels: skipped: this CPU lacks AVX2/FMA/F16C"
  exit 0
fi

out=${1:-}
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# The kernel sets (scalar, AVX2, AVX-512 three times), the quant module they are tested
# against, the repacking of the packed kernels, the type table, the matrix products
# (kernels_main.c stands in for their thread pool).
engine=(
  src/engine/kernels.c src/engine/kernels_avx2*.c src/engine/kernels_avx512*.c
  src/engine/quant.c src/engine/quant_legacy.c src/engine/quant_k.c src/engine/quant_fit.c
  src/engine/repack.c src/gguf/ggml_types.c src/engine/matvec.c
)
index=(src/index/distance.c src/index/distance_avx2.c src/index/distance_avx512*.c)
# -Wno-psabi: GCC notes that passing 64-byte vectors by value changed ABI in GCC 4.6.
flags=(-O2 -std=c17 -D_GNU_SOURCE -DTA_SIMDE_AVX512 -mavx2 -mfma -mf16c
  -Wall -Wextra -Wshadow -Werror -Wno-psabi -I src)
[[ $SIMDE_DIR == /usr/include ]] || flags+=(-isystem "$SIMDE_DIR")

status=0
echo "== kernels: $CC ${flags[*]}"
"$CC" "${flags[@]}" -DTA_CROSS_MATMUL -o "$out/kernels_avx512" "${engine[@]}" \
  tests/cross/kernels_main.c -lm -pthread
for set in avx512 avx512vnni avx512bf16; do
  if "$out/kernels_avx512" "$set"; then :; else status=1; fi
done
echo "== distances: $CC ${flags[*]}"
"$CC" "${flags[@]}" -o "$out/distance_avx512" "${index[@]}" tests/cross/distance_main.c -lm
if "$out/distance_avx512"; then :; else status=1; fi
if ((status)); then
  echo "avx512_kernels: FAILED"
else
  echo "avx512_kernels: passed"
fi
exit $status
