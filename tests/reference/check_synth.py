#!/usr/bin/env python3
"""Checks `tabagent synth` itself, reading its files with the independent reader:

  - the same seed gives the same bytes whatever the thread count; another seed differs;
  - every architecture has the tensors and shapes of its family, and the engine loads it;
  - Q4_K_M follows llama.cpp's mixture rules, tensor by tensor;
  - rows a type's blocks do not divide fall back as documented (tiny-odd);
  - --vocab copies every tokenizer.* key verbatim and sizes the model by it;
  - the encoders (bert, nomic-bert) have llama.cpp's tensors and metadata, and
    `tabagent embed` runs them (synthetic WordPiece and --vocab);
  - the weights have the documented distributions;
  - bad arguments are usage errors (exit 2) with a message.

Usage: check_synth.py --tabagent BIN --dump BIN [--shared DIR] [--workdir DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

try:
    import numpy as np
except ImportError:
    sys.exit("check_synth: NumPy is missing (Debian: apt-get install python3-numpy; "
             "scripts/setup.sh installs it)")

from dequant import dequantize  # noqa: E402
from gguf_reader import GGUF  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, file=sys.stderr)
    if not cond:
        failures.append(what)


def synth(args, out, *extra, expect=0):
    p = subprocess.run([args.tabagent, "synth", "-o", out, *extra], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != expect:
        raise RuntimeError(f"synth {' '.join(extra)}: exit {p.returncode}, expected {expect}: "
                           f"{p.stderr}")
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_q4_k_m(name, n_layer, tied):
    """llama.cpp's Q4_K_M choice for a matrix (before any fallback)."""
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        return "Q6_K"
    if name.endswith("attn_qkv.weight"):
        return "Q5_K"
    if name.endswith("attn_v.weight") or name.endswith("ffn_down.weight"):
        layer = int(name.split(".")[1])
        return "Q6_K" if use_more_bits(layer, n_layer) else "Q4_K"
    return "Q4_K"


FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tabagent", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared"))
    ap.add_argument("--workdir")
    args = ap.parse_args()
    wd = args.workdir or tempfile.mkdtemp(prefix="tabagent-synth-")
    os.makedirs(wd, exist_ok=True)
    f = lambda name: os.path.join(wd, name)  # noqa: E731

    # Determinism.
    synth(args, f("a.gguf"), "--arch", "llama", "--shape", "tiny", "--type", "Q4_K",
          "--seed", "7", "--threads", "1")
    synth(args, f("b.gguf"), "--arch", "llama", "--shape", "tiny", "--type", "Q4_K",
          "--seed", "7", "--threads", "2")
    synth(args, f("c.gguf"), "--arch", "llama", "--shape", "tiny", "--type", "Q4_K",
          "--seed", "8")
    check(read(f("a.gguf")) == read(f("b.gguf")), "same seed, 1 or 2 threads: same bytes")
    check(read(f("a.gguf")) != read(f("c.gguf")), "another seed: other bytes")

    # Architectures: tensor sets, shapes, loadable by the engine, Q4_K_M rules.
    for arch in ("llama", "qwen2", "qwen3", "phi3"):
        for shape in ("tiny", "tiny-odd"):
            path = f(f"{arch}-{shape}.gguf")
            out = synth(args, path, "--arch", arch, "--shape", shape, "--type", "Q4_K_M",
                        "--json").stdout
            summary = json.loads(out)
            g = GGUF(path)
            E = g.get(f"{arch}.embedding_length")
            L = g.get(f"{arch}.block_count")
            H = g.get(f"{arch}.attention.head_count")
            hd = g.get(f"{arch}.attention.key_length", E // H)
            t = g.tensors
            tied = "output.weight" not in t
            names = set(t)
            want = {"token_embd.weight", "output_norm.weight"}
            if not tied:
                want.add("output.weight")
            if arch == "llama" and shape == "tiny":
                want.add("rope_freqs.weight")
            for i in range(L):
                p = f"blk.{i}."
                want |= {p + "attn_norm.weight", p + "attn_output.weight", p + "ffn_norm.weight",
                         p + "ffn_up.weight", p + "ffn_down.weight"}
                if arch == "phi3":
                    want.add(p + "attn_qkv.weight")
                else:
                    want |= {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight",
                             p + "ffn_gate.weight"}
                if arch == "qwen2":
                    want |= {p + "attn_q.bias", p + "attn_k.bias", p + "attn_v.bias"}
                if arch == "qwen3":
                    want |= {p + "attn_q_norm.weight", p + "attn_k_norm.weight"}
            check(names == want, f"{arch} {shape}: tensor set"
                  + ("" if names == want else f" (extra {names - want}, missing {want - names})"))
            ok = True
            for name, ten in t.items():
                if len(ten.ne) == 1:
                    ok &= ten.type_name == "F32"
                    continue
                expect = expected_q4_k_m(name, L, tied)
                if ten.ne[0] % 256:
                    expect = FALLBACK[expect]
                if ten.type_name != expect:
                    ok = False
                    print(f"     {name}: {ten.type_name}, expected {expect}", file=sys.stderr)
            check(ok, f"{arch} {shape}: Q4_K_M types per tensor (with fallbacks)")
            check(summary["parameters"] == sum(x.n_elems for x in t.values()),
                  f"{arch} {shape}: --json parameter count")
            if arch == "qwen3" or shape == "tiny-odd":
                check(t["blk.0.attn_output.weight"].ne == [H * hd, E],
                      f"{arch} {shape}: attn_output is [n_head * head_dim, n_embd]")
            p = subprocess.run([args.dump, path, "1", "1,5:1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            check(p.returncode == 0, f"{arch} {shape}: the engine loads and runs it {p.stderr}")

    # Every single type, fallback on tiny-odd.
    for ty in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
               "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"):
        path = f(f"odd-{ty}.gguf")
        synth(args, path, "--arch", "qwen2", "--shape", "tiny-odd", "--type", ty)
        got = {x.type_name for x in GGUF(path).tensors.values() if len(x.ne) == 2}
        check(got == {FALLBACK.get(ty, ty)}, f"tiny-odd {ty}: matrices stored as "
              f"{FALLBACK.get(ty, ty)} (got {sorted(got)})")

    # Weight distributions (F32, so exact): matrices N(0, 1/n_in), norms 1 + N(0, 0.01).
    path = f("f32.gguf")
    synth(args, path, "--arch", "qwen2", "--shape", "tiny", "--type", "F32")
    g = GGUF(path)
    w = dequantize(g.tensors["blk.0.ffn_down.weight"])
    check(abs(w.std() * np.sqrt(w.shape[1]) - 1) < 0.02 and abs(w.mean()) < 1e-3,
          f"matrix std * sqrt(n_in) = {w.std() * np.sqrt(w.shape[1]):.4f} (1), mean {w.mean():.1e}")
    n = dequantize(g.tensors["blk.0.attn_norm.weight"]).reshape(-1)
    check(abs(n.mean() - 1) < 0.02 and abs(n.std() - 0.1) < 0.02,
          f"norm weights mean {n.mean():.3f} (1), std {n.std():.3f} (0.1)")
    b = dequantize(g.tensors["blk.0.attn_q.bias"]).reshape(-1)
    check(abs(b.std() - 0.1) < 0.02, f"biases std {b.std():.3f} (0.1)")

    # --vocab: tokenizer keys copied verbatim.
    vocab = os.path.join(args.shared, "vocab", "ggml-vocab-llama-spm.gguf")
    if not os.path.exists(vocab):
        check(False, f"{vocab} is missing (the shared reference data)")
    else:
        path = f("vocab.gguf")
        synth(args, path, "--arch", "llama", "--shape", "tiny", "--type", "Q8_0",
              "--vocab", vocab)
        g, v = GGUF(path), GGUF(vocab)
        vk = {k for k in v.kv if k.startswith("tokenizer.")}
        gk = {k for k in g.kv if k.startswith("tokenizer.")}
        same = vk == gk and all(
            (np.array_equal(g.kv[k], v.kv[k]) if isinstance(v.kv[k], np.ndarray)
             else g.kv[k] == v.kv[k]) for k in vk)
        check(same, f"--vocab: {len(vk)} tokenizer.* keys copied verbatim")
        nv = len(v.get("tokenizer.ggml.tokens"))
        check(g.tensors["token_embd.weight"].ne == [256, nv] and g.get("llama.vocab_size") == nv,
              f"--vocab: the model has the vocabulary's {nv} rows")
        p = subprocess.run([args.dump, path, "1", "1,450:1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        check(p.returncode == 0, f"--vocab: the engine runs it {p.stderr}")

    # Encoders: tensor sets, shapes and metadata as encoder.c loads them; embed runs.
    enc_common = ["token_embd_norm.weight", "token_embd_norm.bias", "token_types.weight"]
    for arch in ("bert", "nomic-bert"):
        path = f(f"{arch}.gguf")
        synth(args, path, "--arch", arch, "--shape", "tiny", "--type", "Q4_K_M", "--seed", "3")
        g = GGUF(path)
        E, F = g.get(f"{arch}.embedding_length"), g.get(f"{arch}.feed_forward_length")
        L, C = g.get(f"{arch}.block_count"), g.get(f"{arch}.context_length")
        V = len(g.get("tokenizer.ggml.tokens"))
        want = {"token_embd.weight": [E, V], "token_types.weight": [E, 2],
                "token_embd_norm.weight": [E], "token_embd_norm.bias": [E]}
        if arch == "bert":
            want["position_embd.weight"] = [E, C]
        for i in range(L):
            p = f"blk.{i}."
            mats = {"attn_output": [E, E], "ffn_up": [E, F], "ffn_down": [F, E]}
            if arch == "bert":
                mats.update({"attn_q": [E, E], "attn_k": [E, E], "attn_v": [E, E]})
                for n, ne in mats.items():
                    want[p + n + ".bias"] = [ne[1]]
            else:
                mats.update({"attn_qkv": [E, 3 * E], "ffn_gate": [E, F]})
            for n, ne in mats.items():
                want[p + n + ".weight"] = ne
            for n in ("attn_output_norm", "layer_output_norm"):
                want[p + n + ".weight"] = [E]
                want[p + n + ".bias"] = [E]
        got = {n: t.ne for n, t in g.tensors.items()}
        check(got == want, f"{arch} tiny: tensor set and shapes"
              + ("" if got == want else f" (extra {set(got) - set(want)}, "
                 f"missing {set(want) - set(got)}, "
                 f"wrong {[n for n in want if n in got and got[n] != want[n]]})"))
        ok = True
        for name, ten in g.tensors.items():
            if len(ten.ne) == 1 or name in enc_common:
                expect = "F32"
            elif name == "token_embd.weight" or name == "position_embd.weight":
                expect = "Q4_K"
            else:
                expect = expected_q4_k_m(name, L, False)
            if ten.type_name != expect:
                ok = False
                print(f"     {name}: {ten.type_name}, expected {expect}", file=sys.stderr)
        check(ok, f"{arch} tiny: Q4_K_M types per tensor")
        meta = (g.get(f"{arch}.pooling_type") == 1 and g.get(f"{arch}.attention.causal") is False
                and abs(g.get(f"{arch}.attention.layer_norm_epsilon") - 1e-12) < 1e-15
                and g.get("tokenizer.ggml.model") == "bert"
                and (arch == "bert" or g.get(f"{arch}.rope.freq_base") == 1000.0))
        check(meta, f"{arch} tiny: metadata (mean pooling, eps 1e-12, bert tokenizer, rope)")
        p = subprocess.run([args.tabagent, "embed", "-m", path, "--text", "Hello, world!",
                            "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ok = p.returncode == 0
        if ok:
            e = np.array(json.loads(p.stdout)["embedding"])
            ok = e.shape == (E,) and abs(np.linalg.norm(e) - 1) < 1e-5
        check(ok, f"{arch} tiny: tabagent embed gives a unit vector of {E} {p.stderr}")
    bge = os.path.join(args.shared, "vocab", "ggml-vocab-bert-bge.gguf")
    if os.path.exists(bge):
        path = f("minilm.gguf")
        summary = json.loads(synth(args, path, "--arch", "bert", "--shape", "minilm-l6",
                                   "--type", "Q8_0", "--vocab", bge, "--json").stdout)
        g = GGUF(path)
        check([g.get("bert." + k) for k in ("embedding_length", "block_count",
                                            "attention.head_count", "feed_forward_length",
                                            "context_length", "pooling_type")]
              == [384, 6, 12, 1536, 512, 1] and summary["n_vocab"] == 30522
              and g.tensors["token_embd.weight"].ne == [384, 30522],
              "bert minilm-l6 with the BGE vocabulary: all-MiniLM-L6-v2's shape")
        p = subprocess.run([args.tabagent, "embed", "-m", path, "--text", "Hello, world!",
                            "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(p.returncode == 0 and len(json.loads(p.stdout)["embedding"]) == 384,
              f"bert minilm-l6: tabagent embed runs it {p.stderr}")
    else:
        check(False, f"{bge} is missing (the shared reference data)")

    # Usage errors.
    for bad in (["--arch", "gpt9", "--shape", "tiny", "--type", "F16"],
                ["--arch", "llama", "--shape", "huge", "--type", "F16"],
                ["--arch", "llama", "--shape", "tiny", "--type", "Q9_9"],
                ["--arch", "llama", "--shape", "tiny", "--type", "Q8_K"],
                ["--arch", "llama", "--shape", "tiny"],
                ["--arch", "bert", "--shape", "llama-3.2-1b", "--type", "F16"],
                ["--arch", "llama", "--shape", "minilm-l6", "--type", "F16"]):
        p = synth(args, f("bad.gguf"), *bad, expect=2)
        check(p.stderr.startswith("tabagent synth: "), f"usage error for {' '.join(bad)}")
    check(not os.path.exists(f("bad.gguf")), "no file written on a usage error")

    if not failures:  # keep the files of a failure to look at
        for name in os.listdir(wd):
            if name.endswith(".gguf"):
                os.unlink(os.path.join(wd, name))
    print(f"{'FAILED: ' + str(len(failures)) if failures else 'all passed'}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
