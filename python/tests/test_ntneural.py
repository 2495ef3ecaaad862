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
    csv = tmp_path / "s.csv"
    with open(csv, "w") as f:
        f.write("t,y\n")
        for i, v in enumerate(y):
            f.write(f"{i},{v!r}\n")
    out = tmp_path / "cli.ntn"
    subprocess.run([CLI, "train", "--data", str(csv), "--columns", "y", "--input-size", "24", "--horizon", "6",
                    "--mlp-units", "16x16", "--max-steps", "30", "--batch", "8", "--threads", "1", "--quiet",
                    "--out", str(out)], check=True, capture_output=True)
    cli = ntneural.load(str(out))
    x = y[-24:]
    assert np.array_equal(cli.predict(x), model.predict(x))


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
