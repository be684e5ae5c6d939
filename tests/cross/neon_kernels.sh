#!/usr/bin/env bash
# neon_kernels.sh - cross-builds the NEON kernel set (src/engine/kernels_neon*.c) with
# the engine files the kernel checker needs, statically, for AArch64, and runs the
# checker (tests/cross/kernels_main.c) under qemu-user: every NEON kernel against the
# scalar reference. The whole project cannot be cross-built here (its other libraries
# have no arm64 builds), so only these files are compiled.
#
# Builds twice: baseline ARMv8.0 NEON, and with the dot-product extension
# (-march=armv8.2-a+dotprod, the vdotq_s32 path), running the second under a qemu CPU
# model that has it.
#
# Needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu
# libc6-dev-arm64-cross qemu-user); without them it says so and exits 0.
# Usage: tests/cross/neon_kernels.sh [build-dir]   (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/../.."

CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
  echo "neon_kernels: skipped: no aarch64 cross compiler/qemu ($CC, $QEMU)"
  exit 0
fi

out=${1:-}
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# The kernel sets, the quant module they are tested against, the repacking of the
# packed kernels, and the type table.
srcs=(
  src/engine/kernels.c src/engine/kernels_neon*.c
  src/engine/quant.c src/engine/quant_legacy.c src/engine/quant_k.c src/engine/quant_fit.c
  src/engine/repack.c src/gguf/ggml_types.c
  tests/cross/kernels_main.c
)
flags=(-O2 -static -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Werror -I src)

status=0
run() { # name, extra compiler flags, qemu cpu
  local name=$1 march=$2 cpu=$3
  echo "== $name: $CC ${flags[*]} $march"
  # shellcheck disable=SC2086
  "$CC" "${flags[@]}" $march -o "$out/kernels_$name" "${srcs[@]}" -lm -pthread
  if "$QEMU" -cpu "$cpu" "$out/kernels_$name" neon; then :; else status=1; fi
}
run neon "" cortex-a53
run neon_dotprod "-march=armv8.2-a+dotprod" max
if ((status)); then
  echo "neon_kernels: FAILED"
else
  echo "neon_kernels: passed"
fi
exit $status
