"""Choose the verifier's verdict thresholds on the tune set (bench/devset/tune.jsonl), and show how the
choice fares on validation. The test, correctness and Mohler sets are never looked at here.

    python bench/tune_verifier.py

Verifier calls are cached per (premise, hypothesis), so the grid costs one pass of model calls.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent


class CachedVerifier:
    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def predict(self, pairs):  # type: ignore[no-untyped-def]
        missing = [p for p in dict.fromkeys(pairs) if p not in self.cache]
        if missing:
            for pair, probs in zip(missing, self.inner.predict(missing), strict=True):
                self.cache[pair] = probs
        return np.array([self.cache[p] for p in pairs]).reshape(len(pairs), 3)


def score(grader, rows) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from dlgrader.service import GradeRequest

    results = grader.grade_many([GradeRequest(answer=r["answer"], question_id=r["question_id"]) for r in rows])
    scores = [r.score or 0.0 for r in results]
    rho = float(spearmanr(scores, [r["target"] for r in rows]).statistic)
    adversarial = [s for r, s in zip(rows, scores, strict=True)
                   if r["kind"] in ("keyword_list", "echo", "off_topic", "empty", "wrong")]
    full = [s for r, s in zip(rows, scores, strict=True) if r["kind"] == "full"]
    return {"spearman": round(rho, 4), "low_share": round(sum(s <= 30 for s in adversarial) / len(adversarial), 3),
            "full_mean": round(sum(full) / len(full), 1)}


def main() -> int:
    from dlgrader.config import get_settings
    from dlgrader.grading import VerifierThresholds
    from dlgrader.service import Grader

    settings = get_settings().model_copy(update={"verifier": "on"})
    grader = Grader.from_settings(settings)
    grader.verifier = CachedVerifier(grader.verifier)  # type: ignore[assignment]
    tune = [json.loads(x) for x in (HERE / "devset" / "tune.jsonl").read_text().splitlines() if x]
    validation = [json.loads(x) for x in (HERE / "devset" / "validation.jsonl").read_text().splitlines() if x]
    base = VerifierThresholds()
    results = []
    for contradicted, misconception in itertools.product((0.9, 0.97, 0.99, 0.995, 1.01), (0.9, 0.97, 0.99, 1.01)):
        grader.verifier_thresholds = replace(base, mode="veto", contradicted=contradicted,
                                             misconception=misconception)
        results.append(((contradicted, misconception), score(grader, tune)))
    results.sort(key=lambda r: -r[1]["spearman"])
    for params, figures in results[:8]:
        print("tune", params, figures)
    best = results[0][0]
    grader.verifier_thresholds = replace(base, mode="veto", contradicted=best[0], misconception=best[1])
    print("chosen", best, "validation", score(grader, validation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
