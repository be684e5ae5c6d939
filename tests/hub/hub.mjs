#!/usr/bin/env node
// tests/hub/hub.mjs -- a small local emulator of the Hugging Face Hub HTTP API,
// used to test tabagent's C download client without network access.
//
//   node tests/hub/hub.mjs --config CONFIG.json [--port 0] [--page-size N]
//
// Prints exactly one line on stdout once ready:
//   hub listening on http://127.0.0.1:PORT
// then serves until killed (SIGTERM/SIGINT exit 0). Diagnostics go to stderr.
//
// What it emulates (modelled on how huggingface.co answers the requests that
// huggingface_hub's file_download.py / hf_api.py make):
//   GET  /api/models/ORG/NAME[/revision/REV][?blobs=true]   model info
//   GET  /api/models/ORG/NAME/tree/REV[/DIR]?recursive=true  paginated listing
//   HEAD|GET /ORG/NAME/resolve/REV/PATH                      file resolution
//        (LFS -> 302 to the CDN with X-Linked-Etag/X-Linked-Size,
//         non-LFS -> 200/206 served directly)
//   errors with X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound,
//   GatedRepo; 429 + Retry-After for rate limiting.
// Plus a deliberately faulty CDN for fault-injection tests:
//   HEAD|GET /faulty/MODE[/ARG]/SHA256   (MODE: ok, drop, stall, droponce,
//                    stallonce, corrupt, norange, slow -- see serveContent)
// And test observability:
//   GET  /_stats   bytes served per sha256 (this process + nginx access log),
//                  last 1000 requests
//   POST /_reset   clears counters, fault memory and rate-limit counters
//
// Only Node built-in modules are used.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
    const args = { config: null, port: 0, pageSize: 1000 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) fatal(`missing value for ${a}`);
            return argv[++i];
        };
        if (a === '--config') args.config = val();
        else if (a === '--port') args.port = parseInt(val(), 10);
        else if (a === '--page-size') args.pageSize = parseInt(val(), 10);
        else fatal(`unknown argument: ${a}`);
    }
    if (!args.config) fatal('usage: hub.mjs --config CONFIG.json [--port 0] [--page-size N]');
    if (!Number.isInteger(args.port) || args.port < 0) fatal('bad --port');
    if (!Number.isInteger(args.pageSize) || args.pageSize < 1) fatal('bad --page-size');
    return args;
}

function fatal(msg) {
    process.stderr.write(`hub.mjs: ${msg}\n`);
    process.exit(1);
}

// ------------------------------------------------------- config and hashing

// Hash a file in one pass: size, sha256 (the LFS oid) and the git blob sha1
// of the content ("blob <size>\0" + content).
async function hashFile(file) {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new Error(`${file}: not a regular file`);
    const sha256 = crypto.createHash('sha256');
    const sha1 = crypto.createHash('sha1');
    sha1.update(`blob ${st.size}\0`);
    let size = 0;
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
        sha256.update(chunk);
        sha1.update(chunk);
        size += chunk.length;
    }
    if (size !== st.size) throw new Error(`${file}: changed while hashing`);
    return { size, sha256: sha256.digest('hex'), gitSha1: sha1.digest('hex') };
}

function gitBlobSha1(buf) {
    return crypto.createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

// The git-lfs pointer file that the git repository really contains for an
// LFS file; huggingface.co reports its git sha1 as the file's "oid"/ETag.
function lfsPointer(sha256, size) {
    return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`);
}

// Put the blob at blobs_dir/<sha256>: hard link if possible, else copy.
// Written under a temporary name and renamed, so readers never see a partial file.
async function placeBlob(blobsDir, source, sha256, size) {
    const dest = path.join(blobsDir, sha256);
    try {
        const st = await fsp.stat(dest);
        if (st.isFile() && st.size === size) return dest;
    } catch { /* not there yet */ }
    const tmp = `${dest}.tmp-${process.pid}`;
    await fsp.rm(tmp, { force: true });
    try {
        await fsp.link(source, tmp);
    } catch {
        await fsp.copyFile(source, tmp);
    }
    await fsp.rename(tmp, dest);
    return dest;
}

// Load CONFIG.json, hash every file, create blobs, build tree listings.
async function loadConfig(file) {
    const cfg = JSON.parse(await fsp.readFile(file, 'utf8'));
    if (!cfg.blobs_dir) throw new Error('config: "blobs_dir" is required');
    const blobsDir = path.resolve(cfg.blobs_dir);
    await fsp.mkdir(blobsDir, { recursive: true });
    // "pointer" (default, like huggingface.co): an LFS file's oid/ETag is the
    // git sha1 of its pointer file. "content": git sha1 of the content.
    const lfsOidMode = cfg.lfs_oid || 'pointer';

    const repos = new Map();   // "org/name" -> repo
    const blobs = new Map();   // sha256 -> { file, size }
    for (const [id, rc] of Object.entries(cfg.repos || {})) {
        if (!/^[^/]+\/[^/]+$/.test(id)) throw new Error(`config: repo id must be org/name: ${id}`);
        const commit = rc.commit || crypto.createHash('sha1').update(`commit ${id}`).digest('hex');
        if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`config: ${id}: commit must be 40 lowercase hex`);
        const cdn = rc.cdn || 'nginx';
        if (cdn === 'nginx' && !cfg.cdn && (rc.files || []).some((f) => f.lfs)) {
            throw new Error(`config: ${id} uses cdn "nginx" but top-level "cdn" is not set`);
        }
        if (cdn !== 'nginx' && !/^faulty:(ok|norange|(drop|stall|droponce|stallonce|corrupt|slow):\d+)$/.test(cdn)) {
            throw new Error(`config: ${id}: bad cdn "${cdn}"`);
        }
        const repo = {
            id, commit, cdn,
            private: !!rc.private,
            gated: !!rc.gated,
            token: rc.token || null,
            rateLimit: rc.rate_limit || null,
            hits: 0,                 // requests seen, for rate_limit
            files: new Map(),        // path -> file info
            entries: [],             // tree entries, sorted by path
        };
        for (const fc of rc.files || []) {
            if (!fc.path || fc.path.startsWith('/') || fc.path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
                throw new Error(`config: ${id}: bad file path "${fc.path}"`);
            }
            let source = fc.source;
            if (source === undefined && typeof fc.content === 'string') {
                // Inline content: store it in blobs_dir under its sha256.
                const buf = Buffer.from(fc.content);
                const sha = crypto.createHash('sha256').update(buf).digest('hex');
                source = path.join(blobsDir, sha);
                await fsp.writeFile(`${source}.tmp-${process.pid}`, buf);
                await fsp.rename(`${source}.tmp-${process.pid}`, source);
            }
            if (!source) throw new Error(`config: ${id}/${fc.path}: needs "source" or "content"`);
            source = path.resolve(source);
            const h = await hashFile(source);
            const lfs = !!fc.lfs;
            let oid = h.gitSha1;
            let pointerSize = 0;
            if (lfs) {
                const ptr = lfsPointer(h.sha256, h.size);
                pointerSize = ptr.length;
                if (lfsOidMode === 'pointer') oid = gitBlobSha1(ptr);
            }
            const blobFile = await placeBlob(blobsDir, source, h.sha256, h.size);
            blobs.set(h.sha256, { file: blobFile, size: h.size });
            repo.files.set(fc.path, {
                path: fc.path, source: blobFile, size: h.size, sha256: h.sha256,
                oid, lfs, pointerSize,
            });
        }
        repo.entries = buildTree(repo.files);
        repos.set(id, repo);
    }
    return {
        cdn: cfg.cdn ? cfg.cdn.replace(/\/+$/, '') : null,
        blobsDir,
        nginxLog: cfg.nginx_access_log || null,
        repos, blobs,
    };
}

// Tree entries (files and the directories implied by nested paths), sorted
// by path so a directory comes right before its contents.
function buildTree(files) {
    const entries = [];
    const dirs = new Set();
    for (const f of files.values()) {
        const parts = f.path.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
        const e = { type: 'file', oid: f.oid, size: f.size, path: f.path };
        if (f.lfs) e.lfs = { oid: f.sha256, size: f.size, pointerSize: f.pointerSize };
        entries.push(e);
    }
    for (const d of dirs) {
        // A real tree oid would hash the tree object; any stable sha1 will do.
        const oid = crypto.createHash('sha1').update(`tree ${d}`).digest('hex');
        entries.push({ type: 'directory', oid, size: 0, path: d });
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return entries;
}

// ---------------------------------------------------------------- state

const args = parseArgs(process.argv.slice(2));
let config;
try {
    config = await loadConfig(args.config);
} catch (err) {
    fatal(err.message);
}
let port = 0;                       // filled in once listening
const sigKey = crypto.randomBytes(16);

const stats = {
    bytes: new Map(),               // sha256 -> body bytes written by this process
    requests: [],                   // last 1000 request records
    nginxLogOffset: 0,              // /_reset moves this to the log's end
};
const faultSeen = new Set();        // drop/stall: "pathname|rangeStart" already faulted;
                                    // droponce/stallonce: "pathname"
const MAX_REQUESTS = 1000;

function addBytes(sha, n) {
    stats.bytes.set(sha, (stats.bytes.get(sha) || 0) + n);
}

// ---------------------------------------------------------------- helpers

function sendJson(req, res, status, obj, headers = {}) {
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': body.length,
        ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
}

function sendError(req, res, status, code, message, headers = {}) {
    const h = { ...headers };
    if (code) {
        h['X-Error-Code'] = code;
        h['X-Error-Message'] = message;
    }
    sendJson(req, res, status, { error: message }, h);
}

function bearerToken(req) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization || '');
    return m ? m[1] : null;
}

// Common checks for every request addressed to a repo: existence, rate
// limit, private/gated access. Returns the repo, or null after answering.
function checkRepo(req, res, id) {
    const repo = config.repos.get(id);
    if (!repo) {
        sendError(req, res, 401, 'RepoNotFound', 'Repository not found');
        return null;
    }
    repo.hits++;
    if (repo.rateLimit && repo.hits <= (repo.rateLimit.times || 0)) {
        const after = String(repo.rateLimit.retry_after ?? 1);
        sendJson(req, res, 429, { error: 'You have exceeded our hourly quotas for action: resolve. Retry later.' },
            { 'Retry-After': after });
        return null;
    }
    const token = bearerToken(req);
    const authorized = token !== null && token === repo.token;
    if (repo.private && !authorized) {
        // huggingface.co does not reveal that a private repo exists.
        sendError(req, res, 401, 'RepoNotFound', 'Repository not found');
        return null;
    }
    if (repo.gated && !authorized) {
        if (token === null) {
            sendError(req, res, 401, 'GatedRepo',
                `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
        } else {
            sendError(req, res, 403, 'GatedRepo',
                `Access to model ${id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${id} to ask for access.`);
        }
        return null;
    }
    return repo;
}

// "main" and the commit sha both resolve to the single commit of a repo.
function checkRevision(req, res, repo, rev) {
    if (rev === 'main' || rev === repo.commit) return true;
    sendError(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return false;
}

// Where resolve redirects an LFS file: nginx or this process's faulty CDN,
// with a fake signature query string like the real CDN's signed URLs.
function cdnLocation(repo, sha) {
    let base;
    if (repo.cdn === 'nginx') {
        base = config.cdn;
    } else {
        const [, mode, arg] = repo.cdn.split(':');
        base = `http://127.0.0.1:${port}/faulty/${mode}${arg !== undefined ? `/${arg}` : ''}`;
    }
    const expires = Math.floor(Date.now() / 1000) + 3600;
    const sig = crypto.createHmac('sha256', sigKey).update(`${sha}:${expires}`).digest('hex').slice(0, 32);
    return `${base}/${sha}?Expires=${expires}&Signature=${sig}&Key-Pair-Id=HUBEMU`;
}

// Parse a Range header against a size. Returns null (serve whole file),
// { start, end } (inclusive), or 'unsatisfiable'. Multiple ranges and
// malformed headers are ignored (whole file), as RFC 9110 allows.
function parseRange(header, size) {
    if (!header) return null;
    const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
    if (!m || (m[1] === '' && m[2] === '')) return null;
    let start, end;
    if (m[1] === '') {                      // suffix range: last N bytes
        const n = parseInt(m[2], 10);
        if (n === 0) return 'unsatisfiable';
        start = Math.max(0, size - n);
        end = size - 1;
    } else {
        start = parseInt(m[1], 10);
        end = m[2] === '' ? size - 1 : Math.min(parseInt(m[2], 10), size - 1);
        if (m[2] !== '' && parseInt(m[2], 10) < start) return null;
    }
    if (start >= size) return 'unsatisfiable';
    return { start, end };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Serve a file (or a range of it) with an optional fault:
//   ok             normal
//   drop N         first response per (URL, range start): N body bytes, then
//                  the socket is destroyed; later responses normal
//   stall N        first response per (URL, range start): N body bytes, then
//                  nothing, socket left open; later responses normal
//   droponce N     like drop, but only the first body response per URL (any
//   stallonce N    range) is faulted, so a client resuming at start+N succeeds
//   corrupt OFF    byte at file offset OFF is xor 0xff whenever it is served
//   norange        Range ignored: always 200 with the whole file, no Accept-Ranges
//   slow BPS       body throttled to BPS bytes/second
// HEAD never triggers (nor uses up) a fault.
async function serveContent(req, res, rec, blob, opts) {
    const { size, file } = blob;
    const mode = opts.mode || 'ok';
    const arg = opts.arg;
    const headers = { 'Content-Type': 'application/octet-stream', ...(opts.headers || {}) };
    if (mode !== 'norange') headers['Accept-Ranges'] = 'bytes';

    const range = mode === 'norange' ? null : parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
        res.end();
        return;
    }
    let status = 200, start = 0, end = size - 1;
    if (range) {
        status = 206;
        ({ start, end } = range);
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const length = size === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || length === 0) {
        res.end();
        return;
    }

    // Decide the fault for this response.
    let limit = length;          // body bytes to send before drop/stall
    let after = 'end';           // 'end' | 'destroy' | 'hold'
    let corruptAt = -1, rate = 0;
    if (['drop', 'stall', 'droponce', 'stallonce'].includes(mode)) {
        const key = mode.endsWith('once') ? opts.faultKey : `${opts.faultKey}|${start}`;
        if (!faultSeen.has(key)) {
            faultSeen.add(key);
            limit = Math.min(length, arg);
            after = mode.startsWith('drop') ? 'destroy' : 'hold';
        }
    } else if (mode === 'corrupt') {
        corruptAt = arg;
    } else if (mode === 'slow') {
        rate = Math.max(1, arg);
    }

    let closed = false;
    res.on('close', () => { closed = true; });
    const waitDrainOrClose = () => new Promise((resolve) => {
        const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
        res.on('drain', done);
        res.on('close', done);
    });

    const fh = await fsp.open(file, 'r');
    try {
        const chunkMax = rate ? Math.min(65536, Math.max(1, Math.floor(rate / 20))) : 65536;
        const t0 = Date.now();
        let pos = start, sent = 0, lastWrite = Promise.resolve();
        while (sent < limit && !closed) {
            const n = Math.min(chunkMax, limit - sent);
            const buf = Buffer.allocUnsafe(n);
            const { bytesRead } = await fh.read(buf, 0, n, pos);
            if (bytesRead !== n) throw new Error(`short read from ${file}`);
            if (corruptAt >= pos && corruptAt < pos + n) buf[corruptAt - pos] ^= 0xff;
            // Count bytes when node has handed them to the kernel.
            let ok;
            lastWrite = new Promise((resolve) => {
                ok = res.write(buf, (err) => {
                    if (!err) { addBytes(opts.sha, n); rec.bytes += n; }
                    resolve();
                });
            });
            if (!ok) await waitDrainOrClose();
            pos += n;
            sent += n;
            if (rate) {
                const due = t0 + (sent * 1000) / rate;
                const wait = due - Date.now();
                if (wait > 0) await sleep(wait);
            }
        }
        if (closed) return;
        if (after === 'end') {
            res.end();
        } else if (after === 'destroy') {
            await lastWrite;                 // make sure the N bytes went out
            await sleep(20);
            res.socket?.destroy();
        } else {
            // 'hold': send nothing more; the client has to give up.
            // The socket stays open until the client closes it or we exit.
        }
    } finally {
        await fh.close();
    }
}

// ---------------------------------------------------------------- routes

function handleResolve(req, res, rec, id, rev, filePath) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendError(req, res, 405, null, 'Method not allowed');
    }
    const repo = checkRepo(req, res, id);
    if (!repo) return;
    if (!checkRevision(req, res, repo, rev)) return;
    const f = repo.files.get(filePath);
    if (!f) {
        return sendError(req, res, 404, 'EntryNotFound', 'Entry not found', { 'X-Repo-Commit': repo.commit });
    }
    const common = { 'X-Repo-Commit': repo.commit, ETag: `"${f.oid}"` };
    if (f.lfs) {
        res.writeHead(302, {
            ...common,
            Location: cdnLocation(repo, f.sha256),
            'X-Linked-Etag': `"${f.sha256}"`,
            'X-Linked-Size': String(f.size),
            'Content-Length': 0,
        });
        res.end();
        return;
    }
    return serveContent(req, res, rec, { file: f.source, size: f.size },
        { mode: 'ok', sha: f.sha256, headers: common });
}

function handleTree(req, res, url, id, rev, dir) {
    const repo = checkRepo(req, res, id);
    if (!repo) return;
    if (!checkRevision(req, res, repo, rev)) return;
    const rec = url.searchParams.get('recursive');
    const recursive = rec !== null && /^(1|true)$/i.test(rec);
    if (dir !== '' && !repo.entries.some((e) => e.type === 'directory' && e.path === dir)) {
        return sendError(req, res, 404, 'EntryNotFound', `Entry not found: ${dir}`);
    }
    const prefix = dir === '' ? '' : `${dir}/`;
    const list = repo.entries.filter((e) => {
        if (!e.path.startsWith(prefix)) return false;
        return recursive || !e.path.slice(prefix.length).includes('/');
    });
    // Cursor: base64url of the index of the next entry.
    let from = 0;
    const cursor = url.searchParams.get('cursor');
    if (cursor !== null) {
        from = parseInt(Buffer.from(cursor, 'base64url').toString(), 10);
        if (!Number.isInteger(from) || from < 0 || from > list.length) {
            return sendError(req, res, 400, 'BadRequest', 'Invalid cursor');
        }
    }
    const page = list.slice(from, from + args.pageSize);
    const headers = {};
    if (from + page.length < list.length) {
        const next = new URLSearchParams(url.searchParams);
        next.set('cursor', Buffer.from(String(from + page.length)).toString('base64url'));
        headers.Link = `<http://127.0.0.1:${port}${url.pathname}?${next}>; rel="next"`;
    }
    sendJson(req, res, 200, page, headers);
}

function handleModelInfo(req, res, url, id, rev) {
    const repo = checkRepo(req, res, id);
    if (!repo) return;
    if (!checkRevision(req, res, repo, rev)) return;
    const withBlobs = /^(1|true)$/i.test(url.searchParams.get('blobs') || '');
    const siblings = [...repo.files.values()]
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((f) => {
            const s = { rfilename: f.path };
            if (withBlobs) {
                s.blobId = f.oid;
                s.size = f.size;
                if (f.lfs) s.lfs = { sha256: f.sha256, size: f.size, pointerSize: f.pointerSize };
            }
            return s;
        });
    sendJson(req, res, 200, {
        _id: repo.commit.slice(0, 24), id: repo.id, modelId: repo.id, sha: repo.commit,
        private: repo.private, gated: repo.gated ? 'auto' : false, disabled: false,
        siblings,
    });
}

function handleFaulty(req, res, rec, segs) {
    // segs: ['faulty', mode, (arg), sha]
    const mode = segs[1];
    const hasArg = ['drop', 'stall', 'droponce', 'stallonce', 'corrupt', 'slow'].includes(mode);
    const want = hasArg ? 4 : 3;
    if (segs.length !== want || !(hasArg || mode === 'ok' || mode === 'norange')) {
        return sendError(req, res, 404, null, 'Unknown faulty CDN path');
    }
    const arg = hasArg ? parseInt(segs[2], 10) : undefined;
    if (hasArg && !(Number.isInteger(arg) && arg >= 0)) return sendError(req, res, 400, null, 'Bad fault argument');
    const sha = segs[want - 1];
    const blob = config.blobs.get(sha);
    if (!blob) return sendError(req, res, 404, null, 'No such blob');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(req, res, 405, null, 'Method not allowed');
    return serveContent(req, res, rec, blob, {
        mode, arg, sha,
        faultKey: `/${segs.slice(0, want - 1).join('/')}/${sha}`,
        headers: { ETag: `"${sha}"` },
    });
}

// Parse the nginx access log written by cdn.sh (format:
//   METHOD URI STATUS BODY_BYTES_SENT "RANGE" REQUEST_TIME)
// from the offset recorded at the last /_reset.
function readNginxLog() {
    const out = { bytes: {}, requests: [] };
    if (!config.nginxLog) return out;
    let data;
    try {
        data = fs.readFileSync(config.nginxLog);
    } catch {
        return out;
    }
    if (data.length < stats.nginxLogOffset) stats.nginxLogOffset = 0;   // truncated
    const text = data.subarray(stats.nginxLogOffset).toString('utf8');
    for (const line of text.split('\n')) {
        const m = /^(\S+) (\S+) (\d+) (\d+) "([^"]*)" (\S+)$/.exec(line);
        if (!m) continue;
        const [, method, uri, status, bytes, range] = m;
        const sha = uri.replace(/^.*\//, '');
        if (!/^[0-9a-f]{64}$/.test(sha)) continue;
        out.bytes[sha] = (out.bytes[sha] || 0) + parseInt(bytes, 10);
        out.requests.push({ method, path: uri, range: range === '-' ? null : range,
            status: parseInt(status, 10), bytes: parseInt(bytes, 10) });
    }
    out.requests = out.requests.slice(-MAX_REQUESTS);
    return out;
}

function handleStats(req, res) {
    const nginx = readNginxLog();
    const hub = Object.fromEntries(stats.bytes);
    const total = { ...hub };
    for (const [sha, n] of Object.entries(nginx.bytes)) total[sha] = (total[sha] || 0) + n;
    sendJson(req, res, 200, {
        bytes_served: total,             // hub + nginx, per sha256
        hub_bytes_served: hub,           // faulty CDN and non-LFS resolve only
        nginx_bytes_served: nginx.bytes, // from the nginx access log
        requests: stats.requests,        // this process, oldest first
        nginx_requests: nginx.requests,
    });
}

function handleReset(req, res) {
    stats.bytes.clear();
    stats.requests.length = 0;
    faultSeen.clear();
    for (const r of config.repos.values()) r.hits = 0;
    stats.nginxLogOffset = 0;
    if (config.nginxLog) {
        try { stats.nginxLogOffset = fs.statSync(config.nginxLog).size; } catch { /* no log yet */ }
    }
    sendJson(req, res, 200, { ok: true });
}

async function handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    let segs;
    try {
        segs = url.pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
        return sendError(req, res, 400, null, 'Bad URL encoding');
    }

    // Internal endpoints are not recorded in /_stats.
    if (url.pathname === '/_stats' && req.method === 'GET') return handleStats(req, res);
    if (url.pathname === '/_reset' && req.method === 'POST') return handleReset(req, res);

    const rec = {
        method: req.method, path: req.url, range: req.headers.range || null,
        auth: req.headers.authorization || null, status: null, bytes: 0,
    };
    stats.requests.push(rec);
    if (stats.requests.length > MAX_REQUESTS) stats.requests.shift();
    const writeHead = res.writeHead;
    res.writeHead = function (status, ...rest) {
        rec.status = status;
        return writeHead.call(this, status, ...rest);
    };

    if (segs[0] === 'faulty') return handleFaulty(req, res, rec, segs);

    if (segs[0] === 'api' && segs[1] === 'models' && segs.length >= 4) {
        const id = `${segs[2]}/${segs[3]}`;
        const rest = segs.slice(4);
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(req, res, 405, null, 'Method not allowed');
        if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return handleModelInfo(req, res, url, id, 'main');
        if (rest[0] === 'revision' && rest.length === 2) return handleModelInfo(req, res, url, id, rest[1]);
        if (rest[0] === 'tree' && rest.length >= 2) {
            const dir = rest.slice(2).join('/').replace(/\/+$/, '');
            return handleTree(req, res, url, id, rest[1], dir);
        }
    }

    if (segs.length >= 5 && segs[2] === 'resolve') {
        return handleResolve(req, res, rec, `${segs[0]}/${segs[1]}`, segs[3], segs.slice(4).join('/'));
    }

    sendError(req, res, 404, null, 'Not found');
}

// ---------------------------------------------------------------- server

const server = http.createServer((req, res) => {
    Promise.resolve()
        .then(() => handle(req, res))
        .catch((err) => {
            process.stderr.write(`hub.mjs: ${req.method} ${req.url}: ${err.stack || err}\n`);
            if (!res.headersSent) sendError(req, res, 500, null, 'Internal error');
            else res.destroy();
        });
});
server.keepAliveTimeout = 30000;
server.requestTimeout = 0;          // stalled responses may stay open indefinitely

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

server.on('error', (err) => fatal(`listen: ${err.message}`));
server.listen(args.port, '127.0.0.1', () => {
    port = server.address().port;
    process.stdout.write(`hub listening on http://127.0.0.1:${port}\n`);
});
