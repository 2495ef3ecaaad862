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
