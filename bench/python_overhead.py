#!/usr/bin/env python3
"""What calling from Python costs (issue #16: a batch-1 forecast of NHITS-small from Python within
2 us of the same call from C++).

NHITS-small (ETTh1 ltsf, 168 -> 24, MLP 64x64, as bench/compare_predict.py trains it). The C++
figure is `ntneural bench predict --threads 1 --json` (latency_median_us: Predictor::predict timed
call by call in C++); the Python figure times `ntneural.Predictor.predict(x, series, out)` (float32 in,
the output array reused) call by call too, minus the timer's own cost, exact median of 20,000. Both run pinned to the same
core (taskset), alternating, --rounds times; the overhead is the median of the per-round differences.
Validated first: the Python Predictor's forecast of the file's last window equals `ntneural predict`.

Usage: PYTHONPATH=build/release/python /usr/bin/python3 bench/python_overhead.py [--bin ...] [--rounds 3] [--core 1] [--check]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "ETTh1.csv")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "release", "ntneural"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    os.sched_setaffinity(0, {a.core})
    import ntneural

    tmp = tempfile.mkdtemp(prefix="ntn_pyover_")
    model = os.path.join(tmp, "nhits_small.ntn")
    subprocess.run([a.bin, "train", "--data", DATA, "--protocol", "ltsf", "--input-size", "168", "--horizon", "24",
                    "--model", "nhits", "--mlp-units", "64x64", "--max-steps", "30", "--batch", "64", "--quiet",
                    "--out", model], check=True, capture_output=True)
    # validation: the file's last window of HUFL through both
    cli = json.loads(subprocess.run([a.bin, "predict", "--model", model, "--data", DATA, "--columns", "HUFL",
                                     "--json"], check=True, capture_output=True, text=True).stdout)
    want = np.array(cli["forecasts"]["HUFL"], dtype=np.float64)
    rows = [l.rstrip("\n").split(",") for l in open(DATA)]
    col = rows[0].index("HUFL")
    x = np.array([float(r[col]) for r in rows[-168:]], dtype=np.float32)
    p = ntneural.Predictor(model, precision="fp32", threads=1)
    got = p.predict(x, series="HUFL").astype(np.float64)
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        sys.exit(f"validation failed: Python {got[:4]} vs ntneural predict {want[:4]}")
    print(f"validated: the Python forecast of the last HUFL window equals `ntneural predict` "
          f"(max diff {np.max(np.abs(got - want)):.2e})")

    out = np.empty(p.horizon, dtype=np.float32)
    series_idx = p.series_index("HUFL")  # resolved once, as a server would
    cpp, py, diff = [], [], []
    for r in range(a.rounds):
        res = json.loads(subprocess.run(["taskset", "-c", str(a.core), a.bin, "bench", "predict", "--model", model,
                                         "--threads", "1", "--json"], check=True, capture_output=True,
                                        text=True).stdout)
        c = res["latency_median_us"]
        for _ in range(2000):  # warm-up
            p.predict(x, series_idx, out)
        # Each call timed alone, as the C++ side times them, and the exact median (robust to the
        # preemptions of a shared machine); the timer's own cost (an empty timed region) is removed.
        clock = time.perf_counter_ns
        calls, empty = [], []
        for _ in range(20000):
            t0 = clock()
            p.predict(x, series_idx, out)
            t1 = clock()
            t2 = clock()
            calls.append(t1 - t0)
            empty.append(t2 - t1)
        q = (statistics.median(calls) - statistics.median(empty)) / 1000
        cpp.append(c)
        py.append(q)
        diff.append(q - c)
        print(f"round {r + 1}: C++ {c:.2f} us, Python {q:.2f} us, overhead {q - c:+.2f} us")
    d = statistics.median(diff)
    print(f"NHITS-small batch-1 fp32, 1 thread (core {a.core}): C++ {statistics.median(cpp):.2f} us, "
          f"Python {statistics.median(py):.2f} us, overhead {d:+.2f} us (bound 2 us)")
    print(json.dumps({"cpp_us": statistics.median(cpp), "python_us": statistics.median(py), "overhead_us": d}))
    if a.check and d > 2.0:
        sys.exit(1)


if __name__ == "__main__":
    main()
