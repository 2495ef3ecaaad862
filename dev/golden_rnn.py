#!/usr/bin/python3
"""Generates tests/fixtures/golden_rnn.safetensors for tests/nn/test_rnn.cpp with PyTorch:
torch.nn.GRU / torch.nn.LSTM (2 layers, unidirectional and bidirectional) with given weights,
one input sequence, the output sequence, the final states, a fixed upstream gradient of the
outputs and every gradient (each weight, each bias and the input). Computed in float64 from
weights and inputs first rounded to float32, stored as float32 (the C++ test reads them in both
precisions). Parameter names are ntneural's (nn::Recurrent, "rnn.l<l>[_reverse].{ih,hh}.{weight,bias}").

  scripts/setup.sh --torch && /usr/bin/python3 dev/golden_rnn.py     # rewrites the fixture
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "golden_rnn.safetensors")

CASES = [  # name, cell, input, hidden, layers, bidirectional, steps, batch
    ("gru_uni", "gru", 3, 5, 2, False, 7, 2),
    ("gru_bi", "gru", 3, 5, 2, True, 6, 3),
    ("lstm_uni", "lstm", 3, 5, 2, False, 7, 2),
    ("lstm_bi", "lstm", 2, 4, 2, True, 6, 3),
]


def ntn_name(torch_name):
    # weight_ih_l1_reverse -> l1_reverse.ih.weight
    kind, which, rest = torch_name.split("_", 2)
    return f"rnn.{rest}.{which}.{kind}"


def main():
    torch.manual_seed(11)
    tensors, meta = {}, {}
    for name, cell, inp, hid, layers, bi, T, B in CASES:
        cls = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
        m = cls(inp, hid, num_layers=layers, bidirectional=bi).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.empty_like(p).uniform_(-0.6, 0.6).float().double())
        x = torch.randn(T, B, inp).float().double().requires_grad_(True)
        out, state = m(x)
        r = torch.randn_like(out).float().double()
        (out * r).sum().backward()
        pre = f"{name}/"
        for n, p in m.named_parameters():
            tensors[pre + "param/" + ntn_name(n)] = p.detach()
            tensors[pre + "grad/" + ntn_name(n)] = p.grad
        tensors[pre + "x"] = x.detach()
        tensors[pre + "y"] = out.detach()
        tensors[pre + "r"] = r
        tensors[pre + "dx"] = x.grad
        h_n, c_n = (state if cell == "lstm" else (state, None))
        tensors[pre + "h_n"] = h_n.detach()
        if c_n is not None:
            tensors[pre + "c_n"] = c_n.detach()
        meta[name] = json.dumps({"cell": cell, "input": inp, "hidden": hid, "layers": layers,
                                 "bidirectional": bi, "steps": T, "batch": B})
    meta["cases"] = ",".join(c[0] for c in CASES)
    meta["generator"] = "dev/golden_rnn.py"
    meta["torch"] = torch.__version__
    write_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
