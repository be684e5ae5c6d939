#!/usr/bin/env bash
# http_sse.sh - Server-Sent Events: the exact event sequence (stream=true, Accept:
# text/event-stream, GET with ?stream=true), a flush per event, parallel streams,
# slow streams under a short --idle-timeout,
# client disconnects reported as cancellation (the handler and its threads go away),
# and a clean exit on SIGTERM / SIGINT while a stream is in flight.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# sse_parse FILE > OUT.json: the stream as {"events":[...], "bad":[...], "rest":"..."};
# each event is its data parsed as JSON, or the raw text ("[DONE]"); comment-only
# blocks (": keep-alive") are skipped; "bad" lists blocks that are not data lines.
SSE_PARSE='
const text = require("fs").readFileSync(process.argv[1], "utf8");
const blocks = text.split("\n\n");
const rest = blocks.pop();
const events = [], bad = [];
for (const b of blocks) {
  const lines = b.split("\n").filter(l => !l.startsWith(":"));
  if (lines.length === 0) continue;
  if (!lines.every(l => l.startsWith("data: "))) { bad.push(b); continue; }
  const data = lines.map(l => l.slice(6)).join("\n");
  try { events.push(JSON.parse(data)); } catch { events.push(data); }
}
console.log(JSON.stringify({events, bad, rest}));
'
sse_parse() { node -e "$SSE_PARSE" "$1"; }

# The expected stream of ping count=N: N pongs with seq 1..N, the result, [DONE].
ping_stream_expr() {
    local n=$1
    echo "d.bad.length === 0 && d.rest === '' && d.events.length === $n + 2
      && d.events.slice(0, $n).every((e, i) => e.response === 'pong' && e.seq === i + 1)
      && d.events[$n].response === 'pong' && d.events[$n].count === $n && typeof d.events[$n].version === 'string'
      && d.events[$n + 1] === '[DONE]'"
}

start_server --log-level debug
echo "# server on $BASE (pid $SERVER_PID)"

section "stream=true"
post_json /v1/ping '{"count":3,"interval_ms":50,"stream":true}' -N
expect_status 200 'POST /v1/ping stream=true -> 200'
expect_header Content-Type '^text/event-stream' 'stream=true: Content-Type text/event-stream'
expect_header Cache-Control 'no-cache' 'stream=true: Cache-Control: no-cache'
sse_parse "$RESP_BODY" >"$TMP/sse.json"
expect_json "$(ping_stream_expr 3)" 'stream=true: exactly 3 pongs, the result, then data: [DONE]' "$TMP/sse.json"
if tail -c 14 "$RESP_BODY" | grep -q '^data: \[DONE\]$'; then
    pass 'the stream ends with "data: [DONE]\n\n"'
else
    fail 'the stream ends with "data: [DONE]\n\n"' "$(tail -c 200 "$RESP_BODY")"
fi

section "Accept: text/event-stream"
post_json /v1/ping '{"count":3,"interval_ms":50}' -N -H 'Accept: text/event-stream'
expect_status 200
expect_header Content-Type '^text/event-stream' 'Accept: text/event-stream -> an event stream'
sse_parse "$RESP_BODY" >"$TMP/sse.json"
expect_json "$(ping_stream_expr 3)" 'Accept: text/event-stream: 3 pongs, result, [DONE]' "$TMP/sse.json"

req GET '/v1/ping?count=2&stream=true' -N
expect_header Content-Type '^text/event-stream' 'GET /v1/ping?stream=true -> an event stream'
sse_parse "$RESP_BODY" >"$TMP/sse.json"
expect_json "$(ping_stream_expr 2)" 'GET ?count=2&stream=true: 2 pongs, result, [DONE]' "$TMP/sse.json"

post_json /v1/ping '{"count":1,"stream":true}' -N
sse_parse "$RESP_BODY" >"$TMP/sse.json"
expect_json "$(ping_stream_expr 1)" 'count=1 stream: 1 pong, result, [DONE]' "$TMP/sse.json"

post_json /v1/ping '{"count":3,"stream":false}' -H 'Accept: application/json'
expect_header Content-Type '^application/json' 'stream=false -> plain JSON'
expect_json 'd.count === 3' 'stream=false: the result only'

post_json /v1/ping '{"count":0,"stream":true}'
expect_error 400 invalid_request count 'stream=true with an invalid count -> 400 JSON, not a stream'

req GET /v1/version -H 'Accept: text/event-stream'
expect_status 200 'a non-streaming action with Accept: text/event-stream -> 200'
expect_header Content-Type '^application/json' 'a non-streaming action answers plain JSON'

section "a flush per event"
FLUSH_JS='
(async () => {
  const t0 = Date.now();
  const res = await fetch(process.argv[1] + "/v1/ping", { method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ count: 4, interval_ms: 700, stream: true }) });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const seen = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      seen.push({ t: Date.now() - t0, data: buf.slice(0, i) });
      buf = buf.slice(i + 2);
    }
  }
  console.log(JSON.stringify(seen));
})().catch(e => { console.log(JSON.stringify({ error: String(e) })); });
'
timeout $((30 * SCALE)) node -e "$FLUSH_JS" "$BASE" >"$TMP/flush.json" || true
expect_json 'Array.isArray(d) && d.length === 6 && d[5].data === "data: [DONE]"' \
    'fetch() reads the whole stream (4 pongs, result, [DONE])' "$TMP/flush.json"
# 700 ms between pongs: if every event is flushed, pong 4 arrives about 2.1 s after
# pong 1; a buffered stream would deliver them together.
expect_json 'd[3].t - d[0].t >= 1000' 'each event reaches the client when sent (pong 4 >= 1 s after pong 1)' \
    "$TMP/flush.json"

section "parallel streams"
mkdir -p "$TMP/par"
pids=()
for i in $(seq 1 10); do
    curl -sN --max-time "$CURL_MAX_TIME" -X POST -H 'Content-Type: application/json' \
        --data-binary '{"count":5,"interval_ms":20,"stream":true}' "$BASE/v1/ping" \
        -o "$TMP/par/$i.sse" 2>/dev/null &
    pids+=($!)
    BG_PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
GOOD=0
for i in $(seq 1 10); do
    sse_parse "$TMP/par/$i.sse" >"$TMP/par/$i.json"
    if [[ $(json_value "$(ping_stream_expr 5)" "$TMP/par/$i.json") == true ]]; then GOOD=$((GOOD + 1)); fi
done
expect_eq "$GOOD" 10 '10 parallel streams each get 5 pongs, the result and [DONE]'

section "client disconnect mid-stream"
health_ok || true
BASE_THREADS=$(settled_threads "$SERVER_PID")
echo "# baseline: $BASE_THREADS threads"
rc=0
curl -sN --max-time 1 -X POST -H 'Content-Type: application/json' \
    --data-binary '{"count":1000,"interval_ms":100,"stream":true}' "$BASE/v1/ping" \
    -o "$TMP/cut.sse" 2>/dev/null || rc=$?
expect_eq "$rc" 28 'curl --max-time 1 cut the long stream (rc 28)'
sse_parse "$TMP/cut.sse" >"$TMP/cut.json"
expect_json 'd.events.length >= 1 && d.events.every(e => e.response === "pong")' \
    'the cut stream had delivered pongs' "$TMP/cut.json"
threads_back() { (($(thread_count "$SERVER_PID") <= BASE_THREADS)); }
if wait_until $((5 * SCALE)) threads_back; then
    pass "the stream's threads end after the disconnect (back to $BASE_THREADS)"
else
    fail "the stream's threads end after the disconnect (still $(thread_count "$SERVER_PID") > $BASE_THREADS)"
fi
if health_ok; then pass 'healthy after the disconnect'; else fail 'healthy after the disconnect'; fi

# A disconnect while the handler is between events (a 60 s pause): the sink's
# is-cancelled must notice, not the next write.
rc=0
curl -sN --max-time 1 -X POST -H 'Content-Type: application/json' \
    --data-binary '{"count":2,"interval_ms":60000,"stream":true}' "$BASE/v1/ping" \
    -o "$TMP/cut2.sse" 2>/dev/null || rc=$?
expect_eq "$rc" 28 'curl --max-time 1 cut a stream waiting 60 s between events'
if wait_until $((5 * SCALE)) threads_back; then
    pass 'an idle stream is cancelled promptly after the disconnect'
else
    fail "an idle stream is cancelled promptly after the disconnect (still $(thread_count "$SERVER_PID") threads > $BASE_THREADS)"
fi

# Several at once.
pids=()
for i in $(seq 1 5); do
    curl -sN --max-time 1 -X POST -H 'Content-Type: application/json' \
        --data-binary '{"count":1000,"interval_ms":50,"stream":true}' "$BASE/v1/ping" \
        -o /dev/null 2>/dev/null &
    pids+=($!)
    BG_PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
if wait_until $((5 * SCALE)) threads_back; then
    pass '5 simultaneous disconnects: every stream thread ends'
else
    fail "5 simultaneous disconnects: every stream thread ends (still $(thread_count "$SERVER_PID") > $BASE_THREADS)"
fi
if health_ok; then pass 'healthy after 5 disconnects'; else fail 'healthy after 5 disconnects'; fi
post_json /v1/ping '{"count":2,"interval_ms":10,"stream":true}' -N
sse_parse "$RESP_BODY" >"$TMP/sse.json"
expect_json "$(ping_stream_expr 2)" 'a new stream after the disconnects is complete' "$TMP/sse.json"

ALARM='^[^ ]+ (error|warn) |sanitizer|runtime error|assert|abort|double free|corrupt|segfault|leak'
if grep -Eiq "$ALARM" "$SERVER_LOG"; then
    fail 'the debug log shows nothing alarming' "$(grep -Ei "$ALARM" "$SERVER_LOG" | head -n 10)"
else
    pass 'the debug log shows nothing alarming (no error/warn lines)'
fi
if stop_server; then
    expect_eq "$EXIT_RC" 0 "SIGTERM with nothing in flight: exit 0 (${STOP_SECONDS}s)"
else
    fail "SIGTERM with nothing in flight: the server stopped within ${STOP_TIMEOUT}s"
fi
expect_file_lacks "$SERVER_LOG" 'still running after' 'no request was left running at shutdown'

section "a stream is not idle: --idle-timeout does not cut it"
# Events 3 s apart with --idle-timeout 2: the connection is busy streaming, so the idle
# timeout must not close it (keep-alives or an exemption for streaming responses).
start_server --idle-timeout 2
echo "# server on $BASE (pid $SERVER_PID), --idle-timeout 2"
post_json /v1/ping '{"count":2,"interval_ms":3000,"stream":true}' -N
sse_parse "$RESP_BODY" >"$TMP/slow.json"
expect_json "$(ping_stream_expr 2)" \
    'a stream with events 3 s apart survives --idle-timeout 2 (2 pongs, result, [DONE])' "$TMP/slow.json"
req GET /v1/health
expect_status 200 'healthy after the slow stream'
stop_server || fail 'the server stopped on SIGTERM'

# signal_during_stream SIGNAL: a long stream is running; the signal stops the server
# within a few seconds with status 0 and the client's stream ends.
signal_during_stream() {
    local sig=$1
    start_server --shutdown-grace 30
    echo "# server on $BASE (pid $SERVER_PID)"
    local out=$TMP/inflight-$sig.sse
    bg curl -sN --max-time $((60 * SCALE)) -X POST -H 'Content-Type: application/json' \
        --data-binary '{"count":1000,"interval_ms":100,"stream":true}' "$BASE/v1/ping" -o "$out"
    local client=$BG_PID
    if ! wait_until $((10 * SCALE)) grep -qs '"seq":2' "$out"; then
        fail "SIG$sig: the stream started before the signal"
    fi
    local t0
    t0=$(date +%s%N)
    if stop_server "$SERVER_PID" "$sig"; then
        expect_eq "$EXIT_RC" 0 "SIG$sig during a stream: exit status 0"
        local ms=$((($(date +%s%N) - t0) / 1000000))
        if ((ms <= 5000 * SCALE)); then
            pass "SIG$sig during a stream: stopped in ${ms} ms (< 5 s, grace was 30 s)"
        else
            fail "SIG$sig during a stream: stopped in ${ms} ms (want < 5 s)"
        fi
    else
        fail "SIG$sig during a stream: the server did not stop within ${STOP_TIMEOUT}s"
    fi
    if wait_exit "$client" 5; then
        pass "SIG$sig: the client's stream ended (curl status $EXIT_RC)"
    else
        fail "SIG$sig: the client's stream ended"
    fi
    sse_parse "$out" >"$TMP/inflight.json"
    expect_json 'd.bad.length === 0 && d.events.length >= 3 && d.events.slice(0, -1).every(e => e.response === "pong")' \
        "SIG$sig: the client got well-formed pong events" "$TMP/inflight.json"
    # The stream ends explicitly: [DONE], or an error event saying it was cancelled.
    expect_json '(e => e === "[DONE]" || (e && e.error && e.error.code === "cancelled"))(d.events[d.events.length - 1])' \
        "SIG$sig: the stream ends with [DONE] or a cancelled error event" "$TMP/inflight.json"
    expect_file_contains "$SERVER_LOG" 'stopped' "SIG$sig: the log says stopped"
    expect_file_lacks "$SERVER_LOG" 'still running after' "SIG$sig: no request outlived the shutdown"
}

section "SIGTERM while a stream is in flight"
signal_during_stream TERM
section "SIGINT while a stream is in flight"
signal_during_stream INT

finish
