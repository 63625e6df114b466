"""Calibration: a monotone mapping from the grader's raw 0-100 score to a user's own marking scale,
fitted on a sample they graded themselves.

``fit_calibration`` fits isotonic regression (or a two-parameter logistic curve) and measures the
agreement before and after under cross-validation grouped by question text, so the reported gain is the
one expected on questions the fit never saw. ``Calibration.load`` / ``apply_to`` are what the ``Grader``
uses at grading time (setting ``DLGRADER_CALIBRATION`` or ``--calibration FILE``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dlgrader.errors import CalibrationError
from dlgrader.metrics import Agreement, Scale, agreement
from dlgrader.models import GradeResult

Method = Literal["isotonic", "logistic"]
FORMAT = "dlgrader-calibration/1"
MIN_SAMPLES = 30
MIN_DISTINCT_SCORES = 3
MAX_FOLDS = 5
MIN_GROUPS_FOR_GROUPED_CV = 3


@dataclass(frozen=True)
class Calibration:
    """A fitted monotone mapping from raw score (0-100) to the user's scale, as piecewise-linear knots."""

    method: Method
    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    scale: Scale
    params: dict[str, float] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)

    def predict(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Calibrated values for raw scores (clipped to the fitted range at both ends)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.knots_x, self.knots_y)

    def apply_to(self, result: GradeResult) -> None:
        """Add ``calibrated_score`` and ``calibrated_scale`` to a graded result (others are left alone)."""
        if result.status != "graded" or result.score is None:
            return
        result.calibrated_score = round(float(self.predict([result.score])[0]), 3)
        result.calibrated_scale = f"{self.scale.low:g}-{self.scale.high:g}"
        if result.breakdown is not None:
            result.breakdown.calibrated = True

    # ------------------------------------------------------------ file format

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT, "method": self.method,
            "scale": {"low": self.scale.low, "high": self.scale.high, "step": self.scale.step},
            "knots": {"score": list(self.knots_x), "value": list(self.knots_y)},
            "params": self.params, **self.info,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a calibration.json written by ``dlgrader calibrate``; CalibrationError when unusable."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CalibrationError(f"calibration file not found: {path}") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"cannot read calibration file {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CalibrationError(f"{path} is not a dlgrader calibration (expected format {FORMAT!r})")
        try:
            xs = tuple(float(v) for v in data["knots"]["score"])
            ys = tuple(float(v) for v in data["knots"]["value"])
            scale = Scale(float(data["scale"]["low"]), float(data["scale"]["high"]),
                          float(data["scale"]["step"]))
            method = data["method"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"calibration file {path} is incomplete or malformed: {exc}") from exc
        if method not in ("isotonic", "logistic"):
            raise CalibrationError(f"calibration file {path}: unknown method {method!r}")
        if not xs or len(xs) != len(ys) or any(b < a for a, b in zip(xs, xs[1:], strict=False)) \
                or any(b < a - 1e-9 for a, b in zip(ys, ys[1:], strict=False)) \
                or not all(math.isfinite(v) for v in xs + ys):
            raise CalibrationError(f"calibration file {path}: the knots must be finite, sorted and monotone")
        info = {k: v for k, v in data.items() if k not in ("format", "method", "scale", "knots", "params")}
        return cls(method=method, knots_x=xs, knots_y=ys, scale=scale, params=dict(data.get("params") or {}),
                   info=info)


# ---------------------------------------------------------------- fitting


def _check_sample(scores: np.ndarray, labels: np.ndarray) -> None:
    n = len(scores)
    if n < MIN_SAMPLES:
        raise CalibrationError(
            f"too few labelled answers to fit a calibration honestly: {n} graded answers with a label, "
            f"at least {MIN_SAMPLES} are needed (more, from several questions, is better)")
    if len(np.unique(labels)) < 2:
        raise CalibrationError(f"every label is {labels[0]:g}: a calibration needs labels that vary")
    if len(np.unique(scores)) < MIN_DISTINCT_SCORES:
        raise CalibrationError("the grader's scores take fewer than "
                               f"{MIN_DISTINCT_SCORES} distinct values on this sample: nothing to calibrate")


def _fit_isotonic(scores: np.ndarray, labels: np.ndarray, scale: Scale) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=scale.low, y_max=scale.high, increasing=True, out_of_bounds="clip")
    model.fit(scores, labels)
    xs = tuple(float(v) for v in model.X_thresholds_)
    ys = tuple(float(v) for v in model.y_thresholds_)
    return Calibration(method="isotonic", knots_x=xs, knots_y=ys, scale=scale)


def _fit_logistic(scores: np.ndarray, labels: np.ndarray, scale: Scale) -> Calibration:
    """value = low + (high - low) / (1 + exp(-slope * (score/100 - midpoint))), least squares, slope >= 0."""
    from scipy.optimize import least_squares
    from scipy.special import expit

    u = scores / 100.0
    span = scale.high - scale.low

    def residual(theta: np.ndarray) -> np.ndarray:
        return scale.low + span * expit(theta[0] * (u - theta[1])) - labels

    fit = least_squares(residual, x0=np.array([5.0, 0.5]), bounds=([0.0, -2.0], [200.0, 3.0]))
    slope, midpoint = (float(v) for v in fit.x)
    grid = np.linspace(0.0, 100.0, 201)
    values = scale.low + span * expit(slope * (grid / 100.0 - midpoint))
    return Calibration(method="logistic", knots_x=tuple(float(v) for v in grid),
                       knots_y=tuple(float(v) for v in values), scale=scale,
                       params={"slope": slope, "midpoint": midpoint})


def fit(scores: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray, *, scale: Scale,
        method: Method = "isotonic") -> Calibration:
    """Fit a monotone mapping on the whole sample (no report; see ``fit_calibration``)."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    _check_sample(x, y)
    if method == "isotonic":
        return _fit_isotonic(x, y, scale)
    if method == "logistic":
        return _fit_logistic(x, y, scale)
    raise CalibrationError(f"unknown calibration method {method!r}: use 'isotonic' or 'logistic'")


def linear(scores: np.ndarray, scale: Scale) -> np.ndarray:
    """The uncalibrated reading of a raw score on the user's scale: 0-100 stretched onto low-high."""
    return scale.low + np.asarray(scores, dtype=np.float64) / 100.0 * (scale.high - scale.low)


# ---------------------------------------------------------------- cross-validation


@dataclass(frozen=True)
class CrossValidation:
    """Agreement before (raw score, linearly rescaled) and after calibration, on held-out folds."""

    before: Agreement
    after: Agreement
    folds: int
    grouping: str
    out_of_fold: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, object]:
        return {"folds": self.folds, "grouping": self.grouping,
                "before": self.before.as_dict(), "after": self.after.as_dict()}


def _splits(n: int, groups: Sequence[str], seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from sklearn.model_selection import GroupKFold, KFold

    keys = [" ".join(str(g).lower().split()) for g in groups]
    distinct = len(set(keys))
    if distinct >= MIN_GROUPS_FOR_GROUPED_CV:
        k = min(MAX_FOLDS, distinct)
        codes = np.unique(keys, return_inverse=True)[1]
        splits = list(GroupKFold(n_splits=k).split(np.zeros(n), groups=codes))
        return splits, f"{k}-fold, grouped by question text ({distinct} questions; no question in both " \
                       "the fitting and the scored part)"
    k = MAX_FOLDS
    splits = list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n)))
    return splits, f"{k}-fold over answers (only {distinct} question(s): the gain is for these questions)"


def cross_validate(scores: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray,
                   groups: Sequence[str], *, scale: Scale, method: Method = "isotonic",
                   seed: int = 0) -> CrossValidation:
    """Out-of-fold calibrated predictions and the agreement metrics before and after."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    _check_sample(x, y)
    splits, grouping = _splits(len(x), groups, seed)
    oof = np.empty_like(x)
    for train, test in splits:
        if len(np.unique(y[train])) < 2 or len(np.unique(x[train])) < 2:
            oof[test] = float(np.mean(y[train]))  # a degenerate fold: the best it can do is the mean
            continue
        fitted = _fit_isotonic(x[train], y[train], scale) if method == "isotonic" \
            else _fit_logistic(x[train], y[train], scale)
        oof[test] = fitted.predict(x[test])
    return CrossValidation(before=agreement(linear(x, scale), y, scale, seed=seed),
                           after=agreement(oof, y, scale, seed=seed),
                           folds=len(splits), grouping=grouping, out_of_fold=oof)


def fit_calibration(scores: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray,
                    groups: Sequence[str], *, scale: Scale, method: Method = "isotonic",
                    source: str | None = None, seed: int = 0) -> tuple[Calibration, CrossValidation]:
    """Cross-validate, then fit on the whole sample; the report travels inside the calibration file."""
    cv = cross_validate(scores, labels, groups, scale=scale, method=method, seed=seed)
    fitted = fit(scores, labels, scale=scale, method=method)
    info: dict[str, object] = {
        "fitted_on": {"answers": len(cv.out_of_fold), "questions": len({str(g) for g in groups}),
                      "source": source},
        "cross_validation": cv.as_dict(),
    }
    return Calibration(method=fitted.method, knots_x=fitted.knots_x, knots_y=fitted.knots_y,
                       scale=scale, params=fitted.params, info=info), cv
