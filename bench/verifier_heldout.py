"""The verifier on statement pairs it never saw, written by an author who never saw its training pairs
(``bench/verifier/heldout_pairs.jsonl``: 308 pairs on the bank's key points, 60 generic ones; with ``--file
bench/verifier/heldout_pairs_2.jsonl``: 394 pairs by a third author, 245 on bank key points rephrased in the
author's own words, 149 generic; ``heldout_pairs_3.jsonl``: 360 bank pairs in unusual sentence structures).
Report only: nothing is tuned on it.

    python bench/verifier_heldout.py [--model models/verifier] [--file PAIRS.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = ("entailment", "contradiction", "neutral")


def report(gold: list[str], predicted: list[str]) -> dict[str, object]:
    per_class = {}
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        precision = tp / max(1, sum(p == label for p in predicted))
        recall = tp / max(1, sum(g == label for g in gold))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}
    macro = sum(float(c["f1"]) for c in per_class.values()) / len(LABELS)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(1, len(gold))
    return {"pairs": len(gold), "macro_f1": round(macro, 3), "accuracy": round(accuracy, 3), "per_class": per_class}


def main() -> int:
    from dlgrader.config import get_settings
    from dlgrader.verifier import load_verifier

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().verifier_dir)
    parser.add_argument("--file", type=Path, default=HERE / "verifier" / "heldout_pairs.jsonl",
                        help="heldout_pairs_2.jsonl or heldout_pairs_3.jsonl (default: heldout_pairs.jsonl)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    probs = load_verifier(args.model).predict([(r["premise"], r["hypothesis"]) for r in rows])
    predicted = [LABELS[int(k)] for k in probs.argmax(axis=1)]
    gold = [r["label"] for r in rows]
    out: dict[str, object] = {"model": str(args.model), "all": report(gold, predicted)}
    def generic(r: dict[str, str]) -> bool:
        return r.get("question_id") in (None, "", "generic")

    for part, keep in (("bank", lambda r: not generic(r)), ("generic", generic)):
        idx = [i for i, r in enumerate(rows) if keep(r)]
        out[part] = report([gold[i] for i in idx], [predicted[i] for i in idx])
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(rows, predicted, strict=True):
        kinds[r["kind"]].append(r["label"] == p)
    out["accuracy_by_kind"] = {k: round(sum(v) / len(v), 2) for k, v in sorted(kinds.items())}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for part in ("all", "bank", "generic"):
        r = out[part]
        assert isinstance(r, dict)
        classes = "  ".join(f"{k} P {v['precision']:.2f} R {v['recall']:.2f}" for k, v in r["per_class"].items())
        print(f"{part:8s} n={r['pairs']:4d} macro-F1 {r['macro_f1']:.3f} acc {r['accuracy']:.3f}  {classes}")
    print("accuracy by kind:", out["accuracy_by_kind"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
