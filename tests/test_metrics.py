"""Agreement metrics checked against scipy and scikit-learn on known data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, mean_absolute_error, mean_squared_error

from dlgrader.metrics import Scale, agreement, infer_scale, mae, pearson, qwk, rmse, spearman


@pytest.fixture
def graded_pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    label = rng.integers(0, 11, 400) / 2.0
    pred = np.clip(label + rng.normal(0, 0.9, 400), 0, 5)
    return pred, label


def test_point_metrics_match_scipy_and_sklearn(graded_pairs: tuple[np.ndarray, np.ndarray]) -> None:
    pred, label = graded_pairs
    scale = Scale(0, 5, 0.5)
    assert pearson(pred, label) == pytest.approx(pearsonr(pred, label)[0], abs=1e-12)
    assert spearman(pred, label) == pytest.approx(spearmanr(pred, label)[0], abs=1e-12)
    assert mae(pred, label) == pytest.approx(mean_absolute_error(label, pred))
    assert rmse(pred, label) == pytest.approx(np.sqrt(mean_squared_error(label, pred)))
    expected = cohen_kappa_score(scale.bins(pred), scale.bins(label), weights="quadratic",
                                 labels=list(range(scale.categories)))
    assert qwk(pred, label, scale) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=60))
def test_qwk_matches_sklearn_on_any_integer_ratings(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    ours = qwk(a, b, Scale(0, 4, 1))
    with warnings.catch_warnings():  # sklearn warns where kappa is undefined (and returns NaN)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        theirs = cohen_kappa_score(a.astype(int), b.astype(int), weights="quadratic", labels=[0, 1, 2, 3, 4])
    if np.isnan(theirs):
        assert ours is None
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_undefined_values_are_none_not_nan() -> None:
    flat = np.full(10, 3.0)
    varied = np.arange(10, dtype=float) / 2
    assert pearson(flat, varied) is None
    assert spearman(varied, flat) is None
    assert pearson(np.array([1.0]), np.array([2.0])) is None
    assert qwk(flat, flat, Scale(0, 5, 0.5)) is None  # one category on both sides
    result = agreement(flat, varied, Scale(0, 5, 0.5))
    assert result.pearson.value is None and result.pearson.low is None
    assert str(result.pearson) == "n/a"
    assert result.mae.value == pytest.approx(np.mean(np.abs(flat - varied)))


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible(
        graded_pairs: tuple[np.ndarray, np.ndarray]) -> None:
    pred, label = graded_pairs
    first = agreement(pred, label, Scale(0, 5, 0.5), seed=3)
    again = agreement(pred, label, Scale(0, 5, 0.5), seed=3)
    assert first == again
    for name in ("pearson", "spearman", "qwk", "mae", "rmse"):
        est = getattr(first, name)
        assert est.low is not None and est.high is not None
        assert est.low <= est.value <= est.high, name
        assert est.high - est.low < 0.3, name
    small = agreement(pred[:40], label[:40], Scale(0, 5, 0.5), seed=3)
    assert (small.pearson.high - small.pearson.low) > (first.pearson.high - first.pearson.low)


def test_bootstrap_interval_covers_a_known_correlation() -> None:
    # Bivariate normal with rho = 0.6: the 95% interval from 500 pairs should contain it.
    rng = np.random.default_rng(11)
    cov = [[1.0, 0.6], [0.6, 1.0]]
    x, y = rng.multivariate_normal([0, 0], cov, size=500).T
    est = agreement(x, y, Scale(-5, 5, 0.1)).pearson
    assert est.low < 0.6 < est.high


def test_too_few_pairs_give_no_interval() -> None:
    result = agreement([1.0, 2.0], [1.5, 2.5], Scale(0, 5, 0.5))
    assert result.n == 2 and result.pearson.value == pytest.approx(1.0)
    assert result.pearson.low is None


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        agreement([1.0, 2.0, 3.0], [1.0, 2.0], Scale())


@pytest.mark.parametrize(("labels", "expected"), [
    ([0, 2.5, 5, 4.5], Scale(0, 5, 0.5)),
    ([1, 2, 3, 4, 5], Scale(0, 5, 1)),
    ([0, 1, 1, 0], Scale(0, 1, 1)),
    ([3, 7, 10], Scale(0, 10, 1)),
    ([12, 55, 99.5], Scale(0, 100, 0.5)),
    ([0.25, 0.75], Scale(0, 1, 0.25)),
])
def test_infer_scale(labels: list[float], expected: Scale) -> None:
    assert infer_scale(labels) == expected


def test_scale_bins_clip_into_range() -> None:
    scale = Scale(0, 5, 0.5)
    assert scale.categories == 11
    assert scale.bins(np.array([-1.0, 0.2, 0.3, 4.9, 7.0])).tolist() == [0, 0, 1, 10, 10]
