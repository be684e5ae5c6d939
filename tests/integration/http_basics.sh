#!/usr/bin/env bash
# http_basics.sh - the core routes, query parameters, the OpenAPI document, the docs
# UIs with their locally served assets, and 50 concurrent connections.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
echo "# server on $BASE (pid $SERVER_PID)"

section "health, version, system info"
req GET /v1/health
expect_status 200
expect_header Content-Type '^application/json'
expect_json 'd.status === "ok"'
expect_json 'typeof d.version === "string" && /^[0-9]+\.[0-9]+\.[0-9]+/.test(d.version)' \
    'GET /v1/health: version is a semantic version'
VERSION=$(json_value d.version)

req GET /health
expect_status 200 'GET /health (alias) -> 200'
expect_json 'd.status === "ok" && d.version === "'"$VERSION"'"' 'GET /health: same reply as /v1/health'

req HEAD /v1/health
expect_status 200 'HEAD /v1/health -> 200'
expect_header Content-Type '^application/json' 'HEAD /v1/health: same Content-Type as GET'

req GET /v1/health/
expect_status 200 'GET /v1/health/ (trailing slash) -> 200'

req GET /v1/version
expect_status 200
expect_json 'd.version === "'"$VERSION"'" && d.api === "v1"' 'GET /v1/version: version and api'

req GET /v1/system/info
expect_status 200
expect_json 'typeof d.os === "string" && d.os.length > 0' 'system info: os'
expect_json 'typeof d.cpu === "string" && d.cpu.length > 0' 'system info: cpu'
expect_json 'Number.isInteger(d.cores) && d.cores > 0' 'system info: cores > 0'
expect_json 'Number.isInteger(d.ram) && d.ram > 0' 'system info: ram > 0'
NPROC=$(nproc)
expect_json "Number.isInteger(d.threads) && d.threads >= d.cores && d.threads >= 1 && d.cores <= $NPROC * 2" \
    'system info: threads >= cores, plausible'
MEM_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
expect_json "Math.abs(d.ram - $MEM_KB * 1024) <= $MEM_KB * 1024 * 0.05" \
    'system info: ram matches /proc/meminfo MemTotal'

req GET /
expect_status 200 'GET / without --web-root -> 200'
expect_json 'd.openapi === "/api-doc/openapi.json" && d.docs === "/docs"' 'GET /: points at the docs'

section "actions"
req GET /v1/actions
expect_status 200
for a in ping health version get_system_info list_actions; do
    expect_json "Array.isArray(d.actions) && d.actions.some(a => a.name === '$a')" "GET /v1/actions lists $a"
done
expect_json 'd.count === d.actions.length' 'GET /v1/actions: count matches'
expect_json 'd.actions.find(a => a.name === "ping").streams === true' 'GET /v1/actions: ping streams'

req GET '/v1/actions?schemas=true'
expect_status 200
expect_json 'typeof d.actions.find(a => a.name === "ping").request === "object"' \
    'GET /v1/actions?schemas=true includes the request schema'

post_json /v1/actions/ping '{}'
expect_status 200 'POST /v1/actions/ping -> 200'
expect_json 'd.response === "pong" && d.count === 1' 'POST /v1/actions/ping: pong'
SERVER_REPORTED_PID=$(json_value d.pid)
expect_eq "$SERVER_REPORTED_PID" "$SERVER_PID" 'ping reports the server pid'

req POST /v1/actions/ping
expect_status 200 'POST /v1/actions/ping without a body -> 200'

post_json /v1/actions/version '{}'
expect_status 200 'POST /v1/actions/version -> 200'
expect_json 'd.version === "'"$VERSION"'"' 'POST /v1/actions/version: version'

post_json /v1/actions/nope '{}'
expect_error 404 not_found nope 'POST /v1/actions/nope -> 404 naming the action'

post_json /v1/actions/ping '{"count":0}'
expect_error 400 invalid_request count 'POST /v1/actions/ping {"count":0} -> 400 validation'

section "query parameters typed by the schema"
req GET '/v1/ping?count=2'
expect_status 200 'GET /v1/ping?count=2 -> 200'
expect_json 'd.count === 2 && d.response === "pong"' 'GET /v1/ping?count=2: count is 2'

req GET '/v1/ping'
expect_status 200
expect_json 'd.count === 1' 'GET /v1/ping: default count is 1'

req GET '/v1/ping?count=abc'
expect_error 400 invalid_request 'count' 'GET /v1/ping?count=abc -> 400 naming count'
req GET '/v1/ping?count=0'
expect_error 400 invalid_request 'count' 'GET /v1/ping?count=0 -> 400 (out of range)'
req GET '/v1/ping?count=10001'
expect_error 400 invalid_request 'count' 'GET /v1/ping?count=10001 -> 400 (out of range)'
req GET '/v1/ping?count=2&interval_ms=x'
expect_error 400 invalid_request 'interval_ms' 'GET /v1/ping?interval_ms=x -> 400 naming interval_ms'
req GET '/v1/ping?stream=maybe'
expect_error 400 invalid_request 'stream' 'GET /v1/ping?stream=maybe -> 400 naming stream'

section "OpenAPI document"
req GET /api-doc/openapi.json
expect_status 200
expect_header Content-Type '^application/json'
cp "$RESP_BODY" "$TMP/openapi1.json"
req GET /openapi.json
expect_status 200 'GET /openapi.json (alias) -> 200'
if cmp -s "$TMP/openapi1.json" "$RESP_BODY"; then
    pass '/openapi.json is identical to /api-doc/openapi.json'
else
    fail '/openapi.json is identical to /api-doc/openapi.json'
fi
DOC=$TMP/openapi1.json
expect_json 'd.openapi === "3.1.0"' 'openapi is "3.1.0"' "$DOC"
expect_json 'typeof d.info === "object" && d.info.version === "'"$VERSION"'" && typeof d.info.title === "string"' \
    'info: title and the server version' "$DOC"
expect_json 'typeof d.paths["/v1/health"] === "object" && typeof d.paths["/v1/health"].get === "object"' \
    'paths has GET /v1/health' "$DOC"
for p in /v1/version /v1/system/info /v1/ping /v1/actions '/v1/actions/{action}'; do
    expect_json "typeof d.paths['$p'] === 'object'" "paths has $p" "$DOC"
done
expect_json 'typeof d.paths["/v1/ping"].post.requestBody === "object"' 'POST /v1/ping has a request body' "$DOC"
expect_json 'd.paths["/v1/ping"].get.parameters.some(p => p.name === "count" && p.in === "query" && p.schema.type === "integer")' \
    'GET /v1/ping documents the integer query parameter count' "$DOC"
expect_json 'typeof d.components === "object" && typeof d.components.schemas === "object" && Object.keys(d.components.schemas).length >= 3' \
    'components.schemas present' "$DOC"
# Every $ref must be a local JSON pointer that resolves; there must be some.
REFS_EXPR='(() => {
  const refs = [];
  const walk = v => { if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) {
      if (k === "$ref") refs.push(x); else walk(x); } };
  walk(d);
  const bad = refs.filter(r => {
    if (typeof r !== "string" || !r.startsWith("#/")) return true;
    let cur = d;
    for (const part of r.slice(2).split("/")) {
      const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
      if (!cur || typeof cur !== "object" || !(key in cur)) return true;
      cur = cur[key]; }
    return typeof cur !== "object";
  });
  return refs.length >= 3 && bad.length === 0 ? true : {refs: refs.length, unresolved: bad};
})()'
expect_json "$REFS_EXPR" 'every $ref in the document resolves (and there are several)' "$DOC"
expect_json 'JSON.stringify(d).includes("#/components/schemas/PingRequest") && typeof d.components.schemas.PingRequest === "object"' \
    'the ping request schema is referenced and defined' "$DOC"
expect_json 'typeof d.components.schemas.Error.properties.error === "object"' 'the Error schema is defined' "$DOC"
# Every operationId is unique.
expect_json '(() => { const ids = []; for (const it of Object.values(d.paths)) for (const op of Object.values(it)) ids.push(op.operationId); return ids.every(x => typeof x === "string") && new Set(ids).size === ids.length; })()' \
    'operationIds are unique strings' "$DOC"

section "docs UIs, assets served locally"
DOCS_DIR=$TA_SOURCE_DIR/node_modules
if [[ ! -d $DOCS_DIR/swagger-ui-dist || ! -d $DOCS_DIR/redoc || ! -d $DOCS_DIR/rapidoc ]]; then
    fail "docs UI assets are not installed in $DOCS_DIR (run scripts/setup.sh)"
fi
for page in /docs /redoc /rapidoc; do
    req GET "$page"
    expect_status 200 "GET $page -> 200"
    expect_header Content-Type '^text/html' "GET $page: text/html"
    cp "$RESP_BODY" "$TMP/page.html"
    if grep -Eqi 'https?://|//cdn|unpkg|jsdelivr' "$TMP/page.html"; then
        fail "GET $page: no absolute or CDN URLs in the page" "$(grep -Eoi '[a-z]*:?//[^"'"'"' ]+' "$TMP/page.html")"
    else
        pass "GET $page: no absolute or CDN URLs in the page"
    fi
    mapfile -t assets < <(grep -Eo '(src|href)="[^"]+"' "$TMP/page.html" | sed -E 's/^(src|href)="//; s/"$//')
    if ((${#assets[@]} == 0)); then
        fail "GET $page references assets" "$(cat "$TMP/page.html")"
        continue
    fi
    for a in "${assets[@]}"; do
        if [[ $a != /docs/assets/* ]]; then
            fail "GET $page: asset $a is under /docs/assets/"
            continue
        fi
        req GET "$a"
        expect_status 200 "GET $a -> 200"
        case $a in
        *.css) expect_header Content-Type '^text/css' "GET $a: text/css" ;;
        *.js) expect_header Content-Type '^(text|application)/javascript' "GET $a: JavaScript" ;;
        *) fail "GET $page: asset $a is JavaScript or CSS" ;;
        esac
        SIZE=$(wc -c <"$RESP_BODY")
        if ((SIZE > 1000)); then pass "GET $a: has content ($SIZE bytes)"; else fail "GET $a: has content ($SIZE bytes)"; fi
    done
    # The page points the UI at our own document.
    expect_file_contains "$TMP/page.html" /api-doc/openapi.json "GET $page loads /api-doc/openapi.json"
done
req GET /docs/assets/swagger-ui/does-not-exist.js
expect_error 404 not_found '' 'missing docs asset -> 404'
req GET /docs/assets/swagger-ui/../../../package.json --path-as-is
if [[ $STATUS == 403 || $STATUS == 404 ]]; then
    pass "docs asset path traversal refused ($STATUS)"
else
    fail "docs asset path traversal refused (got $STATUS)" "$(head -c 300 "$RESP_BODY")"
fi

section "50 concurrent connections"
mkdir -p "$TMP/par"
pids=()
for i in $(seq 1 50); do
    curl -s --max-time "$CURL_MAX_TIME" -o "$TMP/par/$i.body" -w '%{http_code}' "$BASE/v1/health" \
        >"$TMP/par/$i.status" 2>/dev/null &
    pids+=($!)
    BG_PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
OK=0
for i in $(seq 1 50); do
    if [[ $(cat "$TMP/par/$i.status" 2>/dev/null) == 200 ]] && grep -q '"status":"ok"' "$TMP/par/$i.body"; then
        OK=$((OK + 1))
    fi
done
expect_eq "$OK" 50 '50 parallel GET /v1/health all return 200 ok'

# One curl process, 50 connections at once (curl --parallel opens them together).
args=()
for i in $(seq 1 50); do args+=(-o /dev/null "$BASE/v1/ping?count=1"); done
codes=$(curl -s --max-time "$CURL_MAX_TIME" --parallel --parallel-max 50 -w '%{http_code}\n' \
    "${args[@]}" 2>/dev/null | grep -c '^200$' || true)
expect_eq "$codes" 50 'curl --parallel: 50 concurrent GET /v1/ping all return 200'

if health_ok; then pass 'server healthy after the burst'; else fail 'server healthy after the burst'; fi

section "stop"
if stop_server; then
    expect_eq "$EXIT_RC" 0 "SIGTERM: exit status 0 (${STOP_SECONDS}s)"
else
    fail "SIGTERM: the server did not stop within ${STOP_TIMEOUT}s"
fi
if [[ -s $SERVER_STDOUT ]]; then fail 'nothing written to stdout' "$(head -c 500 "$SERVER_STDOUT")"; else pass 'nothing written to stdout'; fi
finish
