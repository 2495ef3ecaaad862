#!/usr/bin/python3
"""Generates tests/fixtures/golden_conv.safetensors for tests/nn/test_conv.cpp with PyTorch:
torch.nn.functional.conv1d with given weights over a left-zero-padded input (F.pad by
(kernel-1)*dilation: a causal dilated convolution), every output column, a fixed upstream
gradient and every gradient (weight, bias, input). Float64 from float32-rounded inputs, stored
as float32, in ntneural's layouts: x and y time-major (B, T, C); the weight (out, K * in), k-major
(torch's weight.permute(0, 2, 1)); names "conv.weight", "conv.bias".

  scripts/setup.sh --torch && /usr/bin/python3 dev/golden_conv.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "golden_conv.safetensors")

CASES = [  # name, in, out, kernel, dilation, batch, T
    ("k3_d2", 3, 4, 3, 2, 2, 9),     # receptive span 4: the first 4 columns read padding
    ("k2_d5", 2, 3, 2, 5, 3, 7),     # span 5 of 7
    ("k4_d1", 5, 2, 4, 1, 1, 6),
    ("k1", 3, 5, 1, 1, 2, 4),        # 1x1: a Linear per column
    ("span_over_t", 2, 2, 3, 4, 2, 5),  # span 8 > T: most taps read padding
]


def f32(t):
    return t.float().double()


def main():
    torch.manual_seed(11)
    tensors, meta = {}, {}
    for name, cin, cout, K, d, B, T in CASES:
        w = f32(torch.empty(cout, cin, K).uniform_(-0.8, 0.8)).requires_grad_(True)
        b = f32(torch.empty(cout).uniform_(-0.5, 0.5)).requires_grad_(True)
        x = f32(torch.randn(B, T, cin)).requires_grad_(True)
        y = F.conv1d(F.pad(x.transpose(1, 2), ((K - 1) * d, 0)), w, b, dilation=d).transpose(1, 2)  # (B, T, out)
        r = f32(torch.randn_like(y))
        (y * r).sum().backward()
        pre = f"{name}/"
        tensors[pre + "param/conv.weight"] = w.detach().permute(0, 2, 1).reshape(cout, K * cin)
        tensors[pre + "grad/conv.weight"] = w.grad.permute(0, 2, 1).reshape(cout, K * cin)
        tensors[pre + "param/conv.bias"] = b.detach()
        tensors[pre + "grad/conv.bias"] = b.grad
        tensors[pre + "x"], tensors[pre + "dx"] = x.detach(), x.grad
        tensors[pre + "y"], tensors[pre + "r"] = y.detach(), r
        meta[name] = json.dumps({"in": cin, "out": cout, "kernel": K, "dilation": d, "batch": B, "T": T})
    meta["cases"] = ",".join(c[0] for c in CASES)
    meta["generator"] = "dev/golden_conv.py"
    meta["torch"] = torch.__version__
    write_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
