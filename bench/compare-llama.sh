#!/usr/bin/env bash
# compare-llama.sh - tabagent vs llama.cpp's llama-bench, same synthetic models, same machine.
#
# For every SHAPE x TYPE: writes a random-weight model with `tabagent synth` into MODEL_DIR
# (files already there are reused), then for every thread count runs ROUNDS rounds of
#   tabagent bench -m F -p PP -n TG -t T -r REPEATS --json
#   llama-bench   -m F -p PP -n TG -t T -r REPEATS -o json [-ngl 0]
# alternately (odd rounds tabagent first, even rounds llama-bench first) and reports the median
# over rounds. llama-bench's number per round is the median of its samples_ts (tabagent bench
# already reports the median of its repeats). It also runs bench/membw (read-only kernel) per
# thread count and gives each row bw_fraction = model_bytes * tg_tokens_per_s / read_bytes_per_s
# (read_bytes_per_s: the faster of membw's read and read_pf kernels):
# how close decoding gets to streaming the whole model once per token at measured bandwidth.
# model_bytes is the GGUF file size (header, vocabulary and the token_embd rows a token does not
# read are counted too, so this slightly overstates the bytes read; fine for the ~1B shapes).
#
# stdout: JSON lines: one {"bench":"membw",...} per thread count, then one
#         {"bench":"compare_llama",...} per shape/type/threads row.
# stderr: progress, then a Markdown table (or to the file $TABLE_OUT).
#
# Environment (defaults):
#   TABAGENT      tabagent binary                        (<build>/tabagent)
#   TABAGENT_BUILD_DIR  build dir, also where membw goes (<repo>/build)
#   LLAMA_BENCH   llama-bench binary; unset = tabagent only, the llama columns are null
#   SHAPES        synth shapes                            ("qwen2-0.5b llama-3.2-1b")
#   TYPES         weight types                            ("Q4_0 Q8_0 Q4_K_M F16")
#   THREADS       thread counts                           ("1 2")
#   ROUNDS        alternating rounds per row              (3)
#   REPEATS       -r given to each tool in each round     (3)
#   PP, TG        prompt / generated tokens               (512, 128)
#   MODEL_DIR     model cache                             (/tmp/tabagent-bench-models)
#   MEMBW_MIB     membw array size in MiB, 0 = skip membw (512)
#   TABLE_OUT     write the Markdown table here instead of stderr
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${TABAGENT_BUILD_DIR:-$root/build}"
tabagent="${TABAGENT:-$build/tabagent}"
llama_bench="${LLAMA_BENCH:-}"
shapes="${SHAPES:-qwen2-0.5b llama-3.2-1b}"
types="${TYPES:-Q4_0 Q8_0 Q4_K_M F16}"
threads="${THREADS:-1 2}"
rounds="${ROUNDS:-3}"
repeats="${REPEATS:-3}"
pp="${PP:-512}"
tg="${TG:-128}"
model_dir="${MODEL_DIR:-/tmp/tabagent-bench-models}"
membw_mib="${MEMBW_MIB:-512}"
membw="$build/membw"
table_out="${TABLE_OUT:-}"

die() { echo "compare-llama: $*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    "") ;;
    *) die "no arguments; configure with environment variables (see --help)" ;;
esac

for v in rounds repeats pp tg membw_mib; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
if [ "$rounds" -lt 1 ] || [ "$repeats" -lt 1 ]; then die "ROUNDS and REPEATS must be >= 1"; fi
for t in $threads; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "bad thread count '$t' in THREADS"; done
command -v python3 >/dev/null || die "python3 not found (scripts/setup.sh installs it)"
[ -x "$tabagent" ] || die "tabagent binary not found: $tabagent (build first, or set TABAGENT)"
"$tabagent" bench --help >/dev/null 2>&1 ||
    die "'$tabagent bench' does not work (no bench command in this build?)"

llama_args=()
if [ -n "$llama_bench" ]; then
    [ -x "$llama_bench" ] || die "LLAMA_BENCH is not an executable: $llama_bench"
    # -ngl 0: keep llama.cpp on the CPU even in a GPU build (older versions lack the flag).
    if "$llama_bench" --help 2>&1 | grep -q -- '-ngl'; then llama_args+=(-ngl 0); fi
else
    echo "compare-llama: LLAMA_BENCH is not set: SKIPPING the llama.cpp comparison" \
         "(tabagent numbers only; llama columns and ratios are null)" >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tabagent-compare.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$model_dir"

# synth_model SHAPE TYPE -> prints the model path (written once, then reused).
synth_model() {
    local shape="$1" type="$2" arch f part
    case "$shape" in
        qwen2-*) arch=qwen2 ;;
        qwen3-*) arch=qwen3 ;;
        phi-3*) arch=phi3 ;;
        llama-*|smollm-*|tiny|tiny-odd) arch=llama ;;
        *) arch="${ARCH:?no arch known for shape $shape; set ARCH}" ;;
    esac
    f="$model_dir/$shape-$type.gguf"
    if [ ! -s "$f" ]; then
        part="$model_dir/.$shape-$type.$$.gguf"
        echo "compare-llama: synth $shape $type -> $f" >&2
        "$tabagent" synth -o "$part" --arch "$arch" --shape "$shape" --type "$type" >&2 ||
            { rm -f "$part"; die "synth $shape $type failed"; }
        mv "$part" "$f"
    fi
    printf '%s\n' "$f"
}

# run_tool NAME OUTFILE CMD... : runs CMD, stdout to OUTFILE; on failure shows its log, returns 1.
run_tool() {
    local name="$1" out="$2"
    shift 2
    if "$@" >"$out" 2>"$out.log"; then return 0; fi
    echo "compare-llama: $name FAILED: $*" >&2
    tail -n 20 "$out.log" >&2
    rm -f "$out"
    return 1
}

status=0

# Memory bandwidth: the ceiling for token generation.
if [ "$membw_mib" -gt 0 ]; then
    if [ ! -x "$membw" ] || [ "$here/membw.c" -nt "$membw" ]; then
        echo "compare-llama: compiling $membw" >&2
        mkdir -p "$build"
        "${CC:-cc}" -O2 -march=native -pthread "$here/membw.c" -o "$membw"
    fi
    for t in $threads; do
        echo "compare-llama: membw -t $t -s $membw_mib" >&2
        if run_tool membw "$tmp/membw.$t.json" "$membw" -t "$t" -s "$membw_mib"; then
            cat "$tmp/membw.$t.json"
        else
            status=1
        fi
    done
fi

: >"$tmp/rows.jsonl"
for shape in $shapes; do
    for type in $types; do
        model="$(synth_model "$shape" "$type")"
        for t in $threads; do
            for r in $(seq 1 "$rounds"); do
                ours=(run_tool tabagent "$tmp/ours.$r.json"
                      "$tabagent" bench -m "$model" -p "$pp" -n "$tg" -t "$t" -r "$repeats" --json)
                theirs=(run_tool llama-bench "$tmp/llama.$r.json"
                        "$llama_bench" -m "$model" -p "$pp" -n "$tg" -t "$t" -r "$repeats"
                        "${llama_args[@]}" -o json)
                echo "compare-llama: $shape $type -t $t round $r/$rounds" >&2
                if [ -z "$llama_bench" ]; then
                    "${ours[@]}" || status=1
                elif [ $((r % 2)) = 1 ]; then
                    "${ours[@]}" || status=1
                    "${theirs[@]}" || status=1
                else
                    "${theirs[@]}" || status=1
                    "${ours[@]}" || status=1
                fi
            done
            python3 - "$tmp" "$shape" "$type" "$t" "$rounds" "$repeats" "$pp" "$tg" "$model" \
                "${llama_bench:+1}" <<'EOF' | tee -a "$tmp/rows.jsonl" || status=1
import json, os, statistics, sys
tmp, shape, typ, t, rounds, repeats, pp, tg, model, have_llama = sys.argv[1:]
t, rounds, repeats, pp, tg = int(t), int(rounds), int(repeats), int(pp), int(tg)

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None

ours_pp, ours_tg, llama_pp, llama_tg = [], [], [], []
for r in range(1, rounds + 1):
    o = load(f"{tmp}/ours.{r}.json")
    if isinstance(o, dict):
        ours_pp.append(o.get("pp_tokens_per_s"))
        ours_tg.append(o.get("tg_tokens_per_s"))
    lb = load(f"{tmp}/llama.{r}.json")
    if isinstance(lb, list):
        for test in lb:
            ts = test.get("samples_ts") or [test.get("avg_ts")]
            if test.get("n_prompt", 0) > 0 and test.get("n_gen", 0) == 0:
                llama_pp.append(med(ts))
            elif test.get("n_gen", 0) > 0 and test.get("n_prompt", 0) == 0:
                llama_tg.append(med(ts))

def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None

def rnd(x):
    return round(x, 2) if x is not None else None

row = {"bench": "compare_llama", "shape": shape, "type": typ, "threads": t,
       "pp_tokens": pp, "tg_tokens": tg, "rounds": rounds, "repeats": repeats,
       "ours_pp_tokens_per_s": rnd(med(ours_pp)), "ours_tg_tokens_per_s": rnd(med(ours_tg)),
       "llama_pp_tokens_per_s": rnd(med(llama_pp)), "llama_tg_tokens_per_s": rnd(med(llama_tg)),
       "llama": bool(have_llama)}
row["pp_ratio"] = ratio(row["ours_pp_tokens_per_s"], row["llama_pp_tokens_per_s"])
row["tg_ratio"] = ratio(row["ours_tg_tokens_per_s"], row["llama_tg_tokens_per_s"])
model_bytes = os.path.getsize(model)
row["model_file_bytes"] = model_bytes
bw = load(f"{tmp}/membw.{t}.json")
# the ceiling: the faster of the plain and the prefetching read kernels
read_gb_s = max((bw.get(k) or 0 for k in ("read_gb_s", "read_pf_gb_s")), default=0) \
    if isinstance(bw, dict) else None
row["read_gb_s"] = read_gb_s
def frac(tps):
    if tps is None or not read_gb_s:
        return None
    return round(model_bytes * tps / (read_gb_s * 1e9), 4)
row["bw_fraction"] = frac(row["ours_tg_tokens_per_s"])
row["llama_bw_fraction"] = frac(row["llama_tg_tokens_per_s"])
row["ours_rounds"] = {"pp": [rnd(x) for x in ours_pp], "tg": [rnd(x) for x in ours_tg]}
row["llama_rounds"] = {"pp": [rnd(x) for x in llama_pp], "tg": [rnd(x) for x in llama_tg]}
print(json.dumps(row, separators=(",", ":")), flush=True)
EOF
            rm -f "$tmp"/ours.* "$tmp"/llama.*
        done
    done
done

# Markdown table of the rows (stderr, or $TABLE_OUT).
table="$(python3 - "$tmp" <<'EOF'
import glob, json, sys
tmp = sys.argv[1]
def f(x, nd=1):
    return "–" if x is None else f"{x:,.{nd}f}"
lines = []
for path in sorted(glob.glob(f"{tmp}/membw.*.json")):
    try:
        b = json.load(open(path))
        lines.append(f"membw, {b['threads']} thread(s), {b['array_mib']} MiB arrays: read "
                     f"{b['read_gb_s']:.1f} GB/s, read with prefetch {b.get('read_pf_gb_s') or 0:.1f}, copy {b['copy_gb_s']:.1f}, triad {b['triad_gb_s']:.1f}")
    except (OSError, ValueError, KeyError):
        pass
if lines:
    lines.append("")
lines.append("| shape | type | threads | ours pp t/s | llama pp t/s | pp ratio "
             "| ours tg t/s | llama tg t/s | tg ratio | bw fraction ours | bw fraction llama |")
lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(f"{tmp}/rows.jsonl"):
    r = json.loads(line)
    lines.append(f"| {r['shape']} | {r['type']} | {r['threads']} "
                 f"| {f(r['ours_pp_tokens_per_s'])} | {f(r['llama_pp_tokens_per_s'])} | {f(r['pp_ratio'], 2)} "
                 f"| {f(r['ours_tg_tokens_per_s'])} | {f(r['llama_tg_tokens_per_s'])} | {f(r['tg_ratio'], 2)} "
                 f"| {f(r['bw_fraction'], 2)} | {f(r['llama_bw_fraction'], 2)} |")
print("\n".join(lines))
EOF
)"
if [ -n "$llama_bench" ]; then
    note="ratios are tabagent / llama.cpp (> 1: tabagent faster); median of $rounds rounds."
else
    note="llama.cpp comparison SKIPPED (LLAMA_BENCH not set)."
fi
if [ -n "$table_out" ]; then
    printf '%s\n\n%s\n' "$table" "$note" >"$table_out"
    echo "compare-llama: table written to $table_out" >&2
else
    printf '\n%s\n\n%s\n' "$table" "$note" >&2
fi
exit "$status"
