#!/usr/bin/env python3
"""Conformal-interval figures of issue #17.

1. ETTh1 (ltsf, horizon 96, NHITS with its defaults): split-conformal 80% and 95% intervals
   calibrated on the validation windows; the empirical coverage on the test windows, for the
   absolute and the window score, for score head of the same NHITS with a pinball head
   (--quantiles), and for the absolute score with the calibration windows weighted by recency
   (--half-lives, hours) (`ntneural train --json`, test.intervals).
2. S&P 500 daily closes (data/sp500_2000_2020_daily.csv): an NHITS (input 60, horizon 5) trained
   with the CLI's defaults; then every close streamed through `ntneural predict --stream --aci LEVEL`
   (adaptive intervals), and the split-conformal interval of the same forecasts (f -+ r_h x the
   series' scale, r_h read from the artifact). Reported: the coverage of each over the 2008 crash
   (2008-09-01 .. 2009-03-31), the 2020 crash (2020-02-19 .. 2020-04-30) and the whole stream,
   pooled over the 5 steps, at 80% and 95%. Validated first: the stream's forecasts equal
   `ntneural predict` on the same history (the last window).

Usage: bench/conformal_bench.py [--bin build/release/ntneural] [--skip-etth1] [--half-lives 168] [--gamma 0.05]
                               [--score absolute|window|head [--quantiles 0.1,0.5,0.9]]
"""
import argparse
import csv
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
SP500 = os.path.join(HERE, "..", "data", "sp500_2000_2020_daily.csv")
PERIODS = {"2008 crash": ("2008-09-01", "2009-03-31"), "2020 crash": ("2020-02-19", "2020-04-30")}


def run(cmd, stdin=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def artifact_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def etth1(a, tmp):
    data = os.path.join(SHARED, "ETTh1.csv")
    print("ETTh1 ltsf h96 NHITS (defaults), split conformal on the validation windows:")
    out = {}
    runs = [("absolute", 0), ("window", 0), ("head", 0)] + [("absolute", float(t)) for t in a.half_lives.split(",") if t]
    for score, half_life in runs:
        head = ["--loss", "pinball", "--quantiles", a.quantiles] if score == "head" else []
        name = score + (f", half-life {half_life:g}" if half_life else "")
        j = json.loads(run([a.bin, "train", "--data", data, "--protocol", "ltsf", "--horizon", "96", "--model", "nhits",
                            "--conformal-score", score, "--conformal-half-life", str(half_life),
                            "--out", os.path.join(tmp, "etth1.ntn"), "--quiet", "--json"] + head))
        iv = j["test"]["intervals"]
        cov = {l["level"]: l["coverage"] for l in iv["levels"]}
        out[name] = cov
        print(f"  {name:24s}: {iv['calibration_windows']} calibration windows; test coverage "
              + ", ".join(f"{int(k * 100)}% -> {v:.3f} ({(v - k) * 100:+.1f} points)" for k, v in cov.items())
              + f"; test mae {j['test']['mae']:.4f}")
    return out


def sp500(a, tmp):
    rows = list(csv.DictReader(open(SP500)))
    dates = [r["date"] for r in rows]
    close = [float(r["close"]) for r in rows]
    model = os.path.join(tmp, "spx.ntn")
    head = ["--loss", "pinball", "--quantiles", a.quantiles] if a.score == "head" else []
    j = json.loads(run([a.bin, "train", "--data", SP500, "--columns", "close", "--input-size", "60", "--horizon", "5",
                        "--model", "nhits", "--conformal-score", a.score, "--out", model, "--quiet", "--json"] + head))
    meta = artifact_metadata(model)
    conf = json.loads(meta["conformal"])
    scale = abs(json.loads(meta["scaler"])["scale"][0])
    assert conf["score"] == a.score
    L, H = 60, 5
    text = "\n".join(r["close"] for r in rows) + "\n"
    # Validation: the stream's last forecast equals predict on the whole history.
    last = run([a.bin, "predict", "--model", model, "--stream"], stdin=text).strip().splitlines()[-1]
    ref = json.loads(run([a.bin, "predict", "--model", model, "--data", SP500, "--columns", "close", "--json"]))
    Q = len(a.quantiles.split(",")) if a.score == "head" else 1
    mid = Q // 2  # the median of an odd, symmetric list of levels
    f_stream = [float(v) for v in last.split(",")][mid::Q]
    f_ref = ref["forecasts"]["close"]
    if Q > 1:
        f_ref = [row[mid] for row in f_ref] if isinstance(f_ref[0], list) else f_ref[mid::Q]
    assert all(abs(x - y) <= 1e-3 * max(1.0, abs(y)) for x, y in zip(f_stream, f_ref)), (f_stream, f_ref)
    print(f"validated: the stream's last forecast equals `ntneural predict` ({f_stream[0]:.2f} vs {f_ref[0]:.2f})")
    print(f"S&P 500 close, NHITS 60 -> 5, split calibration on {conf['windows']} validation windows "
          f"(test MAE {j['test']['mae']:.2f}), {a.score} score; ACI gamma {a.gamma}:")
    result = {}
    for li, level in enumerate(conf["levels"]):
        lines = run([a.bin, "predict", "--model", model, "--stream", "--aci", str(level), "--aci-gamma", str(a.gamma)],
                    stdin=text).strip().splitlines()
        # Line i: the forecast made after m = L + i values, aiming at values m .. m + H - 1.
        # aci hits, split hits, n, aci intervals of infinite width (a level past the calibration)
        hits = {k: [0, 0, 0, 0] for k in list(PERIODS) + ["whole stream"]}
        for i, line in enumerate(lines):
            v = [float(x) for x in line.split(",")]
            q, lo, hi = v[:H * Q], v[H * Q:H * Q + H], v[H * Q + H:]
            f = q[mid::Q]
            m = L + i
            for h in range(H):
                t = m + h
                if t >= len(close):
                    break
                y = close[t]
                # The split interval's scale: the series' (absolute), or the window's mean absolute step.
                w = close[m - L:m]
                s = scale if a.score == "absolute" else max(sum(abs(w[k] - w[k - 1]) for k in range(1, L)) / (L - 1),
                                                           1e-9 * (1 + sum(abs(x) for x in w) / L))
                r = conf["radius"][li][h]
                if a.score == "head":  # the head's own spread on each side of the median
                    s_lo, s_hi = f[h] - q[h * Q], q[h * Q + Q - 1] - f[h]
                else:
                    s_lo = s_hi = s
                aci_hit = lo[h] <= y <= hi[h]
                split_hit = f[h] - r * s_lo <= y <= f[h] + r * s_hi
                for name, (d0, d1) in list(PERIODS.items()) + [("whole stream", (dates[L], dates[-1]))]:
                    if d0 <= dates[t] <= d1:
                        hits[name][0] += aci_hit
                        hits[name][1] += split_hit
                        hits[name][2] += 1
                        hits[name][3] += math.isinf(hi[h] - lo[h])
        result[level] = {}
        for name, (ah, sh, n, inf) in hits.items():
            aci, split = ah / n, sh / n
            result[level][name] = {"aci": aci, "split": split, "forecasts": n, "aci_unbounded": inf / n}
            print(f"  {int(level * 100)}% {name:12s}: ACI {aci:.3f} ({(aci - level) * 100:+.1f}), split {split:.3f} "
                  f"({(split - level) * 100:+.1f})  [{n} step forecasts; ACI unbounded {inf / n:.3f}]")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "release", "ntneural"))
    ap.add_argument("--skip-etth1", action="store_true")
    ap.add_argument("--gamma", type=float, default=0.05)
    ap.add_argument("--score", default="absolute", help="the S&P model's conformal score: absolute, window or head "
                    "(head: a quantile NHITS, --quantiles)")
    ap.add_argument("--half-lives", default="168", help="ETTh1: recency-weighted runs (absolute score) at these "
                    "half-lives in hours (--conformal-half-life), comma-separated; empty: none")
    ap.add_argument("--quantiles", default="0.1,0.5,0.9", help="score head: the model's pinball levels (odd, median in the middle)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        if not a.skip_etth1:
            out["etth1"] = etth1(a, tmp)
        out["sp500"] = sp500(a, tmp)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
