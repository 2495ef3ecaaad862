#!/usr/bin/python3
"""Recurrent models side by side with PyTorch eager, same machine, one script (issue #12's figures):
  * batch-1 forecast over the full window, 1 thread: LSTM(1 -> 128, 2 layers) over 168 steps +
    Linear(128 -> 24), fp32 and int8 weights; GRU of the same shape, fp32;
  * one streaming tick with a carried state (2-layer LSTM-128): ntneural's StreamingPredictor.push
    (scaling, one cell step per layer, the head, unscaling) vs PyTorch's nn.LSTM called on one
    step with (h, c) passed in, plus the Linear head and the same scaling;
  * a training step at batch 32 (Adam + MSE, standardised random-walk windows), 1 and 2 threads:
    PyTorch with its intra-op threads, ntneural with one micro-batch per thread.
Both sides serve the same artifact (PyTorch loads its weights from the safetensors file, with the
artifact's series scaler applied and inverted); forecasts are compared before anything is timed,
and both training loops must lower the loss of a batch in 30 steps. Each measurement is its own
process, run alone; ratios are PyTorch time / ntneural time.

  /usr/bin/python3 bench/compare_recurrent.py [--ntneural build/release/ntneural] [--json out.json]
Needs Debian's python3-torch and libopenblas0-openmp (scripts/setup.sh --torch) and
../shared/data/ETTh1.csv (the models are trained briefly on it).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from side_by_side import (artifact_current, blas_report, check_same_forecasts, dropped_env,  # noqa: E402
                          ntneural_forecasts, ntneural_info, run_json, run_worker, torch_train_step)

L, H, HIDDEN, LAYERS = 168, 24, 128, 2


def windows(n, length, seed=1):
    """Random-walk price windows (original scale), deterministic."""
    import numpy as np
    rng = np.random.default_rng(seed)
    start = 100 + 20 * rng.random((n, 1))
    return (start + np.cumsum(0.5 * rng.standard_normal((n, length)), axis=1)).astype(np.float32)


def torch_model(cell):
    import torch

    class Forecaster(torch.nn.Module):  # ntneural's gru / lstm with decoder_layers = 0
        def __init__(self):
            super().__init__()
            rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
            self.rnn = rnn(1, HIDDEN, LAYERS, batch_first=True)
            self.fc = torch.nn.Linear(HIDDEN, H)

        def forward(self, x):  # x (B, L) -> (B, H)
            out, _ = self.rnn(x.unsqueeze(-1))
            return self.fc(out[:, -1])

    return Forecaster()


def load_artifact(model, path):
    import torch
    from torch_reference import read_safetensors
    meta, t = read_safetensors(path)
    names = {"fc.weight": "decoder.0.weight", "fc.bias": "decoder.0.bias"}
    for l in range(LAYERS):
        for kind in ("ih", "hh"):
            names[f"rnn.weight_{kind}_l{l}"] = f"encoder.l{l}.{kind}.weight"
            names[f"rnn.bias_{kind}_l{l}"] = f"encoder.l{l}.{kind}.bias"
    with torch.no_grad():
        for tn, p in model.named_parameters():
            p.copy_(torch.from_numpy(t[names[tn]].copy()))
    model.eval()
    scaler = json.loads(meta["scaler"])
    return float(scaler["center"][0]), float(scaler["scale"][0])


def torch_worker(args):
    import torch
    from torch_reference import count_parameters
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_report()}
    if args.part == "serve":
        model = torch_model(args.cell)
        center, scale = load_artifact(model, args.model)
        out["parameters"] = count_parameters(model)
        xs = torch.from_numpy(windows(64, L))
        with torch.inference_mode():
            def forecast(x):
                return model((x - center) / scale) * scale + center
            out["forecast_first_windows"] = forecast(xs[:4]).numpy().tolist()
            lat = []
            for r in range(args.requests):
                x = xs[r % 64:r % 64 + 1]
                t0 = time.perf_counter_ns()
                forecast(x)
                lat.append((time.perf_counter_ns() - t0) / 1e3)
            lat.sort()
            out["latency_p50_us"] = lat[len(lat) // 2]
            if args.cell == "lstm":  # carried state: one step per tick, the head, the scaling
                tape = torch.from_numpy(windows(1, L + args.requests, 3)[0])
                state = None

                def tick(v):
                    nonlocal state
                    o, state = model.rnn(((v - center) / scale).reshape(1, 1, 1), state)
                    return model.fc(o[:, -1]) * scale + center
                for t in range(L):
                    y = tick(tape[t])
                ref = forecast(tape[:L].reshape(1, L))
                assert float((y - ref).abs().max()) <= 1e-4 * float(ref.abs().max()), "torch stream != forecast"
                ticks = []
                for t in range(L, L + args.requests):
                    t0 = time.perf_counter_ns()
                    tick(tape[t])
                    ticks.append((time.perf_counter_ns() - t0) / 1e3)
                ticks.sort()
                out["stream_tick_p50_us"] = ticks[len(ticks) // 2]
    else:  # training step
        torch.manual_seed(1)
        model = torch_model(args.cell)
        out["parameters"] = count_parameters(model)
        out.update(torch_train_step(model, lambda m, x: m(x), L, H, args.batch))
    print(json.dumps(out))


def ensure_model(ntneural, path, cell, data):
    if artifact_current(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run_json([ntneural, "train", "--data", data, "--protocol", "ltsf", "--input-size", str(L), "--horizon", str(H),
              "--model", cell, "--hidden", str(HIDDEN), "--layers", str(LAYERS), "--set", "decoder_layers=0",
              "--max-steps", "30", "--quiet", "--json", "--out", path])


def validate(ntneural, model, torch_out, tmp):
    """ntneural's forecast of the first 4 windows (series HUFL's scaler) must equal PyTorch's."""
    got = ntneural_forecasts(ntneural, model, windows(64, L)[:4], tmp)  # the worker's first windows
    return check_same_forecasts(got, torch_out["forecast_first_windows"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ETTh1.csv"))
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "bench_models"))
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="serve", help=argparse.SUPPRESS)
    ap.add_argument("--cell", default="lstm", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)

    def peer(threads, *extra):
        return run_worker(__file__, ["--threads", str(threads)] + list(extra), threads)

    res = {"machine": os.uname().nodename, "ntneural_info": ntneural_info(args.ntneural),
           "environment_dropped_for_pytorch": dropped_env()}
    req = ["--requests", str(args.requests)]
    for cell in ("lstm", "gru"):
        path = os.path.join(args.models, f"{cell}_{HIDDEN}x{LAYERS}.ntn")
        ensure_model(args.ntneural, path, cell, args.data)
        t = peer(1, "--part", "serve", "--cell", cell, "--model", path, *req)
        err = validate(args.ntneural, path, t, args.models)
        n = run_json([args.ntneural, "bench", "predict", "--model", path, "--threads", "1", "--json"] + req)
        assert n["parameters"] == t["parameters"], (n["parameters"], t["parameters"])
        r = {"parameters": n["parameters"], "validation_max_abs_diff": err, "ntneural_fp32": n, "pytorch": t}
        if cell == "lstm":
            r["ntneural_int8"] = run_json([args.ntneural, "bench", "predict", "--model", path, "--precision", "int8",
                                           "--threads", "1", "--json"] + req)
        res[cell] = r
    for threads in (1, 2):
        n = run_json([args.ntneural, "bench", "train", "--model", "lstm", "--hidden", str(HIDDEN), "--set",
                      f"encoder_n_layers={LAYERS}", "--set", "decoder_layers=0", "--threads", str(threads),
                      "--micro-batches", str(threads), "--reps", "7", "--json"])
        t = peer(threads, "--part", "train", "--cell", "lstm")
        assert n["parameters"] == t["parameters"], (n["parameters"], t["parameters"])
        res[f"train_{threads}t"] = {"ntneural": n, "pytorch": t, "speedup": t["step_ms"] / n["step_ms"]}

    lstm, gru = res["lstm"], res["gru"]
    rows = [
        ("LSTM b1 forecast fp32, 1T (us)", lstm["ntneural_fp32"]["latency_median_us"], lstm["pytorch"]["latency_p50_us"],
         ">= 4x"),
        ("LSTM b1 forecast int8, 1T (us)", lstm["ntneural_int8"]["latency_median_us"], lstm["pytorch"]["latency_p50_us"],
         ">= 8x"),
        ("GRU b1 forecast fp32, 1T (us)", gru["ntneural_fp32"]["latency_median_us"], gru["pytorch"]["latency_p50_us"],
         "report"),
        ("LSTM stream tick fp32 p50 (us)", lstm["ntneural_fp32"]["stream_tick_p50_us"],
         lstm["pytorch"]["stream_tick_p50_us"], "<= 6 us, >= 7x"),
        ("LSTM stream tick int8 p50 (us)", lstm["ntneural_int8"]["stream_tick_p50_us"],
         lstm["pytorch"]["stream_tick_p50_us"], "<= 3 us"),
        ("LSTM train step b32, 1T (ms)", res["train_1t"]["ntneural"]["step_ms"], res["train_1t"]["pytorch"]["step_ms"],
         ">= 2x"),
        ("LSTM train step b32, 2T (ms)", res["train_2t"]["ntneural"]["step_ms"], res["train_2t"]["pytorch"]["step_ms"],
         ">= 3x"),
    ]
    print(f"{'figure':36s} {'ntneural':>10s} {'PyTorch':>10s} {'ratio':>8s}  target")
    for label, ours, theirs, target in rows:
        print(f"{label:36s} {ours:10.4g} {theirs:10.4g} {theirs / ours:7.2f}x  {target}")
    print(f"allocations per tick: {lstm['ntneural_fp32']['allocs_per_tick']}, per predict: "
          f"{lstm['ntneural_fp32']['allocs_per_predict']}; forecasts equal to PyTorch's within "
          f"{lstm['validation_max_abs_diff']:.2g} (LSTM), {gru['validation_max_abs_diff']:.2g} (GRU)")
    blas = lstm["pytorch"]["blas"]
    print(f"BLAS: PyTorch {blas['blas_info']} -> OpenBLAS {','.join(blas['openblas_core'])} ({blas['cpu_capability']}), "
          f"environment dropped for it: {res['environment_dropped_for_pytorch'] or 'none'}; ntneural isa "
          f"{res['ntneural_info']['isa']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
