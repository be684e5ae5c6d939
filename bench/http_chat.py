#!/usr/bin/env python3
"""HTTP generation against the engine alone, on the same model and threads.

Starts tabagent-server (--model m=MODEL --parallel 4 --threads T) on a free port, then
for each of R rounds, one after the other (this machine's speed drifts: alternating
puts the drift on both sides alike):
  1. `tabagent bench -m MODEL -p 16 -n N -t T --json`: the engine's decode tokens/s;
  2. one streamed /v1/completions request of N tokens (ignore_eos, temperature 0):
     time to first token and decode tokens/s as the client sees them (from the first
     to the last chunk), and the server's own timings;
and once: 1 stream, then 4 concurrent streams: aggregate generated tokens/s.
Prints one JSON object: http_overhead = 1 - http decode / engine decode, the median of
the rounds' (each round's own pair), with every round's numbers.

Usage: bench/http_chat.py MODEL [--threads T] [--tokens N] [--rounds R] [--build DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def stream(base, prompt, n, results, i):
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": n, "temperature": 0,
                       "ignore_eos": True, "stream": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", body,
                                 {"Content-Type": "application/json"})
    t0 = time.monotonic()
    first = last = None
    chunks = 0
    timings = None
    with urllib.request.urlopen(req) as r:
        for line in r:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            c = json.loads(line[6:])
            if c["choices"] and c["choices"][0].get("finish_reason"):
                timings = c.get("timings")
                continue
            now = time.monotonic()
            first = first or now
            last = now
            chunks += 1
    results[i] = {"t0": t0, "first": first, "last": last, "chunks": chunks, "timings": timings}


def stalls(base):
    """The server's thread-pool stalls so far (jobs held up by other threads)."""
    return json.loads(urllib.request.urlopen(base + "/v1/models/m").read()).get("pool_stalls", 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    a = ap.parse_args()

    def engine():
        return json.loads(subprocess.run(
            [os.path.join(a.build, "tabagent"), "bench", "-m", a.model, "-p", "16", "-n",
             str(a.tokens), "-t", str(a.threads), "-r", "1", "--json"],
            check=True, capture_output=True, text=True).stdout)
    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, "server.log")
    srv = subprocess.Popen([os.path.join(a.build, "tabagent-server"), "--mode", "http",
                            "--port", "0", "--log-file", log, "--model", "m=" + a.model,
                            "--parallel", "4", "--threads", str(a.threads)],
                           env={**os.environ, "XDG_DATA_HOME": tmp})
    try:
        base = None
        for _ in range(200):
            m = re.search(r"listening on (http://[^ ]+:\d+)", open(log).read()
                          if os.path.exists(log) else "")
            if m:
                base = m.group(1)
                break
            time.sleep(0.05)
        assert base, "server did not start"
        prompt = "Once upon a time there was a server that"
        warm = [None]
        stream(base, prompt, 8, warm, 0)  # loads the model
        one = [None]
        rounds = []
        for _ in range(a.rounds):
            eb = engine()
            e = eb["tg_tokens_per_s"]
            s0 = stalls(base)
            stream(base, prompt, a.tokens, one, 0)
            r = one[0]
            n = r["timings"]["predicted_n"] if r["timings"] else r["chunks"]
            h = (n - 1) / (r["last"] - r["first"])
            rounds.append({"engine": round(e, 2), "http": round(h, 2),
                           "overhead": round(1 - h / e, 4),
                           "server": round(r["timings"]["predicted_per_second"], 2)
                           if r["timings"] else None,
                           "ttft_ms": round((r["first"] - r["t0"]) * 1e3, 2),
                           "engine_stalls": eb.get("pool_stalls"),
                           "server_stalls": stalls(base) - s0})
        mid = sorted(rounds, key=lambda x: x["overhead"])[len(rounds) // 2]
        four = [None] * 4
        t0 = time.monotonic()
        ths = [threading.Thread(target=stream, args=(base, prompt + f" {i}", a.tokens, four, i))
               for i in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        def count(x):
            return x["timings"]["predicted_n"] if x["timings"] else x["chunks"]
        agg4 = sum(count(x) for x in four) / (time.monotonic() - t0)
        info0 = json.loads(urllib.request.urlopen(base + "/v1/models/m").read())
        t0 = time.monotonic()
        stream(base, prompt, a.tokens, one, 0)
        agg1 = count(one[0]) / (time.monotonic() - t0)
        info1 = json.loads(urllib.request.urlopen(base + "/v1/models/m").read())
        out = {"bench": "http_chat", "model": a.model, "threads": a.threads,
               "tokens": a.tokens, "rounds": rounds,
               "engine_tg_tokens_per_s": mid["engine"],
               "http_tg_tokens_per_s": mid["http"],
               "http_overhead": mid["overhead"],
               "http_ttft_ms": mid["ttft_ms"],
               "server_timings": r["timings"],
               "aggregate_1_stream_tokens_per_s": round(agg1, 2),
               "aggregate_4_streams_tokens_per_s": round(agg4, 2),
               "aggregate_ratio_4_over_1": round(agg4 / agg1, 3),
               "tokens_per_step_4_streams": round(info0["decode_tokens"] / info0["decode_steps"], 2)
               if info0.get("decode_steps") else None}
        print(json.dumps(out))
    finally:
        srv.terminate()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
