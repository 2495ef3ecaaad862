#!/usr/bin/python3
"""Side by side with PyTorch, same machine, same thread count, one run:
  * training-step time of NHITS (input 168, horizon 24, 3 stacks, MLP 512x512; batch 32;
    forward + backward + Adam, MSE) - target: ntneural at least 2x faster;
  * peak resident memory of a process doing those training steps - target: ntneural at most
    35% of PyTorch's.
Each side runs in its own process (its peak RSS is its own); both are validated before timing
(the same parameter count, and 30 steps on one batch must lower the loss). Medians over reps
in each process, then over alternating rounds of the two sides.

  /usr/bin/python3 bench/compare_torch.py [--threads 2] [--batch 32] [--rounds 3] [--json out.json]
Needs Debian's python3-torch and libopenblas0-openmp (scripts/setup.sh --torch installs them).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import blas_report, dropped_env, ntneural_info, run_json, run_worker  # noqa: E402



def torch_worker(args):
    import torch
    from torch_reference import NHITS, count_parameters, peak_rss_mb

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = NHITS(L=args.input_size, H=args.horizon, units=((args.hidden, args.hidden),))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Standardised random-walk windows, as ntneural's bench (per-window standard scaling).
    walk = torch.cumsum(torch.randn(20000), 0)
    starts = torch.randint(0, 20000 - args.input_size - args.horizon, (4096,))
    idx = starts[:, None] + torch.arange(args.input_size + args.horizon)[None, :]
    w = walk[idx]
    mean = w[:, : args.input_size].mean(1, keepdim=True)
    std = w[:, : args.input_size].std(1, unbiased=False, keepdim=True).clamp_min(1e-6)
    w = (w - mean) / std
    xs, ys = w[:, : args.input_size].contiguous(), w[:, args.input_size:].contiguous()

    def step(b):
        x, y = xs[b * args.batch:(b + 1) * args.batch], ys[b * args.batch:(b + 1) * args.batch]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x)[..., 0], y)
        loss.backward()
        opt.step()
        return float(loss)

    first = step(0)
    last = first
    for _ in range(29):
        last = step(0)
    assert last < first, f"torch validation failed: {first} -> {last}"
    nb = xs.shape[0] // args.batch
    times = []
    k = 0
    for _ in range(args.reps):
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < 0.05:
            step(k % nb)
            k += 1
            n += 1
        times.append((time.perf_counter() - t0) / n)
    print(json.dumps({
        "parameters": count_parameters(model),
        "step_ms": statistics.median(times) * 1e3,
        "step_ms_min": min(times) * 1e3,
        "step_ms_max": max(times) * 1e3,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "validation_loss_first_last": [first, last],
        "peak_rss_mb": peak_rss_mb(),
        "blas": blas_report(),
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input-size", type=int, default=168)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--rounds", type=int, default=3, help="alternating ntneural / PyTorch rounds (median)")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--ntneural", default=os.path.join(HERE, "..", "build", "release", "ntneural"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1 (got {args.rounds})")

    common = ["--batch", str(args.batch), "--input-size", str(args.input_size), "--horizon", str(args.horizon),
              "--hidden", str(args.hidden), "--threads", str(args.threads), "--reps", str(args.reps)]
    # Alternating rounds, one side after the other and never both at once (PyTorch without forced
    # OpenBLAS kernels): a shared VM drifts by 20% over minutes, so each side is measured in
    # every phase and the ratio is taken between the medians over the rounds.
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(run_json([args.ntneural, "bench", "train", "--model", "nhits", "--json"] + common))
        theirs.append(run_worker(__file__, common, args.threads))
    ntn, torch_out = ours[0], theirs[0]
    assert ntn["parameters"] == torch_out["parameters"], (ntn["parameters"], torch_out["parameters"])
    ntn_ms = statistics.median(o["step_ms"] for o in ours)
    torch_ms = statistics.median(t["step_ms"] for t in theirs)
    ntn_rss = statistics.median(o["peak_rss_mb"] for o in ours)
    torch_rss = statistics.median(t["peak_rss_mb"] for t in theirs)
    result = {
        "model": f"nhits L={args.input_size} H={args.horizon} 3 stacks mlp {args.hidden}x{args.hidden}",
        "parameters": ntn["parameters"],
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "ntneural_step_ms": ntn_ms,
        "pytorch_step_ms": torch_ms,
        "ntneural_step_ms_rounds": [o["step_ms"] for o in ours],
        "pytorch_step_ms_rounds": [t["step_ms"] for t in theirs],
        "ntneural": ntn,
        "ntneural_info": ntneural_info(args.ntneural),
        "pytorch": torch_out,
        "environment_dropped_for_pytorch": dropped_env(),
        "train_step_speedup": torch_ms / ntn_ms,
        "train_step_speedup_rounds": [t["step_ms"] / o["step_ms"] for o, t in zip(ours, theirs)],
        "peak_rss_ratio": ntn_rss / torch_rss,
    }
    print(json.dumps(result, indent=2))
    rounds = ", ".join(f"{r:.2f}" for r in result["train_step_speedup_rounds"])
    print(f"\ntraining step, batch {args.batch}, {args.threads} threads, median of {args.rounds} alternating rounds: "
          f"ntneural {ntn_ms:.2f} ms, PyTorch {torch_ms:.2f} ms -> {result['train_step_speedup']:.2f}x "
          f"(rounds: {rounds}; target >= 2x)")
    print(f"BLAS: PyTorch {torch_out['blas']['blas_info']} -> OpenBLAS {','.join(torch_out['blas']['openblas_core'])} "
          f"({torch_out['blas']['cpu_capability']}); ntneural: none in training (own GEMM, "
          f"isa {result['ntneural_info']['isa']})")
    print(f"peak RSS: ntneural {ntn_rss:.1f} MB, PyTorch {torch_rss:.1f} MB -> "
          f"{100 * result['peak_rss_ratio']:.1f}% (target <= 35%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
