"""Choose the verifier's verdict thresholds on the tune set (bench/devset/tune.jsonl), and show how the
choice fares on validation. The test, correctness and Mohler sets are never looked at here.

    python bench/tune_verifier.py [--mode blend|veto]

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


GRIDS = {
    # the verifier may only contradict an embedding verdict
    "veto": [{"contradicted": c, "misconception": m}
             for c, m in itertools.product((0.9, 0.97, 0.99, 0.995, 1.01), (0.9, 0.97, 0.99, 1.01))],
    # the verifier decides where it is confident; where it reads neutral the embedding credit is scaled
    "blend": [{"covered": cov, "partial": par, "contradicted": con, "neutral_factor": nf, "spans": 1, "floor": 0.0}
              for cov, par, con, nf in itertools.product((0.8, 0.9, 0.97), (0.5, 0.7), (0.8, 0.9, 0.97, 1.01),
                                                         (0.5, 0.8, 1.0))],
}


def main() -> int:
    import argparse

    from dlgrader.config import get_settings
    from dlgrader.grading import VerifierThresholds
    from dlgrader.service import Grader

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=sorted(GRIDS), default="blend")
    args = parser.parse_args()
    settings = get_settings().model_copy(update={"verifier": "on"})
    grader = Grader.from_settings(settings)
    grader.verifier = CachedVerifier(grader.verifier)  # type: ignore[assignment]
    tune = [json.loads(x) for x in (HERE / "devset" / "tune.jsonl").read_text().splitlines() if x]
    validation = [json.loads(x) for x in (HERE / "devset" / "validation.jsonl").read_text().splitlines() if x]
    base = VerifierThresholds()
    results = []
    for params in GRIDS[args.mode]:
        grader.verifier_thresholds = replace(base, mode=args.mode, **params)  # type: ignore[arg-type]
        results.append((params, score(grader, tune)))
    # Spearman first; among near-ties, the share of adversarial answers kept low
    results.sort(key=lambda r: -(r[1]["spearman"] + 0.1 * r[1]["low_share"]))
    for params, figures in results[:8]:
        print("tune", params, figures)
    best = results[0][0]
    grader.verifier_thresholds = replace(base, mode=args.mode, **best)  # type: ignore[arg-type]
    print("chosen", best, "validation", score(grader, validation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
