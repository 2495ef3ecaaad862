#!/usr/bin/python3
"""TCN side by side with PyTorch eager, same machine, one script (issue #13's TCN figures). The
model is the issue's: residual blocks of causal dilated convolutions, channels 64, 128, 128,
kernel 3, dilations 1, 2, 4, input 168 -> 24, head Linear(channels of the last column -> 24).
  * batch-1 forecast, 1 thread, fp32 (and ntneural's fp16 / int8 weights): PyTorch computes all
    168 columns of every block (bench/torch_reference.py TCN: F.pad + conv1d), ntneural only the
    head's receptive field (29 columns of the first block, fewer above);
  * one streaming tick: ntneural's StreamingPredictor.push (scaling, one column per convolution
    from its ring, the head, unscaling) vs PyTorch's best exact equivalent, the forward over the
    last 29 values (the receptive field; it has no ring-buffer convolution);
  * a training step at batch 32 (Adam + MSE, standardised random-walk windows), 1 and 2 threads:
    PyTorch with its intra-op threads, ntneural with one micro-batch per thread.
Both sides serve the same artifact (PyTorch loads its weights from the safetensors file, with the
artifact's series scaler applied and inverted); forecasts are compared before anything is timed,
and both training loops must lower the loss of a batch in 30 steps. Each measurement is its own
process, run alone; ratios are PyTorch time / ntneural time.

  /usr/bin/python3 bench/compare_tcn.py [--ntneural build/release/ntneural] [--json out.json]
Needs Debian's python3-torch and libopenblas0-openmp (scripts/setup.sh --torch) and
../shared/data/ETTh1.csv (the model is trained briefly on it).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare_recurrent import windows  # noqa: E402
from side_by_side import (artifact_current, blas_report, check_same_forecasts, dropped_env,  # noqa: E402
                          ntneural_forecasts, ntneural_info, run_json, run_worker, torch_train_step)

L, H, CHANNELS, KERNEL = 168, 24, (64, 128, 128), 3
FIELD = 1 + 2 * (KERNEL - 1) * sum(2 ** i for i in range(len(CHANNELS)))  # 29
SETTINGS = ["--set", "channels=" + json.dumps(list(CHANNELS)), "--set", f"kernel_size={KERNEL}", "--set",
            "dilation_base=2", "--set", "decoder_layers=0"]


def torch_model():
    from torch_reference import TCN
    return TCN(L=L, H=H, channels=CHANNELS, kernel=KERNEL, base=2, dec_layers=0)


def load_artifact(model, path):
    import torch
    from torch_reference import read_safetensors
    meta, t = read_safetensors(path)
    names = model.ntn_names()
    with torch.no_grad():
        for n, p in names.items():
            v = torch.from_numpy(t[n].copy())
            if p.dim() == 3:  # ntneural's (out, K * in), k-major -> torch's (out, in, K)
                v = v.reshape(p.shape[0], p.shape[2], p.shape[1]).permute(0, 2, 1)
            p.copy_(v)
    model.eval()
    scaler = json.loads(meta["scaler"])
    return float(scaler["center"][0]), float(scaler["scale"][0])


def torch_worker(args):
    import torch
    from torch_reference import count_parameters
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_report()}
    if args.part == "serve":
        model = torch_model()
        center, scale = load_artifact(model, args.model)
        out["parameters"] = count_parameters(model)
        xs = torch.from_numpy(windows(64, L))
        with torch.inference_mode():
            def forecast(x):
                return model((x - center) / scale)[..., 0] * scale + center
            out["forecast_first_windows"] = forecast(xs[:4]).numpy().tolist()
            lat = []
            for r in range(args.requests):
                x = xs[r % 64:r % 64 + 1]
                t0 = time_ns()
                forecast(x)
                lat.append((time_ns() - t0) / 1e3)
            lat.sort()
            out["latency_p50_us"] = lat[len(lat) // 2]
            # A tick: the new value appended, the forward over the receptive field (exact: the
            # forecast of the full window, checked here).
            tape = torch.from_numpy(windows(1, L + args.requests, 3)[0])
            ref = forecast(tape[:L].reshape(1, L))
            got = forecast(tape[L - FIELD:L].reshape(1, FIELD))
            assert float((got - ref).abs().max()) <= 1e-4 * float(ref.abs().max()), "torch field != window forecast"
            ticks = []
            for t in range(L, L + args.requests):
                t0 = time_ns()
                forecast(tape[t + 1 - FIELD:t + 1].reshape(1, FIELD))
                ticks.append((time_ns() - t0) / 1e3)
            ticks.sort()
            out["stream_tick_p50_us"] = ticks[len(ticks) // 2]
    else:  # training step
        torch.manual_seed(1)
        model = torch_model()
        out["parameters"] = count_parameters(model)
        out.update(torch_train_step(model, lambda m, x: m(x)[..., 0], L, H, args.batch))
    print(json.dumps(out))


def time_ns():
    import time
    return time.perf_counter_ns()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ETTh1.csv"))
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "bench_models"))
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="serve", help=argparse.SUPPRESS)
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
    path = os.path.join(args.models, "tcn_64_128_128.ntn")
    if not artifact_current(path):
        os.makedirs(args.models, exist_ok=True)
        run_json([args.ntneural, "train", "--data", args.data, "--protocol", "ltsf", "--input-size", str(L),
                  "--horizon", str(H), "--model", "tcn", *SETTINGS, "--max-steps", "30", "--quiet", "--json",
                  "--out", path])
    t = peer(1, "--part", "serve", "--model", path, *req)
    got = ntneural_forecasts(args.ntneural, path, windows(64, L)[:4], args.models)
    err = check_same_forecasts(got, t["forecast_first_windows"])
    serve = {}
    for prec in ("fp32", "fp16", "int8"):
        serve[prec] = run_json([args.ntneural, "bench", "predict", "--model", path, "--precision", prec, "--threads",
                                "1", "--json"] + req)
    assert serve["fp32"]["parameters"] == t["parameters"], (serve["fp32"]["parameters"], t["parameters"])
    res["serve"] = {"validation_max_abs_diff": err, "pytorch": t, **{f"ntneural_{p}": v for p, v in serve.items()}}
    for threads in (1, 2):
        n = run_json([args.ntneural, "bench", "train", "--model", "tcn", *SETTINGS, "--threads", str(threads),
                      "--micro-batches", str(threads), "--reps", "7", "--json"])
        tt = peer(threads, "--part", "train")
        assert n["parameters"] == tt["parameters"], (n["parameters"], tt["parameters"])
        res[f"train_{threads}t"] = {"ntneural": n, "pytorch": tt, "speedup": tt["step_ms"] / n["step_ms"]}

    pt = t
    rows = [(f"TCN b1 forecast {p}, 1T (us)", serve[p]["latency_median_us"], pt["latency_p50_us"],
             ">= 10x" if p == "fp32" else "report") for p in ("fp32", "fp16", "int8")]
    rows += [(f"TCN stream tick {p} p50 (us)", serve[p]["stream_tick_p50_us"], pt["stream_tick_p50_us"], "<= 8 us")
             for p in ("fp32", "fp16", "int8")]
    rows += [(f"TCN train step b32, {k}T (ms)", res[f"train_{k}t"]["ntneural"]["step_ms"],
              res[f"train_{k}t"]["pytorch"]["step_ms"], ">= 2x") for k in (1, 2)]
    print(f"{'figure':34s} {'ntneural':>10s} {'PyTorch':>10s} {'ratio':>8s}  target")
    for label, ours, theirs, target in rows:
        print(f"{label:34s} {ours:10.4g} {theirs:10.4g} {theirs / ours:7.2f}x  {target}")
    print(f"allocations per tick: {serve['fp32']['allocs_per_tick']}, per predict: "
          f"{serve['fp32']['allocs_per_predict']}; forecasts equal to PyTorch's within {err:.2g}; "
          f"parameters {t['parameters']}; receptive field {FIELD}")
    blas = pt["blas"]
    print(f"BLAS: PyTorch {blas['blas_info']} -> OpenBLAS {','.join(blas['openblas_core'])} ({blas['cpu_capability']}), "
          f"environment dropped for it: {res['environment_dropped_for_pytorch'] or 'none'}; ntneural isa "
          f"{res['ntneural_info']['isa']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
