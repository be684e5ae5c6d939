"""A decoder forward pass in NumPy float64 for llama, qwen2, qwen3 and phi3 GGUF models.

Written from the architectures' definitions (the Hugging Face / llama.cpp models), not
from the C engine:

    x = tok_embd[token]
    per layer:
        h = rmsnorm(x) * attn_norm
        q, k, v = Wq h + bq, Wk h + bk, Wv h + bv     (phi3: one fused Wqkv = [q; k; v])
        qwen3: q, k = rmsnorm(each head) * q_norm / k_norm
        q, k rotated by position (RoPE): llama rotates adjacent pairs (2i, 2i+1);
             qwen2, qwen3 and phi3 rotate halves (i, i + n_rot/2) ("NEOX")
        cache k, v; each query head attends causally to its group's key/value head (GQA)
        x += Wo attention
        h = rmsnorm(x) * ffn_norm
        x += Wdown (silu(Wgate h) * Wup h)              (phi3: Wup = [gate; up])
    logits = Woutput (rmsnorm(x) * output_norm)          (Woutput = tok_embd when tied)

Everything is float64, with two optional imitations of an engine's storage:
  - kv_f16: keys and values are rounded to F16 when cached (as the C engine's F16 KV
    cache does; on by default, because it is part of the model as run, and without it
    float-type models differ by ~1e-3 instead of ~1e-6);
  - act_quant: the input of every matrix product is first rounded the way ggml-style
    kernels quantize activations: to Q8_0 (32 per block, scale max|x|/127 stored as
    F16) for weights of the 32-element quantized types, to Q8_K (256 per block, float
    scale, the largest-magnitude value mapped to -127) for the K-quants. Float weights
    multiply float activations. With it the reference should match the engine almost
    exactly; without it the difference measures what activation quantization costs.
F16 weights always take F16 activations (as ggml's and the C engine's F16 products do),
so their inputs are rounded to F16 in every mode: like the F16 cache, part of the type
as run, and 2^-11 relative.
"""

import numpy as np

from dequant import dequantize

LEGACY = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}
KQUANT = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}
NEOX = {"qwen2", "qwen3", "phi3"}


def f16_round(x):
    return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


def _round_half_even(x):
    return np.rint(x)  # NumPy rounds half to even


def q8_0_activations(x):
    b = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax >= 1e-30, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.clip(_round_half_even(b * inv[:, None]), -127, 127)
    return (f16_round(d)[:, None] * q).reshape(-1)


def q8_k_activations(x):
    b = np.asarray(x, np.float32).reshape(-1, 256)
    idx = np.abs(b).argmax(axis=1)
    xmax = b[np.arange(b.shape[0]), idx]
    amax = np.abs(xmax)
    safe = np.where(amax < 1e-30, np.float32(1), xmax)
    iscale = (np.float32(-127) / safe).astype(np.float32)
    q = np.clip(_round_half_even(b * iscale[:, None]), -127, 127)
    d = np.where(amax < 1e-30, 0.0, np.float64(np.float32(1) / iscale))
    return (d[:, None] * q).reshape(-1)


class Weight:
    """A matrix (rows = outputs) with its GGUF type, dequantized once."""

    def __init__(self, tensor):
        self.type = tensor.type_name
        self.w = dequantize(tensor)

    def __call__(self, x, act_quant):
        if self.type == "F16":
            x = f16_round(x)
        elif act_quant and self.type in LEGACY:
            x = q8_0_activations(x)
        elif act_quant and self.type in KQUANT:
            x = q8_k_activations(x)
        return self.w @ x


class Model:
    def __init__(self, gguf):
        g = gguf
        self.arch = arch = g.get("general.architecture")
        if arch not in ("llama", "qwen2", "qwen3", "phi3"):
            raise ValueError(f"architecture {arch} is not in the reference")

        def hp(key, default=None):
            v = g.get(f"{arch}.{key}", default)
            if v is None:
                raise ValueError(f"missing {arch}.{key}")
            return v

        self.n_embd = hp("embedding_length")
        self.n_layer = hp("block_count")
        self.n_ff = hp("feed_forward_length")
        self.n_head = hp("attention.head_count")
        self.n_head_kv = hp("attention.head_count_kv", self.n_head)
        self.head_dim = hp("attention.key_length", self.n_embd // self.n_head)
        self.n_rot = hp("rope.dimension_count", self.head_dim)
        self.eps = float(hp("attention.layer_norm_rms_epsilon", 1e-5))
        self.rope_base = float(hp("rope.freq_base", 10000.0))
        self.rope_scale = 1.0
        if g.get(f"{arch}.rope.scaling.type") == "linear":
            self.rope_scale = float(hp("rope.scaling.factor", 1.0))
        self.n_vocab = len(g.get("tokenizer.ggml.tokens"))

        t = g.tensors

        def vec(name, required=True):
            if name not in t:
                if required:
                    raise ValueError(f"missing tensor {name}")
                return None
            return dequantize(t[name]).reshape(-1)

        self.tok_embd = dequantize(t["token_embd.weight"])
        assert self.tok_embd.shape == (self.n_vocab, self.n_embd)
        self.out_norm = vec("output_norm.weight")
        self.output = Weight(t["output.weight"] if "output.weight" in t else t["token_embd.weight"])
        rope_freqs = vec("rope_freqs.weight", required=False)
        i = np.arange(self.n_rot // 2, dtype=np.float64)
        self.inv_freq = self.rope_base ** (-2.0 * i / self.n_rot)
        if rope_freqs is not None:
            self.inv_freq = self.inv_freq / rope_freqs

        self.layers = []
        for l in range(self.n_layer):
            p = f"blk.{l}."
            L = {"attn_norm": vec(p + "attn_norm.weight"), "ffn_norm": vec(p + "ffn_norm.weight")}
            if arch == "phi3":
                L["wqkv"] = Weight(t[p + "attn_qkv.weight"])
            else:
                for n in ("q", "k", "v"):
                    L["w" + n] = Weight(t[p + f"attn_{n}.weight"])
            for n in ("q", "k", "v"):
                L["b" + n] = vec(p + f"attn_{n}.bias", required=arch == "qwen2")
            L["q_norm"] = vec(p + "attn_q_norm.weight", required=arch == "qwen3")
            L["k_norm"] = vec(p + "attn_k_norm.weight", required=arch == "qwen3")
            L["wo"] = Weight(t[p + "attn_output.weight"])
            if arch != "phi3":
                L["w_gate"] = Weight(t[p + "ffn_gate.weight"])
            L["w_up"] = Weight(t[p + "ffn_up.weight"])
            L["w_down"] = Weight(t[p + "ffn_down.weight"])
            self.layers.append(L)

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, v, pos):
        """v: (heads, head_dim), rotated in place of a copy."""
        v = v.copy()
        half = self.n_rot // 2
        theta = (pos / self.rope_scale) * self.inv_freq
        cs, sn = np.cos(theta), np.sin(theta)
        if self.arch in NEOX:
            a, b = np.arange(half), np.arange(half) + half
        else:
            a, b = 2 * np.arange(half), 2 * np.arange(half) + 1
        x0, x1 = v[:, a].copy(), v[:, b].copy()
        v[:, a] = x0 * cs - x1 * sn
        v[:, b] = x0 * sn + x1 * cs
        return v

    def run(self, ids, kv_f16=True, act_quant=False):
        """Logits after each token of ids (teacher forcing): array (len(ids), n_vocab)."""
        H, KVH, hd, F = self.n_head, self.n_head_kv, self.head_dim, self.n_ff
        Q, KV = H * hd, KVH * hd
        group = H // KVH
        kcache = [[] for _ in self.layers]
        vcache = [[] for _ in self.layers]
        out = np.empty((len(ids), self.n_vocab))
        for pos, tok in enumerate(ids):
            x = self.tok_embd[tok].copy()
            for l, L in enumerate(self.layers):
                h = self.rmsnorm(x, L["attn_norm"])
                if "wqkv" in L:
                    qkv = L["wqkv"](h, act_quant)
                    q, k, v = qkv[:Q], qkv[Q:Q + KV], qkv[Q + KV:]
                else:
                    q, k, v = L["wq"](h, act_quant), L["wk"](h, act_quant), L["wv"](h, act_quant)
                if L["bq"] is not None:
                    q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
                q, k = q.reshape(H, hd), k.reshape(KVH, hd)
                if L["q_norm"] is not None:
                    q = self.rmsnorm(q, L["q_norm"])
                    k = self.rmsnorm(k, L["k_norm"])
                q, k = self.rope(q, pos), self.rope(k, pos)
                v = v.reshape(KVH, hd)
                if kv_f16:
                    k, v = f16_round(k), f16_round(v)
                kcache[l].append(k)
                vcache[l].append(v)
                K = np.stack(kcache[l], axis=1)  # (KVH, T, hd)
                V = np.stack(vcache[l], axis=1)
                Kq = np.repeat(K, group, axis=0)  # query head h uses kv head h // group
                Vq = np.repeat(V, group, axis=0)
                scores = np.einsum("hd,htd->ht", q, Kq) / np.sqrt(hd)
                scores -= scores.max(axis=1, keepdims=True)
                p = np.exp(scores)
                p /= p.sum(axis=1, keepdims=True)
                att = np.einsum("ht,htd->hd", p, Vq).reshape(Q)
                x = x + L["wo"](att, act_quant)

                h = self.rmsnorm(x, L["ffn_norm"])
                if "w_gate" in L:
                    gate, up = L["w_gate"](h, act_quant), L["w_up"](h, act_quant)
                else:
                    gu = L["w_up"](h, act_quant)
                    gate, up = gu[:F], gu[F:]
                act = gate / (1.0 + np.exp(-gate)) * up
                x = x + L["w_down"](act, act_quant)
            out[pos] = self.output(self.rmsnorm(x, self.out_norm), act_quant)
        return out
