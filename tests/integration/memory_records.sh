#!/usr/bin/env bash
# memory_records.sh - the rest of the memory over HTTP: tool results (pages kept once
# per text, web searches, function calls), experience (outcomes and feedback), summaries
# (checked message ids, time overlap), deletes; the weaver (links between similar
# messages at write time and in a pass, related messages, merges of duplicate entities
# with provenance, a dry run that changes nothing); and all of it after a restart.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=$TMP/db
start_server --db-path "$DB"

section "tool results"
post_json /v1/memory/pages '{"url":"https://example.org/a","title":"Alpha","text":"The quick brown fox jumps over the lazy dog","fetched_ms":1000}'
expect_json 'd.id === 1 && d.duplicate === false' 'store a page'
post_json /v1/memory/pages '{"url":"https://example.org/a-copy","text":"The quick brown fox jumps over the lazy dog","fetched_ms":2000}'
expect_json 'd.id === 1 && d.duplicate === true' 'the same text again is kept once'
post_json /v1/memory/pages '{"url":"https://example.org/b","title":"Beta","text":"Zebras graze on the savanna"}'
expect_json 'd.id === 2 && d.duplicate === false' 'another page'
req GET /v1/memory/pages/1
expect_json 'd.url === "https://example.org/a-copy" && d.fetched_ms === 2000 && d.title === "Alpha" && d.text.includes("lazy dog") && /^[0-9a-f]{64}$/.test(d.content_hash)' 'get a page: text, sha256, the latest url and time'
req GET '/v1/memory/pages?url=https://example.org/b'
expect_json 'd.data.length === 1 && d.data[0].id === 2 && d.data[0].excerpt.startsWith("Zebras")' 'list pages of one url'
req GET /v1/memory/pages/99
expect_error 404 not_found 'page 99' 'an unknown page -> 404'
post_json /v1/memory/pages '{"title":"no url","text":"x"}'
expect_error 400 invalid_request 'url' 'a page without its url -> 400'
post_json /v1/memory/searches '{"query":"fox facts","results":[{"url":"https://example.org/a","rank":1}]}'
expect_json 'd.id === 1' 'store a web search'
post_json /v1/memory/tool-calls '{"name":"get_weather","arguments":{"city":"Paris"},"result":{"temp_c":21}}'
expect_json 'd.id === 1' 'store a tool call'
req GET '/v1/memory/tool-calls?name=get_weather'
expect_json 'd.data.length === 1 && d.data[0].arguments.city === "Paris" && d.data[0].result.temp_c === 21' 'list tool calls by name, JSON kept'
req GET /v1/memory/searches
expect_json 'd.data.length === 1 && d.data[0].results[0].rank === 1' 'list web searches'

section "experience"
post_json /v1/memory/outcomes '{"action_type":"summarize_tab","arguments":{"tab":3},"result":"ok","feedback":"approval"}'
expect_json 'd.id === 1' 'store an outcome'
post_json /v1/memory/outcomes '{"action_type":"summarize_tab","result":"too long"}'
expect_json 'd.id === 2' 'another, neutral by default'
post_json /v1/memory/outcomes/2/feedback '{"feedback":"correction"}'
expect_json 'd.id === 2 && d.feedback === "correction"' 'the user corrects it later'
post_json /v1/memory/outcomes/2/feedback '{"feedback":"meh"}'
expect_error 400 invalid_request 'feedback' 'unknown feedback -> 400'
post_json /v1/memory/outcomes/77/feedback '{"feedback":"approval"}'
expect_error 404 not_found 'outcome 77' 'feedback on an unknown outcome -> 404'
req GET '/v1/memory/outcomes?action_type=summarize_tab'
expect_json 'd.data.length === 2 && d.feedback_counts.approval === 1 && d.feedback_counts.correction === 1 && d.feedback_counts.rejection === 0' 'outcomes with feedback counts'
req GET '/v1/memory/outcomes?feedback=correction'
expect_json 'd.data.length === 1 && d.data[0].id === 2' 'filter by feedback'

section "summaries"
post_json /v1/chats '{"title":"Weaving"}'
post_json /v1/chats/1/messages '{"role":"user","content":"Plan a trip to Paris in spring","embedding":[1,0,0],"embedding_model":"t","entities":["paris"],"timestamp_ms":5000}'
expect_json 'd.id === 1 && d.indexed === true && d.links === 0' 'a first message: nothing to link to'
post_json /v1/chats/1/messages '{"role":"assistant","content":"Spring in Paris: book early","embedding":[0.99,0.1,0],"embedding_model":"t","timestamp_ms":6000}'
expect_json 'd.id === 2 && d.links === 1' 'a similar message is linked at write time'
post_json /v1/chats/1/messages '{"role":"user","content":"Unrelated: fix my bike","embedding":[0,1,0],"embedding_model":"t","timestamp_ms":7000}'
expect_json 'd.id === 3 && d.links === 0' 'a dissimilar one is not'
post_json /v1/chats/1/messages '{"role":"user","content":"kept small","embedding":[0.1,-0.2,0.9],"embedding_model":"t","embedding_storage":"i8","timestamp_ms":7500}'
expect_json 'd.id === 4 && d.indexed === true' 'an embedding kept as int8 (a quarter of the space) is indexed'
post_json /v1/memory/search '{"embedding":[0.1,-0.2,0.9],"limit":1}'
expect_json 'd.data[0].id === 4 && d.data[0].explain.vector.distance < 0.001' 'and found by its vector'
post_json /v1/chats/1/messages '{"role":"user","content":"x","embedding":[1,2,3],"embedding_model":"t","embedding_storage":"f8"}'
expect_error 400 invalid_request 'embedding_storage' 'an unknown storage kind -> 400'
req DELETE /v1/memory/summaries/999
expect_error 404 not_found '' 'deleting a summary that does not exist -> 404'
post_json /v1/memory/summaries '{"kind":"session","chat_id":1,"text":"Trip planning for Paris","message_ids":[1,2],"start_ms":5000,"end_ms":6000}'
expect_json 'd.id === 1' 'store a session summary'
post_json /v1/memory/summaries '{"kind":"daily","text":"A day of errands","message_ids":[3],"start_ms":7000,"end_ms":9000}'
expect_json 'd.id === 2' 'a daily one'
post_json /v1/memory/summaries '{"kind":"session","text":"x","message_ids":[1,404],"start_ms":0,"end_ms":1}'
expect_error 400 invalid_request 'message 404' 'a summary of a message that does not exist -> 400'
post_json /v1/memory/summaries '{"kind":"session","chat_id":9,"text":"x","start_ms":0,"end_ms":1}'
expect_error 404 not_found 'chat 9' 'of an unknown chat -> 404'
post_json /v1/memory/summaries '{"kind":"monthly","text":"x","start_ms":0,"end_ms":1}'
expect_error 400 invalid_request 'kind' 'an unknown kind -> 400'
post_json /v1/memory/summaries '{"kind":"daily","text":"x","start_ms":10,"end_ms":1}'
expect_error 400 invalid_request 'end_ms' 'a span that ends before it starts -> 400'
req GET '/v1/memory/summaries?since_ms=6500'
expect_json 'd.data.length === 1 && d.data[0].id === 2' 'summaries overlapping a time range'
req GET '/v1/memory/summaries?kind=session&chat_id=1'
expect_json 'd.data.length === 1 && d.data[0].message_ids.join() === "1,2"' 'by kind and chat, with the messages covered'

section "search across databases"
post_json /v1/memory/search '{"query":"paris","databases":["conversations","tool_results","summaries"]}'
expect_json 'd.data.some(r => r.database === "summaries" && r.id === 1) && d.data.some(r => r.database === "conversations" && r.id === 1)' 'one query over messages and summaries'
post_json /v1/memory/search '{"query":"fox","databases":["tool_results"]}'
expect_json 'd.data.length === 1 && d.data[0].database === "tool_results" && d.data[0].type === "page" && d.data[0].url === "https://example.org/a-copy"' 'pages by their text'
post_json /v1/memory/search '{"query":"paris","databases":["summaries"],"type":"daily"}'
expect_json 'd.data.length === 0' 'the type filter (a summary kind)'
post_json /v1/memory/search '{"embedding":[1,0,0],"entity":"Paris"}'
expect_json 'd.data.length === 1 && d.data[0].id === 1' 'the entity filter: only messages that mention it'
post_json /v1/memory/search '{"query":"paris","entity":"Paris"}'
expect_json 'd.data.length === 1 && d.data[0].id === 1 && !!d.data[0].explain.text' 'text with the entity filter: only the message that mentions it'
post_json /v1/memory/search '{"query":"paris spring","chat_id":1}'
expect_json 'd.data.length === 2 && d.data.every(r => r.chat_id === 1) && d.data.some(r => r.snippet.includes("[Spring]"))' 'text within one chat (both of its messages have both words), with snippets'
post_json /v1/memory/search '{"query":"paris","chat_id":77}'
expect_json 'd.data.length === 0' 'a chat that does not exist: nothing'
post_json /v1/memory/search '{"query":"paris","databases":["nowhere"]}'
expect_error 400 invalid_request 'databases' 'an unknown database -> 400'

section "weaver"
req GET /v1/memory/messages/1/related
expect_json 'd.data.length === 1 && d.data[0].id === 2 && d.data[0].similarity > 0.99' 'related messages'
req GET /v1/memory/messages/99/related
expect_error 404 not_found 'message 99' 'related of an unknown message -> 404'
post_json /v1/knowledge/entities '{"label":"Paris","type":"city","confidence":0.9}'
PARIS=$(json_value d.id)
post_json /v1/knowledge/entities '{"label":"New York City","type":"city","embedding":[0.6,0.8,0],"embedding_model":"t","confidence":0.9}'
NYC=$(json_value d.id)
post_json /v1/knowledge/entities '{"label":"NYC","type":"city","embedding":[0.61,0.79,0.01],"embedding_model":"t","confidence":0.5}'
NYC2=$(json_value d.id)
post_json /v1/knowledge/entities '{"label":"Tokyo","type":"city","embedding":[0,0,1],"embedding_model":"t"}'
post_json /v1/knowledge/entities '{"label":"x","embedding":[1,2]}'
expect_error 400 invalid_request 'embedding_model' 'an entity embedding without its model -> 400'
post_json /v1/memory/weave '{"dry_run":true}'
expect_json "d.dry_run === true && d.merges.length === 2 && d.merges.some(m => m.keep === $PARIS && m.reason === 'same label') && d.merges.some(m => m.keep === $NYC && m.drop === $NYC2 && m.reason === 'similar embedding' && m.similarity > 0.99)" 'a dry run reports the merges'
req GET "/v1/knowledge/entities/$NYC2"
expect_status 200 'and changes nothing'
post_json /v1/memory/weave '{}'
expect_json 'd.dry_run === false && d.merges.length === 2 && d.messages_linked === 4 && d.links === 1' 'a weaving pass: links and merges'
req GET "/v1/knowledge/entities/$NYC2"
expect_error 404 not_found '' 'the duplicate is gone'
req GET "/v1/knowledge/entities/$NYC"
expect_json "d.merged_from.length === 1 && d.merged_from[0].id === $NYC2 && d.merged_from[0].label === 'NYC' && d.merged_from[0].reason === 'similar embedding' && d.aliases.includes('NYC')" 'provenance: what was merged in, and why'
req GET '/v1/knowledge/entities?name=nyc'
expect_json "d.data.length === 1 && d.data[0].id === $NYC" 'the old name finds the kept entity'
post_json /v1/memory/weave '{}'
expect_json 'd.merges.length === 0 && d.links === 1' 'a second pass finds nothing new'
post_json /v1/memory/weave '{"link_threshold":2}'
expect_error 400 invalid_request 'link_threshold' 'a threshold above 1 -> 400'

section "deletes, stats, restart"
req DELETE /v1/memory/pages/2
expect_json 'd.deleted === true' 'delete a page'
req DELETE /v1/memory/pages/2
expect_error 404 not_found '' 'again -> 404'
req DELETE /v1/memory/widgets/1
expect_error 400 invalid_request 'kind' 'an unknown collection -> 400'
post_json /v1/memory/search '{"query":"zebras","databases":["tool_results"]}'
expect_json 'd.data.length === 0' 'a deleted page leaves the full-text index'
req DELETE /v1/chats/1
req GET '/v1/memory/stats?check=true'
expect_json 'd.integrity === "ok" && d.message_links === 0 && d.pages === 1 && d.summaries === 2 && d.outcomes === 2 && d.merges === 2' 'stats: links went with their messages; integrity ok'
stop_server || true
start_server --db-path "$DB"
req GET /v1/memory/outcomes
expect_json 'd.data.length === 2' 'the records survive a restart'
finish
