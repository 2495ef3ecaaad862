#!/usr/bin/env python3
"""Notebook-style example of the Python package (docs/python.md; run by the test suite).

S&P 500 daily closes (data/sp500_2000_2020_daily.csv): train NHITS with three quantiles, backtest
the point forecast against the random walk, forecast the next 5 days with an 80% interval, keep the
model in a registry, and plot (with matplotlib, when it is installed) the last 120 days, the
forecast and its interval.

    PYTHONPATH=build/release/python /usr/bin/python3 docs/python_example.py [--plot out.png] [--steps 300]
"""
import argparse
import csv
import os
import tempfile

import numpy as np

import ntneural

HERE = os.path.dirname(os.path.abspath(__file__))

ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(HERE, "..", "data", "sp500_2000_2020_daily.csv"))
ap.add_argument("--steps", type=int, default=300)
ap.add_argument("--plot", default="")
args = ap.parse_args()

# 1. the data: a numpy array of closes (a pandas long frame works too: unique_id, ds, y)
with open(args.data) as f:
    close = np.array([float(r["close"]) for r in csv.DictReader(f)])
print(f"{len(close)} closes, last {close[-1]:.2f}")

# 2. train: NHITS, 60 days in, 5 out, the 10/50/90% quantiles (multi-quantile loss)
model = ntneural.train(close, model="nhits", input_size=60, horizon=5, mlp_units=[[256, 256]],
                       loss="mq", quantiles=[0.1, 0.5, 0.9], window_scaling="standard", scaler="none",
                       max_steps=args.steps, batch_size=64, seed=1)
print("trained:", model.summary["steps"], "steps; test part:",
      {k: round(v, 3) for k, v in model.test_metrics.items() if k in ("mae", "smape")})

# 3. backtest the median forecast over the last 250 origins, against the random walk
bt = model.backtest(close, origins=250)
print(f"backtest: MAE {bt['mae']:.2f} vs naive {bt['naive']['mae']:.2f}")

# 4. forecast the next 5 days with an 80% interval
q = model.predict(close[-60:])  # (5, 3): the 0.1, 0.5, 0.9 quantiles per day
for d, (lo, mid, hi) in enumerate(q, 1):
    print(f"day +{d}: {mid:8.2f}  [{lo:8.2f}, {hi:8.2f}]")
assert q.shape == (5, 3) and np.all(q[:, 0] <= q[:, 2])

# 5. serve it: a float32 Predictor (zero-copy, thread-safe) and a registry entry
p = ntneural.Predictor(model, precision="int8")
print("int8 median forecast:", np.round(p.predict(close[-60:].astype(np.float32))[:, 1], 2))
reg = ntneural.Registry(os.path.join(tempfile.mkdtemp(), "models.db"))
rec = reg.add(model, name="sp500-nhits", tags=["daily", "index"], metrics={"backtest_mae": bt["mae"]},
              signature=ntneural.series_signature(close, season=5))
print(f"registered as {rec['name']}@{rec['version']}")

# 6. plot (optional)
if args.plot:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
    else:
        t = np.arange(len(close))
        ahead = np.arange(len(close), len(close) + 5)
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(t[-120:], close[-120:], label="close")
        ax.plot(ahead, q[:, 1], label="median forecast")
        ax.fill_between(ahead, q[:, 0], q[:, 2], alpha=0.3, label="80% interval")
        ax.legend()
        fig.savefig(args.plot, dpi=100)
        print("plot written to", args.plot)
