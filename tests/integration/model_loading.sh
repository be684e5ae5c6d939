#!/usr/bin/env bash
# model_loading.sh - a request for a model that is still loading gets 503 with
# Retry-After and says so, and works once the model is loaded. The model is a synthetic
# SmolLM-135M (Q8_0, 144 MB, written by `tabagent synth`): loading it takes long enough
# (about half a second here) to be seen in GET /v1/models/{id} as "loading".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TABAGENT=${TABAGENT_BIN:-$(dirname "$TABAGENT_SERVER_BIN")/tabagent}
"$TABAGENT" synth -o "$TMP/smol.gguf" --arch llama --shape smollm-135m --type Q8_0 >/dev/null
start_server --model "smol=$TMP/smol.gguf"

state() { curl -s --max-time 5 "$BASE/v1/models/smol" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{try{console.log(JSON.parse(s).state)}catch{console.log("?")}})'; }
seen=no
for attempt in 1 2 3 4 5; do
    curl -s -o "$TMP/load.json" -X POST -H 'Content-Type: application/json' \
        --data '{"model":"smol"}' "$BASE/v1/models/load" &
    LOADER=$!
    # catch it loading (the first poll may come before the load starts)
    for _ in $(seq 200); do
        st=$(state)
        [[ $st == loading ]] && { seen=yes; break; }
        [[ $st == loaded ]] && break
    done
    if [[ $seen == yes ]]; then
        post_json /v1/chat/completions '{"model":"smol","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
        chat_status=$STATUS
        cp "$RESP_BODY" "$TMP/chat503.json"
        cp "$RESP_HEADERS" "$TMP/chat503.headers"
    fi
    wait "$LOADER" || true
    [[ $seen == yes && ${chat_status:-} == 503 ]] && break
    seen=no
    post_json /v1/models/unload '{"model":"smol"}' >/dev/null || true
done
if [[ $seen == yes ]]; then
    pass "GET /v1/models/smol shows it loading (attempt $attempt)"
    expect_eq "$chat_status" 503 'a chat for it while it loads -> 503'
    RESP_HEADERS=$TMP/chat503.headers RESP_BODY=$TMP/chat503.json
    expect_header Retry-After '^[0-9]+' 'with Retry-After'
    expect_json 'd.error.message.includes("is loading")' 'saying it is loading' "$TMP/chat503.json"
else
    fail 'could not catch the model loading in 5 attempts'
fi
expect_json 'd.loaded === true' 'the load itself completes' "$TMP/load.json"
post_json /v1/chat/completions '{"model":"smol","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
expect_status 200 'once loaded, the same chat works'
finish
