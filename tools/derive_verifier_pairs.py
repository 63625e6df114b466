"""Derive verifier training pairs from the rubric and the written pairs, so that premise length stops
predicting the label: ``corpus/verifier/pairs_derived.jsonl``.

Why: in the written pairs, neutral premises are short (median 9 words, 90th percentile 14), contradictions
medium (17) and only entailments long (20, up to 60+). A model trained on them learned length: a whole
multi-sentence answer "entails" every key point of its topic, and a short true sentence about another
aspect "contradicts" one. Real answers are long and talk about several points at once. The derived pairs
are built so that every label comes in every length:

- ``neutral_other_premise`` (every key point): a written entailing premise of another key point of the
  entry (medium length: a true sentence about another aspect is not a contradiction);
- ``neutral_other_points`` (every other key point): two or three other key points of the entry, together
  (long, on topic, true, but not this point);
- ``neutral_other_reference`` (the rest): the opening of another entry's reference answer from the topic;
- ``entail_embedded`` / ``contra_embedded``: a written entailing (contradicting) premise of this point
  set among other key points of the entry, so the claim sits inside a long answer.

Other points count only when they are not close paraphrases of this one (embedding cosine below
``MAX_COSINE``), so a "neutral" premise never restates the point. Deterministic: same rubric and pairs,
same file.

    python tools/derive_verifier_pairs.py
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "corpus" / "verifier" / "pairs_derived.jsonl"
MAX_COSINE = 0.70
SEED = 7


def main() -> int:
    import numpy as np

    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank
    from dlgrader.embedding import load_embedder
    from dlgrader.segment import sentences

    bank = load_bank(get_settings().corpus)
    written: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted((ROOT / "corpus" / "verifier").glob("pairs_*.jsonl")):
        if path == OUT:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("question_id") in bank.by_id:
                written[(row["question_id"], row["hypothesis"])][row["label"]].append(row["premise"])
    embedder = load_embedder()
    rng = random.Random(SEED)
    by_topic: dict[str, list[str]] = defaultdict(list)
    for q in bank.questions:
        by_topic[q.topic].append(q.id)
    kp_vectors = {q.id: embedder.encode([kp.text for kp in q.key_points]) for q in bank.questions}
    rows = []
    for q in bank.questions:
        texts = [kp.text for kp in q.key_points]
        cos = kp_vectors[q.id] @ kp_vectors[q.id].T
        for i, kp in enumerate(texts):
            others = [j for j in range(len(texts)) if j != i and cos[i, j] < MAX_COSINE]
            mine = written[(q.id, kp)]

            def add(premise: str, label: str, kind: str, kp_index: int = i, hypothesis: str = kp) -> None:
                rows.append({"question_id": q.id, "kp": kp_index, "hypothesis": hypothesis,
                             "premise": " ".join(premise.split()), "label": label, "kind": kind})

            # per key point: a medium-length neutral (another point's written premise), a long neutral of
            # alternating kind, and one long entailment or contradiction
            premises = [p for j in others for p in written[(q.id, texts[j])]["entailment"]]
            if premises:
                add(rng.choice(premises), "neutral", "neutral_other_premise")
            if i % 2 == 0 and len(others) >= 2:
                add(" ".join(texts[j] for j in rng.sample(others, min(3, len(others)))), "neutral",
                    "neutral_other_points")
            else:
                far = [o for o in by_topic[q.topic] if o != q.id and
                       float((kp_vectors[o] @ kp_vectors[q.id][i]).max()) < MAX_COSINE]
                if far:
                    other = bank.by_id[rng.choice(far)]
                    opening = " ".join(s.text for s in sentences(other.reference_answer)[:3])
                    add(opening, "neutral", "neutral_other_reference")
            label = "entailment" if i % 2 == 0 else "contradiction"
            candidates = mine[label] or mine["entailment" if label == "contradiction" else "contradiction"]
            if candidates and others:
                label = label if mine[label] else ("entailment" if label == "contradiction" else "contradiction")
                around = [texts[j] for j in rng.sample(others, min(2, len(others)))]
                around.insert(rng.randrange(len(around) + 1), rng.choice(candidates))
                add(" ".join(around), label, "entail_embedded" if label == "entailment" else "contra_embedded")
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["kind"]] += 1
    print(f"{len(rows)} pairs written to {OUT.relative_to(ROOT)}: {dict(counts)}")
    lengths = defaultdict(list)
    for r in rows:
        lengths[r["label"]].append(len(r["premise"].split()))
    print({k: int(np.median(v)) for k, v in lengths.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
