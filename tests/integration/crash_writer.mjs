// crash_writer.mjs - one client of the crash test (memory_crash.sh): adds messages to a
// chat one after another, each with a small embedding, and appends "ID SEQ" to an
// acknowledgement file (synchronously) as soon as the server has answered 200 - so the
// file lists exactly the writes the server acknowledged. Stops at the first failure
// (the server was killed).
//   node crash_writer.mjs BASE CHAT_ID TAG ACK_FILE START_SEQ
import { appendFileSync } from 'node:fs';

const [base, chat, tag, ackFile, start] = process.argv.slice(2);
for (let seq = Number(start); ; seq++) {
  const body = {
    role: seq % 2 ? 'assistant' : 'user',
    content: `crash ${tag} message ${seq} lorem ipsum dolor`,
    embedding: [Math.cos(seq), Math.sin(seq), 1 + (seq % 7)],
    embedding_model: 'crash-test',
    entities: [`${tag}-entity-${seq % 5}`],
  };
  let res;
  try {
    res = await fetch(`${base}/v1/chats/${chat}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    process.exit(0); // the server is gone
  }
  if (res.status !== 200) {
    console.error(`crash_writer ${tag}: HTTP ${res.status}: ${await res.text()}`);
    process.exit(1);
  }
  const msg = await res.json();
  appendFileSync(ackFile, `${msg.id} ${seq}\n`);
}
