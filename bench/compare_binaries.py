"""Two ntneural binaries side by side (e.g. before and after a refactor): serving latency
(bench predict, fp32 and int8 batch-1 p50) and the training step (bench train), interleaved
OLD, NEW, OLD, NEW ... so that machine noise hits both alike; medians over rounds and NEW / OLD
ratios from this one run.

Validated before timing: both binaries load the same artifacts (trained and quantised by OLD, so
that an older reader can load them) and must print the same forecasts (fp32: bitwise; int8: the
same bits as well - both serve through the same kernels).

  /usr/bin/python3 bench/compare_binaries.py --old /tmp/ntn_old/build/release/ntneural \
      --new build/release/ntneural --rounds 7
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                   "ETTh1.csv"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("compare_binaries: --rounds must be >= 1")
    bins = {"old": args.old, "new": args.new}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = os.path.join(tmp, "nhits.ntn")
        int8 = os.path.join(tmp, "nhits.int8.ntn")
        run_json([args.old, "train", "--data", args.data, "--protocol", "ltsf", "--input-size", "168", "--horizon",
                  "24", "--model", "nhits", "--mlp-units", "512x512", "--max-steps", "30", "--batch", "64", "--quiet",
                  "--json", "--out", fp32])
        run_json([args.old, "quantize", "--model", fp32, "--to", "int8", "--out", int8, "--json"])
        # Validation: the same forecasts from both binaries, for both precisions.
        for model, prec in ((fp32, "fp32"), (int8, "int8")):
            outs = {k: run_json([b, "predict", "--model", model, "--precision", prec, "--data", args.data,
                                 "--columns", "HUFL,OT", "--json"])["forecasts"] for k, b in bins.items()}
            if outs["old"] != outs["new"]:
                sys.exit(f"compare_binaries: {prec} forecasts differ between the binaries: "
                         f"{json.dumps(outs)[:400]}")
        res = {k: {"fp32_p50_us": [], "int8_p50_us": [], "train_step_ms": []} for k in bins}
        req = ["--requests", str(args.requests), "--threads", str(args.threads), "--json"]
        for _ in range(args.rounds):
            for k, b in bins.items():
                res[k]["fp32_p50_us"].append(
                    run_json([b, "bench", "predict", "--model", fp32, "--precision", "fp32"] + req)["latency_p50_us"])
                res[k]["int8_p50_us"].append(
                    run_json([b, "bench", "predict", "--model", int8, "--precision", "int8"] + req)["latency_p50_us"])
                res[k]["train_step_ms"].append(
                    run_json([b, "bench", "train", "--threads", str(args.threads), "--reps", "21", "--json"])["step_ms"])
    summary = {"rounds": args.rounds, "threads": args.threads, "old": args.old, "new": args.new, "median": {},
               "new_over_old": {}, "runs": res}
    for key in ("fp32_p50_us", "int8_p50_us", "train_step_ms"):
        o, n = statistics.median(res["old"][key]), statistics.median(res["new"][key])
        summary["median"][key] = {"old": o, "new": n}
        summary["new_over_old"][key] = n / o
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
