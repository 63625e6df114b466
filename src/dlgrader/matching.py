"""Match a free-text question to the bank: nearest questions and aliases, then a decision.

Cosine similarity alone confuses near neighbours ("How does DDIM sampling differ from DDPM?" sits close
to "What is a diffusion model?"). With the trained re-ranker (``verifier.matcher``), FAISS proposes the
candidates and the re-ranker decides which one is asked, or that none is. Without it, the confidence also
asks whether the specific terms of the asked question occur anywhere in the candidate's question, aliases,
reference answer or key points.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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
    "problem problems solve solves issue issues help helps need needed matter matters happens dl ml ai"
)
UNKNOWN_TERM_WEIGHT = 0.6  # how much a missing specific term lowers the confidence
MATCH_THRESHOLD = 0.60  # confidence below this is an unknown question (set on the tune dev set)
# Short, casual questions ("what is RAG") sit far from every bank question in cosine terms. A lower
# confidence is still accepted when every specific term of the question is known to the candidate and it
# leads the runner-up clearly; an unknown subject ("DDIM") always has a term the bank does not know.
CLEAR_WINNER_FLOOR = 0.40
CLEAR_WINNER_LEAD = 0.20
RERANK_CANDIDATES = 5  # FAISS candidates the re-ranker decides among

Reranker = Callable[[str, Sequence[Question]], np.ndarray]  # P(same question) per candidate


@dataclass(frozen=True)
class Match:
    question: Question | None
    confidence: float
    suggestions: list[Suggestion]


def _vocabulary(q: Question) -> set[str]:
    text = " ".join([q.question, *q.aliases, q.reference_answer, *(kp.text for kp in q.key_points)])
    return content_stems(text) | content_stems(q.id.replace("_", " ")) | _initialisms(q)


def _initialisms(q: Question) -> set[str]:
    """Acronyms the question's own wording spells: "learning rate scheduling" gives "lr" and "lrs",
    "Retrieval-Augmented Generation" gives "rag", so a user's abbreviation counts as a known term."""
    out: set[str] = set()
    for text in (q.question, *q.aliases, q.id.replace("_", " ")):
        initials = "".join(w[0] for w in re.findall(r"[a-z0-9]+", text.lower()))
        out.update(initials[i:j] for i in range(len(initials)) for j in range(i + 2, min(i + 5, len(initials)) + 1))
    return out


class QuestionMatcher:
    """Finds the bank question a free-text question asks, with a calibrated confidence."""

    def __init__(self, bank: Bank, index: BankIndex, *, threshold: float = MATCH_THRESHOLD,
                 reranker: Reranker | None = None, accept: float = 0.5) -> None:
        self._bank = bank
        self._index = index
        self.threshold = threshold
        self.reranker = reranker
        self.accept = accept  # the re-ranker's P(same) needed to match
        self._vocab = {q.id: _vocabulary(q) for q in bank.questions}

    def confidence(self, asked: str, question: Question, cosine: float) -> float:
        return cosine * (1.0 - UNKNOWN_TERM_WEIGHT * self.missing_share(asked, question))

    def missing_share(self, asked: str, question: Question) -> float:
        """Share of the asked question's specific terms that the candidate's texts never use."""
        specific = content_stems(asked) - GENERIC_TERMS
        if not specific:
            return 0.0
        vocab = self._vocab[question.id]
        # "batch norm" names "batch normalization": a term counts as present when it starts a known word.
        absent = [t for t in specific - vocab if len(t) < 3 or not any(v.startswith(t) for v in vocab)]
        return len(absent) / len(specific)

    def match(self, asked: str, vector: np.ndarray, *, k: int = 12) -> Match:
        """The best question for ``asked`` (whose embedding is ``vector``), or None below the threshold."""
        best: dict[str, float] = {}
        for hit in self._index.search("questions", vector[None, :], k)[0]:
            best[hit.row.question_id] = max(best.get(hit.row.question_id, -1.0), hit.score)
        ranked = sorted(
            ((self.confidence(asked, self._bank.by_id[qid], cos), qid) for qid, cos in best.items()),
            reverse=True,
        )
        if self.reranker is not None and ranked:
            return self._reranked(asked, [qid for _, qid in ranked[:RERANK_CANDIDATES]])
        suggestions = [Suggestion(question_id=qid, question=self._bank.by_id[qid].question,
                                  similarity=round(conf, 4)) for conf, qid in ranked[:3]]
        if not ranked:
            return Match(None, 0.0, suggestions)
        conf, qid = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        clear_winner = (conf >= CLEAR_WINNER_FLOOR and conf - runner_up >= CLEAR_WINNER_LEAD
                        and self.missing_share(asked, self._bank.by_id[qid]) == 0.0)
        if conf < self.threshold and not clear_winner:
            return Match(None, round(conf, 4), suggestions)
        return Match(self._bank.by_id[qid], round(conf, 4), suggestions)

    def _reranked(self, asked: str, candidates: list[str]) -> Match:
        assert self.reranker is not None
        probs = self.reranker(asked, [self._bank.by_id[qid] for qid in candidates])
        order = sorted(zip((float(p) for p in probs), candidates, strict=True), reverse=True)
        suggestions = [Suggestion(question_id=qid, question=self._bank.by_id[qid].question, similarity=round(p, 4))
                       for p, qid in order[:3]]
        p, qid = order[0]
        return Match(self._bank.by_id[qid] if p >= self.accept else None, round(p, 4), suggestions)
