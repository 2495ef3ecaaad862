#!/usr/bin/python3
"""Generates tests/fixtures/golden_transformer_layers.safetensors for tests/nn/test_transformer.cpp with
PyTorch: torch.nn.TransformerEncoderLayer / TransformerDecoderLayer (batch_first, dropout 0) with
given weights, post-norm and pre-norm (norm_first), ReLU and GELU, the decoder with and without
its causal self-attention mask: the output, a fixed upstream gradient and every gradient (each
parameter, the input, the memory). Float64 from float32-rounded inputs, stored as float32; names
are ntneural's (nn::TransformerLayer: "layer.self_attn.{q,k,v,out}", "layer.cross_attn.*",
"layer.ffn.{0,1}", "layer.norm{1,2,3}").

  scripts/setup.sh --torch && /usr/bin/python3 dev/golden_transformer.py
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "golden_transformer_layers.safetensors")

CASES = [  # name, decoder, norm_first, activation, causal, E, heads, F, B, L, Lm
    ("enc_post_relu", False, False, "relu", False, 8, 2, 12, 2, 5, 0),
    ("enc_pre_gelu", False, True, "gelu", False, 8, 4, 6, 2, 4, 0),
    ("dec_post_causal", True, False, "relu", True, 8, 2, 10, 2, 4, 6),
    ("dec_pre_gelu", True, True, "gelu", False, 6, 3, 8, 3, 3, 5),
]


def f32(t):
    return t.float().double()


def attention_names(prefix, m, tensors, pre):
    E = m.embed_dim
    for i, x in enumerate(("q", "k", "v")):
        tensors[pre + f"param/{prefix}.{x}.weight"] = m.in_proj_weight[i * E:(i + 1) * E].detach()
        tensors[pre + f"grad/{prefix}.{x}.weight"] = m.in_proj_weight.grad[i * E:(i + 1) * E]
        tensors[pre + f"param/{prefix}.{x}.bias"] = m.in_proj_bias[i * E:(i + 1) * E].detach()
        tensors[pre + f"grad/{prefix}.{x}.bias"] = m.in_proj_bias.grad[i * E:(i + 1) * E]
    tensors[pre + f"param/{prefix}.out.weight"] = m.out_proj.weight.detach()
    tensors[pre + f"grad/{prefix}.out.weight"] = m.out_proj.weight.grad
    tensors[pre + f"param/{prefix}.out.bias"] = m.out_proj.bias.detach()
    tensors[pre + f"grad/{prefix}.out.bias"] = m.out_proj.bias.grad


def main():
    torch.manual_seed(3)
    tensors, meta = {}, {}
    for name, dec, nf, act, causal, E, h, F, B, L, Lm in CASES:
        cls = torch.nn.TransformerDecoderLayer if dec else torch.nn.TransformerEncoderLayer
        m = cls(E, h, dim_feedforward=F, dropout=0.0, activation=act, batch_first=True, norm_first=nf).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(f32(torch.empty_like(p).uniform_(-0.6, 0.6)))
            for norm in (m.norm1, m.norm2) + ((m.norm3,) if dec else ()):
                norm.weight.copy_(f32(1 + 0.3 * torch.randn_like(norm.weight)))
        x = f32(torch.randn(B, L, E)).requires_grad_(True)
        mem = f32(torch.randn(B, Lm, E)).requires_grad_(True) if dec else None
        if dec:
            mask = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1) if causal else None
            y = m(x, mem, tgt_mask=mask)
        else:
            y = m(x)
        r = f32(torch.randn_like(y))
        (y * r).sum().backward()
        pre = f"{name}/"
        attention_names("layer.self_attn", m.self_attn, tensors, pre)
        if dec:
            attention_names("layer.cross_attn", m.multihead_attn, tensors, pre)
            tensors[pre + "memory"], tensors[pre + "dmemory"] = mem.detach(), mem.grad
        for i, lin in enumerate((m.linear1, m.linear2)):
            for kind in ("weight", "bias"):
                tensors[pre + f"param/layer.ffn.{i}.{kind}"] = getattr(lin, kind).detach()
                tensors[pre + f"grad/layer.ffn.{i}.{kind}"] = getattr(lin, kind).grad
        for i, norm in enumerate((m.norm1, m.norm2) + ((m.norm3,) if dec else ())):
            for kind in ("weight", "bias"):
                tensors[pre + f"param/layer.norm{i + 1}.{kind}"] = getattr(norm, kind).detach()
                tensors[pre + f"grad/layer.norm{i + 1}.{kind}"] = getattr(norm, kind).grad
        tensors[pre + "x"], tensors[pre + "dx"] = x.detach(), x.grad
        tensors[pre + "y"], tensors[pre + "r"] = y.detach(), r
        meta[name] = json.dumps({"decoder": dec, "norm_first": nf, "activation": act, "causal": causal, "d_model": E,
                                 "heads": h, "ffn": F, "batch": B, "len": L, "mem": Lm})
    meta["cases"] = ",".join(c[0] for c in CASES)
    meta["generator"] = "dev/golden_transformer.py"
    meta["torch"] = torch.__version__
    write_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
