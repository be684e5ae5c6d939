#!/usr/bin/env bash
# model_pull.sh - the model cache against a local Hugging Face Hub: tests/hub/hub.mjs
# (the Hub's tree and resolve APIs, gated/private/missing repositories, rate limits, a
# faulty CDN) and nginx as the CDN (tests/hub/cdn.sh). tabagent pull/ls/rm from the
# command line: the default quantization, split files, the cache layout of
# huggingface_hub, errors, a dropped connection, a stall, a corrupted byte (refused,
# nothing published), a server that ignores Range, the client killed and restarted
# (the resume fetches again less than 10% of the file), two pulls sharing one
# download, offline mode. Then the server: POST /v1/models/pull with SSE progress,
# the cached model in GET /v1/models and used for chat by its id, DELETE, the token
# routes with a gated repository, and two concurrent pulls sharing one download.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HUBSRC=$TA_SOURCE_DIR/tests/hub
TABAGENT=${TABAGENT_BIN:-$(dirname "$TABAGENT_SERVER_BIN")/tabagent}
STORIES=$TA_SOURCE_DIR/../shared/models/stories260K.gguf
CDN=$TMP/cdn
trap 'rc=$?; "$HUBSRC/cdn.sh" stop "$CDN" >/dev/null 2>&1; (exit $rc); cleanup' EXIT

section "a local Hub and CDN"
F=$TMP/files
mkdir -p "$F" "$TMP/blobs"
head -c $((24 << 20)) /dev/urandom >"$F/tiny-Q4_K_M.gguf"
head -c 300000 /dev/urandom >"$F/tiny-Q2_K.gguf"
for i in 1 2 3; do head -c $((1536 << 10)) /dev/urandom >"$F/tiny-Q8_0-0000$i-of-00003.gguf"; done
head -c $((64 << 20)) /dev/urandom >"$F/slow.gguf"
head -c $((16 << 20)) /dev/urandom >"$F/shared.gguf"
head -c $((4 << 20)) /dev/urandom >"$F/fault.gguf"
CDN_PORT=$("$HUBSRC/cdn.sh" start "$CDN" "$TMP/blobs")
lfs() { printf '{"path":"%s","source":"%s","lfs":true}' "$1" "$2"; }
cat >"$TMP/hub.json" <<JSON
{"cdn":"http://127.0.0.1:$CDN_PORT","blobs_dir":"$TMP/blobs","nginx_access_log":"$CDN/access.log",
 "repos":{
  "acme/tiny-GGUF":{"commit":"1111111111111111111111111111111111111111","files":[
     $(lfs tiny-Q4_K_M.gguf "$F/tiny-Q4_K_M.gguf"), $(lfs tiny-Q2_K.gguf "$F/tiny-Q2_K.gguf"),
     $(lfs tiny-Q8_0-00001-of-00003.gguf "$F/tiny-Q8_0-00001-of-00003.gguf"),
     $(lfs tiny-Q8_0-00002-of-00003.gguf "$F/tiny-Q8_0-00002-of-00003.gguf"),
     $(lfs tiny-Q8_0-00003-of-00003.gguf "$F/tiny-Q8_0-00003-of-00003.gguf"),
     {"path":"README.md","content":"# tiny\n"}]},
  "acme/stories":{"commit":"2222222222222222222222222222222222222222","files":[$(lfs stories260K.gguf "$STORIES")]},
  "acme/private":{"private":true,"token":"hf_private_token","files":[$(lfs p-Q4_K_M.gguf "$F/tiny-Q2_K.gguf")]},
  "acme/gated":{"gated":true,"token":"hf_gated_token","files":[$(lfs g-Q4_K_M.gguf "$F/tiny-Q2_K.gguf")]},
  "acme/busy":{"rate_limit":{"times":1,"retry_after":1},"files":[$(lfs b-Q4_K_M.gguf "$F/tiny-Q2_K.gguf")]},
  "acme/drop":{"cdn":"faulty:droponce:100000","files":[$(lfs d-Q4_K_M.gguf "$F/fault.gguf")]},
  "acme/stall":{"cdn":"faulty:stallonce:100000","files":[$(lfs s-Q4_K_M.gguf "$F/fault.gguf")]},
  "acme/corrupt":{"cdn":"faulty:corrupt:3000000","files":[$(lfs c-Q4_K_M.gguf "$F/fault.gguf")]},
  "acme/norange":{"cdn":"faulty:norange","files":[$(lfs n-Q4_K_M.gguf "$F/fault.gguf")]},
  "acme/slow":{"cdn":"faulty:slow:1000000","files":[$(lfs slow-Q4_K_M.gguf "$F/slow.gguf")]},
  "acme/shared":{"cdn":"faulty:slow:2000000","files":[$(lfs shared-Q4_K_M.gguf "$F/shared.gguf")]}
 }}
JSON
bg node "$HUBSRC/hub.mjs" --config "$TMP/hub.json" --port 0 --page-size 2 >"$TMP/hub.out" 2>"$TMP/hub.err"
hub_up() { grep -q 'hub listening' "$TMP/hub.out"; }
wait_until $((20 * SCALE)) hub_up || die "the hub emulator did not start: $(cat "$TMP/hub.err")"
HUB=$(sed -n 's/hub listening on //p' "$TMP/hub.out")
echo "# hub $HUB, CDN port $CDN_PORT"
export HF_ENDPOINT=$HUB
unset HF_TOKEN HF_HUB_OFFLINE HF_HUB_CACHE HF_HOME
export HOME=$TMP/home XDG_DATA_HOME=$TMP/xdg
mkdir -p "$HOME"
CACHE=$TMP/cache
sha() { sha256sum "$1" | cut -d' ' -f1; }
served() { # bytes the CDNs served of the file with sha256 $1
    curl -s "$HUB/_stats" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const d=JSON.parse(s);console.log(d.bytes_served[process.argv[1]]||0)})' "$1"
}
pull() { "$TABAGENT" pull --model-cache-path "$CACHE" "$@"; }
last() { tail -n 1 "$1"; }

section "tabagent pull: the default quantization, the cache layout"
pull acme/tiny-GGUF >"$TMP/p1.out" 2>"$TMP/p1.err" && rc=0 || rc=$?
expect_eq "$rc" 0 'pull acme/tiny-GGUF exits 0'
last "$TMP/p1.out" >"$TMP/p1.json"
expect_json 'd.status === "success" && d.path.endsWith("/tiny-Q4_K_M.gguf") && d.from_cache === false && d.fetched_bytes === 24 << 20' 'it picks Q4_K_M (the default) and downloads it' "$TMP/p1.json"
if grep -q '"status":"downloading".*"bytes_per_s"' "$TMP/p1.out" && grep -q '"status":"resolving"' "$TMP/p1.out"; then
    pass 'NDJSON progress lines: resolving, downloading with completed/total/bytes_per_s'
else
    fail 'NDJSON progress lines' "$(head -5 "$TMP/p1.out")"
fi
REPO=$CACHE/models--acme--tiny-GGUF
SHA=$(sha "$F/tiny-Q4_K_M.gguf")
[[ -f $REPO/blobs/$SHA && $(sha "$REPO/blobs/$SHA") == "$SHA" ]] && pass 'blobs/<sha256> holds the bytes' || fail 'blobs/<sha256> holds the bytes'
expect_eq "$(readlink "$REPO/snapshots/1111111111111111111111111111111111111111/tiny-Q4_K_M.gguf")" "../../blobs/$SHA" 'snapshots/<commit>/<file> is a relative symlink to the blob'
expect_eq "$(cat "$REPO/refs/main")" 1111111111111111111111111111111111111111 'refs/main holds the commit'
ls "$REPO/blobs" | grep -q 'incomplete\|parts' && fail 'no partial files left' || pass 'no partial files left'
pull acme/tiny-GGUF >"$TMP/p2.out" 2>&1
last "$TMP/p2.out" >"$TMP/p2.json"
expect_json 'd.status === "success" && d.from_cache === true && d.fetched_bytes === 0' 'a second pull downloads nothing' "$TMP/p2.json"
pull acme/tiny-GGUF:Q8_0 >"$TMP/p3.out" 2>&1 && rc=0 || rc=$?
last "$TMP/p3.out" >"$TMP/p3.json"
expect_json 'd.status === "success" && d.paths.length === 3 && d.path.endsWith("tiny-Q8_0-00001-of-00003.gguf") && d.paths[2].endsWith("00003-of-00003.gguf")' 'repo:Q8_0 takes every part of a split GGUF, first part first' "$TMP/p3.json"
pull acme/tiny-GGUF:README.md >"$TMP/p4.out" 2>&1 && rc=0 || rc=$?
last "$TMP/p4.out" >"$TMP/p4.json"
expect_json 'd.status === "success" && require("fs").readFileSync(d.path, "utf8") === "# tiny\n"' 'repo:FILE fetches a plain (non-LFS) file, checked by its git blob id' "$TMP/p4.json"
pull acme/tiny-GGUF:Q5_K_M >"$TMP/p5.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 1 'a quantization the repo lacks: exit 1'
grep -q 'no Q5_K_M GGUF; it has: .*tiny-Q4_K_M.gguf' "$TMP/p5.out" && pass 'the error lists what there is' || fail 'the error lists what there is' "$(cat "$TMP/p5.out")"

section "errors"
pull acme/missing >"$TMP/e1.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 1 'a missing repository: exit 1'
grep -q 'repository acme/missing not found' "$TMP/e1.out" && pass 'says not found' || fail 'says not found' "$(cat "$TMP/e1.out")"
pull acme/gated >"$TMP/e2.out" 2>&1 && rc=0 || rc=$?
grep -q 'gated model' "$TMP/e2.out" && pass 'a gated repository without a token: says gated' || fail 'gated' "$(cat "$TMP/e2.out")"
HF_TOKEN=hf_wrong pull acme/gated >"$TMP/e3.out" 2>&1 && rc=0 || rc=$?
grep -q 'gated model.*granted' "$TMP/e3.out" && pass 'with a token lacking access: says so (403)' || fail 'gated 403' "$(cat "$TMP/e3.out")"
pull acme/private >"$TMP/e4.out" 2>&1 && rc=0 || rc=$?
grep -q 'not found (if it is private, set a Hugging Face token)' "$TMP/e4.out" && pass 'a private repository without a token: not found, with the hint' || fail 'private' "$(cat "$TMP/e4.out")"
HF_TOKEN=hf_private_token pull acme/private >"$TMP/e5.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'with HF_TOKEN it downloads'
curl -s "$HUB/_stats" | grep -q '"auth":"Bearer hf_private_token"' && pass 'the token went to the Hub as Authorization: Bearer' || fail 'bearer sent'
echo hf_private_token >"$TMP/hf_token_file"
HF_TOKEN_PATH=$TMP/hf_token_file pull acme/private >"$TMP/e6.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'the token file (HF_TOKEN_PATH) works too'
t0=$SECONDS
pull acme/busy >"$TMP/e7.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'a rate-limited repository (429, Retry-After: 1): waited out, then downloaded'
pull 'acme/tiny-GGUF:../../etc/passwd' >"$TMP/e8.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 1 'a path out of the repository is refused'

section "faults"
FSHA=$(sha "$F/fault.gguf")
pull acme/drop >"$TMP/f1.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'a connection dropped mid-part: retried, the download completes'
expect_eq "$(sha "$CACHE/models--acme--drop/blobs/$FSHA")" "$FSHA" 'and the file is whole'
pull acme/stall --stall-timeout 2 >"$TMP/f2.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'a stalled part (no bytes for the stall timeout) is restarted; the download completes'
pull acme/corrupt >"$TMP/f3.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 1 'a corrupted byte: exit 1'
grep -q 'checksum mismatch: expected sha256' "$TMP/f3.out" && pass 'the sha256 check catches it' || fail 'sha256 mismatch' "$(cat "$TMP/f3.out")"
if ls "$CACHE/models--acme--corrupt/blobs/" 2>/dev/null | grep -q .; then
    fail 'nothing published, nothing half-done left' "$(ls -la "$CACHE/models--acme--corrupt/blobs/")"
else
    pass 'nothing published, nothing half-done left'
fi
[[ ! -e $CACHE/models--acme--corrupt/snapshots ]] && pass 'no snapshot link for it' || fail 'no snapshot link'
pull acme/norange >"$TMP/f4.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'a server that answers 200 to a Range request: one whole transfer, completes'
expect_eq "$(sha "$CACHE/models--acme--norange/blobs/$FSHA")" "$FSHA" 'and the file is whole'

section "not enough disk space"
SMALL=$TMP/small
mkdir -p "$SMALL"
if mount -t tmpfs -o size=8m tmpfs "$SMALL" 2>/dev/null; then
    "$TABAGENT" pull --model-cache-path "$SMALL/cache" acme/tiny-GGUF >"$TMP/d1.out" 2>&1 && rc=0 || rc=$?
    expect_eq "$rc" 1 'a 24 MiB model into 8 MiB of space: exit 1'
    grep -q 'not enough disk space in .*: the download needs 40.0 MiB more' "$TMP/d1.out" && pass 'the error gives the numbers' || fail 'disk space message' "$(cat "$TMP/d1.out")"
    if find "$SMALL/cache" -name '*.incomplete' -o -name '*.gguf' | grep -q .; then
        fail 'nothing was written or published' "$(find "$SMALL/cache")"
    else
        pass 'nothing was written or published'
    fi
    umount "$SMALL"
else
    echo "# skipped: cannot mount a small tmpfs here (not root?)"
fi

section "killed and restarted: the resume"
SSHA=$(sha "$F/slow.gguf")
SIZE=$((64 << 20))
"$TABAGENT" pull --model-cache-path "$CACHE" acme/slow >"$TMP/k1.out" 2>&1 &
KPID=$!
half_done() { tail -n 1 "$TMP/k1.out" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{try{const d=JSON.parse(s);process.exit(d.completed>=0.4*d.total&&d.total>0?0:1)}catch{process.exit(1)}})'; }
wait_until $((60 * SCALE)) half_done || fail 'the slow download got to 40%'
kill -KILL "$KPID"
wait "$KPID" 2>/dev/null || true
sleep 0.5
before=$(served "$SSHA")
echo "# killed at $(tail -n 1 "$TMP/k1.out" | cut -c1-120); $before bytes served so far"
ls "$CACHE/models--acme--slow/blobs/" | grep -q 'incomplete' && pass 'the partial file and its parts record stay' || fail 'partial file stays'
pull acme/slow >"$TMP/k2.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'the restarted pull completes'
expect_eq "$(sha "$CACHE/models--acme--slow/blobs/$SSHA")" "$SSHA" 'the file is whole'
sleep 0.3
after=$(served "$SSHA")
refetched=$((after - SIZE))
echo "# served in all $after bytes for a $SIZE-byte file: $refetched fetched twice"
((refetched * 10 < SIZE)) && pass "the resume fetched again less than 10% of the file ($refetched bytes)" ||
    fail "the resume fetched again $refetched bytes of $SIZE"

section "two pulls of one file share one download"
HSHA=$(sha "$F/shared.gguf")
"$TABAGENT" pull --model-cache-path "$CACHE" acme/shared >"$TMP/s1.out" 2>&1 &
S1=$!
"$TABAGENT" pull --model-cache-path "$CACHE" acme/shared >"$TMP/s2.out" 2>&1 &
S2=$!
wait "$S1" && r1=0 || r1=$?
wait "$S2" && r2=0 || r2=$?
expect_eq "$r1$r2" 00 'two tabagent pull processes at once both succeed'
sleep 0.3
expect_eq "$(served "$HSHA")" $((16 << 20)) 'the file was served once (the second waited on the lock)'

section "offline, ls, rm"
HF_HUB_OFFLINE=1 pull acme/tiny-GGUF >"$TMP/o1.out" 2>&1 && rc=0 || rc=$?
last "$TMP/o1.out" >"$TMP/o1.json"
expect_json 'd.status === "success" && d.from_cache === true' 'HF_HUB_OFFLINE=1: a cached model resolves from the cache' "$TMP/o1.json"
pull --offline acme/stories >"$TMP/o2.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 1 '--offline: a model not in the cache fails'
grep -q 'not in the cache, and offline mode is on' "$TMP/o2.out" && pass 'and says why' || fail 'offline message' "$(cat "$TMP/o2.out")"
"$TABAGENT" ls --model-cache-path "$CACHE" --json >"$TMP/ls.json"
expect_json 'd.some(m => m.id === "acme/tiny-GGUF:tiny-Q4_K_M.gguf" && m.size === 24 << 20 && m.source === "tabagent")' 'tabagent ls --json lists the cached files' "$TMP/ls.json"
"$TABAGENT" rm --model-cache-path "$CACHE" acme/tiny-GGUF:Q8_0 >"$TMP/rm.out" 2>&1 && rc=0 || rc=$?
expect_eq "$rc" 0 'tabagent rm repo:Q8_0'
"$TABAGENT" ls --model-cache-path "$CACHE" --json >"$TMP/ls2.json"
expect_json '!d.some(m => m.file.includes("Q8_0")) && d.some(m => m.file === "tiny-Q4_K_M.gguf")' 'the Q8_0 parts are gone, the rest stays' "$TMP/ls2.json"
nblobs=$(ls "$REPO/blobs" | wc -l)
expect_eq "$nblobs" 2 'their blobs were deleted, the others kept (Q4_K_M and README.md)'

section "a Hugging Face cache beside ours, the default library"
HFC=$TMP/hf-hub-cache
mkdir -p "$HFC"
cp -a "$CACHE/models--acme--drop" "$HFC/"
HF_HUB_CACHE=$HFC "$TABAGENT" ls --model-cache-path "$TMP/empty-cache" --json >"$TMP/ls3.json"
expect_json 'd.length === 1 && d[0].repo === "acme/drop" && d[0].source === "huggingface"' 'HF_HUB_CACHE: its models are listed (source huggingface)' "$TMP/ls3.json"
HF_HUB_CACHE=$HFC "$TABAGENT" pull --offline --model-cache-path "$TMP/empty-cache" acme/drop >"$TMP/h1.out" 2>&1 && rc=0 || rc=$?
last "$TMP/h1.out" >"$TMP/h1.json"
expect_json "d.status === 'success' && d.path.startsWith('$HFC/')" 'and used from there, read-only (offline)' "$TMP/h1.json"
"$TABAGENT" pull --offline --model-cache-path "$CACHE" >"$TMP/l1.out" 2>&1 && rc=0 || rc=$?
grep -q 'Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf' "$TMP/l1.out" && pass 'pull without a name: the library default chat model (here: not in the cache, offline)' || fail 'library default' "$(cat "$TMP/l1.out")"

section "pull_model over native messaging"
node "$TA_SOURCE_DIR/tests/integration/native_client.mjs" \
    '{"action":"pull_model","messageId":"p1","model":"acme/tiny-GGUF:Q2_K"}' \
    "$TABAGENT_SERVER_BIN" --model-cache-path "$CACHE" --db-path "$TMP/native-db" \
    --log-file "$TMP/native.log" >"$TMP/native.out" 2>"$TMP/native.err" && rc=0 || rc=$?
expect_eq "$rc" 0 'the native host answers pull_model'
if grep -q '"type":"progress"' "$TMP/native.out" && grep -q '"status":"downloading"' "$TMP/native.out"; then
    pass 'progress events arrive as native frames'
else
    fail 'progress events over native messaging' "$(head -c 1500 "$TMP/native.out")"
fi
tail -n 1 "$TMP/native.out" >"$TMP/native.json"
expect_json 'd.messageId === "p1" && d.status === "success" && d.path.endsWith("tiny-Q2_K.gguf")' 'then the reply with the path' "$TMP/native.json"

section "the server"
start_server --model-cache-path "$CACHE"
post_json /v1/models/pull '{"model":"acme/stories:stories260K.gguf"}'
expect_status 200 'POST /v1/models/pull'
if grep -q '^data: {"status":"downloading","file":"stories260K.gguf","completed":[0-9]*,"total":1185376,"bytes_per_s"' "$RESP_BODY" && grep -q '^data: {"status":"success"' "$RESP_BODY"; then
    pass 'it streams progress events (SSE), then the result'
else
    fail 'SSE progress' "$(head -c 1500 "$RESP_BODY")"
fi
req GET /v1/models
expect_json 'd.data.some(m => m.id === "acme/stories:stories260K.gguf" && m.state === "cached")' 'GET /v1/models lists cached models'
post_json /v1/chat/completions '{"model":"acme/stories:stories260K.gguf","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":8}'
expect_json 'd.choices[0].message.content.length > 0 && d.usage.completion_tokens > 0' 'a chat by the cached id loads it from the cache'
req GET '/v1/models/acme/stories:stories260K.gguf'
expect_json 'd.id === "acme/stories:stories260K.gguf" && d.loaded === true' 'GET /v1/models/{org/name:file}'
post_json /v1/chat/completions '{"model":"acme/nope:x.gguf","messages":[{"role":"user","content":"hi"}]}'
expect_error 404 not_found 'pull it first' 'an id not in the cache -> 404 saying to pull it'
post_json /v1/models/pull '{"model":"acme/gated","stream":false}'
expect_error 401 unauthorized 'gated model' 'a gated repository without a token -> 401 naming the reason'
post_json /v1/hf/token '{"token":"hf_gated_token"}'
expect_json 'd.set === true && d.source === "tabagent" && d.hint === "...oken" && !JSON.stringify(d).includes("hf_gated_token")' 'POST /v1/hf/token stores it (never echoed back)'
stat -c %a "$XDG_DATA_HOME/TabAgent/hf_token" 2>/dev/null | grep -q 600 || stat -c %a "$SERVER_DIR/xdg/TabAgent/hf_token" | grep -q 600 && pass 'the token file is 0600' || fail 'token file 0600'
post_json /v1/models/pull '{"model":"acme/gated","stream":false}'
expect_json 'd.status === "success"' 'with the stored token the gated model downloads'
req DELETE /v1/hf/token
expect_json 'd.set === false' 'DELETE /v1/hf/token clears it'
req DELETE '/v1/models/acme/gated:g-Q4_K_M.gguf'
expect_json 'd.deleted === true && d.files === 1' 'DELETE /v1/models/{id}'
req DELETE '/v1/models/acme/gated:g-Q4_K_M.gguf'
expect_error 404 not_found '' 'again -> 404'
curl -s -X POST "$HUB/_reset" >/dev/null
"$TABAGENT" rm --model-cache-path "$CACHE" acme/shared >/dev/null
# The first pull in the background, with reply files of its own (both requests writing
# $RESP_BODY at once interleaved their bytes there).
(
    RESP_BODY=$TMP/body.bg RESP_HEADERS=$TMP/headers.bg
    post_json /v1/models/pull '{"model":"acme/shared","stream":false}'
) &
P1=$!
post_json /v1/models/pull '{"model":"acme/shared","stream":false}'
wait "$P1" || true
expect_json 'd.status === "success"' 'two concurrent pulls through the server: the first succeeds' "$TMP/body.bg"
expect_json 'd.status === "success"' 'two concurrent pulls through the server: the second succeeds'
sleep 0.3
expect_eq "$(served "$HSHA")" $((16 << 20)) 'and share one download (the file served once)'
finish
