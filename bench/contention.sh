#!/usr/bin/env bash
# contention.sh - "no collapse under contention": decode speed with 1 and 2 threads while a
# CPU-bound busy loop occupies one core.
#
# A thread pool that spins on barriers, or splits work into equal slices per thread, collapses
# when one of its threads shares a core with another busy process: every step waits for the
# slowest thread, i.e. for the scheduler to give it a slice. This script starts
# `taskset -c SPIN_CPU sh -c 'while :; do :; done'` (killed on exit), then runs
#   tabagent bench -m F -p PP -n TG -t T -r REPEATS --json
#   llama-bench   -m F -p PP -n TG -t T -r REPEATS -o json [-ngl 0]   (only if LLAMA_BENCH is set)
# for every T in THREADS, and reports tg tokens/s per thread count and t2_over_t1 (with 2 threads
# on 2 cores and one core busy, ~1 is fine, well below 1 is a collapse). With QUIET=1 the same
# runs are first made without the busy loop, for reference.
#
# stdout: one JSON line per tool and condition:
#   {"bench":"contention","tool":"tabagent","spinner":true,"spinner_cpu":1,...,
#    "tg_tokens_per_s":{"1":X,"2":Y},"t2_over_t1":Y/X}
# stderr: progress and a short summary.
#
# Environment (defaults):
#   TABAGENT      tabagent binary                           (<repo>/build/tabagent)
#   LLAMA_BENCH   llama-bench binary; unset = tabagent only
#   MODEL         model file; unset = synth SHAPE/TYPE into MODEL_DIR (reused when there)
#   SHAPE, TYPE   (qwen2-0.5b, Q4_0)      MODEL_DIR (/tmp/tabagent-bench-models)
#   THREADS       thread counts ("1 2")   PP (0: decode only)   TG (128)   REPEATS (3)
#   SPIN_CPU      CPU the busy loop is pinned to (1; 0 on a one-CPU machine)
#   QUIET         1 = also measure without the busy loop first (1)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
tabagent="${TABAGENT:-${TABAGENT_BUILD_DIR:-$root/build}/tabagent}"
llama_bench="${LLAMA_BENCH:-}"
model="${MODEL:-}"
shape="${SHAPE:-qwen2-0.5b}"
type="${TYPE:-Q4_0}"
model_dir="${MODEL_DIR:-/tmp/tabagent-bench-models}"
threads="${THREADS:-1 2}"
pp="${PP:-0}"
tg="${TG:-128}"
repeats="${REPEATS:-3}"
ncpu="$(nproc 2>/dev/null || echo 1)"
if [ "$ncpu" -gt 1 ]; then spin_cpu="${SPIN_CPU:-1}"; else spin_cpu="${SPIN_CPU:-0}"; fi
quiet="${QUIET:-1}"

die() { echo "contention: $*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    "") ;;
    *) die "no arguments; configure with environment variables (see --help)" ;;
esac

for v in pp tg repeats spin_cpu; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
if [ "$tg" -lt 1 ] || [ "$repeats" -lt 1 ]; then die "TG and REPEATS must be >= 1"; fi
for t in $threads; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "bad thread count '$t' in THREADS"; done
command -v python3 >/dev/null || die "python3 not found (scripts/setup.sh installs it)"
[ -x "$tabagent" ] || die "tabagent binary not found: $tabagent (build first, or set TABAGENT)"
"$tabagent" bench --help >/dev/null 2>&1 ||
    die "'$tabagent bench' does not work (no bench command in this build?)"

llama_args=()
if [ -n "$llama_bench" ]; then
    [ -x "$llama_bench" ] || die "LLAMA_BENCH is not an executable: $llama_bench"
    if "$llama_bench" --help 2>&1 | grep -q -- '-ngl'; then llama_args+=(-ngl 0); fi
else
    echo "contention: LLAMA_BENCH is not set: SKIPPING llama.cpp (tabagent only)" >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tabagent-contention.XXXXXX")"
spin_pid=""
stop_spinner() {
    if [ -n "$spin_pid" ]; then
        kill "$spin_pid" 2>/dev/null || true
        wait "$spin_pid" 2>/dev/null || true
        spin_pid=""
    fi
}
# shellcheck disable=SC2317  # called by the trap
cleanup() { stop_spinner; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$model" ]; then
    case "$shape" in
        qwen2-*) arch=qwen2 ;;
        qwen3-*) arch=qwen3 ;;
        phi-3*) arch=phi3 ;;
        llama-*|smollm-*|tiny|tiny-odd) arch=llama ;;
        *) arch="${ARCH:?no arch known for shape $shape; set ARCH}" ;;
    esac
    mkdir -p "$model_dir"
    model="$model_dir/$shape-$type.gguf"
    if [ ! -s "$model" ]; then
        part="$model_dir/.$shape-$type.$$.gguf"
        echo "contention: synth $shape $type -> $model" >&2
        "$tabagent" synth -o "$part" --arch "$arch" --shape "$shape" --type "$type" >&2 ||
            { rm -f "$part"; die "synth failed"; }
        mv "$part" "$model"
    fi
fi
[ -f "$model" ] || die "no model file: $model"

# CPU seconds the busy loop has used (utime + stime from /proc), to show it really ran.
spin_cpu_s() {
    local stat rest
    stat="$(cat "/proc/$spin_pid/stat" 2>/dev/null)" || { echo 0; return; }
    rest="${stat##*) }"   # drop "pid (comm) "
    # shellcheck disable=SC2086  # split the fields on purpose
    set -- $rest
    echo "$(( ${12} + ${13} )) $(getconf CLK_TCK)" | awk '{ printf "%.2f", $1 / $2 }'
}

start_spinner() {
    if command -v taskset >/dev/null; then
        taskset -c "$spin_cpu" sh -c 'while :; do :; done' &
    else
        echo "contention: no taskset: the busy loop is not pinned" >&2
        sh -c 'while :; do :; done' &
    fi
    spin_pid=$!
    sleep 0.3
    kill -0 "$spin_pid" 2>/dev/null || die "could not start the busy loop on CPU $spin_cpu"
}

# tg_of TOOL FILE -> tg tokens/s (llama-bench: median of the tg test's samples_ts)
tg_of() {
    python3 - "$1" "$2" <<'EOF'
import json, statistics, sys
tool, path = sys.argv[1:]
d = json.load(open(path))
if tool == "tabagent":
    print(d["tg_tokens_per_s"])
else:
    for t in d:
        if t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0:
            print(statistics.median(t.get("samples_ts") or [t["avg_ts"]]))
            break
    else:
        sys.exit("no tg test in llama-bench output")
EOF
}

status=0
ours_pp="$pp"
# run_one TOOL T OUT: one measurement, JSON to OUT; returns 1 on failure.
run_one() {
    local tool="$1" t="$2" out="$3"
    if [ "$tool" = tabagent ]; then
        if ! "$tabagent" bench -m "$model" -p "$ours_pp" -n "$tg" -t "$t" -r "$repeats" --json \
                >"$out" 2>"$out.log"; then
            if [ "$ours_pp" = 0 ]; then
                echo "contention: tabagent bench -p 0 failed; using -p 16 from now on" >&2
                ours_pp=16
                run_one "$@"
                return
            fi
            echo "contention: tabagent bench -t $t FAILED:" >&2
            tail -n 20 "$out.log" >&2
            return 1
        fi
    else
        if ! "$llama_bench" -m "$model" -p "$pp" -n "$tg" -t "$t" -r "$repeats" \
                "${llama_args[@]}" -o json >"$out" 2>"$out.log"; then
            echo "contention: llama-bench -t $t FAILED:" >&2
            tail -n 20 "$out.log" >&2
            return 1
        fi
    fi
}

tools=(tabagent)
[ -z "$llama_bench" ] || tools+=(llama.cpp)
conditions=()
[ "$quiet" != 1 ] || conditions+=(quiet)
conditions+=(contended)

for cond in "${conditions[@]}"; do
    spin_used=""
    if [ "$cond" = contended ]; then
        start_spinner
        echo "contention: busy loop pid $spin_pid on CPU $spin_cpu" >&2
        spin_start="$(spin_cpu_s)"
        wall_start="$(date +%s.%N)"
    fi
    for tool in "${tools[@]}"; do
        tps_json=""
        for t in $threads; do
            echo "contention: $cond: $tool -t $t" >&2
            out="$tmp/$tool.$cond.$t.json"
            v=null
            if run_one "$tool" "$t" "$out"; then
                v="$(tg_of "$tool" "$out")" || { v=null; status=1; }
            else
                status=1
            fi
            tps_json="$tps_json${tps_json:+,}\"$t\":$v"
        done
        if [ "$cond" = contended ]; then
            spin_used="$(awk -v a="$spin_start" -v b="$(spin_cpu_s)" -v w0="$wall_start" \
                -v w1="$(date +%s.%N)" 'BEGIN { printf "%.2f", (b - a) / (w1 - w0) }')"
        fi
        line="$(python3 - "$tool" "$cond" "$spin_cpu" "$model" "$pp" "$ours_pp" "$tg" "$repeats" \
                "{$tps_json}" "${spin_used:-null}" "$tmp/summary.txt" <<'EOF'
import json, sys
tool, cond, spin_cpu, model, pp, ours_pp, tg, repeats, tps, spin_used, summary = sys.argv[1:]
tps = json.loads(tps)
row = {"bench": "contention", "tool": tool, "condition": cond, "spinner": cond == "contended",
       "spinner_cpu": int(spin_cpu) if cond == "contended" else None,
       "model": model, "pp_tokens": int(ours_pp if tool == "tabagent" else pp),
       "tg_tokens": int(tg), "repeats": int(repeats),
       "tg_tokens_per_s": {k: (round(v, 2) if v is not None else None) for k, v in tps.items()}}
t1, t2 = tps.get("1"), tps.get("2")
row["t2_over_t1"] = round(t2 / t1, 3) if t1 and t2 is not None else None
# share of one CPU the busy loop got while this tool ran (from /proc; ~1.0 = it really ran)
row["spinner_cpu_share"] = json.loads(spin_used)
print(json.dumps(row, separators=(",", ":")))
with open(summary, "a") as f:
    tps_s = "  ".join(f"-t {k}: {v if v is not None else '-'}" for k, v in row["tg_tokens_per_s"].items())
    f.write(f"{tool:10} {cond:9}  tg tokens/s  {tps_s}   t2/t1 {row['t2_over_t1']}\n")
EOF
)"
        echo "$line"
        if [ "$cond" = contended ]; then  # next tool: measure the busy loop's share afresh
            spin_start="$(spin_cpu_s)"
            wall_start="$(date +%s.%N)"
        fi
    done
    [ "$cond" != contended ] || stop_spinner
done

{ echo; cat "$tmp/summary.txt" 2>/dev/null || true; } >&2
exit "$status"
