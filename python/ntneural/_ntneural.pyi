"""Type stubs of the compiled module (python/src/module.cpp)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

class Error(ValueError): ...

class Model:
    """A trained or loaded model (its artifact in memory)."""
    model_type: str
    uuid: str
    input_size: int
    horizon: int
    series: List[str]
    summary: Dict[str, Any]        # training summary (steps, best_val_loss, ...) when trained here
    test_metrics: Dict[str, Any]   # scores on the held-out test part when trained here
    training: Dict[str, Any]       # the artifact's training record
    covariates: Dict[str, List[str]]  # channel names: hist, futr (columns, then calendar features), stat
    def save(self, path: str) -> None: ...
    def predict(self, history: npt.ArrayLike, series: Optional[str] = None, hist: Optional[npt.ArrayLike] = None,
                futr: Optional[npt.ArrayLike] = None, stat: Optional[npt.ArrayLike] = None) -> npt.NDArray[np.float64]:
        """(L,) -> (H,) or (B, L) -> (B, H); (..., H, Q) for a quantile model. Original scale.
        A model with covariates (``covariates``) takes them on their own scale: hist (L, Ch),
        futr (L + H, Cf) - its columns, then calendar_feature of each step's time - and stat (S,);
        with a batch dimension first for (B, L) histories."""
    conformal: Optional[Dict[str, Any]]  # levels, score (absolute|window|head), windows, half_life of its calibration
    def intervals(self, history: npt.ArrayLike, series: Optional[str] = None, hist: Optional[npt.ArrayLike] = None,
                  futr: Optional[npt.ArrayLike] = None, stat: Optional[npt.ArrayLike] = None
                  ) -> Dict[float, Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """{level: (lo, hi)} split-conformal intervals around the forecast (score head: its quantiles stretched), (H,) or (B, H)."""
    def sample(self, history: npt.ArrayLike, paths: int = 100, seed: int = 1, series: Optional[str] = None,
               hist: Optional[npt.ArrayLike] = None, futr: Optional[npt.ArrayLike] = None,
               stat: Optional[npt.ArrayLike] = None) -> npt.NDArray[np.float64]:
        """Sample paths of a distribution model (deepar): (L,) -> (P, H), (B, L) -> (B, P, H);
        reproducible for a seed."""
    def predict_batch(self, histories: npt.ArrayLike, series: Optional[str] = None) -> npt.NDArray[np.float64]: ...
    def quantize(self, to: str = "int8") -> "Model": ...
    def backtest(self, y: npt.ArrayLike, origins: int = 1000, step: int = 1, season: int = 0,
                 series: str = "") -> Dict[str, Any]: ...
    def evaluate(self, y: npt.ArrayLike, origins: int = 200, season: int = 0, series: str = "") -> Dict[str, Any]: ...

def load(model: str) -> Model:
    """An artifact file or registry:DB:NAME[@VERSION|@best|@STAGE]."""

def _train(data: Any, model: str, input_size: int, horizon: int, train_cfg: Dict[str, Any],
           model_cfg: Dict[str, Any], names: List[str], val_ratio: float, test_ratio: float, scaler: str,
           threads: int, checkpoint: str = "", init_from: str = "", targets: List[str] = ...,
           covariates: Dict[str, List[str]] = ..., times: List[str] = ...) -> Model: ...

class Predictor:
    """Zero-copy float32 serving; the GIL is released while it computes; thread-safe."""
    input_size: int
    horizon: int
    outputs: int
    def __init__(self, model: Union[Model, str], precision: str = "fp32", max_batch: int = 32,
                 threads: int = 1) -> None: ...
    def series_index(self, name: str) -> int: ...
    def predict(self, x: npt.ArrayLike, series: Union[None, int, str] = None,
                out: Optional[npt.NDArray[np.float32]] = None) -> npt.NDArray[np.float32]:
        """x (L,) or (B, L) float32 (others are converted) -> (H,) / (B, H) [x Q]; into out when given."""

class StreamingPredictor:
    def __init__(self, predictor: Predictor, series: Optional[str] = None, aci: float = 0.0,
                 aci_gamma: float = 0.05) -> None:
        """aci: a level (e.g. 0.8) for adaptive conformal intervals around every forecast."""
    interval: Optional[Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]  # the last forecast's ACI (lo, hi)
    def snapshot(self) -> bytes: ...
    def restore(self, state: bytes) -> None: ...
    def push(self, value: float) -> Optional[npt.NDArray[np.float32]]:
        """One observation in; None until input_size values have arrived, then the forecast."""

def series_signature(x: npt.ArrayLike, season: int = 0) -> List[float]: ...
def series_signature_names() -> List[str]: ...
def calendar_feature(name: str, unix_seconds: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A calendar covariate (hour, dow, dom, doy, month, epoch_day, day_fraction) of each time."""
def future_times(times: Sequence[float], h: int) -> List[float]:
    """The h time stamps after times[-1] (the median spacing; business days for daily bars)."""

class Registry:
    def __init__(self, path: str, create: bool = True) -> None: ...
    def add(self, model: Union[Model, str], name: str, tags: Sequence[str] = ..., metrics: Dict[str, float] = ...,
            parent: str = "", stage: str = "", signature: Optional[Sequence[float]] = None,
            checkpoint: str = "") -> Dict[str, Any]:
        """Registers a model (or an artifact file) as the next version of name; checkpoint: a training
        checkpoint file of the same model to store with it (what `train --init-from` continues)."""
    def list(self, **filters: Any) -> List[Dict[str, Any]]:
        """Filters: name, version, model_type(s), tags_any, tags_all, metrics={name: (min, max)},
        created_after, created_before, parent, stage, config={"model.field": value}, limit."""
    def get(self, ref: str) -> Dict[str, Any]: ...
    def load(self, ref: str) -> Model: ...
    def checkpoint_path(self, ref: str) -> Optional[str]:
        """The stored training checkpoint of that model, or None when it was registered without one."""
    def search_like(self, signature: Sequence[float], k: int = 5, similarity: str = "cosine",
                    **filters: Any) -> List[Tuple[Dict[str, Any], float]]: ...
    def tag(self, ref: str, add: Sequence[str] = ..., remove: Sequence[str] = ...) -> None: ...
    def promote(self, ref: str, stage: str) -> None: ...
    def remove(self, ref: str) -> None: ...
    def check(self) -> Dict[str, Any]: ...
    def gc(self) -> Dict[str, Any]: ...
