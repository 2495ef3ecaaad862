#!/usr/bin/python3
"""Serving side by side with PyTorch eager, same machine, same thread count, one script:
  * batch-1 forecast latency (p50, p99) on 1 thread: NHITS-default (168 -> 24, 3 stacks,
    MLP 512x512, ~1.2M parameters) fp32 and int8, NHITS-small (MLP 64x64) fp32;
  * batch-256 throughput on 2 threads;
  * peak resident memory of a process that loads NHITS-default and serves 10,000 forecasts,
    and ntneural's load + first forecast;
  * ntneural's cache replay (hit rate, hit latency) and allocations per predict.
Both sides forecast from the same artifact (PyTorch loads its weights from the safetensors
file) on the same original-scale windows, with the artifact's series scaler applied and
inverted; the forecasts are compared before anything is timed. Each side runs in its own
process. Medians over many calls; ratios are PyTorch time / ntneural time.

  /usr/bin/python3 bench/compare_predict.py [--ntneural build/release/ntneural] [--json out.json]
Needs Debian's python3-torch and libopenblas0-openmp (scripts/setup.sh --torch installs them)
and ../shared/data/ETTh1.csv (the models are trained briefly on it: the weights only need to be
a real NHITS of the stated size).
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
from side_by_side import (artifact_current, blas_report, check_same_forecasts, dropped_env,  # noqa: E402
                          ntneural_forecasts, ntneural_info, run_json, run_worker)


def windows(n, L, seed=1):
    """Random-walk price windows (original scale), deterministic."""
    import numpy as np
    rng = np.random.default_rng(seed)
    start = 100 + 20 * rng.random((n, 1))
    return (start + np.cumsum(0.5 * rng.standard_normal((n, L)), axis=1)).astype(np.float32)


def torch_worker(args):
    import torch
    from torch_reference import count_parameters, nhits_from_artifact, peak_rss_mb

    torch.set_num_threads(args.threads)
    model, cfg, scaler = nhits_from_artifact(args.model)
    assert scaler["window_scaling"] == "none", "this worker serves NHITS with a series scaler only"
    # The series scaler of the first series ("HUFL" for ETTh1), as the ntneural side uses.
    center, scale = float(scaler["center"][0]), float(scaler["scale"][0])
    L = cfg["input_size"]

    def forecast(x):  # original scale in and out, like ntneural's Predictor
        return model((x - center) / scale)[..., 0] * scale + center

    out = {"parameters": count_parameters(model), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "blas": blas_report()}
    with torch.inference_mode():
        if args.serve:  # memory run: load, then serve batch-1 forecasts
            xs = torch.from_numpy(windows(64, L))
            for r in range(args.serve):
                forecast(xs[r % 64:r % 64 + 1])
            out["peak_rss_mb"] = peak_rss_mb()
            print(json.dumps(out))
            return
        xs = torch.from_numpy(windows(512, L))
        out["forecast_first_windows"] = forecast(xs[:4]).numpy().tolist()
        for _ in range(200):
            forecast(xs[:1])
        lat = []
        for r in range(args.requests):
            x = xs[r % 512:r % 512 + 1]
            t0 = time.perf_counter_ns()
            forecast(x)
            lat.append((time.perf_counter_ns() - t0) / 1e3)
        lat.sort()
        out["latency_p50_us"] = lat[len(lat) // 2]
        out["latency_p99_us"] = lat[int(0.99 * len(lat))]
        for B in (1, 256):
            x = xs[:B]
            forecast(x)
            reps = []
            for _ in range(11):
                t0 = time.perf_counter()
                n = 0
                while time.perf_counter() - t0 < 0.05:
                    forecast(x)
                    n += 1
                reps.append((time.perf_counter() - t0) / n)
            out[f"throughput_b{B}_per_s"] = B / statistics.median(reps)
    print(json.dumps(out))


def torch_run(model, threads, extra=()):
    """A PyTorch worker process, alone on the machine, without forced OpenBLAS kernels."""
    return run_worker(__file__, ["--model", model, "--threads", str(threads)] + list(extra), threads)


def ensure_model(ntneural, path, hidden, data):
    if artifact_current(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run_json([ntneural, "train", "--data", data, "--protocol", "ltsf", "--input-size", "168", "--horizon", "24",
              "--model", "nhits", "--mlp-units", f"{hidden}x{hidden}", "--max-steps", "30", "--batch", "64",
              "--quiet", "--json", "--out", path])


def validate(ntneural, model, torch_out, tmp):
    """ntneural's forecast of the first 4 windows (series HUFL's scaler) must equal PyTorch's."""
    got = ntneural_forecasts(ntneural, model, windows(512, 168)[:4], tmp)  # the worker's first windows
    return check_same_forecasts(got, torch_out["forecast_first_windows"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ETTh1.csv"))
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "bench_models"))
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)

    big = os.path.join(args.models, "nhits_default.ntn")
    small = os.path.join(args.models, "nhits_small.ntn")
    ensure_model(args.ntneural, big, 512, args.data)
    ensure_model(args.ntneural, small, 64, args.data)
    req = ["--requests", str(args.requests)]
    res = {"machine": os.uname().nodename, "ntneural_info": ntneural_info(args.ntneural),
           "environment_dropped_for_pytorch": dropped_env(), "models": {}}
    for name, path in (("nhits_default", big), ("nhits_small", small)):
        t1 = torch_run(path, 1, req)
        t2 = torch_run(path, 2, req)
        err = validate(args.ntneural, path, t1, args.models)
        n1 = run_json([args.ntneural, "bench", "predict", "--model", path, "--threads", "1", "--json"] + req)
        n2 = run_json([args.ntneural, "bench", "predict", "--model", path, "--threads", "2", "--json"] + req)
        assert n1["parameters"] == t1["parameters"], (n1["parameters"], t1["parameters"])
        m = {"parameters": n1["parameters"], "validation_max_abs_diff": err,
             "ntneural_1t": n1, "ntneural_2t": n2, "pytorch_1t": t1, "pytorch_2t": t2,
             "b1_latency_speedup_1t": t1["latency_p50_us"] / n1["latency_p50_us"],
             "b256_throughput_ratio_2t": n2["throughput_b256_per_s"] / t2["throughput_b256_per_s"]}
        if name == "nhits_default":
            m["ntneural_int8_1t"] = run_json([args.ntneural, "bench", "predict", "--model", path, "--precision", "int8",
                                              "--threads", "1", "--json"] + req)
            m["ntneural_int8_2t"] = run_json([args.ntneural, "bench", "predict", "--model", path, "--precision", "int8",
                                              "--threads", "2", "--json"] + req)
            m["ntneural_fp16_1t"] = run_json([args.ntneural, "bench", "predict", "--model", path, "--precision", "fp16",
                                              "--threads", "1", "--json"] + req)
            ns = run_json([args.ntneural, "bench", "predict", "--model", path, "--serve", "10000", "--json"])
            ts = torch_run(path, 1, ["--serve", "10000"])
            m["serve_10000"] = {"ntneural": ns, "pytorch": ts, "rss_ratio": ns["peak_rss_mb"] / ts["peak_rss_mb"]}
        res["models"][name] = m

    d = res["models"]["nhits_default"]
    s = res["models"]["nhits_small"]
    n1, i8 = d["ntneural_1t"], d["ntneural_int8_1t"]
    rows = [
        ("NHITS-default fp32 b1 p50, 1T (us)", n1["latency_p50_us"], d["pytorch_1t"]["latency_p50_us"], "<= 100"),
        ("NHITS-default fp32 b1 p99, 1T (us)", n1["latency_p99_us"], d["pytorch_1t"]["latency_p99_us"],
         f"<= 2x p50 ({n1['latency_p99_us'] / n1['latency_p50_us']:.2f}x)"),
        ("NHITS-default fp16 b1 p50, 1T (us)", d["ntneural_fp16_1t"]["latency_p50_us"], None, "report"),
        ("NHITS-default int8 b1 p50, 1T (us)", i8["latency_p50_us"], None, "<= 40"),
        ("NHITS-small fp32 b1 p50, 1T (us)", s["ntneural_1t"]["latency_p50_us"], s["pytorch_1t"]["latency_p50_us"],
         "<= 5"),
        ("NHITS-default b256 throughput 2T (/s)", d["ntneural_2t"]["throughput_b256_per_s"],
         d["pytorch_2t"]["throughput_b256_per_s"], ">= 2x PyTorch"),
        ("NHITS-default int8 b256 throughput 2T (/s)", d["ntneural_int8_2t"]["throughput_b256_per_s"],
         d["pytorch_2t"]["throughput_b256_per_s"], "report (PyTorch fp32)"),
        ("NHITS-small b256 throughput 2T (/s)", s["ntneural_2t"]["throughput_b256_per_s"],
         s["pytorch_2t"]["throughput_b256_per_s"], "report"),
        ("serve 10k peak RSS (MB)", d["serve_10000"]["ntneural"]["peak_rss_mb"],
         d["serve_10000"]["pytorch"]["peak_rss_mb"], "<= 10% of PyTorch"),
        ("load + first forecast (ms)", d["serve_10000"]["ntneural"]["load_first_forecast_ms"], None, "<= 5"),
        ("cache hit rate", n1["cache_hit_rate"], None, ">= 0.90"),
        ("cache hit (us)", n1["cache_hit_us"], None, "<= 1"),
        ("allocs per predict", n1["allocs_per_predict"], None, "0"),
    ]
    print(f"{'figure':44s} {'ntneural':>12s} {'PyTorch':>12s} {'ratio':>8s}  target")
    for label, ours, theirs, target in rows:
        ratio = ""
        if theirs:
            r = theirs / ours if "us" in label or "MB" in label else ours / theirs
            ratio = f"{r:.2f}x" if "MB" not in label else f"{100 * ours / theirs:.1f}%"
        theirs_s = f"{theirs:12.4g}" if theirs is not None else " " * 12
        print(f"{label:44s} {ours:12.4g} {theirs_s} {ratio:>8s}  {target}")
    print(f"batch-1 speedup vs PyTorch eager (1 thread): NHITS-default fp32 {d['b1_latency_speedup_1t']:.1f}x, "
          f"int8 {d['pytorch_1t']['latency_p50_us'] / i8['latency_p50_us']:.1f}x, "
          f"NHITS-small {s['b1_latency_speedup_1t']:.1f}x (target >= 10x)")
    blas = d["pytorch_1t"]["blas"]
    print(f"BLAS: PyTorch {blas['blas_info']} -> OpenBLAS {','.join(blas['openblas_core'])} ({blas['cpu_capability']}), "
          f"environment dropped for it: {res['environment_dropped_for_pytorch'] or 'none'}; ntneural: none "
          f"(packed dense kernels, isa {res['ntneural_info']['isa']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
