#!/usr/bin/env bash
# Starts the server with and without an API key, fetches its OpenAPI document and lints
# it against OpenAPI 3.1 (Redocly's recommended rules). Fails on any lint error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${TABAGENT_SERVER_BIN:?TABAGENT_SERVER_BIN must name the tabagent-server binary}
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

fetch() { # fetch <out> [server flags...]
  local out=$1
  shift
  : >"$tmp/log"
  XDG_DATA_HOME=$tmp/data "$bin" --mode http --port 0 --log-file "$tmp/log" "$@" </dev/null &
  pid=$!
  local port=
  for _ in $(seq 100); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/log" | sed 's/.*://' || true)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "server did not start"; cat "$tmp/log"; exit 1; }
  curl -sf "http://127.0.0.1:$port/api-doc/openapi.json" -o "$out"
  kill "$pid"
  wait "$pid" || true
  pid=
}

fetch "$tmp/open.json"
node "$here/lint.mjs" "$tmp/open.json"
fetch "$tmp/auth.json" --api-key secret
node "$here/lint.mjs" "$tmp/auth.json"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (JSON.stringify(d.security) !== JSON.stringify([{bearerAuth: []}])) throw new Error("root security missing");
if (JSON.stringify(d.paths["/v1/health"].get.security) !== "[]") throw new Error("/v1/health must be public");
' "$tmp/auth.json"
echo "openapi lint: ok"
