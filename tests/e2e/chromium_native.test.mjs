// End-to-end: a real headless Chromium loads tests/e2e/extension/ and talks to
// `tabagent-server` as the native messaging host com.tabagent.host, through
// chrome.runtime.connectNative and chrome.runtime.sendNativeMessage.
//
// Environment:
//   TABAGENT_SERVER_BIN   the host binary (required)
//   TA_SOURCE_DIR         project root, to resolve playwright-core (default: ../.. from here)
//   TA_PROJECT_VERSION    expected "version" in the ping reply (default: from CMakeLists.txt)
//   CHROMIUM_BIN          default /usr/lib/chromium/chromium
//   TA_E2E_REQUIRE_INSTALLER=1  fail instead of writing the host manifest by hand when
//                         `tabagent-server install-native-host` does not work
//   TA_E2E_KEEP=1         keep the temp dir (user data dir, host log) for inspection
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Pinned by "key" in extension/manifest.json (sha256 of the DER public key, first 32 hex
// digits mapped 0-f -> a-p). The "extension id" test recomputes it from the key.
const EXTENSION_ID = 'ioenkcpjbaenojfcikhjmbfboifbmfbi';
const ORIGIN = `chrome-extension://${EXTENSION_ID}/`;
const HOST_NAME = 'com.tabagent.host';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXT_DIR = path.join(HERE, 'extension');
const SOURCE_DIR = path.resolve(process.env.TA_SOURCE_DIR || path.join(HERE, '..', '..'));
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/lib/chromium/chromium';
const SERVER_BIN = process.env.TABAGENT_SERVER_BIN;

// Hard ceiling for the whole file: the harness must never hang.
const WATCHDOG_MS = 85_000;
const REPLY_TIMEOUT_MS = 10_000;

function fail(msg) {
  throw new Error(`chromium e2e: ${msg}`);
}

function expectedVersion() {
  if (process.env.TA_PROJECT_VERSION) return process.env.TA_PROJECT_VERSION;
  const cm = fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8');
  const m = cm.match(/project\s*\(\s*tabagent\b[^)]*\bVERSION\s+([0-9][0-9.]*)/i);
  return m ? m[1] : null;
}

function loadPlaywright() {
  const req = createRequire(path.join(SOURCE_DIR, 'package.json'));
  try {
    return req('playwright-core');
  } catch (e) {
    fail(`playwright-core is not installed under ${SOURCE_DIR}/node_modules (${e.message}); run the setup script / npm install`);
  }
}

function extensionIdFromKey(b64) {
  const hex = crypto.createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
  return [...hex.slice(0, 32)].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
}

// A host process is gone when /proc/<pid> is missing or it is a zombie.
function processGone(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

const withTimeout = (p, ms, what) => {
  let timer;
  return Promise.race([
    p,
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
};

// ---------------------------------------------------------------------------------------

let tmp;            // everything this run writes lives here
let udd;            // Chromium user data dir
let hostLog;        // TABAGENT_LOG_FILE for every host process Chromium starts
let ctx;            // Playwright persistent context
let page;           // chrome-extension://ID/test.html
let install;        // { how, manifestPath, stdout, stderr, status }
let anyFailed = false;
const hostPids = new Set();
const t0 = Date.now();

function cleanup() {
  if (!tmp) return;
  if (process.env.TA_E2E_KEEP === '1') {
    console.log(`# kept ${tmp}`);
    return;
  }
  try { fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 }); } catch { /* best effort */ }
  tmp = undefined;
}

const watchdog = setTimeout(() => {
  console.error(`chromium e2e: watchdog: still running after ${WATCHDOG_MS} ms, aborting`);
  dumpHostLog();
  cleanup();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

function dumpHostLog() {
  if (!hostLog) return;
  try {
    const text = fs.readFileSync(hostLog, 'utf8');
    console.error(`---- host log (${hostLog}), last 40 lines ----`);
    console.error(text.split('\n').slice(-40).join('\n'));
  } catch (e) {
    console.error(`(no host log at ${hostLog}: ${e.code || e.message})`);
  }
}

// Wraps a test body so a failure is remembered (after() then dumps the host log).
const tracked = (fn) => async (t) => {
  try {
    await fn(t);
  } catch (e) {
    anyFailed = true;
    throw e;
  }
};

function installManifest(nmDir) {
  const manifestPath = path.join(nmDir, `${HOST_NAME}.json`);
  const r = spawnSync(SERVER_BIN,
    ['install-native-host', '--extension-id', EXTENSION_ID, '--browser', 'chromium', '--manifest-dir', nmDir],
    { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TABAGENT_LOG_FILE: path.join(tmp, 'install.log') } });
  const res = { how: 'install-native-host', manifestPath, status: r.status, signal: r.signal,
    stdout: r.stdout, stderr: r.stderr, error: r.error && r.error.message };
  if (r.status === 0 && fs.existsSync(manifestPath)) return res;

  const why = `\`${path.basename(SERVER_BIN)} install-native-host\` did not produce ${manifestPath} ` +
    `(exit ${r.status}${r.signal ? ', signal ' + r.signal : ''}${r.error ? ', ' + r.error.message : ''}; ` +
    `stderr: ${(r.stderr || '').trim().slice(0, 400)})`;
  if (process.env.TA_E2E_REQUIRE_INSTALLER === '1') fail(why);
  console.log(`# WARNING: ${why}; writing the host manifest by hand instead`);
  fs.mkdirSync(nmDir, { recursive: true });
  fs.writeFileSync(manifestPath, JSON.stringify({
    name: HOST_NAME,
    description: 'tabagent native messaging host (written by the e2e test)',
    path: fs.realpathSync(SERVER_BIN),
    type: 'stdio',
    allowed_origins: [ORIGIN],
  }, null, 2));
  return { ...res, how: 'fallback (written by the test)' };
}

// `count` is the number of pongs the request asked for (ping param, default 1).
function assertPong(reply, messageId, what, count = 1) {
  assert.equal(typeof reply, 'object', `${what}: reply is not an object: ${JSON.stringify(reply)}`);
  assert.notEqual(reply, null, `${what}: reply is null`);
  if (Number.isInteger(reply.pid)) hostPids.add(reply.pid);
  const ctxt = `${what}: ${JSON.stringify(reply)}`;
  assert.equal(reply.messageId, messageId, `${ctxt}: messageId not echoed`);
  assert.equal(reply.status, 'success', `${ctxt}: status`);
  assert.equal(reply.response, 'pong', `${ctxt}: response`);
  const version = expectedVersion();
  if (version) assert.equal(reply.version, version, `${ctxt}: version`);
  else assert.match(String(reply.version), /^\d+\.\d+\.\d+/, `${ctxt}: version`);
  assert.ok(Number.isInteger(reply.pid) && reply.pid > 1, `${ctxt}: pid`);
  assert.equal(reply.count, count, `${ctxt}: count`);
}

describe('Chromium <-> tabagent-server native messaging', { timeout: WATCHDOG_MS }, () => {
  before(async () => {
    if (!SERVER_BIN) fail('TABAGENT_SERVER_BIN is not set (path of the tabagent-server binary)');
    try { fs.accessSync(SERVER_BIN, fs.constants.X_OK); } catch { fail(`TABAGENT_SERVER_BIN=${SERVER_BIN} is not an executable file`); }
    try { fs.accessSync(CHROMIUM, fs.constants.X_OK); } catch { fail(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`); }
    const { chromium } = loadPlaywright();

    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-e2e-chromium-'));
    udd = path.join(tmp, 'udd');
    const home = path.join(tmp, 'home');
    fs.mkdirSync(udd);
    fs.mkdirSync(home);
    hostLog = path.join(tmp, 'host.log');

    install = installManifest(path.join(udd, 'NativeMessagingHosts'));

    // The host manifest "path" takes no arguments or env, so the host's settings ride on
    // Chromium's environment, which every host process inherits. HOME/XDG point into the
    // temp dir so a host that writes state never touches the real home.
    const env = {
      ...process.env,
      TABAGENT_MODE: 'native',
      TABAGENT_LOG_FILE: hostLog,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
    };
    ctx = await chromium.launchPersistentContext(udd, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      env,
      ignoreDefaultArgs: ['--disable-extensions'],
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--disable-extensions-except=${EXT_DIR}`, `--load-extension=${EXT_DIR}`,
      ],
    });
    page = await ctx.newPage();
    page.setDefaultTimeout(REPLY_TIMEOUT_MS * 2);
    await page.goto(`chrome-extension://${EXTENSION_ID}/test.html`, { timeout: 15_000 });
    await page.waitForFunction(() => !!window.nmTest, null, { timeout: 10_000 });
  });

  after(async () => {
    if (anyFailed) {
      if (install) console.error(`manifest installed by: ${install.how}`);
      dumpHostLog();
    }
    if (ctx) await withTimeout(ctx.close(), 10_000, 'closing Chromium').catch((e) => console.error(String(e)));
    cleanup();
    console.log(`# total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('extension id is pinned by the manifest key', tracked(async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(EXT_DIR, 'manifest.json'), 'utf8'));
    assert.equal(extensionIdFromKey(manifest.key), EXTENSION_ID);
    assert.deepEqual(manifest.permissions, ['nativeMessaging']);
    assert.equal(await page.evaluate(() => chrome.runtime.id), EXTENSION_ID);
  }));

  it('host manifest names the server and allows exactly this extension', tracked(() => {
    console.log(`# host manifest written by: ${install.how}`);
    const m = JSON.parse(fs.readFileSync(install.manifestPath, 'utf8'));
    assert.equal(m.name, HOST_NAME);
    assert.equal(m.type, 'stdio');
    assert.ok(path.isAbsolute(m.path), `manifest path must be absolute: ${m.path}`);
    assert.equal(fs.realpathSync(m.path), fs.realpathSync(SERVER_BIN));
    assert.deepEqual(m.allowed_origins, [ORIGIN]);
  }));

  it('connectNative: ping round-trips', tracked(async () => {
    const reply = await page.evaluate(
      ([id, opts]) => window.nmTest.ping(id, opts), ['e2e-ping-1', { timeoutMs: REPLY_TIMEOUT_MS }]);
    assertPong(reply, 'e2e-ping-1', 'ping');
  }));

  it('connectNative: ping, get_system_info, unknown action, then ping {count:3} on the same port', tracked(async () => {
    const msgs = [
      { action: 'ping', messageId: 's-1' },
      { action: 'get_system_info', messageId: 's-2' },
      { action: 'no_such_action_e2e', messageId: 's-3' },
      { action: 'ping', messageId: 's-4', count: 3 },
    ];
    const r = await page.evaluate(
      ([m, opts]) => window.nmTest.session(m, opts), [msgs, { timeoutMs: REPLY_TIMEOUT_MS }]);
    const [p1, info, bad, p2] = r.replies;

    assertPong(p1, 's-1', 'first ping');

    const ic = `get_system_info: ${JSON.stringify(info)}`;
    assert.equal(info.messageId, 's-2', `${ic}: messageId`);
    assert.equal(info.status, 'success', `${ic}: status`);
    assert.ok(typeof info.os === 'string' && info.os.length > 0, `${ic}: os`);
    assert.ok(typeof info.cpu === 'string' && info.cpu.length > 0, `${ic}: cpu`);
    assert.ok(Number.isInteger(info.cores) && info.cores >= 1, `${ic}: cores`);
    assert.ok(Number.isInteger(info.threads) && info.threads >= info.cores, `${ic}: threads`);
    assert.ok(Number.isInteger(info.ram) && info.ram > 0 && info.ram <= os.totalmem() * 1.05,
      `${ic}: ram (machine has ${os.totalmem()} bytes)`);

    const bc = `unknown action: ${JSON.stringify(bad)}`;
    assert.equal(bad.messageId, 's-3', `${bc}: messageId`);
    assert.equal(bad.status, 'error', `${bc}: status`);
    assert.ok(typeof bad.message === 'string' && bad.message.length > 0, `${bc}: message`);

    assertPong(p2, 's-4', 'ping {count:3} after the error', 3);
    assert.equal(p2.pid, p1.pid, 'the same host process must answer the whole port session');

    assert.deepEqual(r.extra, [], 'the host sent messages nobody asked for');
    assert.equal(r.stillOpen, true, 'the host closed the port after an error');
  }));

  it('connectNative: 50 sequential pings on one port, ids echoed in order (incl. non-ASCII)', tracked(async () => {
    const msgs = Array.from({ length: 50 }, (_, i) =>
      ({ action: 'ping', messageId: i === 25 ? 'ünïcødé-✓-日本語-🚀' : `burst-${i}` }));
    const r = await page.evaluate(
      ([m, opts]) => window.nmTest.session(m, opts), [msgs, { timeoutMs: REPLY_TIMEOUT_MS }]);
    assert.equal(r.replies.length, msgs.length);
    r.replies.forEach((rep, i) => assertPong(rep, msgs[i].messageId, `burst ping ${i}`));
    assert.equal(new Set(r.replies.map((x) => x.pid)).size, 1, 'one host process per port');
    assert.deepEqual(r.extra, []);
    const sorted = [...r.rttMs].sort((a, b) => a - b);
    console.log(`# burst: median rtt ${sorted[sorted.length >> 1].toFixed(2)} ms, max ${sorted.at(-1).toFixed(2)} ms`);
  }));

  it('sendNativeMessage: one-shot ping starts its own host process', tracked(async () => {
    const portPids = new Set(hostPids);
    const r = await page.evaluate(
      ([m, opts]) => window.nmTest.oneShot(m, opts),
      [{ action: 'ping', messageId: 'oneshot-1' }, { timeoutMs: REPLY_TIMEOUT_MS }]);
    assertPong(r.reply, 'oneshot-1', 'sendNativeMessage ping');
    assert.ok(!portPids.has(r.reply.pid), 'sendNativeMessage must get a fresh host process');
  }));

  it('every host process exits once its port is closed', tracked(async () => {
    assert.ok(hostPids.size >= 3, `expected >= 3 host processes, saw ${hostPids.size}`);
    const deadline = Date.now() + 8_000;
    let alive = [...hostPids].filter((p) => !processGone(p));
    while (alive.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      alive = alive.filter((p) => !processGone(p));
    }
    assert.deepEqual(alive, [], `host processes still running: ${alive.join(', ')}`);
  }));
});
