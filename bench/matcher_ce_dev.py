"""Does a question-pair cross-encoder help the match ranker decide? Train one on every typed question and
alias except the dev file's, score the dev file, and compare acceptance rules.

    python bench/matcher_ce_dev.py train [--epochs 2]    # writes /tmp/matcher-dev
    python bench/matcher_ce_dev.py eval
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matching_dev import dev_setup  # noqa: E402

OUT = Path("/tmp/matcher-dev")
NEGATIVES = 3
TOP = 4


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("train", "eval"))
    parser.add_argument("--dev", default="phrasings_2.jsonl")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    from dlgrader.match_ranker import candidate_features
    from dlgrader.verifier.data import Pair
    from dlgrader.verifier.matcher import entry_text

    bank, embedder, vecs, texts, queries, dev_rows, ranker = dev_setup(args.dev)
    if args.step == "train":
        from dlgrader.verifier.train import TrainSettings, export, manifest_for, train

        pairs: list[Pair] = []
        shown = {a for q in bank.questions for a in q.aliases[:2]}
        for text, vector, expected, own in queries:
            if text in shown:
                continue
            found = candidate_features(text, np.asarray(vector, dtype=np.float32), vecs, texts, exclude=own)
            probs = ranker.probabilities([f for _, f in found])
            order = [found[i][0] for i in np.argsort(-probs, kind="stable")]
            if expected is not None:
                pairs.append(Pair(text, entry_text(bank.by_id[expected]), "entailment", expected, "same"))
            for other in [c for c in order if c != expected][:NEGATIVES if expected else NEGATIVES + 1]:
                pairs.append(Pair(text, entry_text(bank.by_id[other]), "neutral", expected or "oob", "confusable"))
        print(f"{len(pairs)} pairs", flush=True)
        settings = TrainSettings(epochs=args.epochs, batch_size=32)
        model, tokenizer = train(pairs, settings, lambda line: print(line, flush=True))
        export(model, tokenizer, OUT, manifest_for(pairs, settings, {}))
        return 0

    from dlgrader.verifier.model import Verifier

    model = Verifier(OUT)
    vectors = embedder.encode([r["asked"] for r in dev_rows])
    scored = []
    for row, vector in zip(dev_rows, vectors, strict=True):
        found = candidate_features(row["asked"], np.asarray(vector, dtype=np.float32), vecs, texts)
        probs = ranker.probabilities([f for _, f in found])
        order = np.argsort(-probs, kind="stable")[:TOP]
        ids = [found[i][0] for i in order]
        ce = model.predict([(row["asked"], entry_text(bank.by_id[q])) for q in ids])[:, 0]
        expected = bank.get(row["expected"]).id if row["expected"] else None
        scored.append((expected, ids, probs[order], ce))

    def outcome(rule, tau):
        right = wrong = unknown = oob_m = oob = 0
        for expected, ids, gbm, ce in scored:
            score = rule(gbm, ce)
            j = int(np.argmax(score))
            got = ids[j] if score[j] >= tau else None
            if expected is None:
                oob += 1
                oob_m += got is not None
            elif got is None:
                unknown += 1
            elif got == expected:
                right += 1
            else:
                wrong += 1
        n = right + wrong + unknown
        return right / n, wrong / n, oob_m / max(oob, 1)

    rules = {
        "gbm": lambda g, c: g,
        "ce": lambda g, c: c,
        "mean": lambda g, c: (g + c) / 2,
        "geo": lambda g, c: np.sqrt(g * c),
        "ce_on_gbm_top": lambda g, c: np.where(np.arange(len(g)) == 0, c, 0.0),
    }
    for name, rule in rules.items():
        print(name)
        for tau in np.arange(0.3, 0.96, 0.05):
            r, w, o = outcome(rule, tau)
            print(f"  tau {tau:.2f} right {r:.3f} wrong {w:.3f} oob_matched {o:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
