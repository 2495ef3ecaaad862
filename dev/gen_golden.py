#!/usr/bin/python3
"""Generates the golden fixtures of tests/models/test_golden.cpp with PyTorch (fp32):
for a small NHITS, a small N-BEATS, small GRU / LSTM forecasters, a small TCN, two small Transformers (post-norm with label tokens, pre-norm) and a small LSTM-Attention (at
inference: each decoder step fed its own forecast, gradients through them), the initial weights (ntneural names), one batch, the
forecast, the MSE loss, every parameter gradient, and the weights after each of 5 Adam steps
on that batch. For a small Student-t DeepAR the same with the teacher-forced forward (the
training one) and the negative log-likelihood (torch.distributions.StudentT), plus the forecast
of the path fed its own locations ("mean_path"). Files are safetensors written here by hand (no
extra Python package needed).

  scripts/setup.sh --torch && /usr/bin/python3 dev/gen_golden.py     # rewrites tests/fixtures/
"""
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from torch_reference import NBEATS, NHITS, TCN, DeepAR, LstmAttention, RecurrentForecaster, Transformer  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures")


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(name, model, config, B, lr=1e-3, steps=5):
    torch.manual_seed(7)
    for p in model.parameters():  # PyTorch's default init already; re-draw for a fixed seed
        if p.dim() >= 2:
            torch.nn.init.kaiming_uniform_(p, a=5 ** 0.5)
        else:
            torch.nn.init.uniform_(p, -0.1, 0.1)
    with torch.no_grad():  # layer norm gains near 1, as trained ones are (near 0 they hide the layer below)
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.8, 1.2)
    names = model.ntn_names()
    lay_t = getattr(model, "ntn_tensor", lambda v: v)  # ntneural's layout of a tensor (TCN's conv weights)

    def lay(n, t):  # names[n] is a parameter, or (parameter, row slice) for part of one (in_proj)
        spec = names[n]
        return lay_t(t[spec[1]] if isinstance(spec, tuple) else t)

    def param(n):
        return names[n][0] if isinstance(names[n], tuple) else names[n]
    assert sum(lay(n, param(n)).numel() for n in names) == sum(p.numel() for p in model.parameters())
    x = torch.randn(B, model.L)
    y = torch.randn(B, model.H)
    t = {f"param/{n}": lay(n, param(n)).clone() for n in names}
    t["x"], t["y"] = x, y
    nll = isinstance(model, DeepAR)
    if nll:  # trained on the likelihood of the targets, fed them (teacher forcing)
        with torch.no_grad():
            t["mean_path"] = model(x)

        def loss_of():
            return DeepAR.nll(model(x, y), y)
        out = model(x, y)
        loss = DeepAR.nll(out, y)
    else:
        def loss_of():
            return torch.nn.functional.mse_loss(model(x)[..., 0], y)
        out = model(x)
        loss = torch.nn.functional.mse_loss(out[..., 0], y)
    loss.backward()
    t["forecast"] = out
    t["loss"] = loss.reshape(1)
    for n in names:
        t[f"grad/{n}"] = lay(n, param(n).grad).clone()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    opt.zero_grad()
    for k in range(1, steps + 1):
        opt.zero_grad()
        loss_of().backward()
        opt.step()
        for n in names:
            t[f"step{k}/{n}"] = lay(n, param(n).detach()).clone()
    meta = {"model_config": json.dumps(config), "loss": "nll" if nll else "mse", "lr": repr(lr), "adam_steps": str(steps),
            "generator": "dev/gen_golden.py", "torch": torch.__version__}
    path = os.path.join(OUT, f"golden_{name}.safetensors")
    write_safetensors(path, t, meta)
    print(f"wrote {path}: {len(t)} tensors, loss {float(loss):.6f}")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    nhits_cfg = {"type": "nhits", "input_size": 24, "horizon": 8, "mlp_units": [[32, 32]],
                 "pool_kernel": [2, 2, 1], "freq_downsample": [4, 2, 1]}
    make("nhits", NHITS(L=24, H=8, units=((32, 32),)), nhits_cfg, B=5)
    nbeats_cfg = {"type": "nbeats", "input_size": 16, "horizon": 6, "mlp_units": [[16, 16]],
                  "stack_types": ["identity", "trend", "seasonality"], "n_blocks": [1, 2, 2],
                  "shared_weights": True}
    make("nbeats", NBEATS(L=16, H=6, units=((16, 16),), n_blocks=(1, 2, 2), shared_weights=True), nbeats_cfg, B=5)
    for cell in ("gru", "lstm"):
        cfg = {"type": cell, "input_size": 12, "horizon": 4, "encoder_hidden_size": 6, "encoder_n_layers": 2,
               "decoder_hidden_size": 8, "decoder_layers": 1}
        make(cell, RecurrentForecaster(cell, L=12, H=4, hidden=6, layers=2, dec_hidden=8, dec_layers=1), cfg, B=5)
    la_cfg = {"type": "lstm_attention", "input_size": 12, "horizon": 4, "encoder_hidden_size": 4, "encoder_n_layers": 2,
              "decoder_hidden_size": 6, "decoder_layers": 1, "attention_heads": 2}
    make("lstm_attention", LstmAttention(L=12, H=4, enc_hidden=4, enc_layers=2, dec_hidden=6, dec_layers=1, heads=2),
         la_cfg, B=5)
    # Receptive field 15 < L = 24 (columns before it computed by torch only); 1 -> 3 and 3 -> 4
    # need a 1x1 convolution on the residual, 4 -> 4 adds the block input.
    tcn_cfg = {"type": "tcn", "input_size": 24, "horizon": 4, "channels": [3, 4, 4], "kernel_size": 2,
               "dilation_base": 2, "decoder_hidden_size": 6, "decoder_layers": 1}
    make("tcn", TCN(L=24, H=4, channels=(3, 4, 4), kernel=2, base=2, dec_hidden=6, dec_layers=1), tcn_cfg, B=5)
    # Post-norm with label tokens and the causal decoder; pre-norm without them, ReLU, non-causal.
    for name, extra, kw in (("transformer", {"label_len": 3}, {"label_len": 3}),
                            ("transformer_prenorm", {"norm_first": True, "activation": "relu", "causal_decoder": False},
                             {"norm_first": True, "act": "relu", "causal": False})):
        cfg = {"type": "transformer", "input_size": 10, "horizon": 4, "hidden_size": 8, "n_head": 2, "encoder_layers": 2,
               "decoder_layers": 1, "ffn_hidden_size": 12, "dropout": 0.0, **extra}
        make(name, Transformer(L=10, H=4, E=8, heads=2, enc_layers=2, dec_layers=1, F=12, **kw), cfg, B=3)
    deepar_cfg = {"type": "deepar", "input_size": 12, "horizon": 4, "encoder_hidden_size": 5, "encoder_n_layers": 2,
                  "encoder_dropout": 0.0, "lags": [1, 3], "distribution": "student_t", "outputs": 3}
    make("deepar", DeepAR(L=12, H=4, hidden=5, layers=2, lags=(1, 3)), deepar_cfg, B=5, lr=1e-2)


if __name__ == "__main__":
    main()
