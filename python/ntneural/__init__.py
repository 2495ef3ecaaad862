"""ntneural: neural time-series forecasting for market data, from Python.

The C++ library does the work (``ntneural._ntneural``); this module gives it the shape users know
from NeuralForecast: numpy arrays or a pandas long frame (``unique_id``, ``ds``, ``y``) in, a
model with ``predict`` / ``predict_batch`` / ``backtest`` / ``evaluate`` / ``save`` / ``quantize``
out, plus ``Predictor`` (zero-copy float32 serving, GIL released, thread-safe),
``StreamingPredictor`` (one value in, one forecast out) and the model ``Registry``.
Errors raise ``ntneural.Error`` (a ``ValueError``) carrying the library's message.

    import numpy as np, ntneural
    y = np.cumsum(np.random.default_rng(0).normal(size=2000)) + 100
    m = ntneural.train(y, model="nhits", input_size=60, horizon=5, max_steps=300)
    m.predict(y[-60:])                     # (5,)
    p = ntneural.Predictor(m, precision="int8")
    p.predict(y[-60:].astype(np.float32))  # zero-copy in and out
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from ._ntneural import (  # noqa: F401
    Error,
    Model,
    Predictor,
    Registry,
    StreamingPredictor,
    calendar_feature,
    future_times,
    load,
    series_signature,
    series_signature_names,
)
from . import _ntneural

__all__ = ["Error", "Model", "Predictor", "Registry", "StreamingPredictor", "load", "train",
           "series_signature", "series_signature_names", "from_long_frame", "calendar_feature", "future_times"]

# Fields of the training configuration (TrainConfig::from_json); every other keyword goes to the
# model's config (its Config validates it and names an unknown field).
_TRAIN_FIELDS = {
    "max_steps", "epochs", "batch_size", "micro_batches", "seed", "loss", "quantiles", "distribution",
    "huber_delta", "optimizer", "lr", "weight_decay", "decay_on", "schedule", "lr_decays", "clip_norm",
    "window_scaling", "val_every", "val_batch", "patience", "min_delta", "restore_best", "val_metric",
    "precision", "checkpoint_every",
}


def from_long_frame(df: Any, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y",
                    exog: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """A pandas long frame (one row per series and time) -> {series id: values in time order}, plus
    one entry per column of ``exog`` (covariates, which every series shares: an error names the
    first time stamp where two series disagree).

    Every series must have the same time stamps (a wide table without holes), as the library's
    wide files do."""
    missing = [c for c in (id_col, time_col, target_col, *exog) if c not in df.columns]
    if missing:
        raise Error(f"long frame: missing column(s) {missing} (columns: {list(df.columns)})")
    wide = df.pivot(index=time_col, columns=id_col, values=target_col).sort_index()
    if wide.isna().to_numpy().any():
        bad = wide.columns[wide.isna().any()].tolist()
        raise Error(f"long frame: series {bad[:5]} lack values at some time stamps of the others")
    out = {str(c): wide[c].to_numpy(dtype=np.float64) for c in wide.columns}
    for c in exog:
        if c in out:
            raise Error(f"long frame: covariate '{c}' has the name of a series")
        per = df.pivot(index=time_col, columns=id_col, values=c).sort_index()
        v = per.to_numpy(dtype=np.float64)
        same = (v == v[:, :1]) | (np.isnan(v) & np.isnan(v[:, :1]))
        if not same.all():
            r = int(np.argmin(same.all(axis=1)))
            raise Error(f"long frame: covariate '{c}' differs between series at {time_col}={per.index[r]} "
                        f"({dict(zip(map(str, per.columns), v[r]))}); ntneural's covariates are shared by every "
                        f"series of a model: train one model per series, or give each series' covariate a "
                        f"column of its own")
        out[c] = v[:, 0].copy()
    return out


def _dates_text(values: Any) -> List[str]:
    """Time stamps (datetime64, pandas Timestamps, ISO text) -> ISO text the library parses."""
    a = np.asarray(values)
    if np.issubdtype(a.dtype, np.datetime64):
        return [str(t) for t in np.datetime_as_string(a.astype("datetime64[s]"), unit="s")]
    return [str(t) for t in a]


def train(data: Union[np.ndarray, Mapping[str, Sequence[float]], Any], model: str = "nhits", *,
          input_size: int = 0, horizon: int = 24, names: Optional[Sequence[str]] = None,
          val_ratio: float = 0.1, test_ratio: float = 0.2, scaler: str = "standard", threads: int = 0,
          checkpoint: str = "", init_from: str = "", targets: Optional[Sequence[str]] = None,
          hist_exog_list: Sequence[str] = (), futr_exog_list: Sequence[str] = (), stat_exog_list: Sequence[str] = (),
          calendar: Sequence[str] = (), dates: Any = None, **fields: Any) -> Model:
    """Train a model on in-memory series and return it.

    data: (T,) one series, (T, S) S series (``names`` names them), a dict name -> (T,), or a
    pandas long frame (``unique_id``, ``ds``, ``y``). The last ``test_ratio`` of the rows is held
    out for ``Model.test_metrics`` and the ``val_ratio`` before it validates (early stopping).
    Keywords: the training fields (max_steps, batch_size, lr, loss, seed, ...) and any field of
    the model's config (mlp_units, dropout, ...). Deterministic for a seed, like the CLI.
    checkpoint: a file for the training checkpoint (written every ``checkpoint_every`` steps and
    at the end; ``Registry.add(..., checkpoint=)`` stores it with the model). init_from: a
    checkpoint file or ``registry:DB:REF`` (the one registered with that model) to continue - a
    fine-tune or refit on ``data`` with the same model and training settings, a larger max_steps.

    Covariates (NeuralForecast's names): ``hist_exog_list`` (known up to the forecast origin, e.g.
    volume), ``futr_exog_list`` (known ahead too), ``stat_exog_list`` (constant), columns of data
    shared by every series; ``calendar`` (hour, dow, dom, doy, month, ... or "auto") from ``dates``
    (one per row; a long frame's datetime ``ds``). ``targets``: the series to forecast (default:
    every column that is not a covariate). ``Model.predict`` then takes ``hist=``, ``futr=``, ``stat=``.
    """
    exog = [*hist_exog_list, *futr_exog_list, *stat_exog_list]
    if hasattr(data, "columns") and hasattr(data, "pivot"):
        if "unique_id" in data.columns:
            if dates is None and np.issubdtype(np.asarray(data["ds"]).dtype, np.datetime64):
                dates = np.sort(np.unique(np.asarray(data["ds"])))
            data = from_long_frame(data, exog=exog)
        else:  # a wide frame: one column per series or covariate
            if dates is None and np.issubdtype(np.asarray(data.index).dtype, np.datetime64):
                dates = np.asarray(data.index)
            data = {str(c): data[c].to_numpy(dtype=np.float64) for c in data.columns}
    train_cfg = {k: v for k, v in fields.items() if k in _TRAIN_FIELDS}
    train_cfg.setdefault("schedule", "step")  # the command line's default: the same model as `ntneural train`
    model_cfg = {k: v for k, v in fields.items() if k not in _TRAIN_FIELDS}
    return _ntneural._train(data, model, int(input_size), int(horizon), train_cfg, model_cfg,
                            list(names or []), float(val_ratio), float(test_ratio), scaler, int(threads),
                            str(checkpoint), str(init_from), list(targets or []),
                            {"hist": list(hist_exog_list), "futr": list(futr_exog_list), "stat": list(stat_exog_list),
                             "calendar": list(calendar)},
                            _dates_text(dates) if dates is not None else [])


def _predict_batch(self: Model, histories: np.ndarray, series: Optional[str] = None) -> np.ndarray:
    """(B, L) histories -> (B, H) forecasts (one library call, on the thread pool)."""
    h = np.asarray(histories, dtype=np.float64)
    if h.ndim != 2:
        raise Error("predict_batch: histories must be (B, L)")
    return self.predict(h, series)


def _evaluate(self: Model, y: np.ndarray, origins: int = 200, season: int = 0, series: str = "") -> Dict[str, Any]:
    """Errors of the model's forecasts at the last ``origins`` origins of y (a rolling backtest)."""
    return self.backtest(np.asarray(y, dtype=np.float64), origins=origins, season=season, series=series)


Model.predict_batch = _predict_batch
Model.evaluate = _evaluate
