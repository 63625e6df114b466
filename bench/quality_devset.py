"""Grading quality on the hand-written dev sets (bench/devset): Spearman against target scores, and the
worst case of every adversarial kind.

    python bench/quality_devset.py              # the test set (reported; never tuned on)
    python bench/quality_devset.py --set tune   # the tune set (thresholds were chosen on it)
    python bench/quality_devset.py --by-text    # match questions by their text instead of by id
    python bench/quality_devset.py --set correctness  # right vs wrong answers (independent author)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
ADVERSARIAL = ("keyword_list", "echo", "off_topic", "empty")
# The correctness set's wrong kinds: each should score at most 30.
WRONG = ("confident_wrong", "misconception", "other_question")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("test", "tune", "validation", "correctness"), default="test")
    parser.add_argument("--by-text", action="store_true", help="match by question text, not id")
    parser.add_argument("--show", help="print every result of this kind")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from dlgrader.service import GradeRequest, default_grader

    rows = [json.loads(line) for line in (HERE / "devset" / f"{args.set}.jsonl").read_text().splitlines() if line]
    grader = default_grader()
    requests = [GradeRequest(answer=r["answer"], id=r["id"],
                             question=r["question"] if args.by_text else None,
                             question_id=None if args.by_text else r["question_id"]) for r in rows]
    started = time.perf_counter()
    results = grader.grade_many(requests)
    elapsed = time.perf_counter() - started

    scores = [res.score if res.score is not None else 0.0 for res in results]
    rho = spearmanr(scores, [r["target"] for r in rows]).statistic
    by_kind: dict[str, list[float]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        by_kind[row["kind"]].append(score)
    low_kinds = WRONG if args.set == "correctness" else ADVERSARIAL
    adversarial = [s for row, s in zip(rows, scores, strict=True) if row["kind"] in low_kinds]
    share_low = sum(1 for s in adversarial if s <= 30) / len(adversarial)
    mismatched = sum(1 for row, res in zip(rows, results, strict=True)
                     if res.status != "graded" or res.question_id != row["question_id"])
    summary = {
        "set": args.set, "answers": len(rows), "spearman": round(float(rho), 4),
        "adversarial_at_most_30": round(share_low, 4),
        "kinds": {k: {"n": len(v), "mean": round(sum(v) / len(v), 1), "min": min(v), "max": max(v)}
                  for k, v in sorted(by_kind.items())},
        "question_mismatches": mismatched, "seconds": round(elapsed, 2),
    }
    if args.show:
        for row, res in zip(rows, results, strict=True):
            if row["kind"] == args.show:
                print(f"{res.score:5} target {row['target']:3} {row['id']}: {res.summary[:150]}")
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    low_name = "wrong" if args.set == "correctness" else "adversarial"
    print(f"dev set '{args.set}': {len(rows)} answers, Spearman {summary['spearman']}, "
          f"{low_name} <= 30: {share_low:.1%}, question mismatches {mismatched}, {elapsed:.1f} s")
    print(f"{'kind':<15}{'n':>4}{'mean':>8}{'min':>8}{'max (worst)':>13}")
    for kind, s in summary["kinds"].items():  # type: ignore[union-attr]
        print(f"{kind:<15}{s['n']:>4}{s['mean']:>8}{s['min']:>8}{s['max']:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
