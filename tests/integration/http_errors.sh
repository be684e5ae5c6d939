#!/usr/bin/env bash
# http_errors.sh - every error status of the HTTP API, each in the OpenAI shape
# {"error":{"message","type","code"}}: 400 (validation naming the field, invalid JSON,
# a body that is not an object), 404, 405 with Allow, 413 (Content-Length and
# chunked), 415, 431 (header too large) and 401 with --api-key; and the limits:
# --max-connections, --idle-timeout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server --max-body-size 1K
echo "# server on $BASE (pid $SERVER_PID), --max-body-size 1K"

section "400 validation: the message names the field"
post_json /v1/ping '{"count":"x"}'
expect_error 400 invalid_request 'count: expected integer, got string' \
    'POST /v1/ping {"count":"x"} -> 400 "count: expected integer, got string"'
expect_json 'd.error.type === "invalid_request_error"' 'validation error type is invalid_request_error'
post_json /v1/ping '{"count":0}'
expect_error 400 invalid_request 'count' 'POST /v1/ping {"count":0} -> 400 naming count (out of range)'
expect_json '/1/.test(d.error.message) && /10000/.test(d.error.message)' 'the range error gives the bounds'
post_json /v1/ping '{"count":10001}'
expect_error 400 invalid_request 'count' 'POST /v1/ping {"count":10001} -> 400 (out of range)'
post_json /v1/ping '{"count":1.5}'
expect_error 400 invalid_request 'count' 'POST /v1/ping {"count":1.5} -> 400 (not an integer)'
post_json /v1/ping '{"interval_ms":-1}'
expect_error 400 invalid_request 'interval_ms' 'POST /v1/ping {"interval_ms":-1} -> 400 naming interval_ms'
post_json /v1/ping '{"stream":"yes"}'
expect_error 400 invalid_request 'stream' 'POST /v1/ping {"stream":"yes"} -> 400 naming stream'
post_json /v1/ping '{"count":null}'
if [[ $STATUS == 200 ]]; then
    pass 'POST /v1/ping {"count":null} -> 200 (null means the default)'
else
    expect_error 400 invalid_request 'count' 'POST /v1/ping {"count":null} -> 400 naming count'
fi
post_json /v1/ping '{"count":2}'
expect_status 200 'POST /v1/ping {"count":2} -> 200'
expect_json 'd.count === 2' 'POST /v1/ping {"count":2}: count 2'

section "400 bad bodies"
post_json /v1/ping '{"count":'
expect_error 400 invalid_request 'request body' 'truncated JSON -> 400'
post_json /v1/ping '{"count":1} trailing'
expect_error 400 invalid_request 'request body' 'JSON with trailing garbage -> 400'
post_json /v1/ping $'{"s":"\xff\xfe"}'
expect_error 400 invalid_request '' 'JSON with invalid UTF-8 -> 400'
for body in '[1,2]' '"text"' '42' 'null' 'true'; do
    post_json /v1/ping "$body"
    expect_error 400 invalid_request 'expected a JSON object' "non-object body $body -> 400"
done
post_json /v1/ping ''
expect_status 200 'an empty body with Content-Type JSON -> 200 (defaults)'

section "404 unknown paths"
for path in /v1/nope /nope /v1 /v1/health/extra /api-doc /v1/health.json; do
    req GET "$path"
    expect_error 404 not_found '' "GET $path -> 404"
done
post_json /nope '{}'
expect_error 404 not_found '' 'POST /nope -> 404'
post_json /v1/actions/nope '{}'
expect_error 404 not_found nope 'POST /v1/actions/nope -> 404 naming the action'

section "405 wrong method, with Allow"
req DELETE /v1/health
expect_error 405 method_not_allowed '' 'DELETE /v1/health -> 405'
expect_header Allow '^GET$' 'DELETE /v1/health: Allow: GET'
post_json /v1/health '{}'
expect_error 405 method_not_allowed '' 'POST /v1/health -> 405'
expect_header Allow '^GET$' 'POST /v1/health: Allow: GET'
req PUT /v1/ping
expect_error 405 method_not_allowed '' 'PUT /v1/ping -> 405'
expect_header Allow '^(GET, POST|POST, GET)$' 'PUT /v1/ping: Allow lists GET and POST'
req GET /v1/actions/ping
expect_error 405 method_not_allowed '' 'GET /v1/actions/ping -> 405'
expect_header Allow '^POST$' 'GET /v1/actions/ping: Allow: POST'
req PATCH /api-doc/openapi.json
expect_error 405 method_not_allowed '' 'PATCH /api-doc/openapi.json -> 405'

section "413 body over --max-body-size"
printf '{"count":1}%*s' 1013 '' >"$TMP/exact.json" # exactly 1024 bytes
printf '{"count":1}%*s' 1989 '' >"$TMP/big.json"   # 2000 bytes
printf '{"count":1}%*s' 100000 '' >"$TMP/huge.json"
expect_eq "$(wc -c <"$TMP/exact.json")" 1024 'fixture: a 1024-byte body'
req POST /v1/ping -H 'Content-Type: application/json' --data-binary @"$TMP/exact.json"
expect_status 200 'a body of exactly the limit (Content-Length) -> 200'
req POST /v1/ping -H 'Content-Type: application/json' --data-binary @"$TMP/big.json"
expect_error 413 too_large '1024' 'a 2000-byte body with Content-Length -> 413 naming the limit'
req POST /v1/ping -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TMP/exact.json"
expect_status 200 'a chunked body of exactly the limit -> 200'
req POST /v1/ping -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TMP/big.json"
expect_error 413 too_large '' 'a 2000-byte chunked body -> 413'
req POST /v1/ping -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TMP/huge.json"
expect_error 413 too_large '' 'a 100 KB chunked body -> 413'
req POST /v1/ping -H 'Content-Type: application/json' --data-binary @"$TMP/huge.json"
expect_error 413 too_large '' 'a 100 KB body with Content-Length -> 413'
# A declared length far over the limit is refused before any byte of it is sent.
req POST /v1/ping -H 'Content-Type: application/json' -H 'Content-Length: 10000000000' \
    -H 'Expect: 100-continue' --data-binary '{}'
expect_error 413 too_large '' 'Content-Length: 10000000000 -> 413'
if health_ok; then pass 'healthy after the 413s'; else fail 'healthy after the 413s'; fi

section "415 non-JSON Content-Type"
req POST /v1/ping -H 'Content-Type: text/plain' --data-binary '{"count":1}'
expect_error 415 unsupported_media_type 'text/plain' 'text/plain body -> 415 naming the type'
req POST /v1/ping --data '{"count":1}' # curl's default: application/x-www-form-urlencoded
expect_error 415 unsupported_media_type '' 'form-urlencoded body -> 415'
req POST /v1/ping -H 'Content-Type:' --data-binary '{"count":1}'
expect_error 415 unsupported_media_type '' 'a body without Content-Type -> 415'
req POST /v1/ping -H 'Content-Type: application/jsonx' --data-binary '{"count":1}'
expect_error 415 unsupported_media_type '' 'application/jsonx -> 415'
req POST /v1/ping -H 'Content-Type: application/json; charset=utf-8' --data-binary '{"count":1}'
expect_status 200 'application/json; charset=utf-8 -> 200'
req POST /v1/ping -H 'Content-Type: Application/JSON' --data-binary '{"count":1}'
expect_status 200 'Application/JSON (case-insensitive) -> 200'

section "431 header too large"
BIGHDR=$(head -c 100000 /dev/zero | tr '\0' a)
req GET /v1/health -H "X-Big: $BIGHDR"
if [[ $STATUS == 431 || $STATUS == 413 || $STATUS == 400 ]]; then
    pass "a 100 KB header -> $STATUS"
else
    fail "a 100 KB header -> 431 (got $STATUS)"
fi
if health_ok; then pass 'healthy after the huge header'; else fail 'healthy after the huge header'; fi

stop_server || fail 'the server stopped on SIGTERM'

section "connection limit and idle timeout"
start_server --max-connections 4 --idle-timeout 1
echo "# server on $BASE (pid $SERVER_PID), --max-connections 4 --idle-timeout 1"
BASE_THREADS=$(settled_threads "$SERVER_PID")
# Four idle connections fill the server (one thread each); a fifth request is refused;
# once they close, requests are served again. Then: an idle connection, and one that
# sent half a request, are both closed after about the idle timeout.
LIMITS_JS='
const net = require("net"), http = require("http"), fs = require("fs");
const [port, pid, base] = process.argv.slice(1).map(Number);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const threads = () => { try { return fs.readdirSync(`/proc/${pid}/task`).length; } catch { return -1; } };
const get = () => new Promise(res => {
  const rq = http.get({ host: "127.0.0.1", port, path: "/v1/health", agent: false, timeout: 5000 }, r => {
    let b = ""; r.on("data", c => b += c); r.on("end", () => res({ status: r.statusCode, body: b })); });
  rq.on("timeout", () => rq.destroy(new Error("timeout")));
  rq.on("error", e => res({ error: e.code || e.message }));
});
const closedAfter = (send) => new Promise(res => {
  const t0 = Date.now(); const s = net.connect(port, "127.0.0.1");
  s.on("connect", () => { if (send) s.write(send); });
  s.on("data", () => {});
  s.on("error", () => {});
  s.on("close", () => res(Date.now() - t0));
  setTimeout(() => { s.destroy(); res(-1); }, 8000).unref();
});
(async () => {
  const out = {};
  const held = [];
  for (let i = 0; i < 4; i++) held.push(net.connect(port, "127.0.0.1").on("error", () => {}));
  for (let i = 0; i < 100 && threads() < base + 4; i++) await sleep(50);
  out.threads_full = threads() - base;
  out.full = await get();
  held.forEach(s => s.destroy());
  out.after = { error: "never" };
  for (let i = 0; i < 100; i++) { out.after = await get(); if (out.after.status === 200) break; await sleep(50); }
  out.idle_ms = await closedAfter(null);
  out.partial_ms = await closedAfter("GET /v1/health HTTP/1.1\r\nHost: x\r\n");
  console.log(JSON.stringify(out));
})();
'
timeout $((40 * SCALE)) node -e "$LIMITS_JS" "$PORT" "$SERVER_PID" "$BASE_THREADS" >"$TMP/limits.json" || true
expect_json 'd.threads_full >= 4' 'four idle connections are held by the server' "$TMP/limits.json"
expect_json 'd.full.status === undefined || d.full.status === 503' \
    'a fifth connection over --max-connections 4 is refused' "$TMP/limits.json"
expect_json 'd.after.status === 200 && JSON.parse(d.after.body).status === "ok"' \
    'served again once the connections close' "$TMP/limits.json"
expect_json 'd.idle_ms >= 500 && d.idle_ms <= 5000' 'an idle connection is closed after --idle-timeout 1' "$TMP/limits.json"
expect_json 'd.partial_ms >= 500 && d.partial_ms <= 5000' 'a half-sent request is closed after --idle-timeout 1' "$TMP/limits.json"
if health_ok; then pass 'healthy after the limit tests'; else fail 'healthy after the limit tests'; fi
stop_server || fail 'the server stopped on SIGTERM'

section "401 with --api-key"
start_server --api-key 's3cret-key'
echo "# server on $BASE (pid $SERVER_PID), --api-key"
req GET /v1/version
expect_error 401 unauthorized 'Bearer' 'no token -> 401'
expect_json 'd.error.type === "authentication_error"' '401 type is authentication_error'
expect_header WWW-Authenticate '^Bearer' '401 carries WWW-Authenticate: Bearer'
req GET /v1/version -H 'Authorization: Bearer wrong'
expect_error 401 unauthorized '' 'wrong token -> 401'
req GET /v1/version -H 'Authorization: Bearer s3cret'
expect_error 401 unauthorized '' 'a prefix of the token -> 401'
req GET /v1/version -H 'Authorization: Bearer s3cret-key-and-more'
expect_error 401 unauthorized '' 'the token with a suffix -> 401'
req GET /v1/version -H 'Authorization: Basic czNjcmV0LWtleQ=='
expect_error 401 unauthorized '' 'Basic auth instead of Bearer -> 401'
req GET /v1/version -H 'Authorization: s3cret-key'
expect_error 401 unauthorized '' 'the bare key without "Bearer" -> 401'
req GET /v1/version -H 'Authorization: Bearer s3cret-key'
expect_status 200 'the right token -> 200'
expect_json 'typeof d.version === "string"' 'the right token gets the version'
post_json /v1/actions/ping '{}'
expect_error 401 unauthorized '' 'POST /v1/actions/ping without a token -> 401'
post_json /v1/actions/ping '{}' -H 'Authorization: Bearer s3cret-key'
expect_status 200 'POST /v1/actions/ping with the token -> 200'
req GET /v1/system/info
expect_error 401 unauthorized '' 'GET /v1/system/info without a token -> 401'
req GET /v1/actions
expect_error 401 unauthorized '' 'GET /v1/actions without a token -> 401'
req GET /v1/health
expect_status 200 '/v1/health stays public with --api-key'
expect_json 'd.status === "ok"' '/v1/health public reply is ok'
req GET /v1/health -H 'Authorization: Bearer wrong'
expect_status 200 '/v1/health ignores a wrong token'
req GET /health
expect_status 200 '/health alias stays public'
# Browsers send preflights without credentials: they must not be refused for auth.
req OPTIONS /v1/version -H 'Origin: http://localhost:5173' -H 'Access-Control-Request-Method: GET' \
    -H 'Access-Control-Request-Headers: authorization'
expect_status 204 'CORS preflight needs no token'
req GET /api-doc/openapi.json
expect_status 200 'the OpenAPI document is readable without a token'
expect_json 'd.components.securitySchemes.bearerAuth.scheme === "bearer"' 'OpenAPI: bearerAuth scheme'
expect_json 'Array.isArray(d.security) && d.security.some(s => "bearerAuth" in s)' 'OpenAPI: security requires bearerAuth'
expect_json 'Array.isArray(d.paths["/v1/health"].get.security) && d.paths["/v1/health"].get.security.length === 0' \
    'OpenAPI: /v1/health is marked public'
stop_server || fail 'the server stopped on SIGTERM'

section "TABAGENT_API_KEY twin"
SERVER_ENV="TABAGENT_API_KEY=env-key" start_server
req GET /v1/version
expect_error 401 unauthorized '' 'TABAGENT_API_KEY: no token -> 401'
req GET /v1/version -H 'Authorization: Bearer env-key'
expect_status 200 'TABAGENT_API_KEY: its token -> 200'
stop_server || fail 'the server stopped on SIGTERM'

finish
