// End-to-end with the official `openai` npm client (Node 20) against tabagent-server
// serving ../shared/models/stories260K.gguf (chat, 2 slots) and a BERT written by
// `tabagent synth` (embeddings):
//  - the model list; non-streamed and streamed chat (the streamed deltas add up to the
//    non-streamed text at temperature 0; finish_reason, usage and timings);
//  - completions, embeddings (float and base64 agree), logprobs, tokenize/detokenize;
//  - 4 concurrent streams on 2 slots all complete; a client that disconnects mid-stream
//    frees its slot at once (on a 1-slot server the next request is answered at once);
//  - each error case: unknown model 404, prompt over the context 400 with the numbers,
//    bad parameters 400, a stream that cannot start gets its real status.
//
// Environment: TABAGENT_SERVER_BIN, TABAGENT_BIN (both required), TA_SOURCE_DIR.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = path.resolve(process.env.TA_SOURCE_DIR || path.join(HERE, '..', '..'));
const SERVER_BIN = process.env.TABAGENT_SERVER_BIN;
const CLI_BIN = process.env.TABAGENT_BIN;
const STORIES = path.resolve(SOURCE_DIR, '..', 'shared', 'models', 'stories260K.gguf');
const OpenAI = createRequire(path.join(SOURCE_DIR, 'package.json'))('openai').default;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-openai-e2e-'));
const servers = [];

const watchdog = setTimeout(() => {
  console.error('openai e2e: watchdog fired after 150 s');
  process.exit(1);
}, 150_000);
watchdog.unref();

async function startServer(name, args) {
  const log = path.join(tmp, `${name}.log`);
  const child = spawn(SERVER_BIN, ['--mode', 'http', '--port', '0', '--log-file', log, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, XDG_DATA_HOME: path.join(tmp, `${name}-data`) },
  });
  servers.push(child);
  for (let i = 0; i < 200; i++) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    const m = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) return `http://127.0.0.1:${m[1]}`;
    if (child.exitCode !== null) throw new Error(`${name} exited: ${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not start`);
}

async function post(base, route, body) {
  const r = await fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

async function collect(stream) {
  let text = '';
  const chunks = [];
  for await (const c of stream) {
    chunks.push(c);
    for (const ch of c.choices) text += ch.delta?.content ?? ch.text ?? '';
  }
  return { text, chunks };
}

describe('OpenAI client against tabagent-server', () => {
  let base, client, oneSlot, oneSlotClient;
  before(async () => {
    assert.ok(SERVER_BIN && CLI_BIN, 'TABAGENT_SERVER_BIN and TABAGENT_BIN must be set');
    assert.ok(fs.existsSync(STORIES), `missing ${STORIES}`);
    const bert = path.join(tmp, 'bert.gguf');
    execFileSync(CLI_BIN, ['synth', '-o', bert, '--arch', 'bert', '--shape', 'tiny', '--type',
      'F16', '--seed', '7']);
    base = await startServer('main', ['--model', `stories=${STORIES}`, '--model',
      `bert=${bert}`, '--parallel', '2', '--threads', '1']);
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
    oneSlot = await startServer('one', ['--model', `stories=${STORIES}`, '--parallel', '1',
      '--max-queue', '1', '--threads', '1']);
    oneSlotClient = new OpenAI({ baseURL: `${oneSlot}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    for (const s of servers) s.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the models with their kinds and context lengths', async () => {
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id).sort();
    assert.deepEqual(ids, ['bert', 'stories']);
    const stories = list.data.find((m) => m.id === 'stories');
    assert.equal(stories.object, 'model');
    assert.equal(stories.kind, 'chat');
    assert.ok(stories.context_length > 0);
    const one = await client.models.retrieve('bert');
    assert.equal(one.kind, 'embedding');
  });

  it('answers a chat, whole and streamed, with the same text at temperature 0', async () => {
    const req = {
      model: 'stories',
      messages: [{ role: 'system', content: 'You tell stories.' },
        { role: 'user', content: 'Once upon a time' }],
      max_tokens: 24,
      temperature: 0,
    };
    const whole = await client.chat.completions.create(req);
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.model, 'stories');
    const choice = whole.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0);
    assert.equal(choice.finish_reason, 'length');
    assert.equal(whole.usage.completion_tokens, 24);
    assert.ok(whole.usage.prompt_tokens > 5);
    assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + 24);

    const stream = await client.chat.completions.create({ ...req, stream: true,
      stream_options: { include_usage: true } });
    const { text, chunks } = await collect(stream);
    assert.equal(text, choice.message.content);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks.filter((c) => c.choices.length).at(-1);
    assert.equal(last.choices[0].finish_reason, 'length');
    assert.ok(last.timings && last.timings.predicted_n === 24);
    const usage = chunks.at(-1);
    assert.equal(usage.choices.length, 0);
    assert.equal(usage.usage.completion_tokens, 24);
    // the second identical request found its prompt cached
    assert.ok(usage.usage.prompt_tokens_details.cached_tokens > 0);
  });

  it('stops at a stop string and reports logprobs', async () => {
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 40,
      temperature: 0, stop: ['.'], logprobs: true, top_logprobs: 3,
    });
    const c = r.choices[0];
    assert.ok(!c.message.content.includes('.'));
    assert.ok(c.logprobs.content.length > 0);
    for (const e of c.logprobs.content) {
      assert.equal(typeof e.token, 'string');
      assert.ok(e.logprob <= 0);
      assert.ok(Array.isArray(e.bytes));
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].token, e.token); // greedy picks the most likely
    }
  });

  it('answers in JSON that parses and matches a schema, for any seed', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 24 },
        age: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string', enum: ['kind', 'brave', 'small'] },
          maxItems: 3 },
        pet: { anyOf: [{ type: 'null' }, { type: 'object', properties: { kind: { type: 'string',
          maxLength: 16 } }, required: ['kind'] }] },
      },
      required: ['name', 'age', 'tags', 'pet'],
      additionalProperties: false,
    };
    for (let seed = 1; seed <= 6; seed++) {
      const r = await client.chat.completions.create({
        model: 'stories', messages: [{ role: 'user', content: 'A character, as JSON' }],
        max_tokens: 1000, temperature: 1, seed, stream: seed % 2 === 0,
        response_format: { type: 'json_schema', json_schema: { name: 'character', schema,
          strict: true } },
      });
      let text, finish;
      if (seed % 2 === 0) {
        const c = await collect(r);
        text = c.text;
        finish = c.chunks.at(-1).choices[0].finish_reason;
      } else {
        text = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
      }
      assert.equal(finish, 'stop', `seed ${seed}: ${text}`); // the grammar ended it
      const v = JSON.parse(text);
      assert.deepEqual(Object.keys(v).sort(), ['age', 'name', 'pet', 'tags']);
      assert.equal(typeof v.name, 'string');
      assert.ok([...v.name].length <= 24);
      assert.ok(Number.isInteger(v.age));
      assert.ok(Array.isArray(v.tags) && v.tags.length <= 3);
      for (const t of v.tags) assert.ok(['kind', 'brave', 'small'].includes(t));
      assert.ok(v.pet === null || typeof v.pet.kind === 'string');
    }
    // Any JSON object: its strings are unbounded, and a model that does not know JSON
    // may be cut by max_tokens (finish_reason "length", as OpenAI does), so quotes and
    // braces get a push from logit_bias; every run that ends by itself parses.
    const last = async (text) => (await post(base, '/tokenize', { model: 'stories',
      content: text })).body.tokens.at(-1);
    const bias = { [await last('"')]: 10, [await last('}')]: 20 };
    let ended = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const obj = await client.chat.completions.create({ model: 'stories', max_tokens: 400,
        messages: [{ role: 'user', content: 'JSON please' }], temperature: 0.9, seed,
        logit_bias: bias, response_format: { type: 'json_object' } });
      const c = obj.choices[0];
      assert.match(c.message.content, /^\s*\{/);
      if (c.finish_reason !== 'stop') continue;
      const o = JSON.parse(c.message.content);
      assert.ok(typeof o === 'object' && o !== null && !Array.isArray(o));
      ended++;
    }
    assert.ok(ended > 0, 'no json_object run ended by itself');
    await assert.rejects(client.chat.completions.create({ model: 'stories',
      messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema',
        json_schema: { name: 'bad', schema: { type: 'object', properties: { a: { $ref:
        '#/$defs/missing' } } } } } }), (e) => e.status === 400 &&
      /response_format/.test(e.message));
  });

  it('completes a raw prompt (stories continue "Once upon a time")', async () => {
    const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time',
      max_tokens: 20, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.match(r.choices[0].text, /^, there was a little girl named Lily/);
    const s = await client.completions.create({ model: 'stories', prompt: 'Once upon a time',
      max_tokens: 20, temperature: 0, stream: true });
    assert.equal((await collect(s)).text, r.choices[0].text);
  });

  it('embeds strings as floats and as base64 that agree', async () => {
    const f = await client.embeddings.create({ model: 'bert', input: ['hello world', 'a'],
      encoding_format: 'float' });
    assert.equal(f.data.length, 2);
    const v = f.data[0].embedding;
    assert.ok(v.length > 8);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4);
    assert.ok(f.usage.prompt_tokens > 2);
    const raw = await post(base, '/v1/embeddings', { model: 'bert', input: 'hello world',
      encoding_format: 'base64' });
    const buf = Buffer.from(raw.body.data[0].embedding, 'base64');
    const b = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    assert.equal(b.length, v.length);
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(b[i] - v[i]) < 1e-6);
  });

  it('tokenizes and detokenizes', async () => {
    const t = await post(base, '/tokenize', { model: 'stories', content: 'Once upon a time' });
    assert.equal(t.status, 200);
    assert.ok(t.body.tokens.length >= 4);
    const d = await post(base, '/detokenize', { model: 'stories', tokens: t.body.tokens });
    assert.equal(d.body.content.trim(), 'Once upon a time');
  });

  it('runs 4 concurrent streams on 2 slots to the end', async () => {
    const runs = [0, 1, 2, 3].map((i) => client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: `Story number ${i}` }],
      max_tokens: 30, temperature: 0.7, seed: i, stream: true,
    }).then(collect));
    const done = await Promise.all(runs);
    for (const d of done) {
      assert.ok(d.text.length > 0);
      const last = d.chunks.at(-1);
      assert.equal(last.choices[0].finish_reason, 'length');
    }
  });

  it('frees the slot of a client that disconnects mid-stream', async () => {
    const ac = new AbortController();
    const stream = await oneSlotClient.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'A long story' }],
      max_tokens: 1900, ignore_eos: true, temperature: 1, stream: true,
    }, { signal: ac.signal });
    let n = 0;
    try {
      for await (const c of stream) {
        if (++n === 3) ac.abort();
      }
    } catch (e) {
      assert.ok(ac.signal.aborted, `unexpected error ${e}`);
    }
    // The server ended that generation as cancelled, long before its 1900 tokens.
    const logFile = path.join(tmp, 'one.log');
    let line;
    for (let i = 0; i < 100 && !line; i++) {
      line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => / cancelled, /.test(l));
      if (!line) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(line, 'no cancelled generation in the server log');
    const generated = Number(line.match(/(\d+) generated/)[1]);
    assert.ok(generated < 1000, `the cancelled generation went on to ${generated} tokens`);
    // and the only slot is free again: the next request is answered at once
    const t0 = Date.now();
    const r = await oneSlotClient.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5,
      temperature: 0,
    });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(Date.now() - t0 < 5000, `next request waited ${Date.now() - t0} ms`);
  });

  it('answers 503 with Retry-After when the slot and the queue are full', async () => {
    const long = { model: 'stories', messages: [{ role: 'user', content: 'Go on' }],
      max_tokens: 1900, ignore_eos: true, temperature: 1 };
    const results = await Promise.all([0, 1, 2].map(() => post(oneSlot,
      '/v1/chat/completions', long)));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503]);
    const busy = results.find((r) => r.status === 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.match(busy.body.error.message, /busy/);
  });

  it('gives each error its status and a clear message', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'nope',
      messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 404 &&
      /not known/.test(e.message));
    // the same for a stream: the real status, not a 200 that carries an error
    await assert.rejects(client.chat.completions.create({ model: 'nope', stream: true,
      messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 404);
    const long = 'hello '.repeat(3000);
    await assert.rejects(client.completions.create({ model: 'stories', prompt: long,
      max_tokens: 4 }), (e) => e.status === 400 &&
      /prompt has \d+ tokens but the context holds \d+/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: 'stories',
      messages: [{ role: 'robot', content: 'x' }] }), (e) => e.status === 400 &&
      /role/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: 'stories', temperature: 'hot',
      messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 400 &&
      /temperature/.test(e.message));
    await assert.rejects(client.embeddings.create({ model: 'stories', input: 'x' }),
      (e) => e.status === 400 && /not an embedding model/.test(e.message));
    const bias = await post(base, '/v1/chat/completions', { model: 'stories',
      messages: [{ role: 'user', content: 'x' }], logit_bias: { 999999: 5 } });
    assert.equal(bias.status, 400);
    assert.match(bias.body.error.message, /logit_bias/);
  });

  it('loads and unloads models on request', async () => {
    let r = await post(base, '/v1/models/unload', { model: 'bert' });
    assert.equal(r.status, 200);
    let m = await client.models.retrieve('bert');
    assert.equal(m.loaded, false);
    r = await post(base, '/v1/models/load', { model: 'bert', keep_alive: -1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.loaded, true);
    r = await post(base, '/v1/models/unload', { model: 'bert' });
    r = await post(base, '/v1/models/unload', { model: 'bert' });
    assert.equal(r.status, 404);
  });
});
