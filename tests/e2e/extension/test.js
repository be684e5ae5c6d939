// Helpers the Node e2e test calls with page.evaluate. They only talk to the native host
// through the real extension APIs (connectNative / sendNativeMessage) and report exactly
// what Chromium handed back, so the Node side can assert on the raw replies.
'use strict';

const HOST_NAME = 'com.tabagent.host';

function lastErrorMessage() {
  const e = chrome.runtime.lastError;
  return e ? String(e.message || e) : 'no chrome.runtime.lastError';
}

// Opens ONE port and sends `messages` in order, waiting for one reply to each before
// sending the next (the host answers in order; replies are NOT matched by messageId,
// so a host that echoes the wrong id is caught by the caller's asserts).
// After the last reply it listens for `quietMs` more and returns anything else the
// host sent as `extra` (a host must send exactly one reply per request).
// Rejects on timeout or if the port disconnects early (with Chromium's error text).
function session(messages, { timeoutMs = 10000, quietMs = 150 } = {}) {
  return new Promise((resolve, reject) => {
    let port;
    try {
      port = chrome.runtime.connectNative(HOST_NAME);
    } catch (e) {
      reject(new Error('connectNative threw: ' + e.message));
      return;
    }
    const replies = [];
    const rttMs = [];
    const extra = [];
    let waiting = null; // { resolve, reject, timer }
    let closed = false;
    let disconnectError = null;

    port.onMessage.addListener((msg) => {
      if (waiting) {
        const w = waiting;
        waiting = null;
        clearTimeout(w.timer);
        w.resolve(msg);
      } else {
        extra.push(msg);
      }
    });
    port.onDisconnect.addListener(() => {
      closed = true;
      disconnectError = lastErrorMessage();
      if (waiting) {
        const w = waiting;
        waiting = null;
        clearTimeout(w.timer);
        w.reject(new Error('native port disconnected while waiting for a reply: ' + disconnectError));
      }
    });

    const next = (msg) =>
      new Promise((res, rej) => {
        if (closed) {
          rej(new Error('native port already disconnected: ' + disconnectError));
          return;
        }
        waiting = {
          resolve: res,
          reject: rej,
          timer: setTimeout(() => {
            waiting = null;
            rej(new Error(`no reply from native host within ${timeoutMs} ms to ${JSON.stringify(msg)}`));
          }, timeoutMs),
        };
        port.postMessage(msg);
      });

    (async () => {
      for (const m of messages) {
        const t0 = performance.now();
        replies.push(await next(m));
        rttMs.push(performance.now() - t0);
      }
      await new Promise((r) => setTimeout(r, quietMs));
      const stillOpen = !closed;
      port.disconnect();
      return { replies, rttMs, extra, stillOpen };
    })().then(resolve, (e) => {
      try { port.disconnect(); } catch (_) { /* already gone */ }
      reject(e);
    });
  });
}

// One-shot request: chrome.runtime.sendNativeMessage starts a fresh host process,
// sends one message and takes the first reply.
function oneShot(message, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sendNativeMessage got no reply within ${timeoutMs} ms`)),
      timeoutMs);
    const t0 = performance.now();
    try {
      chrome.runtime.sendNativeMessage(HOST_NAME, message, (reply) => {
        clearTimeout(timer);
        if (chrome.runtime.lastError || reply === undefined) {
          reject(new Error('sendNativeMessage failed: ' + lastErrorMessage()));
        } else {
          resolve({ reply, rttMs: performance.now() - t0 });
        }
      });
    } catch (e) {
      clearTimeout(timer);
      reject(new Error('sendNativeMessage threw: ' + e.message));
    }
  });
}

window.nmTest = {
  hostName: HOST_NAME,
  extensionId: chrome.runtime.id,
  ping: (messageId, opts) =>
    session([{ action: 'ping', messageId }], opts).then((r) => r.replies[0]),
  session,
  oneShot,
};
