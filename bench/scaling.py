#!/usr/bin/env python3
"""Data-parallel training over MPI ranks on this machine, against the cost model of docs/scaling.md.

For each rank count N (default 1, 2, 3) it runs `mpirun -np N ntneural bench train` (NHITS-default,
global batch 256, --threads 1 per rank, --micro-batches = the least common multiple of the N, so every run
has the same partition, the same bits and balanced ranks) and prints, per N: the median step, steps/s, the speedup over 1 rank,
the bytes each rank sends per step, the exchange alone (the gradient slab's ordered sum, timed with
no compute around it) and the cost model's prediction t_1 / N + exchange, with its error.
Each bench run validates itself (30 steps on one batch must lower the loss) before timing; that
the weights are bitwise equal on 1, 2 and 3 ranks is tests/dist/test_mpi.sh's job.

  /usr/bin/python3 bench/scaling.py [--bin build/release/ntneural] [--ranks 1,2,3] [--reps 21]
      [--check]   exit 1 unless 2 ranks >= 1.8x and the prediction is within 15% (issue #15)
"""
import argparse
import json
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="build/release/ntneural")
ap.add_argument("--ranks", default="1,2,3")
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--hidden", type=int, default=512)
ap.add_argument("--reps", type=int, default=21)
ap.add_argument("--model", default="nhits")
ap.add_argument("--check", action="store_true")
args = ap.parse_args()

ranks = [int(r) for r in args.ranks.split(",")]
micro = 1  # the least common multiple of the rank counts: every rank gets the same share
for r in ranks:
    micro = micro * r // __import__("math").gcd(micro, r)
env = dict(os.environ)
rows = []
for n in ranks:
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core" if n <= os.cpu_count() else "none",
           "-np", str(n), args.bin, "bench", "train", "--model", args.model, "--batch", str(args.batch),
           "--hidden", str(args.hidden), "--micro-batches", str(micro), "--threads", "1", "--reps", str(args.reps),
           "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    j = json.loads(out.strip().splitlines()[-1])
    rows.append((n, j))

t1 = rows[0][1]["step_ms"] if rows[0][0] == 1 else None
print(f"{args.model} hidden {args.hidden}, {rows[0][1]['parameters']} parameters "
      f"({4 * rows[0][1]['parameters'] / 1e6:.2f} MB of fp32 gradients), global batch {args.batch}, "
      f"{micro} micro-batches, 1 thread per rank")
print(f"{'ranks':>5} {'step ms':>8} {'steps/s':>8} {'speedup':>8} {'MB sent/step':>13} {'exchange ms':>12} "
      f"{'predicted ms':>13} {'error':>7}")
ok = True
for n, j in rows:
    ms = j["step_ms"]
    speed = t1 / ms if t1 else float("nan")
    pred = t1 / n + j["exchange_ms"] if t1 else float("nan")
    err = (pred - ms) / ms
    print(f"{n:>5} {ms:>8.2f} {1e3 / ms:>8.1f} {speed:>8.2f} {j['bytes_sent_per_step'] / 1e6:>13.2f} "
          f"{j['exchange_ms']:>12.3f} {pred:>13.2f} {100 * err:>6.1f}%")
    if n == 2 and args.check:
        ok &= speed >= 1.8 and abs(err) <= 0.15
if args.check and not ok:
    print("check failed: issue #15 asks 2 ranks >= 1.8x and the prediction within 15%")
    sys.exit(1)

# The cost model on a cluster (docs/scaling.md): t_N = t_1 / N + t_x, t_x = 2 S (N - 1) / N / W + 2 (N - 1) a,
# one micro-batch per rank, from this run's t_1 and S; a = 20 us per message (TCP; less on RDMA).
if t1:
    S = 4.0 * rows[0][1]["parameters"]
    a = 20e-6
    print(f"\npredicted speedup (t_1 = {t1:.2f} ms here, S = {S / 1e6:.2f} MB, a = 20 us):")
    print(f"{'ranks':>5} | {'global batch fixed':^26} | {'batch per rank fixed (weak)':^26}")
    print(f"{'':>5} | {'10 Gb/s':>8}{'25 Gb/s':>9}{'100 Gb/s':>9} | {'10 Gb/s':>8}{'25 Gb/s':>9}{'100 Gb/s':>9}")
    for n in (2, 4, 8, 16, 32, 64):
        strong, weak = [], []
        for gbit in (10, 25, 100):
            w = gbit * 1e9 / 8
            tx = 2 * S * (n - 1) / n / w + 2 * (n - 1) * a
            strong.append(t1 / 1e3 / (t1 / 1e3 / n + tx))
            weak.append(n * t1 / 1e3 / (t1 / 1e3 + tx))
        print(f"{n:>5} | " + "".join(f"{v:>8.1f} " for v in strong) + "| " + "".join(f"{v:>8.1f} " for v in weak))
