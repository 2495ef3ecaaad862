#!/usr/bin/env python3
"""`ntneural train --ensemble K` (the N-BEATS recipe) against single models, side by side.

On M4 Hourly (N-BEATS by default) one script runs, each command alone and timed on its own:
  single     one default training run
  auto       --auto (the best single configuration the search finds)
  ensemble   --ensemble K: K members (input 2..7 x H, loss mae / mse / huber, seed + k), median
  auto_ens   --auto --ensemble K: the members take the search's chosen settings
and prints the test sMAPE / MASE of each, every member's own test sMAPE (each member scored alone
by ntneural from the same run), the wall times and their ratios to the single run. It also serves
the ensemble artifact and the single one with `ntneural bench predict` (batch-1 p50 and batch-512
throughput: the ensemble is one model in one batched call, so it costs about K single forecasts).

Before timing anything it validates: `ntneural evaluate` on the saved ensemble artifact gives the
test sMAPE the training run printed (the artifact is the model that was scored).

  /usr/bin/python3 bench/ensemble_accuracy.py [--model nbeats] [--members 6] [--threads 2] [--check]

--check fails (exit 1) unless each ensemble beats its best member on the test part and the
single default run, and the searched ensemble beats the searched single model.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from auto_accuracy import M4, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--model", default="nbeats")
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    base = M4 + ["--model", args.model]
    k = ["--ensemble", str(args.members)]
    runs = {"single": [], "auto": ["--auto"], "ensemble": k, "auto_ens": ["--auto"] + k}
    failed, rows = [], {}
    with tempfile.TemporaryDirectory() as d:
        for name, extra in runs.items():
            out = os.path.join(d, name + ".ntn")
            res, wall = run(args.ntneural, base + extra, args.threads, out)
            row = {"run": name, "smape": res["test"]["smape"], "mase": res["test"]["mase"], "seconds": round(wall, 1),
                   "command": " ".join(["ntneural", "train"] + base + extra)}
            if "ensemble" in res:
                row["members"] = [{"input_size": m["input_size"], "loss": m["loss"], "seed": m["seed"],
                                   "smape": m["test"]["smape"]} for m in res["ensemble"]["members"]]
                row["best_member_smape"] = min(m["smape"] for m in row["members"])
                # Validation: the saved artifact is the model that was scored.
                ev = json.loads(subprocess.run([args.ntneural, "evaluate", "--model", out] + M4 + ["--json"],
                                               check=True, capture_output=True, text=True).stdout)
                if abs(ev["smape"] - row["smape"]) > 1e-9:
                    failed.append(f"{name}: evaluate of the artifact gives sMAPE {ev['smape']} != {row['smape']}")
            if "search" in res or "auto" in res.get("ensemble", {}):
                row["chosen"] = (res.get("search") or res["ensemble"]["auto"])["chosen_params"]
            if name in ("single", "ensemble"):
                bp = json.loads(subprocess.run([args.ntneural, "bench", "predict", "--model", out, "--requests", "2000",
                                                "--threads", "1", "--json"], check=True, capture_output=True,
                                               text=True).stdout)
                row["serve"] = {"p50_us": bp["latency_p50_us"], "b512_per_s": bp["throughput_b512_per_s"]}
            rows[name] = row
            print(json.dumps(row), flush=True)
    s = rows["single"]["seconds"]
    summary = {n: {"smape": r["smape"], "cost_vs_single": round(r["seconds"] / s, 2)} for n, r in rows.items()}
    summary["serve_p50_ratio_ensemble_vs_single"] = round(
        rows["ensemble"]["serve"]["p50_us"] / rows["single"]["serve"]["p50_us"], 2)
    print(json.dumps({"summary": summary}), flush=True)
    for name in ("ensemble", "auto_ens"):
        r = rows[name]
        if r["smape"] >= r["best_member_smape"]:
            failed.append(f"{name}: sMAPE {r['smape']:.3f} >= its best member's {r['best_member_smape']:.3f}")
        if r["smape"] >= rows["single"]["smape"]:
            failed.append(f"{name}: sMAPE {r['smape']:.3f} >= the single default run's {rows['single']['smape']:.3f}")
    if rows["auto_ens"]["smape"] >= rows["auto"]["smape"]:
        failed.append(f"auto_ens: sMAPE {rows['auto_ens']['smape']:.3f} >= --auto's {rows['auto']['smape']:.3f}")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1 if args.check else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
