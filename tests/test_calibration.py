"""Calibration: fitting, honest cross-validation, refusing small samples, the file, and its use in grading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.isotonic import IsotonicRegression

from dlgrader.calibration import MIN_SAMPLES, Calibration, cross_validate, fit, fit_calibration
from dlgrader.errors import CalibrationError
from dlgrader.metrics import Scale
from dlgrader.models import GradeResult, ScoreBreakdown

SCALE = Scale(0, 5, 0.5)
DLGRADER = Path(sys.executable).parent / "dlgrader"


def _sample(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Raw scores whose relation to the labels is monotone but far from linear (labels bunch near 5)."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 100, n).round(1)
    labels = np.clip(np.round((5 * np.sqrt(scores / 100) + rng.normal(0, 0.4, n)) * 2) / 2, 0, 5)
    groups = [f"Question {i % 12}?" for i in range(n)]
    return scores, labels, groups


def test_isotonic_fit_matches_sklearn_and_is_monotone() -> None:
    scores, labels, _ = _sample()
    cal = fit(scores, labels, scale=SCALE)
    reference = IsotonicRegression(y_min=0, y_max=5, out_of_bounds="clip").fit(scores, labels)
    grid = np.linspace(-10, 110, 500)
    assert np.allclose(cal.predict(grid), reference.predict(grid))
    assert np.all(np.diff(cal.predict(grid)) >= -1e-12)
    assert cal.predict([0.0])[0] >= 0 and cal.predict([100.0])[0] <= 5


def test_logistic_fit_is_monotone_within_the_scale() -> None:
    scores, labels, _ = _sample()
    cal = fit(scores, labels, scale=SCALE, method="logistic")
    values = cal.predict(np.linspace(0, 100, 101))
    assert np.all(np.diff(values) >= 0)
    assert 0 <= values.min() and values.max() <= 5
    assert cal.params["slope"] > 0


def test_calibration_improves_error_under_cross_validation() -> None:
    scores, labels, groups = _sample()
    cv = cross_validate(scores, labels, groups, scale=SCALE)
    assert "grouped by question text" in cv.grouping and cv.folds == 5
    assert cv.after.rmse.value < cv.before.rmse.value
    assert cv.after.mae.value < cv.before.mae.value


def test_folds_never_share_a_question_text() -> None:
    # One question's answers are all labelled 5, every other answer 0, with the same spread of scores.
    # A fit that saw that question would predict well above 0 for it; held out, it cannot.
    rng = np.random.default_rng(1)
    n = 200
    scores = rng.uniform(0, 100, n)
    groups = [f"q{i % 10}" for i in range(n)]
    labels = np.array([5.0 if g == "q3" else 0.0 for g in groups])
    labels[:4] = [1.0, 2.0, 0.5, 1.5]  # keep every training fold's labels varied
    cv = cross_validate(scores, labels, groups, scale=SCALE)
    held_out = cv.out_of_fold[[g == "q3" for g in groups]]
    assert held_out.max() < 2.5


def test_question_texts_that_differ_only_in_case_or_spacing_are_one_group() -> None:
    scores, labels, _ = _sample(60)
    groups = ["What is a pointer?" if i % 2 else "what is  a POINTER?" for i in range(60)]
    cv = cross_validate(scores, labels, groups, scale=SCALE)
    assert "only 1 question" in cv.grouping  # falls back to folds over answers, and says so


def test_too_small_a_sample_is_refused_with_a_clear_message() -> None:
    scores, labels, groups = _sample(MIN_SAMPLES - 1)
    with pytest.raises(CalibrationError, match=f"at least {MIN_SAMPLES}"):
        fit_calibration(scores, labels, groups, scale=SCALE)


def test_constant_labels_are_refused() -> None:
    scores, _, groups = _sample(80)
    with pytest.raises(CalibrationError, match="labels that vary"):
        fit(scores, np.full(80, 4.0), scale=SCALE)


def test_file_round_trip_and_apply_to(tmp_path: Path) -> None:
    scores, labels, groups = _sample()
    cal, cv = fit_calibration(scores, labels, groups, scale=SCALE, source="sample.jsonl")
    path = tmp_path / "calibration.json"
    cal.save(path)
    data = json.loads(path.read_text())
    assert data["cross_validation"]["after"]["rmse"]["value"] == pytest.approx(cv.after.rmse.value)
    loaded = Calibration.load(path)
    assert np.allclose(loaded.predict(scores), cal.predict(scores))
    graded = GradeResult(status="graded", score=50.0, grade=2.5,
                         breakdown=ScoreBreakdown(coverage=0.5, raw_score=50.0, penalties=0.0))
    loaded.apply_to(graded)
    assert graded.calibrated_score == pytest.approx(float(cal.predict([50.0])[0]), abs=1e-3)
    assert graded.calibrated_scale == "0-5" and graded.breakdown is not None and graded.breakdown.calibrated
    unknown = GradeResult(status="unknown_question")
    loaded.apply_to(unknown)
    assert unknown.calibrated_score is None


@pytest.mark.parametrize("content", ["not json", '{"format": "other"}',
                                     '{"format": "dlgrader-calibration/1", "method": "isotonic"}',
                                     '{"format": "dlgrader-calibration/1", "method": "isotonic", "scale": '
                                     '{"low": 0, "high": 5, "step": 0.5}, "knots": {"score": [0, 50], '
                                     '"value": [3, 1]}}'])
def test_unusable_files_raise_calibration_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CalibrationError):
        Calibration.load(path)
    with pytest.raises(CalibrationError, match="not found"):
        Calibration.load(tmp_path / "missing.json")


# ---------------------------------------------------------------- the CLI and the grader


def _results_file(path: Path, scores: np.ndarray, labels: list[object], groups: list[str]) -> None:
    with path.open("w") as fh:
        for i, (s, y, g) in enumerate(zip(scores, labels, groups, strict=True)):
            record = {"status": "graded", "id": f"a{i}", "question_id": g.lower()[:-1].replace(" ", "_"),
                      "question": g, "score": float(s), "grade": round(float(s) / 10) / 2, "label": y}
            fh.write(json.dumps(record) + "\n")


def test_calibrate_command_reports_before_and_after_and_writes_the_file(tmp_path: Path) -> None:
    from dlgrader.cli import cli

    scores, labels, groups = _sample()
    raw_labels: list[object] = [float(v) for v in labels]
    raw_labels[5] = "excellent"  # text in a numeric column: reported, not fatal
    raw_labels[9] = None
    results = tmp_path / "results.jsonl"
    _results_file(results, scores, raw_labels, groups)
    out = tmp_path / "cal.json"
    run = CliRunner().invoke(cli, ["calibrate", str(results), "--labels", "label", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert "grouped by question text" in run.output
    assert "before (raw score rescaled)" in run.output and "rmse" in run.output
    assert "line 6 (id a5): label 'excellent' is not a number" in run.output
    assert "line 10 (id a9): no label" in run.output
    cal = Calibration.load(out)
    assert cal.info["fitted_on"]["answers"] == len(scores) - 2  # type: ignore[index]


def test_calibrate_command_refuses_a_small_sample(tmp_path: Path) -> None:
    from dlgrader.cli import cli

    scores, labels, groups = _sample(12)
    results = tmp_path / "results.jsonl"
    _results_file(results, scores, [float(v) for v in labels], groups)
    args = ["calibrate", str(results), "--labels", "label", "-o", str(tmp_path / "c.json")]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 1
    assert "too few labelled answers" in run.output and "12 graded answers" in run.output
    assert not (tmp_path / "c.json").exists()


def test_grader_applies_a_calibration_from_the_setting(product_grader, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dlgrader.cli import cli

    cal = Calibration(method="isotonic", knots_x=(0.0, 100.0), knots_y=(1.0, 3.0), scale=Scale(1, 3, 1))
    path = tmp_path / "cal.json"
    cal.save(path)
    answer = "Dropout randomly sets a fraction of neuron activations to zero during training."
    runner = CliRunner()
    args = ["grade", "-i", "dropout", "-a", answer, "--json", "--calibration", str(path)]
    by_option = runner.invoke(cli, args)
    assert by_option.exit_code == 0, by_option.output
    result = json.loads(by_option.output)
    assert result["calibrated_scale"] == "1-3"
    assert result["calibrated_score"] == pytest.approx(1.0 + 2.0 * result["score"] / 100, abs=1e-3)
    assert result["breakdown"]["calibrated"] is True
    monkeypatch.setenv("DLGRADER_CALIBRATION", str(path))  # what the API and practice read
    from dlgrader.config import get_settings
    from dlgrader.service import default_grader

    get_settings.cache_clear()
    graded = default_grader().grade(answer, question_id="dropout")
    assert graded.calibrated_score == result["calibrated_score"]
    plain = product_grader.grade(answer, question_id="dropout")
    assert plain.calibrated_score is None and plain.score == result["score"]


def test_a_broken_calibration_file_is_a_clean_cli_error(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "cal.json"
    bad.write_text("{}")
    run = subprocess.run([str(DLGRADER), "grade", "-i", "dropout", "-a", "x", "--calibration", str(bad)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 1
    assert "Error:" in run.stderr and "not a dlgrader calibration" in run.stderr
    assert "Traceback" not in run.stderr


# ---------------------------------------------------------------- learned scoring


def _learned_results(path: Path, n: int = 240, seed: int = 0, *, step: bool = False) -> None:
    """Results whose labels follow the weakest key point (which the final score only partly shows), with a
    harsh teacher on one question; or, with ``step``, a hard step in the score that only a curve can fit."""
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for i in range(n):
            q = f"q{i % 8}"
            sims = rng.uniform(0.2, 0.9, 3)
            score = float(np.clip(100 * sims.mean() + rng.normal(0, 8), 0, 100))
            label = (5.0 if score > 50 else 0.0) if step else float(np.clip(
                np.round((7 * sims.min() - 0.8 - (1.0 if q == "q3" else 0.0) + rng.normal(0, 0.3)) * 2) / 2, 0, 5))
            points = [{"index": k, "text": f"point {k}", "similarity": float(s), "credit": float(min(1, s / 0.6)),
                       "verdict": "covered" if s >= 0.6 else "partial" if s >= 0.41 else "missing",
                       "weight": "core"} for k, s in enumerate(sims)]
            record = {"status": "graded", "id": f"a{i}", "question_id": q, "question": f"Question {q}?",
                      "score": round(score, 1), "key_points": points, "flags": [], "misconceptions": [],
                      "breakdown": {"coverage": float(np.mean([p["credit"] for p in points])),
                                    "raw_score": score, "penalties": 0.0, "calibrated": False},
                      "label": label}
            fh.write(json.dumps(record) + "\n")


def _calibrate(tmp_path: Path, results: Path, *extra: str):  # type: ignore[no-untyped-def]
    from dlgrader.cli import cli

    out = tmp_path / "cal.json"
    run = CliRunner().invoke(cli, ["calibrate", str(results), "--labels", "label", "--scale",
                                                   "0-5:0.5", "-o", str(out), *extra])
    return run, out


def test_learned_scoring_beats_the_curve_and_says_so_in_json(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    _learned_results(results)
    run, out = _calibrate(tmp_path, results, "--method", "learned", "--json")
    assert run.exit_code == 0, run.output + run.stderr
    summary = json.loads(run.stdout)  # one JSON object on stdout, nothing else
    assert summary["method"] == "learned" and summary["kept_curve"] is None and summary["n"] == 240
    assert set(summary["raw"]) >= {"pearson", "spearman", "qwk", "rmse"}
    assert summary["calibrated"]["rmse"] < summary["curve_cross_validation"]["rmse"]
    assert summary["calibrated"]["pearson"] > summary["raw"]["pearson"]
    assert "grouped by question text" in summary["cross_validation"]
    cal = Calibration.load(out)
    assert cal.method == "learned" and cal.scorer is not None
    assert cal.scorer.per_question["q3"][0] < -0.3  # the harsh question has its own, lower offset
    assert all(c >= 0 for c in cal.scorer.coef)  # never a negative weight on evidence


def test_a_learned_grade_never_falls_when_the_evidence_grows(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    _learned_results(results)
    _, out = _calibrate(tmp_path, results, "--method", "learned")
    cal = Calibration.load(out)
    from dlgrader.models import KeyPointResult

    def graded(sim: float) -> GradeResult:
        points = [KeyPointResult(index=k, text="p", verdict="covered" if s >= 0.6 else "partial", similarity=s,
                                 credit=min(1.0, s / 0.6)) for k, s in enumerate((0.7, 0.8, sim))]
        return GradeResult(status="graded", question_id="q1", score=60.0, grade=3.0, key_points=points,
                           breakdown=ScoreBreakdown(coverage=0.9, raw_score=60.0, penalties=0.0))

    values = []
    for sim in (0.3, 0.45, 0.6, 0.75):
        result = graded(sim)
        cal.apply_to(result)
        values.append(result.calibrated_score)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False)) and values[-1] > values[0]


def test_learned_keeps_the_curve_when_it_does_not_beat_it(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    _learned_results(results, step=True)
    run, out = _calibrate(tmp_path, results, "--method", "learned")
    assert run.exit_code == 0, run.output
    assert "did not beat the isotonic curve" in run.stdout and "the curve was kept" in run.stdout
    assert Calibration.load(out).method == "isotonic"


def test_learned_refuses_a_small_sample_with_the_reason(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    _learned_results(results, n=35)
    run, out = _calibrate(tmp_path, results, "--method", "learned")
    assert run.exit_code == 1
    assert "35 answers from 8 question(s)" in run.stderr and "at least 40 answers" in run.stderr
    assert not out.exists()


def test_a_malformed_learned_model_is_refused(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    _learned_results(results)
    _, out = _calibrate(tmp_path, results, "--method", "learned")
    data = json.loads(out.read_text())
    data["model"]["coef"] = data["model"]["coef"][:-1]
    out.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="malformed"):
        Calibration.load(out)
