"""Question matching on the held-out rephrasings (bench/matching/heldout.jsonl, written by an author who
never saw the bank's aliases): top-1 accuracy on in-bank questions, wrong matches, and out-of-bank probes
that stay unknown.

    python bench/matching_heldout.py [--show wrong|unknown|oob]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", choices=("wrong", "unknown", "oob"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from dlgrader.service import default_grader

    grader = default_grader()
    rows = [json.loads(line) for line in (HERE / "matching" / "heldout.jsonl").read_text().splitlines() if line]
    outcome: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    for row in rows:
        match = grader.match_question(row["asked"])
        got = match.question.id if match.question else None
        expected = row["expected"]
        if expected is not None:
            target = grader.bank.get(expected)
            expected = target.id if target else expected
            verdict = "right" if got == expected else "unknown" if got is None else "wrong"
        else:
            verdict = "oob_unknown" if got is None else "oob_matched"
        outcome[verdict] += 1
        by_kind.setdefault(row["kind"], Counter())[verdict] += 1
        show = {"wrong": "wrong", "unknown": "unknown", "oob": "oob_matched"}.get(args.show or "")
        if show == verdict:
            top = match.suggestions[0].question_id if match.suggestions else None
            print(f"{verdict:12} {match.confidence:.3f} asked {row['asked']!r} expected {expected} got {got} "
                  f"(top suggestion {top})")
    in_bank = outcome["right"] + outcome["wrong"] + outcome["unknown"]
    oob = outcome["oob_unknown"] + outcome["oob_matched"]
    summary = {"in_bank": in_bank, "top1_accuracy": round(outcome["right"] / in_bank, 4),
               "wrong_matches": round(outcome["wrong"] / in_bank, 4), "unknown": round(outcome["unknown"] / in_bank, 4),
               "oob": oob, "oob_kept_unknown": round(outcome["oob_unknown"] / oob, 4),
               "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}}
    print(json.dumps(summary, indent=None if not args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
