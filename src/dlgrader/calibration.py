"""Calibration: from the grader's result to a user's own marking scale, fitted on a sample they graded.

``fit_calibration`` fits isotonic regression or a two-parameter logistic curve on the raw 0-100 score, or
(``learned``) a small model on the parts of the result (``dlgrader.learned``), and measures the agreement
before and after under cross-validation grouped by question text, so the reported gain is the one expected
on questions the fit never saw. A learned model that does not beat the curve there is not kept: the curve
is. ``Calibration.load`` / ``apply_to`` are what the ``Grader`` uses at grading time (setting
``DLGRADER_CALIBRATION`` or ``--calibration FILE``).
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
from dlgrader.learned import LinearScorer, fit_scorer, record_features
from dlgrader.metrics import Agreement, Scale, agreement
from dlgrader.models import GradeResult

Method = Literal["isotonic", "logistic", "learned"]
METHODS = ("isotonic", "logistic", "learned")
FORMAT = "dlgrader-calibration/1"
MIN_SAMPLES = 30
# A learned model has a dozen weights: below this many answers, or from fewer questions than folds can
# hold out, its cross-validated figures would be noise.
MIN_LEARNED_SAMPLES = 40
MIN_LEARNED_QUESTIONS = 4
# The learned model is kept only when it beats the curve on held-out questions: a lower RMSE on the
# user's scale, and a Pearson no more than this much lower.
PEARSON_TOLERANCE = 0.01
MIN_DISTINCT_SCORES = 3
MAX_FOLDS = 5
MIN_GROUPS_FOR_GROUPED_CV = 3


@dataclass(frozen=True)
class Calibration:
    """A fitted mapping to the user's scale: piecewise-linear knots on the raw score (0-100) for the curves,
    a ``LinearScorer`` on the result's features for ``learned``."""

    method: Method
    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    scale: Scale
    params: dict[str, float] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)
    scorer: LinearScorer | None = None

    def predict(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Calibrated values for raw scores (clipped to the fitted range at both ends); curves only."""
        if self.scorer is not None:
            raise CalibrationError("a learned calibration reads the whole result, not only the score")
        return np.interp(np.asarray(scores, dtype=np.float64), self.knots_x, self.knots_y)

    def value_for(self, result: GradeResult) -> float:
        if self.scorer is not None:
            features = np.array([record_features(result.model_dump(include=_FEATURE_FIELDS))])
            return float(self.scorer.predict(features, [result.question_id])[0])
        return float(self.predict([result.score or 0.0])[0])

    def apply_to(self, result: GradeResult) -> None:
        """Add ``calibrated_score`` and ``calibrated_scale`` to a graded result (others are left alone)."""
        if result.status != "graded" or result.score is None:
            return
        result.calibrated_score = round(self.value_for(result), 3)
        result.calibrated_scale = f"{self.scale.low:g}-{self.scale.high:g}"
        if result.breakdown is not None:
            result.breakdown.calibrated = True

    # ------------------------------------------------------------ file format

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "format": FORMAT, "method": self.method,
            "scale": {"low": self.scale.low, "high": self.scale.high, "step": self.scale.step},
            "knots": {"score": list(self.knots_x), "value": list(self.knots_y)},
            "params": self.params,
        }
        if self.scorer is not None:
            out["model"] = self.scorer.to_json()
        return {**out, **self.info}

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
            scorer = LinearScorer.from_json(data["model"]) if method == "learned" else None
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"calibration file {path} is incomplete or malformed: {exc}") from exc
        if method not in METHODS:
            raise CalibrationError(f"calibration file {path}: unknown method {method!r}")
        if (scorer is None and not xs) or len(xs) != len(ys) or any(b < a for a, b in zip(xs, xs[1:], strict=False)) \
                or any(b < a - 1e-9 for a, b in zip(ys, ys[1:], strict=False)) \
                or not all(math.isfinite(v) for v in xs + ys):
            raise CalibrationError(f"calibration file {path}: the knots must be finite, sorted and monotone")
        info = {k: v for k, v in data.items()
                if k not in ("format", "method", "scale", "knots", "params", "model")}
        return cls(method=method, knots_x=xs, knots_y=ys, scale=scale, params=dict(data.get("params") or {}),
                   info=info, scorer=scorer)


# What ``record_features`` reads of a result (the rest of a dump would only cost time).
_FEATURE_FIELDS = {"score", "breakdown", "key_points", "flags", "misconceptions"}


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
        method: Method = "isotonic", features: np.ndarray | None = None,
        question_ids: Sequence[str] | None = None) -> Calibration:
    """Fit on the whole sample (no report; see ``fit_calibration``). ``learned`` needs ``features`` (one
    ``record_features`` row per answer) and ``question_ids``."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    _check_sample(x, y)
    if method == "isotonic":
        return _fit_isotonic(x, y, scale)
    if method == "logistic":
        return _fit_logistic(x, y, scale)
    if method == "learned":
        if features is None or question_ids is None:
            raise CalibrationError("a learned calibration needs the results' features and question ids")
        scorer = fit_scorer(features, y, question_ids, low=scale.low, high=scale.high)
        return Calibration(method="learned", knots_x=(), knots_y=(), scale=scale, scorer=scorer)
    raise CalibrationError(f"unknown calibration method {method!r}: use one of {', '.join(METHODS)}")


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
                   seed: int = 0, features: np.ndarray | None = None,
                   question_ids: Sequence[str] | None = None, within_questions: bool = False) -> CrossValidation:
    """Out-of-fold calibrated predictions and the agreement metrics before and after.

    ``within_questions`` splits answers instead of questions: the case of a teacher who grades some answers
    of every question and lets the model grade the rest (the learned per-question adjustments then count).
    """
    from sklearn.model_selection import KFold

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    _check_sample(x, y)
    if within_questions:
        splits = list(KFold(n_splits=MAX_FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(x))))
        grouping = f"{MAX_FOLDS}-fold over answers, every question on both sides (its own adjustments count)"
    else:
        splits, grouping = _splits(len(x), groups, seed)
    qids = list(question_ids) if question_ids is not None else list(groups)
    oof = np.empty_like(x)
    for train, test in splits:
        if len(np.unique(y[train])) < 2 or len(np.unique(x[train])) < 2:
            oof[test] = float(np.mean(y[train]))  # a degenerate fold: the best it can do is the mean
            continue
        if method == "learned":
            assert features is not None
            scorer = fit_scorer(features[train], y[train], [qids[i] for i in train], low=scale.low, high=scale.high)
            oof[test] = scorer.predict(features[test], [qids[i] for i in test])
            continue
        fitted = _fit_isotonic(x[train], y[train], scale) if method == "isotonic" \
            else _fit_logistic(x[train], y[train], scale)
        oof[test] = fitted.predict(x[test])
    return CrossValidation(before=agreement(linear(x, scale), y, scale, seed=seed),
                           after=agreement(oof, y, scale, seed=seed),
                           folds=len(splits), grouping=grouping, out_of_fold=oof)


def _check_learned_sample(n: int, questions: int) -> None:
    if n < MIN_LEARNED_SAMPLES or questions < MIN_LEARNED_QUESTIONS:
        raise CalibrationError(
            f"too few labelled answers to learn a scoring model honestly: {n} answers from {questions} "
            f"question(s); --method learned needs at least {MIN_LEARNED_SAMPLES} answers from "
            f"{MIN_LEARNED_QUESTIONS} questions, so that whole questions can be held out to check it. "
            "Grade more answers, or use --method isotonic")


def _learned_beats(learned: Agreement, curve: Agreement) -> bool:
    if learned.rmse.value is None or curve.rmse.value is None:
        return False
    pearson_ok = (learned.pearson.value or 0.0) >= (curve.pearson.value or 0.0) - PEARSON_TOLERANCE
    return learned.rmse.value < curve.rmse.value and pearson_ok


def fit_calibration(scores: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray,
                    groups: Sequence[str], *, scale: Scale, method: Method = "isotonic",
                    source: str | None = None, seed: int = 0, features: np.ndarray | None = None,
                    question_ids: Sequence[str] | None = None) -> tuple[Calibration, CrossValidation]:
    """Cross-validate, then fit on the whole sample; the report travels inside the calibration file.

    For ``learned`` the isotonic curve is cross-validated on the same folds; when the learned model does not
    beat it on held-out questions the curve is what is returned, and ``info["kept_curve"]`` says why.
    """
    n_questions = len({str(g) for g in groups})
    fitted_on = {"answers": len(np.asarray(scores)), "questions": n_questions, "source": source}
    if method != "learned":
        cv = cross_validate(scores, labels, groups, scale=scale, method=method, seed=seed)
        fitted = fit(scores, labels, scale=scale, method=method)
        info: dict[str, object] = {"fitted_on": fitted_on, "cross_validation": cv.as_dict()}
        return Calibration(method=fitted.method, knots_x=fitted.knots_x, knots_y=fitted.knots_y,
                           scale=scale, params=fitted.params, info=info), cv
    _check_learned_sample(len(np.asarray(scores)), n_questions)
    if features is None or question_ids is None:
        raise CalibrationError("a learned calibration needs the results' features and question ids")
    learned = cross_validate(scores, labels, groups, scale=scale, method="learned", seed=seed,
                             features=features, question_ids=question_ids)
    curve = cross_validate(scores, labels, groups, scale=scale, method="isotonic", seed=seed)
    within = cross_validate(scores, labels, groups, scale=scale, method="learned", seed=seed,
                            features=features, question_ids=question_ids, within_questions=True)
    info = {"fitted_on": fitted_on, "cross_validation": learned.as_dict(),
            "curve_cross_validation": curve.as_dict(), "within_questions": within.as_dict()}
    if not _learned_beats(learned.after, curve.after):
        info["kept_curve"] = (
            f"the learned model did not beat the isotonic curve on held-out questions (RMSE "
            f"{learned.after.rmse} vs {curve.after.rmse}, Pearson {learned.after.pearson} vs "
            f"{curve.after.pearson}): the curve was kept")
        kept = fit(scores, labels, scale=scale, method="isotonic")
        return Calibration(method="isotonic", knots_x=kept.knots_x, knots_y=kept.knots_y, scale=scale,
                           info=info), curve
    fitted = fit(scores, labels, scale=scale, method="learned", features=features, question_ids=question_ids)
    return Calibration(method="learned", knots_x=(), knots_y=(), scale=scale, scorer=fitted.scorer,
                       info=info), learned
