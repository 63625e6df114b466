"""Learned scoring: a small linear model from what the grader measured on an answer to a teacher's grades.

The monotone curve of ``calibration`` only re-reads the final score; the raw parts of a result (how well the
best and the weakest key point are shown, how many are missing, the flags) carry more than their sum. This
model reads them from the result itself, so the same features exist in a results file (when ``calibrate``
fits) and on a fresh ``GradeResult`` (when the grader applies the fit):

- every feature is oriented so that larger means a better answer, and the ridge fit keeps every weight at
  zero or above: the learned grade can only rise with the evidence, never reward a missing point;
- answer length is deliberately not a feature: it predicts human grades on some sets, and padding would
  then buy marks, which claim-only grading exists to prevent;
- a question the teacher graded at least ``MIN_PER_QUESTION`` answers of gets its own offset and slope, shrunk
  towards zero (``OFFSET_PENALTY``, ``SLOPE_PENALTY``): teachers mark some questions harder than others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

FEATURES = (
    "score", "coverage", "core_credit", "mean_credit", "mean_similarity", "best_similarity",
    "weakest_similarity", "covered_share", "not_missing_share", "not_contradicted_share", "no_flags",
    "no_penalty", "no_misconception",
)
RIDGE_ALPHA = 3.0
MIN_PER_QUESTION = 3  # labelled answers of one question before it gets its own offset and slope
OFFSET_PENALTY = 2.0  # ridge penalties of the per-question offset and slope (in answers' worth of evidence)
SLOPE_PENALTY = 5.0
MIN_SLOPE = -0.5


def record_features(record: Mapping[str, object]) -> list[float]:
    """The features of one graded result, from its JSON form (a results-file line or ``model_dump()``)."""
    points = [kp for kp in record.get("key_points") or [] if isinstance(kp, dict)]  # type: ignore[attr-defined]
    breakdown = record.get("breakdown") if isinstance(record.get("breakdown"), dict) else {}
    assert isinstance(breakdown, dict)

    def number(value: object, default: float = 0.0) -> float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

    sims = [number(kp.get("similarity")) for kp in points] or [0.0]
    credits = [number(kp.get("credit")) for kp in points] or [0.0]
    core = [number(kp.get("credit")) for kp in points if kp.get("weight", "core") == "core"] or credits
    verdicts = [kp.get("verdict") for kp in points]

    def share(name: str) -> float:
        return sum(v == name for v in verdicts) / len(verdicts) if verdicts else 0.0

    flags = record.get("flags")
    misconceptions = record.get("misconceptions")
    return [
        number(record.get("score")) / 100.0,
        number(breakdown.get("coverage")),
        float(np.mean(core)),
        float(np.mean(credits)),
        float(np.mean(sims)),
        max(sims),
        min(sims),
        share("covered"),
        1.0 - share("missing"),
        1.0 - share("contradicted"),
        -float(len(flags)) if isinstance(flags, list) else 0.0,
        -number(breakdown.get("penalties")) / 100.0,
        -float(len(misconceptions)) if isinstance(misconceptions, list) else 0.0,
    ]


@dataclass(frozen=True)
class LinearScorer:
    """Standardised features, non-negative ridge weights, and per-question offset and slope."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    low: float
    high: float
    center: float = 0.0  # the per-question slope turns around this base prediction
    per_question: dict[str, tuple[float, float]] = field(default_factory=dict)

    def base(self, features: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(features) - np.asarray(self.mean)) / np.asarray(self.std)
        return z @ np.asarray(self.coef) + self.intercept

    def predict(self, features: np.ndarray, question_ids: Sequence[str | None]) -> np.ndarray:
        base = self.base(features)
        adjust = np.array([self.per_question.get(q or "", (0.0, 0.0)) for q in question_ids]).reshape(-1, 2)
        return np.clip(base + adjust[:, 0] + adjust[:, 1] * (base - self.center), self.low, self.high)

    def to_json(self) -> dict[str, object]:
        return {"features": list(FEATURES), "mean": list(self.mean), "std": list(self.std),
                "coef": list(self.coef), "intercept": self.intercept, "low": self.low, "high": self.high,
                "center": self.center, "per_question": {q: list(v) for q, v in self.per_question.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LinearScorer:
        """Raises KeyError/TypeError/ValueError on a malformed model (the caller words the error)."""
        if list(data["features"]) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError("the model was fitted on other features (written by another dlgrader version)")
        vectors = [tuple(float(v) for v in data[k]) for k in ("mean", "std", "coef")]  # type: ignore[attr-defined]
        if any(len(v) != len(FEATURES) for v in vectors) or min(vectors[1]) <= 0:
            raise ValueError("mean, std and coef must have one finite entry per feature (std > 0)")
        per_question = {str(q): (float(v[0]), float(v[1]))
                        for q, v in dict(data.get("per_question") or {}).items()}  # type: ignore[call-overload]
        values = [*vectors[0], *vectors[1], *vectors[2], *(x for v in per_question.values() for x in v)]
        if not np.all(np.isfinite(values)):
            raise ValueError("non-finite numbers in the model")
        return cls(mean=vectors[0], std=vectors[1], coef=vectors[2], intercept=float(data["intercept"]),  # type: ignore[arg-type]
                   low=float(data["low"]), high=float(data["high"]), center=float(data.get("center", 0.0)),  # type: ignore[arg-type]
                   per_question=per_question)


def fit_scorer(features: np.ndarray, labels: np.ndarray, question_ids: Sequence[str], *, low: float,
               high: float) -> LinearScorer:
    """Fit the global model, then each well-sampled question's offset and slope on its residuals."""
    from sklearn.linear_model import Ridge

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0  # a constant feature keeps a zero weight whatever its scale
    model = Ridge(alpha=RIDGE_ALPHA, positive=True).fit((x - mean) / std, y)
    global_only = LinearScorer(mean=tuple(mean), std=tuple(std), coef=tuple(float(c) for c in model.coef_),
                               intercept=float(model.intercept_), low=low, high=high)
    base = global_only.base(x)
    center = float(base.mean())
    members: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(question_ids):
        members[q].append(i)
    per_question: dict[str, tuple[float, float]] = {}
    penalty = np.diag([OFFSET_PENALTY, SLOPE_PENALTY])
    for q, idx in members.items():
        if len(idx) < MIN_PER_QUESTION:
            continue
        design = np.column_stack([np.ones(len(idx)), base[idx] - center])
        offset, slope = np.linalg.solve(design.T @ design + penalty, design.T @ (y[idx] - base[idx]))
        # A slope below -1 would turn the question's grade against the evidence; keep it well above.
        per_question[q] = (float(offset), max(float(slope), MIN_SLOPE))
    return LinearScorer(mean=global_only.mean, std=global_only.std, coef=global_only.coef,
                        intercept=global_only.intercept, low=low, high=high, center=center,
                        per_question=per_question)
