#!/usr/bin/env python3
"""Accuracy and cost of `ntneural train --auto` against one default training run, side by side.

For each case: one default run (`ntneural train` with its defaults: 1000 steps, batch 32, the
protocol's input size, validation every 100 steps with early stopping) and one `--auto` run on the
same data, each timed on its own (wall clock of the whole command), with the test metrics of both
and the published figure where there is one. The cost ratio is auto wall / default wall.

  /usr/bin/python3 bench/auto_accuracy.py [--cases etth1_96,m4_nhits] [--threads 2] [--check]

--check fails (exit 1) when a case misses its published target (+3% for ETTh1, the sMAPE bound
for M4), an extra data set's MAE is not below both the naive and the seasonal naive, or a search
costs more than 10 default runs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
ETT = ["--data", os.path.join(DATA, "ETTh1.csv"), "--protocol", "ltsf"]
M4 = ["--data", os.path.join(DATA, "m4_hourly_train.csv"), "--test-data", os.path.join(DATA, "m4_hourly_test.csv"),
      "--protocol", "m4"]

# ETTh1: 27 candidates (4 rungs) rather than 9 - the long horizons need the wider draw (h336 reaches
# its target only so).
WIDE = ["--auto-candidates", "27"]
# name: (data + model args, extra args of the --auto run, targets {metric: bound})
CASES = {
    "etth1_96": (ETT + ["--horizon", "96", "--model", "nhits"], ["--auto-refit"] + WIDE, {"mse": 0.378 * 1.03, "mae": 0.393 * 1.03}),
    "etth1_192": (ETT + ["--horizon", "192", "--model", "nhits"], ["--auto-refit"] + WIDE, {"mse": 0.427 * 1.03, "mae": 0.436 * 1.03}),
    "etth1_336": (ETT + ["--horizon", "336", "--model", "nhits"], ["--auto-refit"] + WIDE, {"mse": 0.458 * 1.03, "mae": 0.484 * 1.03}),
    "etth1_720": (ETT + ["--horizon", "720", "--model", "nhits"], ["--auto-refit"] + WIDE, {"mse": 0.561 * 1.03, "mae": 0.501 * 1.03}),
    "m4_nhits": (M4 + ["--model", "nhits"], [], {"smape": 13.9}),
    "m4_nbeats": (M4 + ["--model", "nbeats"], [], {"smape": 14.8}),
    # Extra data without published neural results: --auto must beat the naive and the seasonal naive
    # (target "baselines": MAE below both).
    "ilinet": (["--data", os.path.join(DATA, "ILINet.csv"), "--columns", "% WEIGHTED ILI", "--horizon", "12",
                "--model", "nhits"], [], {"baselines": 1}),
    "us_gasoline": (["--data", os.path.join(DATA, "us_gasoline.csv"), "--horizon", "13", "--model", "nhits"], [],
                    {"baselines": 1}),
    "taylor": (["--data", os.path.join(DATA, "taylor.csv"), "--season", "48", "--horizon", "48", "--model", "nhits"],
               [], {"baselines": 1}),
    "sunspots": (["--data", os.path.join(DATA, "monthly-sunspots.csv"), "--horizon", "12", "--model", "nhits"], [],
                 {"baselines": 1}),
    "taxi": (["--data", os.path.join(DATA, "taxi_new_york_passengers.csv"), "--horizon", "48", "--model", "nhits"], [],
             {"baselines": 1}),
}


def run(bin_, args, threads, out=None):
    """`ntneural train ARGS --json`, timed (wall of the whole command); the artifact to `out` if given."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [bin_, "train"] + args + ["--threads", str(threads), "--out", out or os.path.join(d, "m.ntn"),
                                        "--json", "--quiet"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(res), time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    failed = []
    for name in args.cases.split(","):
        base, extra, targets = CASES[name]
        default, t_default = run(args.ntneural, base, args.threads)
        auto, t_auto = run(args.ntneural, base + ["--auto"] + extra, args.threads)
        keys = [k for k in ("mse", "mae", "smape", "mase") if k in auto["test"]]
        snaive = auto["test"].get("seasonal_naive", {})
        row = {
            "case": name,
            "default": {k: default["test"][k] for k in keys},
            "auto": {k: auto["test"][k] for k in keys},
            "naive": {k: auto["test"]["naive"][k] for k in keys if k in auto["test"]["naive"]},
            "seasonal_naive": {k: snaive[k] for k in keys if k in snaive},
            "season": auto["test"].get("season"),
            "targets": targets,
            "chosen": auto["search"]["chosen_params"],
            "refit": auto["search"].get("refit"),
            "default_seconds": round(t_default, 1),
            "auto_seconds": round(t_auto, 1),
            "cost_ratio": round(t_auto / t_default, 2),
            "command": " ".join(["ntneural", "train"] + base + ["--auto"] + extra),
        }
        print(json.dumps(row), flush=True)
        for k, bound in targets.items():
            if k == "baselines":
                for base, label in ((auto["test"]["naive"], "naive"), (snaive, "seasonal naive")):
                    if not base:
                        failed.append(f"{name}: no {label} baseline reported")
                    elif auto["test"]["mae"] >= base["mae"]:
                        failed.append(f"{name}: MAE {auto['test']['mae']:.4g} >= the {label}'s {base['mae']:.4g}")
                continue
            if auto["test"][k] > bound:
                failed.append(f"{name}: {k} {auto['test'][k]:.4f} > {bound:.4f}")
        if t_auto / t_default > 10:
            failed.append(f"{name}: the search cost {t_auto / t_default:.1f}x one default run (> 10x)")
    if args.check and failed:
        print("FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
