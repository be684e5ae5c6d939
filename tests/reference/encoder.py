"""A sentence-embedding encoder forward pass in NumPy float64 for bert and nomic-bert GGUF
models (llama.cpp's tensor layout).

Written from the architectures' definitions (Hugging Face BertModel and nomic-bert, with
sentence-transformers pooling), not from the C engine:

    x = LayerNorm(tok_embd[id] + token_types[0] + position_embd[pos])   nomic: no
                                                                         position_embd
    per layer (post-norm):
        q, k, v = Wq x + bq, Wk x + bk, Wv x + bv      nomic: one fused Wqkv = [q; k; v]
        nomic: q, k rotated by position, halves (i, i + n_rot/2) ("NEOX")
        a = softmax(q k^T / sqrt(head_dim)) v per head, every position sees every other
        x = LayerNorm(x + Wo a + bo)
        bert:  x = LayerNorm(x + Wdown gelu(Wup x + bup) + bdown)   GELU: x/2 (1 + erf(x/sqrt 2))
        nomic: x = LayerNorm(x + Wdown (silu(Wgate x) * Wup x))
    e = mean over tokens (pooling_type 1) or the first token (2) or the last (3); e / |e|

Everything is float64. act_quant rounds the input of every product with a quantized
weight to Q8_0 / Q8_K as ggml-style kernels do (forward.Weight), so that the result can
be compared with the engine almost exactly; without it the difference measures what that
rounding costs.
"""

import math

import numpy as np

from dequant import dequantize
from forward import Weight

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


class Encoder:
    def __init__(self, g):
        self.arch = arch = g.get("general.architecture")
        if arch not in ("bert", "nomic-bert"):
            raise ValueError(f"architecture {arch} is not an encoder in the reference")
        self.nomic = arch == "nomic-bert"

        def hp(key, default=None):
            v = g.get(f"{arch}.{key}", default)
            if v is None:
                raise ValueError(f"missing {arch}.{key}")
            return v

        self.n_embd = hp("embedding_length")
        self.n_layer = hp("block_count")
        self.n_head = hp("attention.head_count")
        self.head_dim = self.n_embd // self.n_head
        self.eps = float(hp("attention.layer_norm_epsilon", 1e-12))
        self.pooling = hp("pooling_type", 1)
        self.n_rot = hp("rope.dimension_count", self.head_dim)
        base = float(hp("rope.freq_base", 10000.0))
        i = np.arange(self.n_rot // 2, dtype=np.float64)
        self.inv_freq = base ** (-2.0 * i / self.n_rot)
        t = g.tensors

        def vec(name, required=True):
            if name not in t:
                if required:
                    raise ValueError(f"missing tensor {name}")
                return None
            return dequantize(t[name]).reshape(-1)

        self.tok_embd = dequantize(t["token_embd.weight"])
        self.type0 = dequantize(t["token_types.weight"])[0] if "token_types.weight" in t else 0.0
        self.pos_embd = None if self.nomic else dequantize(t["position_embd.weight"])
        self.embd_norm = (vec("token_embd_norm.weight"), vec("token_embd_norm.bias"))
        self.layers = []
        for l in range(self.n_layer):
            p = f"blk.{l}."
            L = {}
            if self.nomic:
                L["wqkv"] = Weight(t[p + "attn_qkv.weight"])
                L["bqkv"] = vec(p + "attn_qkv.bias", required=False)
                L["w_gate"] = Weight(t[p + "ffn_gate.weight"])
            else:
                for n in ("q", "k", "v"):
                    L["w" + n] = Weight(t[p + f"attn_{n}.weight"])
                    L["b" + n] = vec(p + f"attn_{n}.bias")
            L["wo"] = Weight(t[p + "attn_output.weight"])
            L["bo"] = vec(p + "attn_output.bias", required=not self.nomic)
            L["attn_norm"] = (vec(p + "attn_output_norm.weight"), vec(p + "attn_output_norm.bias"))
            L["w_up"] = Weight(t[p + "ffn_up.weight"])
            L["b_up"] = vec(p + "ffn_up.bias", required=not self.nomic)
            L["w_down"] = Weight(t[p + "ffn_down.weight"])
            L["b_down"] = vec(p + "ffn_down.bias", required=not self.nomic)
            L["out_norm"] = (vec(p + "layer_output_norm.weight"),
                             vec(p + "layer_output_norm.bias"))
            self.layers.append(L)

    def layernorm(self, x, wb):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * wb[0] + wb[1]

    def rope(self, v, pos):
        """v: (heads, head_dim); the first n_rot dimensions rotated by halves."""
        v = v.copy()
        half = self.n_rot // 2
        theta = pos * self.inv_freq
        cs, sn = np.cos(theta), np.sin(theta)
        a, b = np.arange(half), np.arange(half) + half
        x0, x1 = v[:, a].copy(), v[:, b].copy()
        v[:, a] = x0 * cs - x1 * sn
        v[:, b] = x0 * sn + x1 * cs
        return v

    @staticmethod
    def _lin(w, b, rows, aq):
        y = np.stack([w(r, aq) for r in rows])
        return y if b is None else y + b

    def embed(self, ids, act_quant=False):
        """The pooled, L2-normalized embedding of the token ids (float64 vector)."""
        n, E, H, hd = len(ids), self.n_embd, self.n_head, self.head_dim
        x = self.tok_embd[ids] + self.type0
        if self.pos_embd is not None:
            x = x + self.pos_embd[:n]
        x = self.layernorm(x, self.embd_norm)
        for L in self.layers:
            if self.nomic:
                qkv = self._lin(L["wqkv"], L["bqkv"], x, act_quant)
                q, k, v = qkv[:, :E], qkv[:, E:2 * E], qkv[:, 2 * E:]
                q = np.stack([self.rope(q[t].reshape(H, hd), t).reshape(E) for t in range(n)])
                k = np.stack([self.rope(k[t].reshape(H, hd), t).reshape(E) for t in range(n)])
            else:
                q = self._lin(L["wq"], L["bq"], x, act_quant)
                k = self._lin(L["wk"], L["bk"], x, act_quant)
                v = self._lin(L["wv"], L["bv"], x, act_quant)
            q, k, v = (a.reshape(n, H, hd).transpose(1, 0, 2) for a in (q, k, v))
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)  # (H, n, n), no mask
            scores -= scores.max(axis=2, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=2, keepdims=True)
            att = (p @ v).transpose(1, 0, 2).reshape(n, E)
            x = self.layernorm(x + self._lin(L["wo"], L["bo"], att, act_quant), L["attn_norm"])
            up = self._lin(L["w_up"], L["b_up"], x, act_quant)
            if self.nomic:
                gate = self._lin(L["w_gate"], None, x, act_quant)
                h = gate / (1.0 + np.exp(-gate)) * up
            else:
                h = gelu(up)
            x = self.layernorm(x + self._lin(L["w_down"], L["b_down"], h, act_quant),
                               L["out_norm"])
        if self.pooling == 2:
            e = x[0]
        elif self.pooling == 3:
            e = x[-1]
        else:  # 1 mean; 0 (none) gives the mean too as a single vector
            e = x.mean(axis=0)
        norm = np.linalg.norm(e)
        return e / norm if norm > 0 else e
