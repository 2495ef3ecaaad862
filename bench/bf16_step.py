#!/usr/bin/env python3
"""bf16 mixed-precision training step against fp32, one thread (issue #15: >= 1.6x at batch 256).

Runs `ntneural bench train --precision fp32` and `--precision bf16` in alternating pairs (so a noisy
neighbour hits both sides alike), each a median of --reps steps after its own validation (30 steps on
one batch must lower the loss, else bench train fails), and prints every pair, the median of each side
over the pairs and the ratio of those medians. Needs a CPU with AVX512_BF16 (bench train says so
otherwise).

  /usr/bin/python3 bench/bf16_step.py [--bin build/release/ntneural] [--pairs 5] [--reps 21]
      [--model nhits] [--batch 256] [--threads 1] [--json FILE] [--check]   (--check: exit 1 below 1.6x)
"""
import argparse
import json
import statistics
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="build/release/ntneural")
ap.add_argument("--pairs", type=int, default=5)
ap.add_argument("--reps", type=int, default=21)
ap.add_argument("--model", default="nhits")
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--json")
ap.add_argument("--check", action="store_true")
args = ap.parse_args()


def step(precision):
    cmd = [args.bin, "bench", "train", "--model", args.model, "--batch", str(args.batch), "--threads",
           str(args.threads), "--reps", str(args.reps), "--precision", precision, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    j = json.loads(r.stdout)
    assert j["precision"] == precision, j
    first, last = j["validation_loss_first_last"]
    assert last < first, f"{precision}: the validation run did not learn ({first} -> {last})"
    return j["step_ms"]


rows = []
for p in range(args.pairs):
    f, b = step("fp32"), step("bf16")
    rows.append({"fp32_ms": f, "bf16_ms": b, "ratio": f / b})
    print(f"pair {p + 1}: fp32 {f:7.2f} ms  bf16 {b:7.2f} ms  {f / b:5.2f}x", flush=True)
mf = statistics.median(r["fp32_ms"] for r in rows)
mb = statistics.median(r["bf16_ms"] for r in rows)
print(f"median: fp32 {mf:.2f} ms, bf16 {mb:.2f} ms -> {mf / mb:.2f}x (issue #15: >= 1.6x)")
out = {"model": args.model, "batch": args.batch, "threads": args.threads, "pairs": rows,
       "fp32_median_ms": mf, "bf16_median_ms": mb, "speedup": mf / mb}
if args.json:
    with open(args.json, "w") as fh:
        json.dump(out, fh, indent=1)
if args.check and mf / mb < 1.6:
    sys.exit(1)
