"""Develop the match ranker without touching the reported set: hold one file of `corpus/matching/` out of
the index and the ranker's training, fit on the rest, and score the held-out file (a different author's
phrasings). `bench/matching_heldout.py` stays the figure that is reported.

    python bench/matching_dev.py [--dev phrasings_2.jsonl] [--show wrong|unknown|oob]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def dev_setup(dev: str, model: str | None = None) -> tuple:
    """The bank, embedder, dev-protocol vectors and texts, training queries, dev rows and fitted ranker."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank
    from dlgrader.embedding import load_embedder
    from dlgrader.index import load_or_build
    from dlgrader.match_ranker import EntryTexts, Vectors, fit_ranker

    settings = get_settings()
    bank = load_bank(settings.corpus)
    if model:  # another embedding model, for comparison: its own index in /tmp
        embedder = load_embedder(model=model, backend="sentence-transformers")
        index = load_or_build(bank, embedder, Path("/tmp") / f"dlgrader-index-{Path(model).name}")
    else:
        embedder = load_embedder()
        index = load_or_build(bank, embedder, settings.resolved_index_dir())
    dev_rows = [json.loads(line) for line in (ROOT / "corpus" / "matching" / dev).read_text().splitlines()
                if line.strip()]
    dev_texts = {r["asked"].strip() for r in dev_rows}
    rows = index.rows["questions"]
    keep = np.array([not (r.kind == "typed" and r.text in dev_texts) for r in rows])
    kept_rows = [r for r, k in zip(rows, keep, strict=True) if k]
    full = index.ranker_vectors()
    position = {qid: i for i, qid in enumerate(full.ids)}
    canonical = {r.question_id: i for i, r in enumerate(kept_rows) if r.kind == "question"}
    vecs = Vectors(questions=full.questions[keep], question_owner=full.question_owner[keep],
                   canonical_row=np.array([canonical[qid] for qid in full.ids]), keypoints=full.keypoints,
                   keypoint_owner=full.keypoint_owner, references=full.references,
                   reference_owner=full.reference_owner, ids=full.ids)
    assert all(position[r.question_id] == vecs.question_owner[i] for i, r in enumerate(kept_rows))
    texts = EntryTexts(bank)
    queries: list[tuple[str, np.ndarray, str | None, int | None]] = [
        (r.text, vecs.questions[i], r.question_id, i) for i, r in enumerate(kept_rows) if r.kind != "question"]
    outside = [t.asked for t in bank.typed if t.expected is None and t.asked not in dev_texts]
    queries += [(t, v, None, None) for t, v in zip(outside, embedder.encode(outside), strict=True)]
    ranker = fit_ranker(queries, vecs, texts)
    assert ranker is not None
    print("fit:", json.dumps(ranker.report))

    return bank, embedder, vecs, texts, queries, dev_rows, ranker


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", default="phrasings_2.jsonl")
    parser.add_argument("--show", choices=("wrong", "unknown", "oob"))
    parser.add_argument("--model", help="a local sentence-transformers model folder to compare with")
    args = parser.parse_args()

    bank, embedder, vecs, texts, queries, dev_rows, ranker = dev_setup(args.dev, args.model)
    from dlgrader.match_ranker import candidate_features

    vectors = embedder.encode([r["asked"] for r in dev_rows])
    outcome: Counter[str] = Counter()
    for row, vector in zip(dev_rows, vectors, strict=True):
        found = candidate_features(row["asked"], np.asarray(vector, dtype=np.float32), vecs, texts)
        probs = ranker.probabilities([f for _, f in found])
        j = int(np.argmax(probs))
        p, top = float(probs[j]), found[j][0]
        got = top if p >= ranker.threshold else None
        expected = row["expected"]
        if expected is not None:
            expected = bank.get(expected).id  # type: ignore[union-attr]
            verdict = "right" if got == expected else "unknown" if got is None else "wrong"
            if verdict == "unknown" and top == expected:
                outcome["unknown_top_right"] += 1
        else:
            verdict = "oob_unknown" if got is None else "oob_matched"
        outcome[verdict] += 1
        if {"wrong": "wrong", "unknown": "unknown", "oob": "oob_matched"}.get(args.show or "") == verdict:
            print(f"{verdict:12} {p:.3f} {row['asked']!r} expected {expected} top {top}")
    in_bank = outcome["right"] + outcome["wrong"] + outcome["unknown"]
    oob = outcome["oob_unknown"] + outcome["oob_matched"]
    print(json.dumps({"dev": args.dev, "in_bank": in_bank, "right": round(outcome["right"] / in_bank, 4),
                      "wrong": round(outcome["wrong"] / in_bank, 4),
                      "unknown_top_right": outcome["unknown_top_right"], "oob": oob,
                      "oob_matched": round(outcome["oob_matched"] / max(oob, 1), 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
