#!/usr/bin/env bash
# http_cors_static.sh - CORS preflights and headers under the default policy and a
# custom --cors-origins; static files from --web-root, their content types, and
# path traversal attempts (dot segments, percent-encoded, backslashes, symlinks).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXT_ORIGIN=chrome-extension://abcdefghijklmnopabcdefghijklmnop

# preflight ORIGIN [PATH] [METHOD] [REQUEST HEADERS]
preflight() {
    req OPTIONS "${2:-/v1/ping}" -H "Origin: $1" -H "Access-Control-Request-Method: ${3:-POST}" \
        -H "Access-Control-Request-Headers: ${4:-content-type,authorization}"
}

# expect_preflight_ok ORIGIN: 204 with ACAO echoing the origin and the allow lists.
expect_preflight_ok() {
    local origin=$1
    preflight "$origin"
    expect_status 204 "preflight from $origin -> 204"
    expect_eq "$(header_value Access-Control-Allow-Origin)" "$origin" \
        "preflight from $origin: Access-Control-Allow-Origin echoes it"
    expect_header Access-Control-Allow-Methods 'POST' "preflight from $origin: Allow-Methods has POST"
    expect_header Access-Control-Allow-Methods 'GET' "preflight from $origin: Allow-Methods has GET"
    local ah
    ah=$(header_value Access-Control-Allow-Headers | tr 'A-Z' 'a-z')
    expect_match "$ah" 'content-type' "preflight from $origin: Allow-Headers has content-type"
    expect_match "$ah" 'authorization' "preflight from $origin: Allow-Headers has authorization"
    expect_header Vary 'Origin' "preflight from $origin: Vary: Origin"
}

expect_preflight_refused() {
    local origin=$1
    preflight "$origin"
    expect_error 403 forbidden '' "preflight from '$origin' -> 403"
    expect_no_header Access-Control-Allow-Origin "preflight from '$origin': no Access-Control-Allow-Origin"
    expect_no_header Access-Control-Allow-Methods "preflight from '$origin': no Access-Control-Allow-Methods"
}

section "CORS, default policy"
start_server
echo "# server on $BASE (pid $SERVER_PID)"
expect_preflight_ok http://localhost:5173
expect_preflight_ok "$EXT_ORIGIN"
expect_preflight_ok http://127.0.0.1:8080
expect_preflight_ok http://localhost
expect_preflight_ok moz-extension://0b8c2a6e-1f2d-4c3b-9a8e-5d6f7a8b9c0d
expect_preflight_refused https://evil.example
expect_preflight_refused http://localhost.evil.example:5173
expect_preflight_refused http://localhost:5173.evil.example
expect_preflight_refused http://evil.example/http://localhost:5173
expect_preflight_refused null
expect_preflight_refused 'chrome-extension://abc/../../evil'

preflight http://localhost:5173 /v1/ping POST 'x-evil header: injected'
expect_status 204 'preflight with odd request headers -> 204'
expect_header Access-Control-Allow-Headers '^[A-Za-z0-9, _-]+$' 'odd request headers are not echoed verbatim'

req GET /v1/health -H 'Origin: http://localhost:5173'
expect_status 200
expect_eq "$(header_value Access-Control-Allow-Origin)" http://localhost:5173 'GET with an allowed Origin: ACAO echoes it'
expect_header Vary 'Origin' 'GET with an allowed Origin: Vary: Origin'
req GET /v1/health -H "Origin: $EXT_ORIGIN"
expect_eq "$(header_value Access-Control-Allow-Origin)" "$EXT_ORIGIN" 'GET from the extension: ACAO echoes it'
post_json /v1/ping '{"count":1}' -H 'Origin: http://localhost:5173'
expect_status 200
expect_eq "$(header_value Access-Control-Allow-Origin)" http://localhost:5173 'POST with an allowed Origin: ACAO'
req GET /nope -H 'Origin: http://localhost:5173'
expect_status 404
expect_eq "$(header_value Access-Control-Allow-Origin)" http://localhost:5173 'an error reply to an allowed Origin carries ACAO too'
req GET /v1/health -H 'Origin: https://evil.example'
expect_status 200 'GET from a refused origin is still answered (the browser enforces CORS)'
expect_no_header Access-Control-Allow-Origin 'GET from a refused origin: no ACAO'
req GET /v1/health
expect_no_header Access-Control-Allow-Origin 'GET without Origin: no ACAO'
req OPTIONS /v1/ping
expect_status 204 'OPTIONS without Origin -> 204'
expect_header Allow 'POST' 'OPTIONS without Origin: Allow header'
stop_server || fail 'the server stopped on SIGTERM'

section "CORS, --cors-origins https://app.example.com"
start_server --cors-origins https://app.example.com
expect_preflight_ok https://app.example.com
expect_preflight_refused http://localhost:5173
expect_preflight_refused "$EXT_ORIGIN"
expect_preflight_refused https://app.example.com.evil.example
expect_preflight_refused http://app.example.com
req GET /v1/health -H 'Origin: http://localhost:5173'
expect_no_header Access-Control-Allow-Origin 'custom policy: GET from localhost gets no ACAO'
req GET /v1/health -H 'Origin: https://app.example.com'
expect_eq "$(header_value Access-Control-Allow-Origin)" https://app.example.com 'custom policy: GET from the app gets ACAO'
stop_server || fail 'the server stopped on SIGTERM'

section "CORS, TABAGENT_CORS_ORIGINS twin with a port wildcard"
SERVER_ENV="TABAGENT_CORS_ORIGINS=http://dev.example:*" start_server
expect_preflight_ok http://dev.example:4000
expect_preflight_refused http://localhost:5173
stop_server || fail 'the server stopped on SIGTERM'

section "static files from --web-root"
WWW=$TMP/www
ROOT=$WWW/root
mkdir -p "$ROOT/sub" "$ROOT/empty" "$WWW/outside"
SECRET=TOP-SECRET-$RANDOM-$RANDOM
echo "$SECRET" >"$WWW/secret.txt"
echo "$SECRET" >"$WWW/outside/data.txt"
echo '<!doctype html><title>root index</title>ROOT-INDEX' >"$ROOT/index.html"
echo '<!doctype html><title>sub index</title>SUB-INDEX' >"$ROOT/sub/index.html"
echo 'console.log("APP-JS");' >"$ROOT/sub/app.js"
echo 'body { color: red } /* STYLE-CSS */' >"$ROOT/style.css"
echo '{"static": true}' >"$ROOT/data.json"
echo '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$ROOT/logo.svg"
printf 'RAW-BYTES' >"$ROOT/blob.bin"
ln -s ../secret.txt "$ROOT/link-secret.txt"
ln -s "$WWW/secret.txt" "$ROOT/abs-link-secret.txt"
ln -s /etc/passwd "$ROOT/passwd"
ln -s ../outside "$ROOT/linkdir"
start_server --web-root "$ROOT"
echo "# server on $BASE (pid $SERVER_PID), --web-root $ROOT"

req GET /
expect_status 200 'GET / -> index.html'
expect_header Content-Type '^text/html' 'GET /: text/html'
expect_file_contains "$RESP_BODY" ROOT-INDEX 'GET /: the root index.html'
req GET /index.html
expect_file_contains "$RESP_BODY" ROOT-INDEX 'GET /index.html'
req GET /sub/app.js
expect_status 200 'GET /sub/app.js -> 200'
expect_header Content-Type '^(text|application)/javascript' 'GET /sub/app.js: JavaScript'
expect_file_contains "$RESP_BODY" APP-JS 'GET /sub/app.js: its content'
req GET /sub/
expect_status 200 'GET /sub/ -> 200'
expect_file_contains "$RESP_BODY" SUB-INDEX 'GET /sub/: the subdirectory index.html'
req GET /sub
if [[ $STATUS == 200 ]] && grep -q SUB-INDEX "$RESP_BODY"; then
    pass 'GET /sub -> its index.html'
elif [[ $STATUS == 301 || $STATUS == 302 || $STATUS == 308 ]]; then
    pass "GET /sub -> redirect ($STATUS)"
else
    fail "GET /sub -> its index.html or a redirect (got $STATUS)"
fi
req GET /style.css
expect_header Content-Type '^text/css' 'GET /style.css: text/css'
req GET /data.json
expect_header Content-Type '^application/json' 'GET /data.json: application/json'
req GET /logo.svg
expect_header Content-Type '^image/svg\+xml' 'GET /logo.svg: image/svg+xml'
req GET /blob.bin
expect_status 200
expect_header Content-Type '^application/octet-stream' 'GET /blob.bin: application/octet-stream'
expect_eq "$(body_text)" RAW-BYTES 'GET /blob.bin: the exact bytes'
req HEAD /sub/app.js
expect_status 200 'HEAD /sub/app.js -> 200'
req GET /missing.html
expect_error 404 not_found '' 'GET /missing.html -> 404 JSON error'
req GET /empty/
if [[ $STATUS == 404 || $STATUS == 403 ]]; then pass "a directory without index.html -> $STATUS"; else fail "a directory without index.html -> 404 (got $STATUS)"; fi
req GET /v1/health
expect_status 200 'API routes still work with --web-root'
expect_json 'd.status === "ok"' 'GET /v1/health with --web-root'
req GET /docs
expect_status 200 'the docs still work with --web-root'

section "path traversal never leaves the web root"
attempts=(
    '/../etc/passwd'
    '/../../../../../../etc/passwd'
    '/%2e%2e/%2e%2e/etc/passwd'
    '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd'
    '/..%2f..%2fetc/passwd'
    '/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd'
    '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd'
    '/sub/../../secret.txt'
    '/sub/%2e%2e/%2e%2e/secret.txt'
    '/../secret.txt'
    '/%2e%2e/secret.txt'
    '/..%5csecret.txt'
    '/sub/..%5c..%5csecret.txt'
    '/.%2e/secret.txt'
    '//etc/passwd'
    '/%2fetc%2fpasswd'
    '/link-secret.txt'
    '/abs-link-secret.txt'
    '/passwd'
    '/linkdir/data.txt'
    '/linkdir/'
    '/sub/..%00/secret.txt'
)
for path in "${attempts[@]}"; do
    req GET "$path" --path-as-is
    leaked=no
    if grep -qF "$SECRET" "$RESP_BODY" || grep -q '^root:' "$RESP_BODY"; then leaked=yes; fi
    if [[ $leaked == no && ($STATUS == 403 || $STATUS == 404 || $STATUS == 400) ]]; then
        pass "GET $path -> $STATUS, nothing from outside"
    else
        fail "GET $path -> 403/404 without the outside file (got $STATUS, leaked=$leaked)" "$(head -c 300 "$RESP_BODY")"
    fi
done

section "special files are not served"
mkfifo "$ROOT/fifo.txt"
t0=$SECONDS
req GET /fifo.txt --max-time 5
if [[ $STATUS == 404 || $STATUS == 403 ]]; then
    pass "GET /fifo.txt (a named pipe) -> $STATUS"
else
    fail "GET /fifo.txt (a named pipe) -> 404 at once (got $STATUS after $((SECONDS - t0))s, curl rc $CURL_RC)"
fi
# Unblock a server thread that may be stuck opening the fifo, so the stop below
# measures the server, not the fifo.
(exec 9<>"$ROOT/fifo.txt"; sleep 0.2) &
wait $! || true
if health_ok; then pass 'healthy after the traversal attempts'; else fail 'healthy after the traversal attempts'; fi
if stop_server; then
    expect_eq "$EXIT_RC" 0 "SIGTERM: exit 0 (${STOP_SECONDS}s)"
else
    fail "SIGTERM: the server did not stop within ${STOP_TIMEOUT}s"
fi

finish
