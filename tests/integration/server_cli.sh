#!/usr/bin/env bash
# server_cli.sh - the tabagent-server command line: --help (every flag with its
# TABAGENT_* twin), --version, usage errors (exit 2), flag/environment precedence,
# the data directories, logs never on stdout, a port already in use (--mode http
# fails clearly; --mode all with a pipe on stdin keeps serving native messaging and
# answers a ping frame), --mode native, --mode webrtc, and exit on EOF / SIGTERM.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=$TABAGENT_SERVER_BIN

# run_cli ARGS...: runs the binary to completion (with a timeout) in a clean
# environment; sets CLI_RC, and the files $TMP/cli.out, $TMP/cli.err.
run_cli() {
    CLI_RC=0
    env HOME="$TMP/home" XDG_DATA_HOME="$TMP/xdg" ${CLI_ENV:-} \
        timeout $((20 * SCALE)) "$BIN" "$@" </dev/null >"$TMP/cli.out" 2>"$TMP/cli.err" || CLI_RC=$?
}
mkdir -p "$TMP/home" "$TMP/xdg"

# Native messaging frames: 4-byte little-endian length + UTF-8 JSON.
frame() {
    node -e 'const j = Buffer.from(process.argv[1]); const h = Buffer.alloc(4);
             h.writeUInt32LE(j.length); process.stdout.write(Buffer.concat([h, j]));' "$1"
}
# read_frames FILE: the frames in FILE as a JSON array; {"error":...} when the bytes
# are not a sequence of whole frames.
READ_FRAMES='
const b = require("fs").readFileSync(process.argv[1]);
const out = [];
let off = 0;
while (off < b.length) {
  if (off + 4 > b.length) { console.log(JSON.stringify({error: "partial header", out})); process.exit(0); }
  const n = b.readUInt32LE(off);
  if (off + 4 + n > b.length) { console.log(JSON.stringify({error: "partial frame", out})); process.exit(0); }
  const text = b.subarray(off + 4, off + 4 + n).toString("utf8");
  try { out.push(JSON.parse(text)); } catch (e) { out.push({unparsable: text}); }
  off += 4 + n;
}
console.log(JSON.stringify(out));
'
read_frames() { node -e "$READ_FRAMES" "$1"; }
# frames_count FILE: how many whole frames FILE holds.
frames_count() { json_value 'Array.isArray(d) ? d.length : -1' <(read_frames "$1"); }

section "--help"
run_cli --help
expect_eq "$CLI_RC" 0 '--help exits 0'
HELP=$TMP/help.txt
cp "$TMP/cli.out" "$HELP"
if [[ -s $TMP/cli.err ]]; then fail '--help writes nothing to stderr' "$(cat "$TMP/cli.err")"; else pass '--help writes nothing to stderr'; fi
for flag in mode host port db-path model-cache-path log-level log-file api-key cors-origins web-root \
    max-body-size; do
    twin=TABAGENT_$(echo "$flag" | tr 'a-z-' 'A-Z_')
    expect_file_contains "$HELP" "--$flag" "--help lists --$flag"
    expect_file_contains "$HELP" "$twin" "--help lists --$flag's twin $twin"
done
expect_file_contains "$HELP" '--version' '--help lists --version'
expect_file_contains "$HELP" '--help' '--help lists --help'
# Every flag --help shows (other than --help/--version) names a TABAGENT_* twin
# within its entry, and the twin is the flag's name in capitals.
TWIN_CHECK='
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
const flags = [], missing = [];
lines.forEach((l, i) => {
  const m = /^\s+--([a-z][a-z-]*)\b/.exec(l);
  if (!m || m[1] === "help" || m[1] === "version") return;
  flags.push(m[1]);
  const twin = "TABAGENT_" + m[1].toUpperCase().replace(/-/g, "_");
  const entry = [l, lines[i + 1] || "", lines[i + 2] || ""].join(" ");
  if (!entry.includes(twin)) missing.push(m[1] + " (" + twin + ")");
});
console.log(JSON.stringify({flags, missing}));
'
node -e "$TWIN_CHECK" "$HELP" >"$TMP/twins.json"
expect_json 'd.flags.length >= 10 && d.missing.length === 0' '--help: every flag names its TABAGENT_* twin' "$TMP/twins.json"
echo "# flags in --help: $(json_value 'd.flags.join(" ")' "$TMP/twins.json")"

section "--version"
run_cli --version
expect_eq "$CLI_RC" 0 '--version exits 0'
expect_match "$(cat "$TMP/cli.out")" '^tabagent-server [0-9]+\.[0-9]+\.[0-9]+' '--version prints "tabagent-server X.Y.Z"'
CLI_VERSION=$(sed -n 's/^tabagent-server \([^ ]*\).*/\1/p' "$TMP/cli.out" | head -n 1)

section "usage errors exit 2 with a message"
usage_error() {
    local want=$1 msg=$2
    shift 2
    run_cli "$@"
    expect_eq "$CLI_RC" 2 "$msg: exit status 2"
    if grep -qiF -- "$want" "$TMP/cli.err"; then
        pass "$msg: stderr mentions '$want'"
    else
        fail "$msg: stderr mentions '$want'" "$(cat "$TMP/cli.err")"
    fi
    if [[ -s $TMP/cli.out ]]; then fail "$msg: nothing on stdout" "$(cat "$TMP/cli.out")"; else pass "$msg: nothing on stdout"; fi
}
usage_error '--bogus' 'an unknown flag' --bogus
usage_error '--no-such-flag' 'an unknown flag with a value' --no-such-flag=1
usage_error '--port' '--port without a value' --port
usage_error '--port' '--port abc' --port abc
usage_error '--port' '--port 70000' --port 70000
usage_error '--mode' '--mode nope' --mode nope
usage_error '--log-level' '--log-level loud' --log-level loud
usage_error '--max-body-size' '--max-body-size lots' --max-body-size lots
CLI_ENV="TABAGENT_PORT=abc" usage_error 'TABAGENT_PORT' 'TABAGENT_PORT=abc'
CLI_ENV="TABAGENT_MODE=nope" usage_error 'TABAGENT_MODE' 'TABAGENT_MODE=nope'

section "--mode webrtc"
run_cli --mode webrtc --port 0
if [[ $CLI_RC != 0 && $CLI_RC != 124 ]]; then pass "--mode webrtc exits non-zero ($CLI_RC)"; else fail "--mode webrtc exits non-zero (got $CLI_RC)"; fi
expect_file_contains "$TMP/cli.err" 'not available yet' '--mode webrtc says it is not available yet'

section "logs go to stderr, never stdout; data directories from XDG_DATA_HOME"
mkdir -p "$TMP/plain/xdg" "$TMP/plain/home"
env HOME="$TMP/plain/home" XDG_DATA_HOME="$TMP/plain/xdg" \
    "$BIN" --mode http --port 0 </dev/null >"$TMP/plain/stdout" 2>"$TMP/plain/stderr" &
SERVER_PID=$!
SERVER_PIDS+=("$SERVER_PID")
SERVER_LOG=$TMP/plain/stderr
SERVER_STDERR=$TMP/plain/stderr
SERVER_LOGS+=("$SERVER_LOG")
SERVER_ERRS+=("$SERVER_STDERR")
wait_listening
expect_file_contains "$TMP/plain/stderr" 'HTTP API listening on http://127.0.0.1:' 'without --log-file the log is on stderr'
expect_file_contains "$TMP/plain/stderr" "$TMP/plain/xdg/TabAgent" 'the data directory is $XDG_DATA_HOME/TabAgent'
expect_file_contains "$TMP/plain/stderr" "$TMP/plain/xdg/TabAgent/tabagent_db" 'the database is <data>/tabagent_db'
expect_file_contains "$TMP/plain/stderr" "$TMP/plain/xdg/TabAgent/models" 'the models are in <data>/models'
req GET /v1/health
expect_status 200
expect_eq "$(json_value d.version)" "$CLI_VERSION" '--version matches /v1/health version'
if stop_server; then expect_eq "$EXIT_RC" 0 'SIGTERM: exit 0'; else fail 'SIGTERM: stopped in time'; fi
if [[ -s $TMP/plain/stdout ]]; then fail 'nothing on stdout in --mode http' "$(head -c 300 "$TMP/plain/stdout")"; else pass 'nothing on stdout in --mode http'; fi

section "--db-path and --model-cache-path"
start_server
expect_file_contains "$SERVER_LOG" "database $SERVER_DIR/db" '--db-path is used'
expect_file_contains "$SERVER_LOG" "models $SERVER_DIR/models" '--model-cache-path is used'
stop_server || fail 'stopped in time'

section "--port and TABAGENT_PORT: the flag wins"
P1=$(free_port)
SERVER_BARE=1 SERVER_ENV="TABAGENT_PORT=$P1" start_server --mode http
expect_eq "$PORT" "$P1" "TABAGENT_PORT=$P1 alone: listens on $P1"
req GET /v1/health
expect_status 200 "the server answers on $P1"
stop_server || fail 'stopped in time'
P2=$(free_port)
SERVER_BARE=1 SERVER_ENV="TABAGENT_PORT=$P1" start_server --mode http --port "$P2"
expect_eq "$PORT" "$P2" "TABAGENT_PORT=$P1 --port $P2: listens on $P2 (the flag wins)"
req GET "http://127.0.0.1:$P1/v1/health"
expect_status 000 "nothing listens on the environment's port $P1"
stop_server || fail 'stopped in time'
P3=$(free_port)
SERVER_BARE=1 start_server --mode http "--port=$P3"
expect_eq "$PORT" "$P3" "--port=$P3 (with =) works"
stop_server || fail 'stopped in time'
SERVER_BARE=1 SERVER_ENV="TABAGENT_MODE=http TABAGENT_PORT=0" start_server
expect_file_contains "$SERVER_LOG" 'mode http' 'TABAGENT_MODE=http is used'
stop_server || fail 'stopped in time'

section "the default mode (all) with stdin not a pipe: HTTP only"
SERVER_BARE=1 start_server --port 0
expect_file_contains "$SERVER_LOG" 'mode all' 'no --mode: mode all'
req GET /v1/health
expect_status 200 'mode all, stdin /dev/null: HTTP answers'
expect_file_lacks "$SERVER_LOG" 'native messaging on stdin' 'mode all, stdin /dev/null: no native messaging'
if pid_running "$SERVER_PID"; then pass 'mode all, stdin /dev/null: keeps running'; else fail 'mode all, stdin /dev/null: keeps running'; fi
if stop_server; then expect_eq "$EXIT_RC" 0 'mode all: SIGTERM exits 0'; else fail 'mode all: stopped in time'; fi

section "a port already in use"
start_server
HOLDER_PID=$SERVER_PID
HOLDER_BASE=$BASE
TAKEN=$PORT
echo "# port $TAKEN is held by pid $HOLDER_PID"
launch_server --port "$TAKEN"
if wait_exit "$SERVER_PID" $((20 * SCALE)); then
    forget_server "$SERVER_PID"
    if [[ $EXIT_RC != 0 ]]; then pass "--mode http on a taken port exits non-zero ($EXIT_RC)"; else fail '--mode http on a taken port exits non-zero (got 0)'; fi
else
    fail '--mode http on a taken port exits (it kept running)'
    kill_hard "$SERVER_PID"
    forget_server "$SERVER_PID"
fi
expect_file_contains "$SERVER_STDERR" 'already in use' 'the taken port: stderr says "already in use"'
expect_file_contains "$SERVER_STDERR" "$TAKEN" 'the taken port: stderr names the port'
expect_file_contains "$SERVER_LOG" 'already in use' 'the taken port: the log says "already in use"'

section "--mode all, a taken port, stdin a pipe: native messaging only"
FIFO=$TMP/native.in
mkfifo "$FIFO"
SERVER_STDIN=$FIFO launch_server --mode all --port "$TAKEN"
NATIVE_PID=$SERVER_PID
NATIVE_OUT=$SERVER_STDOUT
NATIVE_LOG=$SERVER_LOG
# Read-write never blocks on a fifo; the server sees EOF once fd 3 is closed.
exec 3<>"$FIFO"
if wait_until $((20 * SCALE)) grep -qs 'native messaging only' "$NATIVE_LOG"; then
    pass 'the log says it serves native messaging only'
else
    fail 'the log says it serves native messaging only' "$(cat "$NATIVE_LOG" "$SERVER_STDERR" 2>/dev/null)"
fi
expect_file_contains "$NATIVE_LOG" 'already in use' 'the log gives the reason (port already in use)'
if pid_running "$NATIVE_PID"; then pass 'the server keeps running'; else fail 'the server keeps running'; fi
frame '{"action":"ping","messageId":"m-1"}' >&3
native_replied() { (($(frames_count "$NATIVE_OUT") >= 1)); }
if wait_until $((10 * SCALE)) native_replied; then
    pass 'a reply frame arrives on stdout'
else
    fail 'a reply frame arrives on stdout' "$(od -c "$NATIVE_OUT" | head -n 5)"
fi
read_frames "$NATIVE_OUT" >"$TMP/frames.json"
expect_json 'Array.isArray(d) && d.length === 1' 'stdout holds exactly one whole frame (length prefix matches)' "$TMP/frames.json"
expect_json 'd[0].messageId === "m-1" && d[0].status === "success" && d[0].response === "pong"' \
    'the ping reply echoes messageId, status success, response pong' "$TMP/frames.json"
frame '{"action":"nope","messageId":"m-2"}' >&3
frame '{"route":"ping","request_id":"r-3","payload":{}}' >&3
has3() { [[ $(frames_count "$NATIVE_OUT") == 3 ]]; }
if wait_until $((10 * SCALE)) has3; then pass 'two more frames, two more replies'; else fail 'two more frames, two more replies' "$(read_frames "$NATIVE_OUT")"; fi
read_frames "$NATIVE_OUT" >"$TMP/frames.json"
expect_json 'd[1].messageId === "m-2" && d[1].status === "error" && typeof d[1].message === "string"' \
    'an unknown action gets an error reply and the host keeps going' "$TMP/frames.json"
expect_json 'd[2].request_id === "r-3" && d[2].success === true && d[2].data.response === "pong"' \
    'the older route envelope is answered in kind' "$TMP/frames.json"
if pid_running "$NATIVE_PID"; then pass 'still running after the frames'; else fail 'still running after the frames'; fi
exec 3>&- # EOF on stdin: the host exits 0
if wait_exit "$NATIVE_PID" "$STOP_TIMEOUT"; then
    forget_server "$NATIVE_PID"
    expect_eq "$EXIT_RC" 0 'EOF on stdin: exit 0'
else
    fail "EOF on stdin: the server exits within ${STOP_TIMEOUT}s"
fi
BASE=$HOLDER_BASE
if health_ok; then pass 'the server holding the port is unaffected'; else fail 'the server holding the port is unaffected'; fi
stop_server "$HOLDER_PID" || fail 'the holder stopped in time'

section "--mode all, a free port, stdin a pipe: HTTP and native together"
FIFO2=$TMP/native2.in
mkfifo "$FIFO2"
SERVER_STDIN=$FIFO2 launch_server --mode all
BOTH_PID=$SERVER_PID
exec 4<>"$FIFO2"
wait_listening
req GET /v1/health
expect_status 200 '--mode all: HTTP answers'
frame '{"action":"health","messageId":"h-1"}' >&4
has1() { [[ $(frames_count "$SERVER_STDOUT") == 1 ]]; }
if wait_until $((10 * SCALE)) has1; then pass '--mode all: native answers'; else fail '--mode all: native answers'; fi
read_frames "$SERVER_STDOUT" >"$TMP/frames.json"
expect_json 'd[0].messageId === "h-1" && d[0].status === "success" && d[0].status !== undefined && d[0].version === "'"$CLI_VERSION"'"' \
    '--mode all: the native health reply' "$TMP/frames.json"
if stop_server "$BOTH_PID" TERM; then
    expect_eq "$EXIT_RC" 0 '--mode all: SIGTERM with the pipe still open exits 0'
else
    fail "--mode all: SIGTERM with the pipe still open exits within ${STOP_TIMEOUT}s"
fi
exec 4>&-
expect_file_lacks "$SERVER_LOG" 'HTTP API not started' '--mode all with a free port starts HTTP'

section "--mode native"
FIFO3=$TMP/native3.in
mkfifo "$FIFO3"
SERVER_STDIN=$FIFO3 launch_server --mode native
exec 5<>"$FIFO3"
frame '{"action":"version","messageId":"v-1"}' >&5
if wait_until $((10 * SCALE)) has1; then pass '--mode native answers a frame'; else fail '--mode native answers a frame'; fi
read_frames "$SERVER_STDOUT" >"$TMP/frames.json"
expect_json 'd[0].messageId === "v-1" && d[0].version === "'"$CLI_VERSION"'"' '--mode native: the version reply' "$TMP/frames.json"
expect_file_lacks "$SERVER_LOG" 'HTTP API listening' '--mode native starts no HTTP server'
exec 5>&-
if wait_exit "$SERVER_PID" "$STOP_TIMEOUT"; then
    forget_server "$SERVER_PID"
    expect_eq "$EXIT_RC" 0 '--mode native: EOF exits 0'
else
    fail "--mode native: EOF exits within ${STOP_TIMEOUT}s"
fi

finish
