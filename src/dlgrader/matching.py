"""Match a free-text question to the bank: nearest questions and aliases, then a term check.

Cosine similarity alone confuses near neighbours ("How does DDIM sampling differ from DDPM?" sits close
to "What is a diffusion model?"), so the confidence also asks whether the specific terms of the asked
question occur anywhere in the candidate's question, aliases, reference answer or key points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlgrader.corpus.loader import Bank
from dlgrader.corpus.text import content_stems
from dlgrader.index import BankIndex
from dlgrader.models import Question, Suggestion

# Words that frame an interview question without naming its subject.
GENERIC_TERMS = content_stems(
    "explain describe differ difference different work works mean meaning concept example examples role "
    "importance important purpose define definition advantage advantages disadvantage disadvantages "
    "compare contrast type types common deep learning neural network networks model models happen "
    "benefit benefits why key main idea tell know understand brief briefly simple simply term terms "
    "way ways used function functions method methods technique techniques approach process affect "
    "problem problems solve solves issue issues help helps need needed matter matters happens"
)
UNKNOWN_TERM_WEIGHT = 0.6  # how much a missing specific term lowers the confidence
MATCH_THRESHOLD = 0.60  # confidence below this is an unknown question (set on the tune dev set)


@dataclass(frozen=True)
class Match:
    question: Question | None
    confidence: float
    suggestions: list[Suggestion]


def _vocabulary(q: Question) -> set[str]:
    text = " ".join([q.question, *q.aliases, q.reference_answer, *(kp.text for kp in q.key_points)])
    return content_stems(text) | content_stems(q.id.replace("_", " "))


class QuestionMatcher:
    """Finds the bank question a free-text question asks, with a calibrated confidence."""

    def __init__(self, bank: Bank, index: BankIndex, *, threshold: float = MATCH_THRESHOLD) -> None:
        self._bank = bank
        self._index = index
        self.threshold = threshold
        self._vocab = {q.id: _vocabulary(q) for q in bank.questions}

    def confidence(self, asked: str, question: Question, cosine: float) -> float:
        specific = content_stems(asked) - GENERIC_TERMS
        if not specific:
            return cosine
        vocab = self._vocab[question.id]
        # "batch norm" names "batch normalization": a term counts as present when it starts a known word.
        absent = [t for t in specific - vocab if len(t) < 3 or not any(v.startswith(t) for v in vocab)]
        missing = len(absent) / len(specific)
        return cosine * (1.0 - UNKNOWN_TERM_WEIGHT * missing)

    def match(self, asked: str, vector: np.ndarray, *, k: int = 12) -> Match:
        """The best question for ``asked`` (whose embedding is ``vector``), or None below the threshold."""
        best: dict[str, float] = {}
        for hit in self._index.search("questions", vector[None, :], k)[0]:
            best[hit.row.question_id] = max(best.get(hit.row.question_id, -1.0), hit.score)
        ranked = sorted(
            ((self.confidence(asked, self._bank.by_id[qid], cos), qid) for qid, cos in best.items()),
            reverse=True,
        )
        suggestions = [Suggestion(question_id=qid, question=self._bank.by_id[qid].question,
                                  similarity=round(conf, 4)) for conf, qid in ranked[:3]]
        if not ranked or ranked[0][0] < self.threshold:
            return Match(None, round(ranked[0][0], 4) if ranked else 0.0, suggestions)
        conf, qid = ranked[0]
        return Match(self._bank.by_id[qid], round(conf, 4), suggestions)
