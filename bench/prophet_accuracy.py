#!/usr/bin/python3
"""The Prophet-style model's figures (issue #13), through the CLI:
  * S&P 500 daily close, the whole file (5,105 business days with dates): median time of one MAP fit
    on one thread (`ntneural bench fit`, validated: L-BFGS converged, in-sample MAE below the mean's);
    the issue asks <= 50 ms (Prophet with Stan: ~200 ms for 2,905 points);
  * AirPassengers, multiplicative yearly seasonality (auto-enabled from the monthly dates), the last
    12 months (1960) as the test part, input 120 (1950-1959), horizon 12: test MAE (ask <= 25;
    ETS 16.2, AutoARIMA 18.6);
  * M4 Hourly (m4 protocol: each series' last 600 train values, horizon 48), seasonalities of 24 and
    168 steps (no dates in M4): test sMAPE (ask <= 18.1; Prophet with cross-validated settings 18.11).
Prints one JSON line per figure; --check exits 1 when a figure misses its target.

  /usr/bin/python3 bench/prophet_accuracy.py [--ntneural build/release/ntneural] [--check]
Needs ../shared/data/{AirPassengers.csv, m4_hourly_train.csv, m4_hourly_test.csv}.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "..", "shared", "data")

TRAIN = {
    "airpassengers_multiplicative_h12": (["--data", os.path.join(DATA, "AirPassengers.csv"), "--scaler", "none",
                                          "--val-ratio", "0", "--test-ratio", "0.0834", "--input-size", "120",
                                          "--horizon", "12", "--set", "seasonality_mode=multiplicative"],
                                         "mae", 25.0),
    "m4_hourly_p24_p168": (["--data", os.path.join(DATA, "m4_hourly_train.csv"), "--test-data",
                            os.path.join(DATA, "m4_hourly_test.csv"), "--protocol", "m4", "--input-size", "600",
                            "--set", "seasonalities=[24,168]"],
                           "smape", 18.1),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ntneural", default=os.path.join(ROOT, "build", "release", "ntneural"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    ok = True
    fit = json.loads(subprocess.run([args.ntneural, "bench", "fit", "--data",
                                     os.path.join(ROOT, "data", "sp500_2000_2020_daily.csv"), "--column", "close",
                                     "--json"], check=True, capture_output=True, text=True).stdout)
    fit["figure"] = "sp500_close_fit_ms"
    fit["target"] = 50.0
    fit["met"] = fit["fit_ms"] <= 50.0
    ok = ok and fit["met"]
    print(json.dumps(fit), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (flags, metric, target) in TRAIN.items():
            out = subprocess.run([args.ntneural, "train", "--model", "prophet", *flags, "--quiet", "--json",
                                  "--out", os.path.join(tmp, name + ".ntn")],
                                 check=True, capture_output=True, text=True).stdout
            t = json.loads(out)["test"]
            row = {"figure": name, metric: t[metric], "target": target, "met": t[metric] <= target,
                   "windows": t["windows"], "naive": t["naive"]}
            ok = ok and row["met"]
            print(json.dumps(row), flush=True)
    if args.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
