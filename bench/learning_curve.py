"""How many graded answers a teacher must supply before learned scoring pays off, on Mohler.

    .venv/bin/python bench/learning_curve.py [--results RESULTS.jsonl] [--seeds 5]

Grades Mohler once (as ``bench/mohler.py`` does, in a temporary folder; or reads a results file it kept with
``--keep``), then plays a teacher who grades N answers (25, 50, 100, 200, 400, spread over the questions:
one answer from each question in a random order, then a second round...) and lets the grader mark the rest.
For each N and seed it fits what ``dlgrader calibrate`` would (``--method learned``, which keeps the
isotonic curve when the model does not beat it, and refuses below its minimum sample; then the raw score
stays) and the isotonic curve alone, and measures both on the answers the teacher did not grade. The
"per question" case: the teacher grades the first 5 answers of every question, the model grades the rest.
Nothing is tuned on these figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from mohler import DEFAULT_DATA, SCALE, cli, load_rows, write_inputs  # noqa: E402

from dlgrader.calibration import _fit_isotonic, fit_calibration, linear  # noqa: E402
from dlgrader.errors import CalibrationError  # noqa: E402
from dlgrader.metrics import pearson, rmse  # noqa: E402
from dlgrader.report import labelled_sample  # noqa: E402

SIZES = (25, 50, 100, 200, 400)
PER_QUESTION = 5


def graded_results(data: Path, work: Path) -> Path:
    bank, answers = write_inputs(load_rows(data), work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DLGRADER_CORPUS": str(bank),
           "DLGRADER_INDEX_DIR": str(work / "index"), "DLGRADER_DATA_DIR": str(work / "data")}
    env.pop("DLGRADER_CALIBRATION", None)
    results = work / "results.jsonl"
    cli(["batch", str(answers), "-o", str(results), "--restart", "--no-progress"], env)
    return results


def spread_sample(question_ids: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    """N answer positions taken round-robin over the questions, in a random order."""
    by_q: dict[str, list[int]] = {}
    for i in rng.permutation(len(question_ids)):
        by_q.setdefault(question_ids[i], []).append(int(i))
    order = list(by_q)
    rng.shuffle(order)
    chosen: list[int] = []
    while len(chosen) < n:
        for q in order:
            if by_q[q] and len(chosen) < n:
                chosen.append(by_q[q].pop())
    return np.array(sorted(chosen))


class Sample:
    def __init__(self, results: Path) -> None:
        s = labelled_sample(results, labels="label")
        self.scores = np.array(s.scores)
        self.labels = np.array(s.labels)
        self.groups = s.groups
        self.qids = s.question_ids
        self.features = np.array(s.features)

    def evaluate(self, train: np.ndarray) -> dict[str, tuple[float, float] | str]:
        test = np.setdiff1d(np.arange(len(self.labels)), train)
        y = self.labels[test]
        out: dict[str, tuple[float, float] | str] = {}
        raw = linear(self.scores[test], SCALE)
        out["raw"] = (pearson(raw, y) or 0.0, rmse(raw, y) or 0.0)
        iso = _fit_isotonic(self.scores[train], self.labels[train], SCALE).predict(self.scores[test])
        out["isotonic"] = (pearson(iso, y) or 0.0, rmse(iso, y) or 0.0)
        try:
            fitted, _ = fit_calibration(self.scores[train], self.labels[train], [self.groups[i] for i in train],
                                        scale=SCALE, method="learned", features=self.features[train],
                                        question_ids=[self.qids[i] for i in train])
        except CalibrationError:
            out["learned"] = "refused"
            out["what you get"] = out["raw"]
            return out
        if fitted.scorer is not None:
            pred = fitted.scorer.predict(self.features[test], [self.qids[i] for i in test])
        else:
            pred = fitted.predict(self.scores[test])
        out["learned"] = fitted.method
        out["what you get"] = (pearson(pred, y) or 0.0, rmse(pred, y) or 0.0)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--results", type=Path, help="A Mohler results file kept by bench/mohler.py --keep.")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    work = None
    try:
        if args.results is None:
            work = Path(tempfile.mkdtemp(prefix="dlgrader-curve-"))
            args.results = graded_results(args.data, work)
        sample = Sample(args.results)
        print(f"{len(sample.labels)} labelled answers, {len(set(sample.qids))} questions; "
              f"figures on the answers the teacher did not grade (Pearson / RMSE on 0-5)\n")
        print("| graded answers | seed | raw | isotonic | learned kept | what you get |")
        print("|---|---|---|---|---|---|")
        for n in SIZES:
            wins = 0
            for seed in range(args.seeds):
                r = sample.evaluate(spread_sample(sample.qids, n, np.random.default_rng(seed)))
                wins += r["what you get"][0] >= r["raw"][0]  # type: ignore[index]
                print(f"| {n} | {seed} | {_fmt(r['raw'])} | {_fmt(r['isotonic'])} | {r['learned']} | "
                      f"{_fmt(r['what you get'])} |")
            print(f"| {n} | | | | | not worse than raw (Pearson) on {wins}/{args.seeds} seeds |")
        seen: dict[str, int] = {}
        first = []
        for i, q in enumerate(sample.qids):
            seen[q] = seen.get(q, 0) + 1
            if seen[q] <= PER_QUESTION:
                first.append(i)
        r = sample.evaluate(np.array(first))
        print(f"\nPer question (first {PER_QUESTION} answers of each question graded, {len(first)} in all): "
              f"raw {_fmt(r['raw'])}, isotonic {_fmt(r['isotonic'])}, learned ({r['learned']} kept) "
              f"{_fmt(r['what you get'])}")
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _fmt(pair: object) -> str:
    return pair if isinstance(pair, str) else f"{pair[0]:.3f} / {pair[1]:.3f}"  # type: ignore[index]


if __name__ == "__main__":
    main()
