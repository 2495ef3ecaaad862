#!/usr/bin/python3
"""Generates tests/fixtures/golden_attention.safetensors for tests/nn/test_attention.cpp with
PyTorch: torch.nn.MultiheadAttention (batch_first) with given weights - a causal self-attention
(query, key and value from the same values, as separate leaves) and a cross-attention with other
key and value widths (kdim, vdim) - the output, a fixed upstream gradient and every gradient (each
projection's weight and bias, the query, the key, the value). Float64 from float32-rounded inputs,
stored as float32; names are ntneural's (nn::MultiHeadAttention, "attn.{q,k,v,out}.{weight,bias}").

  scripts/setup.sh --torch && /usr/bin/python3 dev/golden_attention.py
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "golden_attention.safetensors")

CASES = [  # name, embed, heads, kdim, vdim, batch, Lq, Lk, causal
    ("self_causal", 8, 2, 8, 8, 2, 5, 5, True),
    ("cross", 8, 4, 6, 5, 2, 3, 7, False),
]


def f32(t):
    return t.float().double()


def main():
    torch.manual_seed(5)
    tensors, meta = {}, {}
    for name, E, h, kd, vd, B, Lq, Lk, causal in CASES:
        m = torch.nn.MultiheadAttention(E, h, kdim=kd, vdim=vd, batch_first=True).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(f32(torch.empty_like(p).uniform_(-0.7, 0.7)))
        q = f32(torch.randn(B, Lq, E))
        kv = f32(torch.randn(B, Lk, kd))
        v = f32(torch.randn(B, Lk, vd)) if vd != kd or not causal else kv.clone()
        if causal:  # self-attention: the same values
            kv = q.clone()
            v = q.clone()
        q, kv, v = (t.clone().requires_grad_(True) for t in (q, kv, v))
        mask = torch.triu(torch.ones(Lq, Lk, dtype=torch.bool), diagonal=1) if causal else None
        out, _ = m(q, kv, v, attn_mask=mask, need_weights=False)
        r = f32(torch.randn_like(out))
        (out * r).sum().backward()
        pre = f"{name}/"
        if m._qkv_same_embed_dim:
            w = {"q": m.in_proj_weight[:E], "k": m.in_proj_weight[E:2 * E], "v": m.in_proj_weight[2 * E:]}
            gw = {"q": m.in_proj_weight.grad[:E], "k": m.in_proj_weight.grad[E:2 * E],
                  "v": m.in_proj_weight.grad[2 * E:]}
        else:
            w = {"q": m.q_proj_weight, "k": m.k_proj_weight, "v": m.v_proj_weight}
            gw = {x: w[x].grad for x in w}
        for i, x in enumerate(("q", "k", "v")):
            tensors[pre + f"param/attn.{x}.weight"] = w[x].detach()
            tensors[pre + f"grad/attn.{x}.weight"] = gw[x]
            tensors[pre + f"param/attn.{x}.bias"] = m.in_proj_bias[i * E:(i + 1) * E].detach()
            tensors[pre + f"grad/attn.{x}.bias"] = m.in_proj_bias.grad[i * E:(i + 1) * E]
        tensors[pre + "param/attn.out.weight"] = m.out_proj.weight.detach()
        tensors[pre + "grad/attn.out.weight"] = m.out_proj.weight.grad
        tensors[pre + "param/attn.out.bias"] = m.out_proj.bias.detach()
        tensors[pre + "grad/attn.out.bias"] = m.out_proj.bias.grad
        for key, t in (("query", q), ("key", kv), ("value", v)):
            tensors[pre + key] = t.detach()
            tensors[pre + "d" + key] = t.grad
        tensors[pre + "out"] = out.detach()
        tensors[pre + "r"] = r
        meta[name] = json.dumps({"embed": E, "heads": h, "kdim": kd, "vdim": vd, "batch": B, "lq": Lq, "lk": Lk,
                                 "causal": causal})
    meta["cases"] = ",".join(c[0] for c in CASES)
    meta["generator"] = "dev/golden_attention.py"
    meta["torch"] = torch.__version__
    write_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
