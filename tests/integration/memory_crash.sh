#!/usr/bin/env bash
# memory_crash.sh - crash safety of the memory: two clients write messages (each with
# an embedding and an entity, one transaction) as fast as they can; the server is
# killed with SIGKILL in the middle, three times at different moments, and restarted
# on the same database. Every acknowledged write must be there with its content, at
# most one unacknowledged write per client may have landed, the database must pass
# SQLite's integrity check, and the full-text and vector indexes must find the
# messages written just before the kill.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=$TMP/db
WRITER=$(dirname "${BASH_SOURCE[0]}")/crash_writer.mjs
start_server --db-path "$DB"
post_json /v1/chats '{"title":"crash a"}'
post_json /v1/chats '{"title":"crash b"}'
expect_json 'd.id === 2' 'two chats'

acks() {
    local n=0 f
    for f in "$TMP"/ack-*; do [[ -f $f ]] && n=$((n + $(wc -l <"$f"))); done
    echo "$n"
}
acked_at_least() { (($(acks) >= $1)); }
next_a=0 next_b=0
for round in 1 2 3; do
    section "round $round: kill -9 during writes"
    before=$(acks)
    : >"$TMP/ack-a-$round"
    : >"$TMP/ack-b-$round"
    bg node "$WRITER" "$BASE" 1 a "$TMP/ack-a-$round" "$next_a"
    wa=$BG_PID
    bg node "$WRITER" "$BASE" 2 b "$TMP/ack-b-$round" "$next_b"
    wb=$BG_PID
    # a different amount of writing before each kill
    want=$((before + 60 * round + 40))
    wait_until $((30 * SCALE)) acked_at_least "$want" || fail "round $round: writers too slow ($(acks) acks)"
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID" 5 || true
    forget_server "$SERVER_PID"
    wait_exit "$wa" 10 || true
    wait_exit "$wb" 10 || true
    n_a=$(wc -l <"$TMP/ack-a-$round") n_b=$(wc -l <"$TMP/ack-b-$round")
    echo "# round $round: $n_a + $n_b acknowledged writes before the kill"
    # the next round's sequence numbers start after anything that may have landed
    next_a=$((next_a + n_a + 1)) next_b=$((next_b + n_b + 1))

    start_server --db-path "$DB"
    cat "$TMP"/ack-a-* >"$TMP/acked-a"
    cat "$TMP"/ack-b-* >"$TMP/acked-b"
    for c in a b; do
        chat=1
        [[ $c == b ]] && chat=2
        req GET "/v1/chats/$chat/messages?limit=10000"
        expect_json "(() => {
            const acked = require('fs').readFileSync('$TMP/acked-$c', 'utf8').trim().split('\n')
                .filter(Boolean).map(l => l.split(' ').map(Number));
            const byId = new Map(d.data.map(m => [m.id, m]));
            for (const [id, seq] of acked) {
                const m = byId.get(id);
                if (!m || m.content !== 'crash $c message ' + seq + ' lorem ipsum dolor')
                    return 'acknowledged message ' + id + ' (seq ' + seq + ') missing or wrong';
            }
            const extra = d.data.length - acked.length;
            return extra >= 0 && extra <= $round || 'unexpected message count ' + d.data.length +
                ' for ' + acked.length + ' acknowledged';
        })() === true" "round $round, chat $c: every acknowledged write is there"
    done
    if ((round > 1)); then # the index saved at the last start is loaded and caught up
        if grep -q 'memory vector index: loaded [0-9]* vectors from .*, [1-9][0-9]* added since' "$SERVER_LOG"; then
            pass "round $round: the saved index is loaded and caught up with the writes after it"
        else
            fail "round $round: the saved index is loaded and caught up" "$(grep 'vector index' "$SERVER_LOG")"
        fi
    fi
    req GET '/v1/memory/stats?check=true'
    expect_json 'd.integrity === "ok" && d.embeddings === d.messages' \
        "round $round: integrity check ok, one embedding per message"
    last_a=$(tail -n 1 "$TMP/ack-a-$round" | cut -d' ' -f1)
    seq_a=$(tail -n 1 "$TMP/ack-a-$round" | cut -d' ' -f2)
    post_json /v1/memory/search "{\"query\":\"crash a message $seq_a\",\"chat_id\":1,\"limit\":1}"
    expect_json "d.data.length === 1 && d.data[0].id === $last_a" \
        "round $round: full-text search finds the last acknowledged message"
    post_json /v1/memory/search "{\"embedding\":[$(node -e "console.log([Math.cos($seq_a), Math.sin($seq_a), 1 + ($seq_a % 7)].join(','))")],\"chat_id\":1,\"limit\":1}"
    expect_json "d.data.length === 1 && d.data[0].id === $last_a" \
        "round $round: vector search finds it (the index is whole after the crash)"
done
finish
