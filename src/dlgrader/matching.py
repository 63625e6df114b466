"""Match a free-text question to the bank: nearest questions, aliases and typed questions, then a decision.

Cosine similarity alone confuses near neighbours ("How does DDIM sampling differ from DDPM?" sits close
to "What is a diffusion model?"). With the index's ranker (``match_ranker``, fitted when the index is built
from the bank's typed questions), FAISS proposes the candidates and the ranker decides which one is asked,
or that none is. A bank without typed questions enough to fit one (a teacher's own CSV, say) falls back to
a confidence that also asks whether the specific terms of the asked question occur anywhere in the
candidate's question, aliases, reference answer or key points. The trained cross-encoder (``reranker``,
``DLGRADER_MATCHER=on``) replaces both when configured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlgrader.corpus.loader import Bank
from dlgrader.index import BankIndex
from dlgrader.match_ranker import EntryTexts, candidate_features
from dlgrader.models import Question, Suggestion
from dlgrader.spelling import Speller

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


class QuestionMatcher:
    """Finds the bank question a free-text question asks, with a calibrated confidence."""

    def __init__(self, bank: Bank, index: BankIndex, *, threshold: float = MATCH_THRESHOLD,
                 reranker: Reranker | None = None, accept: float = 0.5) -> None:
        self._bank = bank
        self._index = index
        self.threshold = threshold
        self.reranker = reranker
        self.accept = accept  # the re-ranker's P(same) needed to match
        self._texts = EntryTexts(bank)
        # The entries' own words only: typed questions keep the typos their authors wrote on purpose.
        self._speller = Speller(t for q in bank.questions for t in (q.question, *q.aliases, q.reference_answer,
                                                                   *(kp.text for kp in q.key_points)))

    def normalise(self, asked: str) -> str:
        """The typed question as it is matched: misspelt subject words corrected (``spelling``)."""
        return self._speller.correct(asked)

    @property
    def acceptance(self) -> float:
        """The confidence a match needs: the ranker's threshold when it decides, else the term-check one."""
        if self.reranker is not None:
            return self.accept
        return self._index.ranker.threshold if self._index.ranker is not None else self.threshold

    def confidence(self, asked: str, question: Question, cosine: float) -> float:
        return cosine * (1.0 - UNKNOWN_TERM_WEIGHT * self.missing_share(asked, question))

    def missing_share(self, asked: str, question: Question) -> float:
        """Share of the asked question's specific terms that the candidate's texts never use."""
        return self._texts.missing_share(asked, question.id)

    def match(self, asked: str, vector: np.ndarray, *, k: int = 12) -> Match:
        """The best question for ``asked`` (whose embedding is ``vector``), or None below the threshold."""
        if self.reranker is None and self._index.ranker is not None:
            return self._ranked(asked, vector)
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

    def _ranked(self, asked: str, vector: np.ndarray) -> Match:
        ranker = self._index.ranker
        assert ranker is not None
        found = candidate_features(asked, np.asarray(vector, dtype=np.float32), self._index.ranker_vectors(),
                                   self._texts)
        probs = ranker.probabilities([f for _, f in found])
        order = sorted(zip((float(p) for p in probs), (qid for qid, _ in found), strict=True),
                       key=lambda pair: -pair[0])
        suggestions = [Suggestion(question_id=qid, question=self._bank.by_id[qid].question, similarity=round(p, 4))
                       for p, qid in order[:3]]
        p, qid = order[0]
        return Match(self._bank.by_id[qid] if p >= ranker.threshold else None, round(p, 4), suggestions)

    def _reranked(self, asked: str, candidates: list[str]) -> Match:
        assert self.reranker is not None
        probs = self.reranker(asked, [self._bank.by_id[qid] for qid in candidates])
        order = sorted(zip((float(p) for p in probs), candidates, strict=True), reverse=True)
        suggestions = [Suggestion(question_id=qid, question=self._bank.by_id[qid].question, similarity=round(p, 4))
                       for p, qid in order[:3]]
        p, qid = order[0]
        return Match(self._bank.by_id[qid] if p >= self.accept else None, round(p, 4), suggestions)
