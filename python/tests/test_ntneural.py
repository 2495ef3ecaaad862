"""The Python package against the library's promises: the same forecasts as the CLI, deterministic
training, zero-copy thread-safe serving, streaming == batch, the registry, and errors that name
the problem."""
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

import ntneural

CLI = os.environ.get("NTN_CLI", "")


def series(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 10 * np.sin(t / 7) + np.cumsum(rng.normal(0, 0.3, n))


SMALL = dict(model="nhits", input_size=24, horizon=6, mlp_units=[[16, 16]], max_steps=30, batch_size=8, threads=1)


def write_csv(tmp_path, y):
    """y as a one-column CSV (t, y) for the CLI."""
    csv = tmp_path / "s.csv"
    with open(csv, "w") as f:
        f.write("t,y\n")
        for i, v in enumerate(y):
            f.write(f"{i},{v!r}\n")
    return csv


def cli_train(csv, out, *extra):
    subprocess.run([CLI, "train", "--data", str(csv), "--columns", "y", "--input-size", "24", "--horizon", "6",
                    "--mlp-units", "16x16", "--max-steps", "30", "--batch", "8", "--threads", "1", "--quiet",
                    "--out", str(out), *extra], check=True, capture_output=True)


def expect_cli_intervals(got, out, csv):
    """Model.intervals' bounds equal what `ntneural predict` prints for the same model and data."""
    printed = subprocess.run([CLI, "predict", "--model", str(out), "--data", str(csv), "--columns", "y"], check=True,
                             capture_output=True, text=True).stdout.splitlines()
    cols = printed[0].split(",")
    rows = [dict(zip(cols, line.split(","))) for line in printed[1:]]
    for level, name in ((0.8, "80"), (0.95, "95")):
        lo, hi = got[level]
        assert np.allclose(lo, [float(r["lo" + name]) for r in rows], rtol=1e-6)
        assert np.allclose(hi, [float(r["hi" + name]) for r in rows], rtol=1e-6)
        assert np.all(lo < hi)


@pytest.fixture(scope="module")
def model():
    return ntneural.train(series(), **SMALL)


def test_train_predict_shapes_and_metrics(model):
    y = series()
    f = model.predict(y[-24:])
    assert f.shape == (6,) and np.all(np.isfinite(f))
    assert model.predict(np.stack([y[-24:], y[-30:-6]])).shape == (2, 6)
    assert model.predict_batch(np.stack([y[-24:], y[-30:-6]])).shape == (2, 6)
    assert model.input_size == 24 and model.horizon == 6 and model.model_type == "nhits"
    assert model.summary["steps"] == 30
    assert model.test_metrics["mae"] > 0


def test_training_is_deterministic_and_seeded():
    a = ntneural.train(series(), seed=3, **SMALL)
    b = ntneural.train(series(), seed=3, **SMALL)
    c = ntneural.train(series(), seed=4, **SMALL)
    x = series()[-24:]
    assert np.array_equal(a.predict(x), b.predict(x))
    assert not np.array_equal(a.predict(x), c.predict(x))


def test_same_model_as_the_cli(model, tmp_path):
    if not CLI:
        pytest.skip("NTN_CLI not set (ctest sets it)")
    y = series()
    csv = write_csv(tmp_path, y)
    out = tmp_path / "cli.ntn"
    cli_train(csv, out)
    cli = ntneural.load(str(out))
    x = y[-24:]
    assert np.array_equal(cli.predict(x), model.predict(x))
    # The same calibration, so the same conformal intervals as `ntneural predict` prints.
    assert model.conformal["levels"] == [0.8, 0.95] and model.conformal == cli.conformal
    expect_cli_intervals(model.intervals(x), out, csv)


def test_save_load_quantize_backtest(model, tmp_path):
    p = str(tmp_path / "m.ntn")
    model.save(p)
    again = ntneural.load(p)
    x = series()[-24:]
    assert np.array_equal(again.predict(x), model.predict(x))
    q = model.quantize("int8")
    assert np.allclose(q.predict(x), model.predict(x), rtol=0.05, atol=0.5)
    bt = model.backtest(series(), origins=50)
    assert bt["mae"] > 0 and "naive" in bt
    assert model.evaluate(series(), origins=50)["mae"] == bt["mae"]


def test_predictor_zero_copy_out_and_threads(model):
    p = ntneural.Predictor(model)
    y = series().astype(np.float32)
    x = y[-24:]
    want = p.predict(x)
    assert want.dtype == np.float32 and want.shape == (6,)
    assert np.allclose(want, model.predict(y[-24:].astype(np.float64)), rtol=1e-5, atol=1e-4)
    out = np.empty(6, dtype=np.float32)
    r = p.predict(x, out=out)
    assert r is out or np.shares_memory(r, out)
    assert np.array_equal(out, want)
    rows = np.stack([y[i:i + 24] for i in range(100)])
    batch = p.predict(rows)
    assert batch.shape == (100, 6)
    assert np.array_equal(batch[-1], p.predict(rows[-1]))
    results = [None] * 4

    def work(k):
        results[k] = np.stack([p.predict(rows[i]) for i in range(100)])

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in results:
        assert np.array_equal(r, batch)


def test_streaming_equals_batch(model):
    p = ntneural.Predictor(model)
    s = ntneural.StreamingPredictor(p)
    y = series().astype(np.float32)
    got = None
    for i in range(40):
        got = s.push(float(y[i]))
        if i < 23:
            assert got is None
    assert np.array_equal(got, p.predict(y[40 - 24:40]))


def test_head_score_intervals_equal_the_clis(tmp_path):
    """A quantile model calibrated with score head: Model.intervals stretches its own quantiles
    exactly as `ntneural predict` prints them."""
    if not CLI:
        pytest.skip("NTN_CLI not set (ctest sets it)")
    y = series()
    csv = write_csv(tmp_path, y)
    out = tmp_path / "q.ntn"
    cli_train(csv, out, "--loss", "pinball", "--quantiles", "0.1,0.5,0.9", "--conformal-score", "head",
              "--conformal-half-life", "100")
    m = ntneural.load(str(out))
    assert m.conformal["score"] == "head" and m.conformal["half_life"] == 100
    expect_cli_intervals(m.intervals(y[-24:]), out, csv)


def test_intervals_and_adaptive_stream(model):
    y = series()
    iv = model.intervals(y[-24:])
    f = model.predict(y[-24:])
    lo80, hi80 = iv[0.8]
    lo95, hi95 = iv[0.95]
    assert np.all(lo95 <= lo80) and np.all(lo80 <= f) and np.all(f <= hi80) and np.all(hi80 <= hi95)
    b = model.intervals(np.stack([y[-24:], y[-30:-6]]))
    assert b[0.8][0].shape == (2, 6) and np.array_equal(b[0.8][0][0], lo80)
    p = ntneural.Predictor(model)
    s = ntneural.StreamingPredictor(p, aci=0.8)
    for v in y[:300]:
        s.push(float(v))
    lo, hi = s.interval
    assert lo.shape == (6,) and np.all(lo < hi)
    # Snapshot and restore: the resumed stream gives what the unbroken one gives.
    t = ntneural.StreamingPredictor(p, aci=0.8)
    t.restore(s.snapshot())
    for v in y[300:400]:
        a, c = s.push(float(v)), t.push(float(v))
        assert np.array_equal(a, c) and np.array_equal(s.interval[0], t.interval[0])
    assert ntneural.StreamingPredictor(p).interval is None
    with pytest.raises(ntneural.Error, match="level 1.5 is outside"):
        ntneural.StreamingPredictor(p, aci=1.5)


def test_errors_name_the_problem(model):
    y = series()
    y[100] = np.nan
    with pytest.raises(ntneural.Error, match=r"column 'y' row 100"):
        ntneural.train(y, **SMALL)
    with pytest.raises(ntneural.Error, match="reads the last 24 values"):
        model.predict(series()[-10:])
    with pytest.raises(ntneural.Error, match="unknown field 'mlp_unitz'"):
        ntneural.train(series(), model="nhits", input_size=24, horizon=6, mlp_unitz=[[8]], max_steps=2)
    with pytest.raises(ntneural.Error, match="precision"):
        ntneural.Predictor(model, precision="fp8")
    with pytest.raises(ntneural.Error, match="cannot open"):
        ntneural.load("/nonexistent/model.ntn")
    x = series()[-24:].copy()
    x[3] = np.inf
    with pytest.raises(ntneural.Error):
        ntneural.Predictor(model).predict(x.astype(np.float32))
    assert issubclass(ntneural.Error, ValueError)


def test_registry_round_trip(model, tmp_path):
    db = str(tmp_path / "reg.db")
    reg = ntneural.Registry(db)
    sig = ntneural.series_signature(series(), season=7)
    assert len(sig) == len(ntneural.series_signature_names()) == 13
    rec = reg.add(model, name="sine", tags=["test"], metrics={"val_loss": 0.5}, signature=sig)
    assert rec["version"] == 1
    other = ntneural.train(series(seed=5), seed=2, **SMALL)
    reg.add(other, name="sine", metrics={"val_loss": 0.25}, signature=ntneural.series_signature(series(seed=5)))
    assert [r["version"] for r in reg.list(name="sine")] == [2, 1]
    assert reg.get("sine@best")["version"] == 2
    assert len(reg.list(tags_any=["test"])) == 1
    assert len(reg.list(metrics={"val_loss": (None, 0.3)})) == 1
    x = series()[-24:]
    assert np.array_equal(reg.load("sine@1").predict(x), model.predict(x))
    assert np.array_equal(ntneural.load(f"registry:{db}:sine@1").predict(x), model.predict(x))
    found = reg.search_like(sig, k=1)
    assert found[0][0]["version"] == 1 and found[0][1] == pytest.approx(1.0)
    reg.promote("sine@1", "production")
    assert reg.get("sine@production")["version"] == 1
    assert reg.check()["ok"] == 2
    with pytest.raises(ntneural.Error, match="has no model 'nope'"):
        reg.get("nope")
    with pytest.raises(ntneural.Error, match="unknown field 'colour'"):
        reg.list(colour="red")


def test_registry_checkpoints_fine_tune_and_shared_handle(tmp_path):
    db = str(tmp_path / "reg.db")
    reg = ntneural.Registry(db)
    ck = str(tmp_path / "a.ckpt")
    a = ntneural.train(series(), checkpoint=ck, **SMALL)
    rec = reg.add(a, name="ft", checkpoint=ck)
    assert len(rec["checkpoint_sha256"]) == 64 and reg.checkpoint_path("ft").endswith(".ckpt")
    x = series()[-24:]
    # Continued to the budget it was saved at: exactly the registered model.
    same = ntneural.train(series(), init_from=f"registry:{db}:ft", **SMALL)
    assert np.array_equal(same.predict(x), a.predict(x))
    # Further, on newer data: from the registry or from the file, the same weights.
    longer = dict(SMALL, max_steps=45)
    b = ntneural.train(series(seed=8), init_from=f"registry:{db}:ft", **longer)
    c = ntneural.train(series(seed=8), init_from=ck, **longer)
    assert np.array_equal(b.predict(x), c.predict(x)) and not np.array_equal(b.predict(x), a.predict(x))
    assert b.summary["steps"] == 45
    child = reg.add(b, name="ft", parent=reg.get("ft@1")["uuid"])
    assert child["version"] == 2 and reg.checkpoint_path("ft@2") is None
    assert [r["version"] for r in reg.list(parent=rec["uuid"])] == [2]
    with pytest.raises(ntneural.Error, match="registered without a training checkpoint"):
        ntneural.train(series(), init_from=f"registry:{db}:ft@2", **longer)
    with pytest.raises(ntneural.Error, match="is the registered checkpoint"):
        ntneural.train(series(), init_from=f"registry:{db}:ft@1", checkpoint=reg.checkpoint_path("ft@1"), **longer)
    with pytest.raises(ntneural.Error, match="another configuration"):
        ntneural.train(series(), init_from=ck, **dict(longer, batch_size=16))
    # One handle, many threads: every call takes its turn (the GIL is released while they run).
    errors = []

    def work(i):
        try:
            for _ in range(5):
                reg.list(name="ft")
                reg.search_like(ntneural.series_signature(series()), k=2)
                reg.tag("ft@1", add=[f"t{i}"])
                reg.check()
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert set(reg.get("ft@1")["tags"]) == {"t0", "t1", "t2", "t3"}


def covariate_frame(n=500):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    vol = 1000 + 100 * rng.random(n)
    flag = (np.arange(n) % 10 == 0).astype(float)
    y = series(n) + 0.002 * vol + 3 * flag
    return pd.DataFrame({"y": y, "vol": vol, "flag": flag}, index=pd.date_range("2021-01-01", periods=n, freq="D"))


COV = dict(model="nhits", input_size=24, horizon=6, mlp_units=[[16, 16]], max_steps=30, batch_size=8, threads=1,
           hist_exog_list=["vol"], futr_exog_list=["flag"], calendar=["dow"])


def cov_inputs(df, end, L=24, H=6):
    t = (df.index.to_numpy().astype("datetime64[s]").astype(np.int64)).astype(float)
    span = t[end - L:end + H]
    futr = np.stack([df["flag"].to_numpy()[end - L:end + H], ntneural.calendar_feature("dow", span)], axis=1)
    return df["y"].to_numpy()[end - L:end], df[["vol"]].to_numpy()[end - L:end], futr


def test_covariates_same_model_as_the_cli(tmp_path):
    df = covariate_frame()
    m = ntneural.train(df, **COV)
    assert m.covariates == {"hist": ["vol"], "futr": ["flag", "dow"], "stat": []}
    x, hist, futr = cov_inputs(df, 450)
    f = m.predict(x, hist=hist, futr=futr)
    assert f.shape == (6,) and np.all(np.isfinite(f))
    # Batched rows equal one at a time.
    x2, hist2, futr2 = cov_inputs(df, 460)
    fb = m.predict(np.stack([x, x2]), hist=np.stack([hist, hist2]), futr=np.stack([futr, futr2]))
    assert np.array_equal(fb[0], f) and np.array_equal(fb[1], m.predict(x2, hist=hist2, futr=futr2))
    # The flag matters: the model reads the future channel.
    futr_off = futr.copy()
    futr_off[:, 0] = 0
    assert not np.array_equal(m.predict(x, hist=hist, futr=futr_off), f)
    if not CLI:
        pytest.skip("NTN_CLI not set (ctest sets it)")
    csv = tmp_path / "c.csv"
    with open(csv, "w") as fh:
        fh.write("date,y,vol,flag\n")
        for d, r in zip(df.index, df.itertuples()):
            fh.write(f"{d.date()},{r.y!r},{r.vol!r},{r.flag!r}\n")
    out = tmp_path / "cli.ntn"
    subprocess.run([CLI, "train", "--data", str(csv), "--target", "y", "--hist-exog", "vol", "--futr-exog", "flag",
                    "--calendar", "dow", "--input-size", "24", "--horizon", "6", "--mlp-units", "16x16",
                    "--max-steps", "30", "--batch", "8", "--threads", "1", "--quiet", "--out", str(out)],
                   check=True, capture_output=True)
    cli = ntneural.load(str(out))
    assert np.array_equal(cli.predict(x, hist=hist, futr=futr), f)


def test_covariates_from_a_long_frame_and_bad_covariate_input():
    pd = pytest.importorskip("pandas")
    df = covariate_frame(300)
    long = pd.concat([pd.DataFrame({"unique_id": k, "ds": df.index, "y": df["y"] * s, "vol": df["vol"]})
                      for k, s in (("a", 1.0), ("b", 1.5))])
    m = ntneural.train(long, **dict(COV, futr_exog_list=[], calendar=[]))
    assert m.series == ["a", "b"] and m.covariates["hist"] == ["vol"]
    x, hist, _ = cov_inputs(df, 250)
    assert m.predict(x * 1.5, series="b", hist=hist).shape == (6,)
    bad = long.copy()
    bad.loc[(bad["unique_id"] == "b") & (bad["ds"] == df.index[7]), "vol"] = -1
    with pytest.raises(ntneural.Error, match="covariate 'vol' differs between series at ds=2021-01-08"):
        ntneural.train(bad, **dict(COV, futr_exog_list=[], calendar=[]))
    cases = [
        (dict(), "takes 1 hist covariate channel"),
        (dict(hist=hist), "takes 2 futr covariate channel"),
        (dict(hist=hist[:10], futr=np.zeros((30, 2))), r"hist must be \(L, Ch\) = \(24, 1\).*got \(10, 1\)"),
        (dict(hist=hist, futr=np.zeros((30, 3))), r"got \(30, 3\)"),
        (dict(hist=hist, futr=np.zeros((30, 2)), stat=[1.0]), "takes no stat covariates"),
        (dict(hist=np.full((24, 1), np.nan), futr=np.zeros((30, 2))), "vol"),
    ]
    cm = ntneural.train(covariate_frame(), **COV)
    for kw, msg in cases:
        with pytest.raises(ntneural.Error, match=msg):
            cm.predict(x, **kw)
    with pytest.raises(ntneural.Error, match="takes no hist covariates"):
        ntneural.train(series(), **SMALL).predict(series()[-24:], hist=hist)
    with pytest.raises(ntneural.Error, match="colour"):
        ntneural.train(covariate_frame(), **dict(COV, hist_exog_list=["colour"]))
    with pytest.raises(ntneural.Error, match="dates must increase"):
        ntneural.train(covariate_frame()["y"].to_numpy(), dates=["2021-01-02", "2021-01-01"] * 250, **SMALL)


def test_sample_paths_of_a_distribution_model():
    m = ntneural.train(series(), model="deepar", input_size=24, horizon=6, max_steps=20, batch_size=8, threads=1)
    x = series()[-24:]
    p = m.sample(x, paths=50, seed=3)
    assert p.shape == (50, 6) and np.all(np.isfinite(p))
    assert np.array_equal(p, m.sample(x, paths=50, seed=3)) and not np.array_equal(p, m.sample(x, paths=50, seed=4))
    assert m.sample(np.stack([x, x]), paths=5).shape == (2, 5, 6)
    with pytest.raises(ntneural.Error, match="paths must be 1..100000"):
        m.sample(x, paths=0)


def test_pandas_long_frame():
    pd = pytest.importorskip("pandas")
    y1, y2 = series(seed=1), series(seed=2)
    df = pd.DataFrame({"unique_id": ["a"] * len(y1) + ["b"] * len(y2), "ds": list(range(len(y1))) * 2,
                       "y": np.concatenate([y1, y2])})
    m = ntneural.train(df, **SMALL)
    assert sorted(m.series) == ["a", "b"]
    assert m.predict(y1[-24:], series="a").shape == (6,)


def test_documented_example_runs(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    ex = os.path.join(here, "..", "..", "docs", "python_example.py")
    r = subprocess.run([sys.executable, ex, "--steps", "20"], capture_output=True, text=True,
                       env=dict(os.environ), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "registered as sp500-nhits@1" in r.stdout and "day +5" in r.stdout
