#!/usr/bin/env bash
# The `tabagent` model commands in the exact forms issue 3 names, on the real
# stories260K model and a real vocabulary: info, tokenize, generate.
set -euo pipefail
bin=${TABAGENT_BIN:?TABAGENT_BIN must name the tabagent binary}
shared=${TA_SHARED_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
model=$shared/models/stories260K.gguf
[[ -r $model ]] || { echo "FAIL: missing $model (../shared must be beside the project)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check <name> <node expression over `o` (parsed stdout)> <json>
  if node -e "const o = JSON.parse(process.argv[1]); if (!($2)) process.exit(1);" "$3"; then
    echo "ok - $1"
  else
    echo "not ok - $1: $3"
    fails=$((fails + 1))
  fi
}

out=$("$bin" info -m "$model" --json 2>/dev/null)
check "info: architecture, params, types, context, tokenizer, template" \
  'o.architecture === "llama" && o.parameters === 292800 && o.tensor_types.F32 === 48 &&
   o.context_length === 2048 && o.tokenizer === "spm" && o.chat_template === false &&
   o.supported === true && o.vocab_size === 512' "$out"

out=$("$bin" tokenize -m "$model" --text "Once upon a time" --json 2>/dev/null)
check "tokenize adds BOS as the metadata says" 'JSON.stringify(o.ids) === "[1,403,407,261,378]"' "$out"
out=$("$bin" tokenize -m "$model" --text "Once upon a time" --no-bos --json 2>/dev/null)
check "tokenize --no-bos" 'JSON.stringify(o.ids) === "[403,407,261,378]"' "$out"
printf 'Once upon a time' >"$tmp/p.txt"
out=$("$bin" tokenize -m "$model" --file "$tmp/p.txt" --json 2>/dev/null)
check "tokenize --file" 'JSON.stringify(o.ids) === "[1,403,407,261,378]"' "$out"

# A real BPE vocabulary: Llama 3's, no BOS when asked.
out=$("$bin" tokenize -m "$shared/vocab/ggml-vocab-llama-bpe.gguf" --text "Hello world" --no-bos --json 2>/dev/null)
check "tokenize llama-bpe" 'JSON.stringify(o.ids) === "[9906,1917]"' "$out"

out=$("$bin" generate -m "$model" -p "Once upon a time" -n 64 --temp 0 --json 2>/dev/null)
check "generate greedy: the known story" \
  'o.text.startsWith(", there was a little girl named Lily.") && o.ids.length === 64 &&
   JSON.stringify(o.prompt_ids) === "[1,403,407,261,378]"' "$out"
plain=$("$bin" generate -m "$model" -p "Once upon a time" -n 16 --temp 0 2>/dev/null)
[[ $plain == ", there was a little girl named Lily."* ]] && echo "ok - generate plain text" ||
  { echo "not ok - generate plain text: $plain"; fails=$((fails + 1)); }

out=$("$bin" generate -m "$model" -p "Once upon a time" -n 64 --temp 0 --stop park --stop Lily --json 2>/dev/null)
check "generate stops before the first stop string" 'o.text === ", there was a little girl named "' "$out"
plain=$("$bin" generate -m "$model" -p "Once upon a time" -n 64 --temp 0 --stop park 2>/dev/null)
[[ $plain == ", there was a little girl named Lily. She loved to play outside in the " ]] &&
  echo "ok - plain output holds back a partial stop string" ||
  { echo "not ok - plain --stop: $plain"; fails=$((fails + 1)); }

a=$("$bin" generate -m "$model" -p "Once" -n 32 --temp 1.0 --seed 7 --top-k 40 --top-p 0.9 --threads 2 --json 2>/dev/null)
b=$("$bin" generate -m "$model" -p "Once" -n 32 --temp 1.0 --seed 7 --top-k 40 --top-p 0.9 --threads 1 --json 2>/dev/null)
c=$("$bin" generate -m "$model" -p "Once" -n 32 --temp 1.0 --seed 8 --top-k 40 --top-p 0.9 --json 2>/dev/null)
[[ $a == "$b" ]] && echo "ok - same seed, same output (1 and 2 threads)" ||
  { echo "not ok - seed determinism"; fails=$((fails + 1)); }
[[ $a != "$c" ]] && echo "ok - another seed, another output" ||
  { echo "not ok - seeds do not matter"; fails=$((fails + 1)); }

# A Q8_0 KV cache on a model whose heads hold whole Q8_0 blocks (synth's tiny llama).
"$bin" synth -o "$tmp/tiny.gguf" --arch llama --shape tiny --type Q8_0 --seed 3 >/dev/null 2>&1
q8=$("$bin" generate -m "$tmp/tiny.gguf" -p "abc" -n 8 --temp 0 --cache-type q8_0 --json 2>/dev/null)
f16=$("$bin" generate -m "$tmp/tiny.gguf" -p "abc" -n 8 --temp 0 --cache-type f16 --json 2>/dev/null)
check "generate with a Q8_0 KV cache" 'o.ids.length === 8' "$q8"
node -e "const a = JSON.parse(process.argv[1]), b = JSON.parse(process.argv[2]);
  if (a.ids[0] !== b.ids[0]) process.exit(1);" "$q8" "$f16" &&
  echo "ok - Q8_0 and F16 caches agree on the first token" ||
  { echo "not ok - Q8_0 vs F16 first token: $q8 / $f16"; fails=$((fails + 1)); }

# bench: the JSON the comparison script reads, on the tiny model (speed is not judged).
bj=$("$bin" bench -m "$tmp/tiny.gguf" -p 24 -n 6 -t 2 -r 2 --json 2>/dev/null)
check "bench reports pp and tg speeds" \
  'o.pp_tokens === 24 && o.tg_tokens === 6 && o.pp_tokens_per_s > 0 && o.tg_tokens_per_s > 0 &&
   o.threads === 2 && o.repeats === 2 && o.pp_samples.length === 2 && o.rss_bytes > 0' "$bj"
bj=$("$bin" bench -m "$tmp/tiny.gguf" -p 0 -n 4 -t 1 -r 1 --json 2>/dev/null)
check "bench decode only" 'o.pp_tokens_per_s === 0 && o.tg_tokens_per_s > 0' "$bj"

# Errors: usage (2) and runtime (1), with messages.
set +e
"$bin" bench -m "$tmp/tiny.gguf" -p 0 -n 0 >/dev/null 2>"$tmp/e"; rc=$?
[[ $rc == 2 ]] && grep -q "both 0" "$tmp/e" && echo "ok - bench with nothing to do is a usage error" ||
  { echo "not ok - bench -p 0 -n 0: rc=$rc $(cat "$tmp/e")"; fails=$((fails + 1)); }
"$bin" bench -m "$tmp/tiny.gguf" -p 100000 -n 1 >/dev/null 2>"$tmp/e"; rc=$?
[[ $rc == 1 ]] && grep -q "do not fit" "$tmp/e" && echo "ok - bench prompt over the context" ||
  { echo "not ok - bench over context: rc=$rc $(cat "$tmp/e")"; fails=$((fails + 1)); }
"$bin" generate -m "$model" -n 5 >/dev/null 2>"$tmp/e"; rc=$?
[[ $rc == 2 ]] && grep -q "PROMPT is required" "$tmp/e" && echo "ok - missing prompt is a usage error" ||
  { echo "not ok - missing prompt: rc=$rc $(cat "$tmp/e")"; fails=$((fails + 1)); }
"$bin" generate -m "$model" -p x -n 5 --ctx-size 3 >/dev/null 2>"$tmp/e"; rc=$?
[[ $rc == 1 ]] && grep -q "do not fit\|context holds" "$tmp/e" && echo "ok - prompt over the context" ||
  { echo "not ok - context overflow: rc=$rc $(cat "$tmp/e")"; fails=$((fails + 1)); }
printf 'GGUF\3\0\0\0' >"$tmp/bad.gguf"
"$bin" info -m "$tmp/bad.gguf" >/dev/null 2>"$tmp/e"; rc=$?
[[ $rc == 1 ]] && [[ -s $tmp/e ]] && echo "ok - truncated file refused" ||
  { echo "not ok - truncated file: rc=$rc"; fails=$((fails + 1)); }
set -e
((fails == 0)) || { echo "$fails failure(s)"; exit 1; }
