"""The question re-ranker: a cross-encoder that says whether a typed question asks the same thing as a
bank entry. FAISS proposes the candidates (questions and aliases); this model decides among them, or says
that none is asked, which a cosine threshold cannot do reliably (right candidates, wrong ones and
out-of-bank questions overlap in cosine).

Training data (``pairs_for``): every alias of an entry and the typed questions of
``corpus/matching/train_questions.jsonl`` against the entry (same) and against the entries FAISS confuses
it with (different); out-of-bank questions against their nearest entries (different). One typed question
per entry and a share of the out-of-bank ones are held back to choose the acceptance threshold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlgrader.corpus.loader import Bank
from dlgrader.models import Question
from dlgrader.verifier.data import Pair
from dlgrader.verifier.model import Verifier

SAME, DIFFERENT = "entailment", "neutral"  # the verifier's labels, reused: P(entailment) = P(same question)
NEGATIVES_PER_QUESTION = 3


SHOWN_ALIASES = 2


def entry_text(q: Question) -> str:
    """How an entry is shown to the re-ranker: its question and its first phrasings."""
    return " | ".join([q.question, *q.aliases[:SHOWN_ALIASES]])


@dataclass(frozen=True)
class TypedQuestion:
    asked: str
    expected: str | None  # bank id, or None when the bank does not cover it


def load_typed(path: Path) -> list[TypedQuestion]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [TypedQuestion(str(r["asked"]), r.get("expected")) for r in rows]


def is_held_back(text: str, share: float) -> bool:
    """A stable pseudo-random split by text."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def pairs_for(bank: Bank, candidates: dict[str, list[str]], typed: Sequence[TypedQuestion]) -> list[Pair]:
    """Training pairs. ``candidates`` maps each premise text to the entry ids FAISS ranks first for it."""
    pairs: list[Pair] = []
    # The aliases shown in ``entry_text`` are not premises: a verbatim copy would teach "same words, same
    # question".
    premises: list[tuple[str, str | None]] = [(alias, q.id) for q in bank.questions
                                              for alias in q.aliases[SHOWN_ALIASES:]]
    for t in typed:
        target = bank.get(t.expected) if t.expected else None
        premises.append((t.asked, target.id if target else None))
    for text, expected in premises:
        if expected is not None:
            pairs.append(Pair(text, entry_text(bank.by_id[expected]), SAME, expected, "same"))
        wrong = [c for c in candidates.get(text, []) if c != expected][:NEGATIVES_PER_QUESTION]
        for other in wrong:
            pairs.append(Pair(text, entry_text(bank.by_id[other]), DIFFERENT, expected or "oob", "confusable"))
    return pairs


class QuestionReranker:
    """P(same question) for (typed question, candidate entry) pairs, from the shipped matcher model."""

    def __init__(self, model: Verifier) -> None:
        self.model = model

    def __call__(self, asked: str, candidates: Sequence[Question]) -> np.ndarray:
        probs = self.model.predict([(asked, entry_text(q)) for q in candidates])
        return probs[:, 0] if len(probs) else np.zeros(0, np.float32)
