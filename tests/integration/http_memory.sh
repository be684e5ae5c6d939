#!/usr/bin/env bash
# http_memory.sh - the memory over HTTP: chats and messages (with an embedding and
# entities, in one transaction), full-text search, export and import of a chat,
# backup, a restore that refuses a foreign file and changes nothing, a restore that
# brings the backup back, stats, deletes and 404s; and the data survives a restart.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=$TMP/db
start_server --db-path "$DB"
echo "# server on $BASE (pid $SERVER_PID), --db-path $DB"

section "chats and messages"
post_json /v1/chats '{"title":"Trip","topic":"travel"}'
expect_status 200
expect_json 'd.id === 1 && d.title === "Trip"' 'POST /v1/chats creates chat 1'
post_json /v1/chats/1/messages '{"role":"user","content":"Book a hotel near the Eiffel Tower in Paris","embedding":[0.5,-1,2],"embedding_model":"minilm","entities":["Paris","Eiffel Tower"],"token_count":11}'
expect_status 200
expect_json 'd.id === 1 && d.chat_id === 1 && Number.isInteger(d.embedding_id) && d.tier === "active"' 'a message with its embedding'
post_json /v1/chats/1/messages '{"role":"assistant","content":"Done: Hôtel Lumière, 3 nights."}'
expect_status 200
post_json /v1/chats/99/messages '{"role":"user","content":"x"}'
expect_error 404 not_found 'chat 99 does not exist' 'a message for an unknown chat -> 404'
post_json /v1/chats/1/messages '{"role":"robot","content":"x"}'
expect_error 400 invalid_request 'role' 'a bad role -> 400 naming role'
post_json /v1/chats/1/messages '{"role":"user","content":"x","embedding":[1,2]}'
expect_error 400 invalid_request 'embedding_model' 'an embedding without its model -> 400'
req GET /v1/chats/1/messages
expect_json 'd.data.length === 2 && d.data[1].content.includes("Lumière")' 'GET the chat messages, in order'
req GET '/v1/chats/1/messages?offset=1&limit=1'
expect_json 'd.data.length === 1 && d.data[0].role === "assistant"' 'offset and limit page them'
req GET /v1/chats/abc/messages
expect_error 400 invalid_request 'chat_id' 'a chat id that is not a number -> 400'
req GET /v1/memory/stats
expect_json 'd.chats === 1 && d.messages === 2 && d.embeddings === 1 && d.entities === 2' 'stats count what was written (no half-written message)'

section "search"
post_json /v1/memory/search '{"query":"hotel paris"}'
expect_json 'd.data.length >= 1 && d.data[0].id === 1 && /\[hotel\]/i.test(d.data[0].snippet)' 'full-text search finds the message, with a snippet'
post_json /v1/memory/search '{"query":"\" OR NEAR(( * -"}'
expect_status 200 'FTS syntax in a query is only text'
post_json /v1/memory/search '{}'
expect_error 400 invalid_request 'query' 'a search without a query -> 400'

section "export, import"
req GET /v1/chats/1/export
expect_json 'd.format === "tabagent-chat" && d.messages.length === 2' 'export a chat'
cp "$RESP_BODY" "$TMP/export.json"
post_json /v1/chats/import "$(cat "$TMP/export.json")"
expect_json 'd.id === 2' 'import it as chat 2'
req GET /v1/chats/2/messages
expect_json 'd.data.length === 2' 'the imported chat has the messages'

section "backup, restore"
post_json /v1/memory/backup "{\"path\":\"$TMP/backup.db\"}"
expect_status 200 'backup'
[[ -s $TMP/backup.db ]] && pass 'the backup file exists' || fail 'the backup file exists'
req DELETE /v1/chats/1
expect_json 'd.deleted === true' 'DELETE a chat'
req DELETE /v1/chats/1
expect_error 404 not_found '' 'DELETE it again -> 404'
echo 'not a database' >"$TMP/junk.db"
post_json /v1/memory/restore "{\"path\":\"$TMP/junk.db\"}"
expect_error 400 invalid_request 'not a database' 'restoring junk is refused'
req GET /v1/memory/stats
expect_json 'd.chats === 1' 'and nothing changed'
post_json /v1/memory/restore "{\"path\":\"$TMP/backup.db\"}"
expect_status 200 'restore the backup'
req GET /v1/chats
expect_json 'd.data.length === 2 && d.data.some(c => c.id === 1)' 'the deleted chat is back'

section "knowledge"
post_json /v1/knowledge/entities '{"label":"Paris","type":"city","aliases":["City of Light"]}'
expect_json 'd.id > 0 && d.label === "Paris"' 'add an entity'
PARIS=$(json_value d.id)
post_json /v1/knowledge/entities '{"label":"France","type":"country"}'
FRANCE=$(json_value d.id)
post_json /v1/knowledge/entities '{"label":"EU","type":"org"}'
EU=$(json_value d.id)
post_json /v1/knowledge/relations "{\"from\":$PARIS,\"to\":$FRANCE,\"type\":\"capital_of\",\"provenance\":\"msg 1\"}"
expect_status 200 'add a relation'
post_json /v1/knowledge/relations "{\"from\":$FRANCE,\"to\":$EU,\"type\":\"member_of\"}"
post_json /v1/knowledge/relations "{\"from\":$PARIS,\"to\":99999,\"type\":\"x\"}"
expect_error 404 not_found 'does not exist' 'a relation to an unknown entity -> 404'
req GET '/v1/knowledge/entities?name=city%20of%20light'
expect_json "d.data.length === 1 && d.data[0].id === $PARIS" 'find by alias, any case'
req GET "/v1/knowledge/entities/$PARIS/neighbors?hops=2"
expect_json 'd.nodes.length === 3 && d.edges.length === 2' 'the 2-hop neighbourhood'
req GET "/v1/knowledge/path?from=$PARIS&to=$EU"
expect_json "d.hops === 2 && d.path[0] === $PARIS && d.path[2] === $EU" 'a shortest path'
post_json /v1/knowledge/entities '{"label":"Paname","type":"city"}'
PANAME=$(json_value d.id)
post_json /v1/knowledge/merge "{\"keep\":$PARIS,\"drop\":$PANAME}"
expect_json 'd.aliases.includes("Paname")' 'merge keeps the dropped label as an alias'

section "hybrid search"
post_json /v1/chats '{"title":"Vectors"}'
VCHAT=$(json_value d.id)
post_json /v1/chats/$VCHAT/messages '{"role":"user","content":"red apples grow in orchards","embedding":[1,0,0],"embedding_model":"t"}'
expect_json 'd.indexed === true' 'a message with an embedding is indexed at once'
A1=$(json_value d.id)
post_json /v1/chats/$VCHAT/messages '{"role":"assistant","content":"blue whales swim in oceans","embedding":[0,1,0],"embedding_model":"t"}'
A2=$(json_value d.id)
post_json /v1/chats/$VCHAT/messages '{"role":"user","content":"green apples taste sour","embedding":[0.9,0.2,0],"embedding_model":"t"}'
A3=$(json_value d.id)
post_json /v1/chats/$VCHAT/messages '{"role":"user","content":"x","embedding":[1,2],"embedding_model":"t"}'
expect_json 'd.indexed === false' 'an embedding of another size is stored, not indexed'
post_json /v1/memory/search '{"embedding":[1,0.05,0],"limit":3}'
expect_json "d.data[0].id === $A1 && d.data[1].id === $A3 && d.data[0].explain.vector.rank === 1" 'vector search: nearest first, explained'
post_json /v1/memory/search '{"query":"apples","embedding":[0,1,0],"limit":3}'
expect_json "d.fusion === 'rrf' && d.data.some(r => r.explain.text && r.explain.vector)" 'hybrid: results carry both parts'
post_json /v1/memory/search '{"query":"apples","embedding":[0,1,0],"role":"user","limit":5}'
expect_json 'd.data.every(r => r.role === "user")' 'a role filter'
post_json /v1/memory/search '{"query":"apples","embedding":[0.9,0.2,0],"fusion":"weighted","text_weight":0,"vector_weight":1,"limit":1}'
expect_json "d.data[0].id === $A3 && d.fusion === 'weighted'" 'weighted fusion, vector only'
post_json /v1/memory/search '{"embedding":[1,0]}'
expect_error 400 invalid_request 'embedding' 'a query vector of the wrong size -> 400'
post_json /v1/memory/search '{"limit":3}'
expect_error 400 invalid_request 'query text, an embedding' 'neither text nor vector -> 400'

section "restart"
stop_server || true
start_server --db-path "$DB"
req GET /v1/memory/stats
expect_json 'd.chats === 3 && d.messages === 8' 'the data survives a restart'
post_json /v1/memory/search '{"embedding":[0,1,0],"limit":1}'
expect_json "d.data[0].id === $A2" 'the vector index is there after a restart'
if grep -q 'memory vector index: loaded [0-9]* vectors from .*, 0 added since' "$SERVER_LOG"; then
    pass 'the index saved at stop is loaded, not rebuilt'
else
    fail 'the index saved at stop is loaded, not rebuilt' "$(grep 'vector index' "$SERVER_LOG")"
fi

section "an index saved with other settings is rebuilt"
# Older versions saved it as float32 alone; the server walks an int8 copy now.
stop_server || true
if [[ -x ${HNSW_SET_STORAGE:-} ]]; then
    "$HNSW_SET_STORAGE" "$DB/memory.hnsw" 0
    start_server --db-path "$DB"
    if grep -q 'memory vector index: rebuilt from the database (it was saved with other settings' \
        "$SERVER_LOG"; then
        pass 'a float32-only index file is rebuilt with the server'"'"'s settings'
    else
        fail 'a float32-only index file is rebuilt' "$(grep 'vector index' "$SERVER_LOG")"
    fi
    post_json /v1/memory/search '{"embedding":[0,1,0],"limit":1}'
    expect_json "d.data[0].id === $A2" 'vector search works after that rebuild'
    stop_server || true
else
    fail 'HNSW_SET_STORAGE names no test tool (run through ctest)'
fi

section "a damaged index file is rebuilt"
[[ -f $DB/memory.hnsw ]] && pass 'the index is saved in the database directory' ||
    fail 'no memory.hnsw in the database directory'
printf 'garbage' | dd of="$DB/memory.hnsw" bs=1 seek=200 conv=notrunc status=none
start_server --db-path "$DB"
if grep -q 'memory vector index: rebuilt from the database (.*checksum' "$SERVER_LOG"; then
    pass 'a corrupt index file is refused and rebuilt'
else
    fail 'a corrupt index file is refused and rebuilt' "$(grep 'vector index' "$SERVER_LOG")"
fi
post_json /v1/memory/search '{"embedding":[0,1,0],"limit":1}'
expect_json "d.data[0].id === $A2" 'vector search works after the rebuild'
finish
