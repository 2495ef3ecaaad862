#!/usr/bin/python3
"""Backtest side by side with PyTorch, one thread each, one script: an NHITS model (the demo's
configuration: input 60, horizon 5, MLP 256x256, per-window standard scaling) trained on the
embedded S&P 500 daily closes, evaluated over the last 1,000 forecast origins (no refit).
  * ntneural: `ntneural backtest` (every origin's window a view of the series, forecasts in
    batches) - wall time of the whole command and of its forecasting part;
  * PyTorch: the same loop calling the model once per origin (window scaling, forward,
    unscaling, MAE), as a user without a batched backtester would write it.
Targets: ntneural under 1 s, at least 20x faster than the PyTorch loop. The two sides' mean MAE
over all origins must agree before anything is timed. Medians of 5 runs.

  /usr/bin/python3 bench/compare_backtest.py [--ntneural build/release/ntneural] [--json out.json]
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from side_by_side import artifact_current, blas_report, dropped_env, ntneural_info, run_json, run_worker  # noqa: E402
DATA = os.path.join(ROOT, "data", "sp500_2000_2020_daily.csv")


def close_prices():
    import numpy as np
    with open(DATA) as f:
        header = f.readline().strip().split(",")
        col = header.index("close")
        return np.array([float(line.split(",")[col]) for line in f if line.strip()], dtype=np.float32)


def torch_worker(args):
    import numpy as np
    import torch
    from torch_reference import nhits_from_artifact

    torch.set_num_threads(1)
    model, cfg, scaler = nhits_from_artifact(args.model)
    assert scaler["series_scaling"] == "none" and scaler["window_scaling"] == "standard", scaler
    L, H = cfg["input_size"], cfg["horizon"]
    x = torch.from_numpy(close_prices())
    n = len(x)
    origins = range(n - H - 1 - (args.origins - 1), n - H)

    def loop():
        maes = []
        with torch.inference_mode():
            for t in origins:
                w = x[t + 1 - L:t + 1]
                mean = w.mean()
                std = w.std(unbiased=False)
                std = std if std > 1e-6 * abs(mean) else torch.tensor(1.0)
                f = model(((w - mean) / std)[None])[0, :, 0] * std + mean
                maes.append(float((x[t + 1:t + 1 + H] - f).abs().mean()))
        return float(np.mean(maes))

    mae = loop()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        loop()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"mae": mae, "loop_s": statistics.median(times), "loop_s_all": times, "origins": len(origins),
                      "blas": blas_report()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "bench_models"))
    ap.add_argument("--origins", type=int, default=1000)
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)

    model = os.path.join(args.models, "sp500_nhits.ntn")
    if not artifact_current(model):
        os.makedirs(args.models, exist_ok=True)
        run_json([args.ntneural, "train", "--data", DATA, "--columns", "close", "--scaler", "none",
                  "--window-scaler", "standard", "--input-size", "60", "--horizon", "5", "--model", "nhits",
                  "--mlp-units", "256x256", "--max-steps", "300", "--batch", "64", "--quiet", "--json", "--out", model])
    cmd = [args.ntneural, "backtest", "--model", model, "--data", DATA, "--columns", "close", "--origins",
           str(args.origins), "--threads", "1", "--json"]
    ours = [run_json(cmd) for _ in range(5)]
    theirs = run_worker(__file__, ["--model", model, "--origins", str(args.origins)], 1)
    bench = run_json([args.ntneural, "bench", "data", "--points", "20000", "--model", model, "--data", DATA, "--json"])
    # Same loop, same model: per-origin MAE averaged over origins must agree.
    mae_ours = statistics.mean(p["mae"] for p in ours[0]["per_origin"])
    assert abs(mae_ours - theirs["mae"]) <= 1e-3 * abs(theirs["mae"]), (mae_ours, theirs["mae"])
    total = statistics.median(o["total_seconds"] for o in ours)
    fc = statistics.median(o["forecast_seconds"] for o in ours)
    res = {"origins": args.origins, "ntneural_total_s": total, "ntneural_forecast_s": fc,
           "ntneural_total_s_all": [o["total_seconds"] for o in ours], "pytorch_loop_s": theirs["loop_s"],
           "pytorch_loop_s_all": theirs["loop_s_all"], "speedup_total": theirs["loop_s"] / total,
           "speedup_forecast": theirs["loop_s"] / fc, "mae": mae_ours, "mae_pytorch": theirs["mae"],
           "bench_data_backtest_1000_origins_s": bench["backtest_1000_origins_s"],
           "speedup_in_process": theirs["loop_s"] / bench["backtest_1000_origins_s"],
           "pytorch_blas": theirs["blas"], "environment_dropped_for_pytorch": dropped_env(),
           "ntneural_info": ntneural_info(args.ntneural)}
    print(json.dumps(res, indent=2))
    print(f"\nbacktest, {args.origins} origins of the S&P 500 close, 1 thread: ntneural {1e3 * total:.1f} ms in total "
          f"({1e3 * fc:.1f} ms forecasting), PyTorch loop {1e3 * theirs['loop_s']:.1f} ms -> "
          f"{res['speedup_total']:.1f}x (target: < 1 s and >= 20x); in-process (bench data) "
          f"{1e3 * bench['backtest_1000_origins_s']:.1f} ms -> {res['speedup_in_process']:.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
