// End-to-end in headless Chromium, with no network but loopback:
//  - the docs UIs (/docs Swagger UI, /redoc, /rapidoc) render the server's own OpenAPI
//    document from locally served assets, and the page never asks another host for
//    anything (no CDN);
//  - CORS as a real browser enforces it: a page on one origin can call a tabagent
//    server whose --cors-origins admits that origin, and is blocked by one that does not.
//
// Environment: TABAGENT_SERVER_BIN (required), TA_SOURCE_DIR, CHROMIUM_BIN.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = path.resolve(process.env.TA_SOURCE_DIR || path.join(HERE, '..', '..'));
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/lib/chromium/chromium';
const SERVER_BIN = process.env.TABAGENT_SERVER_BIN;
const { chromium } = createRequire(path.join(SOURCE_DIR, 'package.json'))('playwright-core');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-docs-e2e-'));
const servers = [];
let browser;

const watchdog = setTimeout(() => {
  console.error('docs_ui e2e: watchdog fired after 100 s');
  process.exit(1);
}, 100_000);
watchdog.unref();

// Starts tabagent-server on a free port; resolves with its base URL.
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

describe('docs UIs and CORS in Chromium', () => {
  let api;
  before(async () => {
    assert.ok(SERVER_BIN, 'TABAGENT_SERVER_BIN must be set');
    api = await startServer('api', []);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    if (browser) await browser.close();
    for (const s of servers) s.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Opens a docs page; returns the page and every URL it requested.
  async function open(url) {
    const page = await browser.newPage();
    const requested = [];
    const errors = [];
    const failed = new Map();
    page.on('request', (r) => requested.push(r.url()));
    page.on('requestfailed', (r) => failed.set(r.url(), r.failure()?.errorText || ''));
    page.on('pageerror', (e) => errors.push(String(e)));
    const resp = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
    const csp = resp.headers()['content-security-policy'] || '';
    assert.match(csp, /default-src 'self'/, 'docs pages carry a same-origin CSP');
    requested.failed = failed;
    return { page, requested, errors };
  }

  // Everything the page fetched came from this server; a UI's own link to a CDN (ReDoc's
  // footer logo) was refused by the page's CSP before it reached the network.
  function assertLocalOnly(requested) {
    assert.ok(requested.length > 1, 'the page loaded its assets');
    for (const u of requested) {
      if (u.startsWith(api) || u.startsWith('data:') || u.startsWith('blob:')) continue;
      assert.match(requested.failed.get(u) || '', /^csp$|BLOCKED_BY_CSP/i,
        `request to another host that was not blocked: ${u} (${requested.failed.get(u)})`);
    }
  }

  it('Swagger UI at /docs lists the operations', async () => {
    const { page, requested, errors } = await open(`${api}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    const paths = await page.locator('.opblock-summary-path').allInnerTexts();
    const flat = paths.map((p) => p.replace(/\u200b/g, '').trim());
    assert.ok(flat.includes('/v1/health'), `operations: ${flat.join(', ')}`);
    assert.ok(flat.includes('/v1/ping'));
    assert.ok(requested.some((u) => u.endsWith('/api-doc/openapi.json')));
    assertLocalOnly(requested);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('ReDoc at /redoc renders the document', async () => {
    const { page, requested, errors } = await open(`${api}/redoc`);
    await page.locator('h2', { hasText: 'Server status and version.' }).first().waitFor({ timeout: 30_000 });
    assert.ok(requested.some((u) => u.endsWith('/api-doc/openapi.json')));
    assertLocalOnly(requested);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('RapiDoc at /rapidoc renders the document', async () => {
    const { page, requested, errors } = await open(`${api}/rapidoc`);
    // RapiDoc renders inside a shadow root; Playwright's text locators pierce it.
    await page.getByText('/v1/system/info').first().waitFor({ timeout: 30_000 });
    assertLocalOnly(requested);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('CORS: an allowed origin gets the answer, a refused one is blocked', async () => {
    // The page is served by a tabagent server too (static files from --web-root), on
    // http://127.0.0.1:<p>; the APIs it calls live on http://localhost:<q>, another origin.
    const site = await startServer('site', ['--web-root', path.join(HERE, 'pages')]);
    const strict = await startServer('strict', ['--cors-origins', 'https://only.example']);
    const page = await browser.newPage();
    await page.goto(`${site}/`, { timeout: 30_000 });
    const toLocalhost = (u) => u.replace('127.0.0.1', 'localhost');

    const ok = await page.evaluate((u) => window.probe(u), `${toLocalhost(api)}/v1/ping`);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.body.response, 'pong');
    assert.equal(ok.body.count, 2);

    const blocked = await page.evaluate((u) => window.probe(u), `${toLocalhost(strict)}/v1/ping`);
    assert.ok(blocked.error && /Failed to fetch/.test(blocked.error), JSON.stringify(blocked));
    await page.close();
  });
});
