#!/usr/bin/env python3
"""Registry figures of issue #16: similarity search over 100,000 records, and whether the signature
finds an index's own model (the four European indices).

1. European indices (../shared/data/eustockmarkets_daily.csv: DAX, SMI, CAC, FTSE, 1991-1998 business
   days): a model per index trained and registered on the first half of its history (the signature of
   that half); each query is a stretch of the second half - the whole half and its --chunks equal
   parts - and `registry search --like` ranks the four models. Reported: how often the index's own
   model ranks first, against 1/4 by chance, per similarity.
2. 100,000 records: the registry above grown to 100,000 records by copying one record with random
   signatures (near the real ones) in one SQLite transaction, then `registry search --like --k 5
   --repeat R --json`: the first search (reads every signature from the file) and the median of the
   warm ones (the exact scan of the in-memory copy), plus the whole command's wall time. The ranking
   is validated first: the 100,000-record search must return the records the same scan computed
   here in Python (numpy) - exact cosine over the same signatures.

Usage: bench/registry_bench.py [--bin build/release/ntneural] [--records 100000] [--chunks 4] [--reps 11] [--check]
--check exits 1 when the warm search median exceeds 20 ms.
"""
import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "eustockmarkets_daily.csv")
INDICES = ["DAX", "SMI", "CAC", "FTSE"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def write_csv(path, t, cols):
    with open(path, "w") as f:
        f.write("t," + ",".join(cols) + "\n")
        for i in range(len(t)):
            f.write(t[i] + "," + ",".join(cols[c][i] for c in cols) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "release", "ntneural"))
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--season", type=int, default=5, help="signature season (5: a business week)")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    rows = [l.rstrip("\n").split(",") for l in open(DATA)]
    head, rows = rows[0], rows[1:]
    half = len(rows) // 2
    tmp = tempfile.mkdtemp(prefix="ntn_regbench_")
    db = os.path.join(tmp, "reg.db")
    t = [r[0] for r in rows]
    col = {name: [r[head.index(name)] for r in rows] for name in INDICES}

    # 1. a model per index on the first half
    for name in INDICES:
        first = os.path.join(tmp, f"{name}_first.csv")
        write_csv(first, t[:half], {name: col[name][:half]})
        model = os.path.join(tmp, f"{name}.ntn")
        run([a.bin, "train", "--data", first, "--columns", name, "--input-size", "20", "--horizon", "5",
             "--mlp-units", "64x64", "--max-steps", "100", "--threads", "1", "--quiet", "--out", model])
        run([a.bin, "registry", "add", db, model, "--name", name.lower(), "--tag", "eu-index",
             "--data", first, "--season", str(a.season)])
    queries = []
    n2 = len(rows) - half
    spans = [(half, len(rows))] + [(half + i * n2 // a.chunks, half + (i + 1) * n2 // a.chunks) for i in range(a.chunks)]
    for name in INDICES:
        for (lo, hi) in spans:
            q = os.path.join(tmp, f"{name}_{lo}_{hi}.csv")
            write_csv(q, t[lo:hi], {name: col[name][lo:hi]})
            queries.append((name, q, hi - lo))
    print(f"European indices: {len(INDICES)} models (first {half} rows each), {len(queries)} queries "
          f"(second half: whole and {a.chunks} parts of ~{n2 // a.chunks} rows), season {a.season}")
    rates = {}
    for how in ["cosine", "euclidean", "dot"]:
        first_hits, ranks = 0, []
        for name, q, n in queries:
            out = json.loads(run([a.bin, "registry", "search", db, "--like", q, "--k", "4", "--similarity", how,
                                  "--season", str(a.season), "--json"]))
            order = [r["name"] for r in out["results"]]
            rank = order.index(name.lower()) + 1
            ranks.append(rank)
            first_hits += rank == 1
        rates[how] = first_hits / len(queries)
        print(f"  {how:9s}: own model first in {first_hits}/{len(queries)} = {rates[how]:.2f} (chance 0.25), "
              f"mean rank {statistics.mean(ranks):.2f} (chance 2.50)")

    # 2. grow to --records records
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(models)") if r[1] != "id"]
    base = dict(zip(cols, con.execute(f"SELECT {', '.join(cols)} FROM models WHERE name = 'dax'").fetchone()))
    import array
    real = [array.array("d", r[0]) for r in con.execute("SELECT vec FROM signatures")]
    rng = random.Random(1)
    have = con.execute("SELECT count(*) FROM models").fetchone()[0]
    next_id = con.execute("SELECT max(id) FROM models").fetchone()[0] + 1
    models, signatures = [], []
    for i in range(a.records - have):
        rec = dict(base)
        rec["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rec["name"] = f"synthetic-{i // 100}"
        rec["version"] = i % 100 + 1
        models.append((next_id + i,) + tuple(rec[c] for c in cols))
        src = real[i % len(real)]
        signatures.append((next_id + i, array.array("d", [max(-1.0, min(1.0, v + rng.gauss(0, 0.15))) for v in src]).tobytes()))
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO models(id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})", models)
    con.executemany("INSERT INTO signatures(model, vec) VALUES (?, ?)", signatures)
    con.commit()
    total = con.execute("SELECT count(*) FROM models").fetchone()[0]
    sigs = [(row[0], array.array("d", row[1]))
            for row in con.execute("SELECT m.uuid, s.vec FROM models m JOIN signatures s ON s.model = m.id")]
    con.close()

    # validation: the command's top 5 equal an independent exact cosine scan over the same signatures
    q = queries[0][1]
    out = json.loads(run([a.bin, "registry", "search", db, "--like", q, "--k", "5", "--season", str(a.season), "--json"]))
    qsig = out["query_signature"]

    def cos(u, v):
        dot = sum(x * y for x, y in zip(u, v))
        nu = sum(x * x for x in u) ** 0.5
        nv = sum(x * x for x in v) ** 0.5
        return dot / (nu * nv) if nu > 0 and nv > 0 else 0.0

    expect = sorted(((-cos(s, qsig), i) for i, (_, s) in enumerate(sigs)))[:5]
    got = [r["uuid"] for r in out["results"]]
    want = [sigs[i][0] for _, i in expect]
    if got != want:
        sys.exit(f"validation failed: search returned {got}, the exact scan {want}")
    print(f"validated: the top 5 of {total} records equal an exact cosine scan in Python")

    walls, firsts, warms, opens = [], [], [], []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = json.loads(run([a.bin, "registry", "search", db, "--like", q, "--k", "5", "--season", str(a.season),
                              "--repeat", "21", "--json"]))
        walls.append((time.perf_counter() - t0) * 1e3)
        firsts.append(out["first_search_ms"])
        warms.append(out["warm_search_median_ms"])
        opens.append(out["open_ms"])
    med = statistics.median
    print(f"{total} records, k = 5, cosine, medians of {a.reps} runs:")
    print(f"  warm search (exact scan of the in-memory signatures): {med(warms):.2f} ms (bound 20 ms)")
    print(f"  first search (reads the {total} signatures from the file, then scans): {med(firsts):.2f} ms")
    print(f"  open: {med(opens):.2f} ms; whole command (process, CSV, signature, 21 searches): {med(walls):.1f} ms")
    result = {"eu_first_rate": rates, "records": total, "warm_search_ms": med(warms),
              "first_search_ms": med(firsts), "open_ms": med(opens), "command_ms": med(walls)}
    print(json.dumps(result))
    if a.check and med(warms) > 20:
        sys.exit(1)


if __name__ == "__main__":
    main()
