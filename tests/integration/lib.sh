# lib.sh - shared helpers for the integration tests.
#
# Each test script does `set -euo pipefail`, sources this file, and then starts the
# real tabagent-server on a free loopback port (--port 0; the port is read back from
# the log line "HTTP API listening on http://127.0.0.1:PORT"), calls it with curl and
# asserts on status codes, headers and JSON bodies. JSON is parsed with node (a project
# dependency), never python.
#
# Assertions record a failure and go on, so one run shows every broken behaviour;
# `finish` at the end exits non-zero when any check failed. Helpers that cannot go on
# (a server that does not start) call `die`.
#
# Everything a script starts is stopped on exit (trap), whatever happens: servers get
# SIGTERM, then SIGKILL after a timeout; every wait in here has a timeout.
#
# Environment:
#   TABAGENT_SERVER_BIN  the tabagent-server binary (CMake passes $<TARGET_FILE:...>)
#   TA_SOURCE_DIR        the source tree (docs UI assets in TA_SOURCE_DIR/node_modules)
#   TA_TEST_KEEP_TMP=1   keep the temporary directory for inspection
#   TA_TEST_TIMEOUT_SCALE  multiply every timeout (e.g. 3 under sanitizers or valgrind)

if [[ -z ${TABAGENT_SERVER_BIN:-} ]]; then
    echo "FATAL: set TABAGENT_SERVER_BIN to the tabagent-server binary" >&2
    exit 1
fi
if [[ ! -x $TABAGENT_SERVER_BIN ]]; then
    echo "FATAL: TABAGENT_SERVER_BIN=$TABAGENT_SERVER_BIN is not an executable" >&2
    exit 1
fi
TA_SOURCE_DIR=${TA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
for tool in curl node; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FATAL: '$tool' is needed by the integration tests (run scripts/setup.sh)" >&2
        exit 1
    fi
done

# The server reads TABAGENT_* twins of its flags: none may leak in from the caller.
while read -r var; do
    [[ $var == TABAGENT_SERVER_BIN ]] || unset "$var"
done < <(compgen -e | grep '^TABAGENT_' || true)

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ta-$TEST_NAME.XXXXXX")
SCALE=${TA_TEST_TIMEOUT_SCALE:-1}
STARTUP_TIMEOUT=$((30 * SCALE)) # seconds for the server to log its port
STOP_TIMEOUT=$((10 * SCALE))    # seconds for a SIGTERM to end the process
CURL_MAX_TIME=$((20 * SCALE))   # seconds for one request

CHECKS=0
FAILURES=0
SERVER_PIDS=() # servers still to be stopped on exit
SERVER_LOGS=() # every server log, printed when something failed
SERVER_ERRS=() # every server stderr, checked for sanitizer reports at the end
BG_PIDS=()     # other background helpers (streaming curls, ...)
SERVER_COUNT=0

# ---- reporting ---------------------------------------------------------------------

section() { printf '\n# %s\n' "$*"; }

pass() {
    CHECKS=$((CHECKS + 1))
    printf 'ok %d - %s\n' "$CHECKS" "$1"
}

# fail MSG [DETAILS]: records a failure; DETAILS (e.g. a body) is shown indented.
fail() {
    CHECKS=$((CHECKS + 1))
    FAILURES=$((FAILURES + 1))
    printf 'not ok %d - %s\n' "$CHECKS" "$1"
    if [[ -n ${2:-} ]]; then
        printf '%s\n' "$2" | head -c 4000 | sed 's/^/#   /'
        echo
    fi
}

die() {
    echo "FATAL: $*" >&2
    exit 1
}

# check_sanitizers: no AddressSanitizer/UBSan/LeakSanitizer report in any server's
# stderr (CI runs these tests against a sanitizer build too).
check_sanitizers() {
    local f hits=""
    for f in "${SERVER_ERRS[@]}"; do
        [[ -s $f ]] || continue
        if grep -Eq 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: .*Sanitizer' "$f"; then
            hits+="$f:"$'\n'"$(grep -E -A12 'ERROR: |runtime error:' "$f" | head -n 40)"$'\n'
        fi
    done
    if [[ -n $hits ]]; then fail 'no sanitizer reports from the server' "$hits"; else pass 'no sanitizer reports from the server'; fi
}

# finish: the last line of every script.
finish() {
    check_sanitizers
    if ((CHECKS == 0)); then
        echo "FATAL: no checks ran" >&2
        exit 1
    fi
    if ((FAILURES > 0)); then
        echo "# $TEST_NAME: $FAILURES of $CHECKS checks FAILED"
        exit 1
    fi
    echo "# $TEST_NAME: all $CHECKS checks passed"
    exit 0
}

# ---- processes ---------------------------------------------------------------------

# pid_running PID: true while the process exists and is not a zombie.
pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in Z | X | x) return 1 ;; esac
    return 0
}

# is_my_child PID: the process is running and is a child of this script (a reaped
# pid that was reused by some other process is never touched).
is_my_child() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    local fields
    read -r -a fields <<<"$stat"
    [[ ${fields[0]} != Z && ${fields[1]} == "$$" ]]
}

# wait_exit PID SECONDS: waits for the process to end; sets EXIT_RC (its status, or
# "timeout" when it still runs). Returns 0 when it ended in time.
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while pid_running "$pid"; do
        if ((SECONDS >= deadline)); then
            EXIT_RC=timeout
            return 1
        fi
        sleep 0.05
    done
    EXIT_RC=0
    wait "$pid" 2>/dev/null || EXIT_RC=$?
    return 0
}

# kill_hard PID: SIGTERM, then SIGKILL if it lingers; always reaps.
kill_hard() {
    local pid=$1
    is_my_child "$pid" || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "$STOP_TIMEOUT"; then
        echo "# cleanup: pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || true
    fi
}

forget_server() {
    local pid=$1 keep=() p
    for p in "${SERVER_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    SERVER_PIDS=("${keep[@]}")
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    local pid
    for pid in "${BG_PIDS[@]}"; do
        is_my_child "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for pid in "${SERVER_PIDS[@]}"; do kill_hard "$pid"; done
    if ((rc != 0 || FAILURES > 0)); then
        local log
        for log in "${SERVER_LOGS[@]}"; do
            [[ -s $log ]] || continue
            echo "# ---- last lines of $log"
            tail -n 40 "$log" | sed 's/^/#   /'
        done
    fi
    if [[ ${TA_TEST_KEEP_TMP:-0} == 1 ]]; then
        echo "# kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg CMD...: runs CMD in the background and remembers it for cleanup; sets BG_PID.
bg() {
    "$@" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# wait_until SECONDS CMD...: polls CMD every 50 ms; returns 1 on timeout.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# ---- the server --------------------------------------------------------------------

# launch_server [ARGS...]: starts tabagent-server in the background without waiting.
# Defaults: --mode http --port 0, a fresh data dir, database and model dirs, its own
# log file, the docs assets from TA_SOURCE_DIR/node_modules; ARGS come after and win.
# stdin is /dev/null unless SERVER_STDIN names a file or fifo; SERVER_ENV adds
# NAME=VALUE words to the environment; SERVER_BARE=1 leaves out --mode and --port.
# Sets SERVER_PID SERVER_DIR SERVER_LOG SERVER_STDOUT SERVER_STDERR.
launch_server() {
    SERVER_COUNT=$((SERVER_COUNT + 1))
    SERVER_DIR=$TMP/server$SERVER_COUNT
    mkdir -p "$SERVER_DIR/xdg" "$SERVER_DIR/home"
    SERVER_LOG=$SERVER_DIR/server.log
    SERVER_STDOUT=$SERVER_DIR/stdout
    SERVER_STDERR=$SERVER_DIR/stderr
    SERVER_LOGS+=("$SERVER_LOG")
    SERVER_ERRS+=("$SERVER_STDERR")
    local stdin=${SERVER_STDIN:-/dev/null}
    local base=(--mode http --port 0)
    [[ ${SERVER_BARE:-0} == 1 ]] && base=()
    # shellcheck disable=SC2086 # SERVER_ENV is a list of NAME=VALUE words
    env HOME="$SERVER_DIR/home" XDG_DATA_HOME="$SERVER_DIR/xdg" ${SERVER_ENV:-} \
        "$TABAGENT_SERVER_BIN" "${base[@]}" --log-file "$SERVER_LOG" \
        --db-path "$SERVER_DIR/db" --model-cache-path "$SERVER_DIR/models" \
        --docs-dir "$TA_SOURCE_DIR/node_modules" "$@" \
        <"$stdin" >"$SERVER_STDOUT" 2>"$SERVER_STDERR" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
}

# log_port LOGFILE: prints the port from "HTTP API listening on http://HOST:PORT".
log_port() {
    [[ -r $1 ]] || return 0
    sed -n 's/.*HTTP API listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1
}

# wait_listening: waits for the current server's port; sets PORT and BASE.
wait_listening() {
    local deadline=$((SECONDS + STARTUP_TIMEOUT))
    PORT=
    while :; do
        PORT=$(log_port "$SERVER_LOG")
        [[ -n $PORT ]] && break
        if ! pid_running "$SERVER_PID"; then
            wait "$SERVER_PID" 2>/dev/null && EXIT_RC=0 || EXIT_RC=$?
            forget_server "$SERVER_PID"
            die "tabagent-server exited (status $EXIT_RC) before listening
stderr: $(cat "$SERVER_STDERR" 2>/dev/null)
log: $(cat "$SERVER_LOG" 2>/dev/null)"
        fi
        ((SECONDS < deadline)) || die "tabagent-server did not log its port within ${STARTUP_TIMEOUT}s
log: $(cat "$SERVER_LOG" 2>/dev/null)"
        sleep 0.05
    done
    BASE=http://127.0.0.1:$PORT
}

# start_server [ARGS...]: launch_server + wait_listening.
start_server() {
    launch_server "$@"
    wait_listening
}

# stop_server [PID] [SIGNAL]: stops a server (default: the current one, SIGTERM),
# expecting a clean exit 0 within STOP_TIMEOUT seconds. Sets EXIT_RC and STOP_SECONDS.
# Returns 1 (after killing it) when it did not stop in time.
stop_server() {
    local pid=${1:-$SERVER_PID} sig=${2:-TERM}
    local t0
    t0=$(date +%s%N)
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "$STOP_TIMEOUT"; then
        STOP_SECONDS=$STOP_TIMEOUT
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || true
        forget_server "$pid"
        EXIT_RC=timeout
        return 1
    fi
    STOP_SECONDS=$(((($(date +%s%N) - t0) / 1000000)))
    STOP_SECONDS=$((STOP_SECONDS / 1000)).$(printf '%03d' $((STOP_SECONDS % 1000)))
    forget_server "$pid"
    return 0
}

# ---- HTTP --------------------------------------------------------------------------

RESP_BODY=$TMP/body
RESP_HEADERS=$TMP/headers

# req METHOD PATH [CURL ARGS...]: one request to $BASE (or a full URL). Sets STATUS
# ("000" when curl got no reply), CURL_RC; the reply is in $RESP_BODY, $RESP_HEADERS.
req() {
    local method=$1 path=$2
    shift 2
    local url=$path
    [[ $url == http://* ]] || url=$BASE$path
    local mflag=(-X "$method")
    [[ $method == HEAD ]] && mflag=(--head)
    : >"$RESP_BODY"
    : >"$RESP_HEADERS"
    CURL_RC=0
    STATUS=$(curl -sS --max-time "$CURL_MAX_TIME" "${mflag[@]}" -o "$RESP_BODY" \
        -D "$RESP_HEADERS" -w '%{http_code}' "$@" "$url" 2>"$TMP/curl.err") || CURL_RC=$?
    [[ -n $STATUS ]] || STATUS=000
    REQ_DESC="$method $path"
}

# post_json PATH JSON [CURL ARGS...]
post_json() {
    local path=$1 body=$2
    shift 2
    req POST "$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

body_text() { cat "$RESP_BODY"; }

# header_value NAME: the value of the last NAME header of the last reply (no CR).
header_value() {
    awk -v name="$1" 'BEGIN { IGNORECASE = 1; n = tolower(name) ":" }
        { line = $0; sub(/\r$/, "", line)
          if (tolower(substr(line, 1, length(n))) == n) { v = substr(line, length(n) + 1)
            sub(/^[ \t]+/, "", v); found = v } }
        END { if (found != "") print found }' "$RESP_HEADERS"
}

has_header() { grep -qi "^$1:" "$RESP_HEADERS"; }

expect_status() {
    local want=$1 msg=${2:-"$REQ_DESC -> $1"}
    if [[ $STATUS == "$want" ]]; then
        pass "$msg"
    else
        fail "$msg (got $STATUS, curl rc $CURL_RC)" "$(cat "$RESP_HEADERS" "$RESP_BODY" "$TMP/curl.err" 2>/dev/null)"
    fi
}

# expect_header NAME REGEX [MSG]: the header exists and matches the (bash) regex.
expect_header() {
    local name=$1 re=$2 msg=${3:-"$REQ_DESC: header $1 ~ /$2/"}
    local v
    v=$(header_value "$name")
    if has_header "$name" && [[ $v =~ $re ]]; then
        pass "$msg"
    else
        fail "$msg (got '${v}')" "$(cat "$RESP_HEADERS")"
    fi
}

expect_no_header() {
    local name=$1 msg=${2:-"$REQ_DESC: no $1 header"}
    if has_header "$name"; then
        fail "$msg (got '$(header_value "$name")')"
    else
        pass "$msg"
    fi
}

# The node side of the JSON helpers: argv = [file, expr]; `d` is the parsed file.
# Exit 0 and print the value of expr; exit 3 when the file is not JSON, 4 when expr
# throws.
NODE_JSON='
const fs = require("fs");
const [file, expr] = process.argv.slice(1);
let d;
try { d = JSON.parse(fs.readFileSync(file, "utf8")); }
catch (e) { console.log("not JSON: " + e.message); process.exit(3); }
let v;
try { v = new Function("d", "return (" + expr + ");")(d); }
catch (e) { console.log("error: " + e.message); process.exit(4); }
process.stdout.write(typeof v === "string" ? v : JSON.stringify(v) === undefined ? "undefined" : JSON.stringify(v));
'

# json_value EXPR [FILE]: prints EXPR evaluated with d = the JSON body (strings raw).
json_value() {
    node -e "$NODE_JSON" "${2:-$RESP_BODY}" "$1"
}

# expect_json EXPR [MSG] [FILE]: EXPR (JavaScript over d) must be true.
expect_json() {
    local expr=$1 msg=${2:-"$REQ_DESC: $1"} file=${3:-$RESP_BODY}
    local out rc=0
    out=$(node -e "$NODE_JSON" "$file" "$expr") || rc=$?
    if ((rc == 0)) && [[ $out == true ]]; then
        pass "$msg"
    else
        fail "$msg (got $out)" "$(head -c 2000 "$file")"
    fi
}

# expect_error STATUS CODE [MESSAGE_SUBSTRING] [MSG]: an error in the OpenAI shape
# {"error":{"message","type","code"}} (all strings), served as JSON.
expect_error() {
    local want=$1 code=$2 sub=${3:-} msg=${4:-"$REQ_DESC -> $1 $2"}
    local ct
    ct=$(header_value Content-Type)
    local expr="typeof d.error === 'object' && d.error !== null && Object.keys(d).length === 1
        && typeof d.error.message === 'string' && d.error.message.length > 0
        && typeof d.error.type === 'string' && d.error.type.length > 0
        && d.error.code === process.env.WANT_CODE
        && d.error.message.includes(process.env.WANT_SUB)"
    local out rc=0
    out=$(WANT_CODE=$code WANT_SUB=$sub node -e "$NODE_JSON" "$RESP_BODY" "$expr") || rc=$?
    if [[ $STATUS == "$want" && $ct == application/json* ]] && ((rc == 0)) && [[ $out == true ]]; then
        pass "$msg"
    else
        fail "$msg${sub:+ with message containing '$sub'} (got status $STATUS, Content-Type '$ct')" \
            "$(cat "$RESP_HEADERS" "$RESP_BODY" "$TMP/curl.err" 2>/dev/null)"
    fi
}

expect_eq() {
    local got=$1 want=$2 msg=$3
    if [[ $got == "$want" ]]; then pass "$msg"; else fail "$msg (got '$got', want '$want')"; fi
}

# expect_match STRING REGEX MSG
expect_match() {
    local s=$1 re=$2 msg=$3
    if [[ $s =~ $re ]]; then pass "$msg"; else fail "$msg (no match for /$re/)" "$s"; fi
}

# expect_file_contains FILE FIXED-STRING MSG / expect_file_lacks FILE FIXED-STRING MSG
expect_file_contains() {
    if grep -qF -- "$2" "$1" 2>/dev/null; then pass "$3"; else fail "$3" "$(head -c 3000 "$1" 2>/dev/null)"; fi
}
expect_file_lacks() {
    if grep -qF -- "$2" "$1" 2>/dev/null; then fail "$3" "$(grep -F -- "$2" "$1" | head -n 5)"; else pass "$3"; fi
}

# health_ok: true when the current server answers GET /v1/health with 200 "ok".
health_ok() {
    local s
    s=$(curl -s --max-time 5 -o "$TMP/health.json" -w '%{http_code}' "$BASE/v1/health") || return 1
    [[ $s == 200 ]] && grep -q '"status":"ok"' "$TMP/health.json"
}

# thread_count PID: the number of threads of a process (Linux).
thread_count() {
    local n
    n=$(ls "/proc/$1/task" 2>/dev/null | wc -l)
    echo "$n"
}

# settled_threads PID: the thread count once it has not changed for 250 ms (at most
# 3 s of polling); the lowest count seen if it never settles.
settled_threads() {
    local low same=0 n prev deadline=$((SECONDS + 3))
    prev=$(thread_count "$1")
    low=$prev
    while ((same < 5 && SECONDS < deadline)); do
        sleep 0.05
        n=$(thread_count "$1")
        if ((n == prev)); then same=$((same + 1)); else same=0; fi
        ((n < low)) && low=$n
        prev=$n
    done
    echo "$low"
}

# free_port: a loopback port that was free a moment ago.
free_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
