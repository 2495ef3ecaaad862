"""Shared plumbing of the side-by-side scripts (compare_*.py): how each side is run.

Honest comparisons run the peer at its best and never time one side while the other runs:
  * every measurement is its own subprocess, started only after the previous one exited;
  * the PyTorch process runs without the variables some hosts set to force an OpenBLAS kernel
    family (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE): with them, its batch-1 forward was ~3x slower
    on an AVX-512 machine. ntneural runs in the caller's environment (its float training and
    serving never call BLAS, so the variables cannot change its results or speed);
  * each side reports the BLAS it used (blas_report() in the PyTorch worker, `ntneural info`).
"""
import json
import os
import re
import subprocess
import sys

# Variables that force OpenBLAS away from the kernels it would pick for this CPU.
PEER_ENV_DROP = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GOTOBLAS_CORETYPE")


def peer_env(threads):
    """The environment of a PyTorch process: the caller's, minus PEER_ENV_DROP, with its threads."""
    env = {k: v for k, v in os.environ.items() if k not in PEER_ENV_DROP}
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def dropped_env():
    return {k: os.environ[k] for k in PEER_ENV_DROP if k in os.environ}


def artifact_current(path):
    """True if the model file exists and was written by this ntneural (it carries ntn_checksum);
    an older artifact is retrained rather than refused at load."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            return b'"ntn_checksum":"xxh3-64:' in f.read(min(n, 1 << 24))
    except OSError:
        return False


def run_json(cmd, env=None):
    """Runs cmd to completion and returns the JSON object on the last line of its output."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_worker(script, args, threads):
    """Runs `script --worker args` under /usr/bin/python3 with the peer environment."""
    r = subprocess.run([sys.executable, os.path.abspath(script), "--worker"] + list(args), capture_output=True,
                       text=True, env=peer_env(threads))
    if r.returncode != 0:
        sys.exit(f"PyTorch worker failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def ntneural_info(ntneural):
    return run_json([ntneural, "info", "--json"])


def blas_report():
    """In a PyTorch process: its BLAS libraries, the OpenBLAS kernel family they run, the CPU
    capability PyTorch dispatches to, and the relevant environment."""
    import ctypes
    import torch

    cfg = torch.__config__.show()
    libs = sorted(set(re.findall(r"(/\S*(?:blas|lapack|mkl)\S*\.so[.0-9]*)", open("/proc/self/maps").read())))
    cores = {}
    for lib in libs:
        try:
            f = ctypes.CDLL(lib).openblas_get_corename
            f.restype = ctypes.c_char_p
            cores[lib] = f().decode()
        except (OSError, AttributeError):
            pass
    cap = re.search(r"CPU capability usage: (\S+)", cfg)
    info = re.search(r"BLAS_INFO=([^,]+)", cfg)
    return {"torch": torch.__version__, "blas_info": info.group(1) if info else None,
            "cpu_capability": cap.group(1) if cap else None, "blas_libraries": libs,
            "openblas_core": sorted(set(cores.values())), "threads": torch.get_num_threads(),
            "env": {k: os.environ.get(k) for k in PEER_ENV_DROP + ("OMP_NUM_THREADS",)}}


def ntneural_forecasts(ntneural, model, windows, tmp, column="HUFL"):
    """ntneural predict --json of each window (original scale), one CSV per window whose single
    column is named like the training series whose scaler applies."""
    path = os.path.join(tmp, "window.csv")
    got = []
    for w in windows:
        with open(path, "w") as f:
            f.write(f"t,{column}\n")
            for i, v in enumerate(w):
                f.write(f"{i},{v!r}\n")
        out = run_json([ntneural, "predict", "--model", model, "--data", path, "--columns", column, "--json"])
        got.append(out["forecasts"][column])
    return got


def check_same_forecasts(got, want, rel=1e-3):
    """Largest |got - want|; asserts it is below rel x the largest |want|."""
    import numpy as np
    got, want = np.array(got), np.array(want)
    err = float(np.max(np.abs(got - want)))
    assert err < rel * float(np.max(np.abs(want))), f"forecasts differ: max abs {err}"
    return err


def timed(f, reps=11, min_s=0.05):
    """Median over reps rounds of the mean time of f() (each round runs f for >= min_s)."""
    import statistics
    import time
    f()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < min_s:
            f()
            n += 1
        out.append((time.perf_counter() - t0) / n)
    return statistics.median(out)


def torch_train_step(model, forecast, L, H, batch):
    """The PyTorch side of a training-step comparison (in a worker process): Adam (lr 1e-3) + MSE
    on 4096 standardised random-walk windows (L -> H), seeded. Validates first (30 steps on one
    batch must lower its loss), then times steps over successive batches (median of 7 rounds of
    >= 0.3 s). forecast(model, x) gives the (B, H) forecast."""
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    walk = torch.cumsum(torch.randn(20000), 0)
    starts = torch.randint(0, 20000 - L - H, (4096,))
    w = walk[starts[:, None] + torch.arange(L + H)[None, :]]
    mean = w[:, :L].mean(1, keepdim=True)
    std = w[:, :L].std(1, unbiased=False, keepdim=True).clamp_min(1e-6)
    w = (w - mean) / std
    xs, ys = w[:, :L].contiguous(), w[:, L:].contiguous()
    B = batch

    def step(b):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(forecast(model, xs[b * B:(b + 1) * B]), ys[b * B:(b + 1) * B])
        loss.backward()
        opt.step()
        return float(loss)
    first = step(0)
    for _ in range(29):
        last = step(0)
    assert last < first, f"torch validation failed: {first} -> {last}"
    k = [0]

    def next_step():
        step(k[0] % (xs.shape[0] // B))
        k[0] += 1
    return {"validation_loss_first_last": [first, last], "step_ms": timed(next_step, reps=7, min_s=0.3) * 1e3}
