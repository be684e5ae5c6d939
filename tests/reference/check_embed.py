#!/usr/bin/env python3
"""Compares the C engine's sentence embeddings with the NumPy reference (encoder.py), for
bert and nomic-bert and several tensor types, on tiny random-weight encoders written by
`tabagent synth`.

For every (arch, type, vocabulary) in the matrix:
  1. tabagent synth -o MODEL --arch A --shape tiny --type T --seed N [--vocab V]
  2. for each text of TEXTS: the ids from `tabagent tokenize -m MODEL --text S --json`
     (so both sides embed the same tokens) and the vector from `tabagent embed ... --json`
  3. the reference on those ids, twice:
       exact: float64, activations never quantized
       aq:    activations quantized to Q8_0 / Q8_K before each product with a quantized
              weight, as the engine's kernels do
  4. cosine similarity of engine and reference, checked against the bounds below.

Bounds on 1 - cos (measured with seeds 1..5 and 42 over this matrix, 108 runs; the
worst values are given):
  - float types (F32, BF16): only float32 arithmetic differs (products summed in
    float32, erff/expf), so the vectors agree to ~1e-7 per element; worst seen 1.8e-13
    for both checks; bound 1e-9 (the brief asked for cos > 0.9999). The bound is tight
    enough to catch a wrong activation: the tanh approximation of GELU (llama.cpp's),
    put into the reference, gives 5e-9.
  - F16: its products take F16 activations, which the reference rounds too (in both
    checks), but from float64 values where the engine rounds float32 ones, so a value
    within float32 noise of a half-precision midpoint goes the other way (one F16 step,
    2^-11 relative, in one element): worst seen 3.2e-8; bound 1e-6.
  - quantized types, aq: the reference rounds activations like the engine, so it
    computes the same function (most runs agree to 1e-9 or better), up to the rare value
    that lands within float32 noise of a rounding midpoint and re-rounds a whole block
    (see check_logits.py); worst seen 6.2e-6 (bert Q4_K_M); bound 1e-4.
  - quantized types, exact: every product with a quantized weight (6 per layer, 2
    layers) takes its input rounded to 8 bits (Q8_0, or Q8_K for the K-quants): ~0.7%
    rms relative noise per product. LayerNorm after each sublayer keeps it from
    growing, and mean pooling over the tokens averages part of it away: worst seen
    1.3e-4 (Q6_K; median ~4e-5); bound 1e-3.

Usage: check_embed.py --tabagent BIN [--arch A ...] [--type T ...] [--seed N]
                      [--vocab VOCAB.gguf] [--workdir DIR] [--json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

try:
    import numpy as np
except ImportError:
    sys.exit("check_embed: NumPy is missing (Debian: apt-get install python3-numpy; "
             "scripts/setup.sh installs it)")

from encoder import Encoder  # noqa: E402
from gguf_reader import GGUF  # noqa: E402

ARCHS = ["bert", "nomic-bert"]
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_1", "Q4_K", "Q6_K", "Q4_K_M"]
FLOAT_TYPES = {"F32", "BF16"}
TEXTS = ["hello world",
         "The quick brown fox jumps over the lazy dog.",
         "a",
         "Embeddings: 42 numbers, (mostly) normalized; see https://example.org/x?y=1!"]
TOL_FLOAT = 1e-9     # 1 - cos, float types, both checks
TOL_F16 = 1e-6       # 1 - cos, F16, both checks
TOL_AQ = 1e-4        # 1 - cos, quantized types against the aq reference
TOL_EXACT_Q = 1e-3   # 1 - cos, quantized types against the exact reference


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_one(args, arch, type_, vocab, workdir):
    path = os.path.join(workdir, f"{arch}-{type_}{'-vocab' if vocab else ''}.gguf")
    cmd = [args.tabagent, "synth", "-o", path, "--arch", arch, "--shape", "tiny",
           "--type", type_, "--seed", str(args.seed)]
    run(cmd + (["--vocab", vocab] if vocab else []))
    model = Encoder(GGUF(path))
    worst_exact, worst_aq, n_tokens = 1.0, 1.0, 0
    for text in TEXTS:
        ids = json.loads(run([args.tabagent, "tokenize", "-m", path, "--text", text,
                              "--json"]))["ids"]
        got = np.array(json.loads(run([args.tabagent, "embed", "-m", path, "--text", text,
                                       "--threads", "2", "--json"]))["embedding"])
        n_tokens += len(ids)
        worst_exact = min(worst_exact, cos(got, model.embed(ids, act_quant=False)))
        worst_aq = min(worst_aq, cos(got, model.embed(ids, act_quant=True)))
    os.unlink(path)
    if type_ in FLOAT_TYPES:
        tol_exact, tol_aq = TOL_FLOAT, TOL_FLOAT
    elif type_ == "F16":
        tol_exact, tol_aq = TOL_F16, TOL_F16
    else:
        tol_exact, tol_aq = TOL_EXACT_Q, TOL_AQ
    return {"arch": arch, "type": type_, "vocab": os.path.basename(vocab) if vocab else "synthetic",
            "tokens": n_tokens, "cos_exact": worst_exact, "cos_aq": worst_aq,
            "tol_exact": tol_exact, "tol_aq": tol_aq,
            "ok": 1 - worst_exact <= tol_exact and 1 - worst_aq <= tol_aq}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tabagent", required=True)
    ap.add_argument("--arch", action="append", choices=ARCHS)
    ap.add_argument("--type", action="append", choices=TYPES)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--vocab", help="also run bert F16 and Q8_0 with this vocabulary "
                    "(a real WordPiece one, e.g. ggml-vocab-bert-bge.gguf)")
    ap.add_argument("--workdir")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    matrix = [(a, t, None) for a in (args.arch or ARCHS) for t in (args.type or TYPES)]
    if args.vocab:
        if not os.path.exists(args.vocab):
            sys.exit(f"check_embed: {args.vocab} is missing (the shared reference data)")
        matrix += [("bert", t, args.vocab) for t in ("F16", "Q8_0")]
    workdir = args.workdir or tempfile.mkdtemp(prefix="tabagent-embed-")
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    results, failed = [], 0
    print(f"{'arch':10} {'type':7} {'vocab':26} {'tokens':>6} {'1-cos exact':>12} {'(tol)':>7} "
          f"{'1-cos aq':>10} {'(tol)':>7}", file=sys.stderr)
    for arch, type_, vocab in matrix:
        try:
            r = check_one(args, arch, type_, vocab, workdir)
        except Exception as e:  # one broken combination must not hide the others
            r = {"arch": arch, "type": type_, "vocab": vocab, "ok": False, "error": str(e)}
        results.append(r)
        if "error" in r:
            print(f"{arch:10} {type_:7} ERROR {r['error']}", file=sys.stderr)
        else:
            print(f"{arch:10} {type_:7} {r['vocab']:26} {r['tokens']:6} "
                  f"{1 - r['cos_exact']:12.2e} {r['tol_exact']:7.0e} {1 - r['cos_aq']:10.2e} "
                  f"{r['tol_aq']:7.0e}{'' if r['ok'] else '  FAIL'}", file=sys.stderr)
        failed += not r["ok"]
    print(f"{len(results) - failed}/{len(results)} within tolerance in {time.time() - t0:.1f} s",
          file=sys.stderr)
    if args.json:
        print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
