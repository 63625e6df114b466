"""Agreement between grader scores and human labels: Pearson, Spearman, quadratic weighted kappa, MAE
and RMSE, each with a percentile bootstrap 95% interval.

Pure numpy/scipy; no I/O. Undefined values (a correlation over constant data, fewer than two pairs) are
``None``, never NaN, so they serialise cleanly and display as "n/a".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

METRICS = ("pearson", "spearman", "qwk", "mae", "rmse")
RESAMPLES = 1000
# Large samples get fewer resamples (never below MIN_RESAMPLES): their intervals are narrow anyway, and
# this keeps a 100,000-answer report to seconds.
RESAMPLE_BUDGET = 10_000_000
MIN_RESAMPLES = 100
# Elements per vectorised bootstrap block: bounds memory whatever the sample size.
_BLOCK = 2_000_000


@dataclass(frozen=True)
class Scale:
    """The human label scale: its range and the step between grades (QWK bins on that grid)."""

    low: float = 0.0
    high: float = 5.0
    step: float = 0.5

    @property
    def categories(self) -> int:
        return int(round((self.high - self.low) / self.step)) + 1

    def bins(self, values: np.ndarray) -> np.ndarray:
        """Category index of each value on this scale's grid (clipped into range)."""
        return np.clip(np.rint((values - self.low) / self.step), 0, self.categories - 1).astype(np.int64)

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g} (step {self.step:g})"


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its bootstrap 95% interval (any of them None when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Agreement:
    """Every agreement metric of one set of (prediction, label) pairs."""

    n: int
    pearson: Estimate
    spearman: Estimate
    qwk: Estimate
    mae: Estimate
    rmse: Estimate

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# ---------------------------------------------------------------- row-wise kernels (shape (r, n))


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a * b).sum(axis=1) / denom
    out[denom <= 1e-12] = np.nan  # constant input: correlation undefined
    return out


def _qwk_rows(ca: np.ndarray, cb: np.ndarray, k: int) -> np.ndarray:
    r, n = ca.shape
    offsets = (np.arange(r) * k * k)[:, None]
    observed = np.bincount((offsets + ca * k + cb).ravel(), minlength=r * k * k).reshape(r, k, k)
    observed = observed.astype(np.float64)
    hist_a = observed.sum(axis=2)
    hist_b = observed.sum(axis=1)
    expected = hist_a[:, :, None] * hist_b[:, None, :] / n
    grid = np.arange(k, dtype=np.float64)
    weights = (grid[:, None] - grid[None, :]) ** 2 / max(k - 1, 1) ** 2
    num = (weights * observed).sum(axis=(1, 2))
    den = (weights * expected).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - num / den
    out[den <= 1e-12] = np.nan  # both raters used one category: kappa undefined
    return out


def _all_rows(pred: np.ndarray, label: np.ndarray, scale: Scale) -> dict[str, np.ndarray]:
    diff = pred - label
    return {
        "pearson": _corr_rows(pred, label),
        "spearman": _corr_rows(rankdata(pred, axis=1), rankdata(label, axis=1)),
        "qwk": _qwk_rows(scale.bins(pred), scale.bins(label), scale.categories),
        "mae": np.abs(diff).mean(axis=1),
        "rmse": np.sqrt((diff * diff).mean(axis=1)),
    }


# ---------------------------------------------------------------- single-value metrics


def pearson(pred: np.ndarray, label: np.ndarray) -> float | None:
    """Pearson correlation; None when either side is constant or there are fewer than 2 pairs."""
    if len(pred) < 2:
        return None
    return _clean(_corr_rows(np.asarray(pred, float)[None], np.asarray(label, float)[None])[0])


def spearman(pred: np.ndarray, label: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties)."""
    if len(pred) < 2:
        return None
    return pearson(rankdata(pred), rankdata(label))


def qwk(pred: np.ndarray, label: np.ndarray, scale: Scale) -> float | None:
    """Quadratic weighted kappa, with both sides binned on the label scale's grid."""
    if len(pred) < 1:
        return None
    p, q = np.asarray(pred, float)[None], np.asarray(label, float)[None]
    return _clean(_qwk_rows(scale.bins(p), scale.bins(q), scale.categories)[0])


def mae(pred: np.ndarray, label: np.ndarray) -> float | None:
    return _clean(float(np.mean(np.abs(np.asarray(pred, float) - label)))) if len(pred) else None


def rmse(pred: np.ndarray, label: np.ndarray) -> float | None:
    return _clean(float(np.sqrt(np.mean((np.asarray(pred, float) - label) ** 2)))) if len(pred) else None


# ---------------------------------------------------------------- agreement with intervals


def agreement(pred: np.ndarray | list[float], label: np.ndarray | list[float], scale: Scale, *,
              resamples: int = RESAMPLES, seed: int = 0, confidence: float = 0.95) -> Agreement:
    """All metrics with percentile bootstrap intervals (pairs resampled with replacement, seeded).

    Intervals need at least 3 pairs; a resample where a metric is undefined is left out of its interval.
    Above ``RESAMPLE_BUDGET / resamples`` pairs the number of resamples shrinks (see ``RESAMPLE_BUDGET``).
    """
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError("predictions and labels must be 1-D arrays of the same length")
    n = len(p)
    point = {
        "pearson": pearson(p, y), "spearman": spearman(p, y), "qwk": qwk(p, y, scale),
        "mae": mae(p, y), "rmse": rmse(p, y),
    }
    intervals: dict[str, tuple[float | None, float | None]] = {m: (None, None) for m in METRICS}
    if n >= 3 and resamples > 0:
        resamples = min(resamples, max(MIN_RESAMPLES, RESAMPLE_BUDGET // n))
        intervals = _bootstrap(p, y, scale, resamples=resamples, seed=seed, confidence=confidence)
    return Agreement(n=n, **{m: Estimate(point[m], *intervals[m]) if point[m] is not None else Estimate(None)
                             for m in METRICS})


def _bootstrap(p: np.ndarray, y: np.ndarray, scale: Scale, *, resamples: int, seed: int,
               confidence: float) -> dict[str, tuple[float | None, float | None]]:
    rng = np.random.default_rng(seed)
    n = len(p)
    block = max(1, _BLOCK // n)
    draws: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    done = 0
    while done < resamples:
        r = min(block, resamples - done)
        idx = rng.integers(0, n, size=(r, n))
        for name, values in _all_rows(p[idx], y[idx], scale).items():
            draws[name].append(values)
        done += r
    tail = (1.0 - confidence) / 2 * 100
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, parts in draws.items():
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        if len(values) < resamples // 2:  # mostly undefined: no honest interval
            out[name] = (None, None)
            continue
        low, high = np.percentile(values, [tail, 100 - tail])
        out[name] = (float(low), float(high))
    return out


def infer_scale(labels: np.ndarray | list[float]) -> Scale:
    """A label scale guessed from the labels: 0 to the smallest of 1, 5, 10, 100 that holds them (else
    their own range), with the coarsest step of 1, 0.5, 0.25 or 0.1 that fits every label."""
    values = np.asarray(labels, dtype=np.float64)
    if not len(values):
        return Scale()
    low = 0.0 if values.min() >= 0 else float(values.min())
    high = next((h for h in (1.0, 5.0, 10.0, 100.0) if values.max() <= h), float(values.max()))
    for step in (1.0, 0.5, 0.25, 0.1):
        if np.allclose(np.rint(values / step) * step, values, atol=1e-6) and (high - low) / step <= 200:
            return Scale(low, high, step)
    return Scale(low, high, (high - low) / 100)
