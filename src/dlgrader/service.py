"""``Grader``: the one object that the CLI, the HTTP API, batch runs and practice all call."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlgrader import flags as detect
from dlgrader.config import Settings
from dlgrader.corpus.loader import Bank, load_bank
from dlgrader.embedding import Embedder, TokenEmbeddings, load_embedder
from dlgrader.grading import Thresholds, apply_flags, grade_from_score, score_key_points
from dlgrader.index import BankIndex, load_or_build
from dlgrader.matching import Match, QuestionMatcher
from dlgrader.models import Flag, GradeResult, KeyPointResult, Question, Suggestion
from dlgrader.segment import Span, clauses, sentences, truncate_words

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GradeRequest:
    """One answer to grade: by ``question_id`` or free-text ``question``; ``id``/``label`` pass through."""

    answer: str
    question_id: str | None = None
    question: str | None = None
    id: str | None = None
    label: float | str | None = None


@dataclass
class _Prepared:
    request: GradeRequest
    question: Question | None = None
    match: Match | None = None
    matched_by: str | None = None
    text: str = ""
    truncated: bool = False
    sentences: list[Span] | None = None
    result: GradeResult | None = None  # set when grading ends early (invalid, unknown question)


class Grader:
    """Grades answers against a bank with an embedder and the bank's FAISS index."""

    def __init__(self, *, bank: Bank, embedder: Embedder, index: BankIndex,
                 thresholds: Thresholds | None = None, max_answer_words: int = 600,
                 calibration: object | None = None) -> None:
        self.bank = bank
        self.embedder = embedder
        self.index = index
        self.thresholds = thresholds or Thresholds()
        self.max_answer_words = max_answer_words
        self.matcher = QuestionMatcher(bank, index)
        self.calibration = calibration

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder | None = None) -> Grader:
        """Load the bank, the embedder (once per process) and a current index (rebuilt when stale)."""
        bank = load_bank(settings.corpus)
        embedder = embedder or load_embedder(model=settings.model, backend=settings.backend,
                                             threads=settings.threads)
        index = load_or_build(bank, embedder, settings.resolved_index_dir())
        calibration = None
        if settings.calibration is not None:
            from dlgrader.calibration import Calibration

            calibration = Calibration.load(settings.calibration)
        return cls(bank=bank, embedder=embedder, index=index, max_answer_words=settings.max_answer_words,
                   calibration=calibration)

    # ------------------------------------------------------------------ public API

    def match_question(self, text: str) -> Match:
        """The bank question a free-text question asks (or None with suggestions)."""
        return self.matcher.match(text, self.embedder.encode([text])[0])

    def grade(self, answer: str, *, question_id: str | None = None, question: str | None = None) -> GradeResult:
        """Grade one answer."""
        return self.grade_many([GradeRequest(answer=answer, question_id=question_id, question=question)])[0]

    def grade_many(self, requests: Sequence[GradeRequest],
                   progress: Callable[[int], None] | None = None) -> list[GradeResult]:
        """Grade answers together: all question texts and all sentences are encoded in shared batches."""
        prepared = [self._prepare(r) for r in requests]
        self._match_free_text([p for p in prepared if p.result is None and p.question is None])
        live = [p for p in prepared if p.result is None]
        all_sentences = [s.text for p in live for s in p.sentences or []]
        tokens = iter(self.embedder.encode_tokens(all_sentences))
        results = []
        for p in prepared:
            if p.result is None:
                sentence_tokens = [next(tokens) for _ in p.sentences or []]
                p.result = self._grade_prepared(p, sentence_tokens)
            results.append(p.result)
            if progress:
                progress(1)
        return results

    # ------------------------------------------------------------------ steps

    def _prepare(self, request: GradeRequest) -> _Prepared:
        p = _Prepared(request)
        base = {"id": request.id, "label": request.label}
        if not isinstance(request.answer, str):
            p.result = GradeResult(status="invalid", error="'answer' must be a string", **base)
            return p
        if request.question_id:
            p.question = self.bank.get(request.question_id)
            p.matched_by = "id"
            if p.question is None:
                close = difflib.get_close_matches(request.question_id, list(self.bank.by_id), n=3, cutoff=0.5)
                p.result = GradeResult(
                    status="unknown_question", question_id=request.question_id,
                    error=f"no question with id {request.question_id!r} in the bank",
                    summary="The question id is not in the bank; nothing was scored.",
                    suggestions=[Suggestion(question_id=c, question=self.bank.by_id[c].question, similarity=0.0)
                                 for c in close], **base)
                return p
        elif not (request.question and request.question.strip()):
            p.result = GradeResult(status="invalid", error="give 'question_id' or a non-empty 'question'", **base)
            return p
        p.text, p.truncated = truncate_words(request.answer, self.max_answer_words)
        p.sentences = sentences(p.text)
        return p

    def _match_free_text(self, pending: list[_Prepared]) -> None:
        if not pending:
            return
        vectors = self.embedder.encode([str(p.request.question) for p in pending])
        for p, vector in zip(pending, vectors, strict=True):
            p.match = self.matcher.match(str(p.request.question), vector)
            p.question, p.matched_by = p.match.question, "text"
            if p.question is None:
                p.result = GradeResult(
                    status="unknown_question", id=p.request.id, label=p.request.label,
                    match_confidence=p.match.confidence, matched_by="text", suggestions=p.match.suggestions,
                    summary="This question is not covered by the question bank, so the answer was not scored."
                    + (f" Nearest: {p.match.suggestions[0].question!r}." if p.match.suggestions else ""),
                )

    def _spans(self, text: str, sents: list[Span], tokens: list[TokenEmbeddings]
               ) -> tuple[list[Span], np.ndarray, np.ndarray | None]:
        """Evidence spans (sentences, clauses, adjacent-sentence windows) with their vectors, and the
        whole-answer vector.

        Each sentence is encoded once; clause vectors are pooled from its token vectors, and windows and
        the whole answer are token-weighted means of sentence vectors (no extra forward passes).
        """
        spans: list[Span] = []
        vectors: list[np.ndarray] = []
        sentence_vecs, weights = [], []
        for sent, tok in zip(sents, tokens, strict=True):
            vec = tok.pool()
            if vec is None:
                continue
            spans.append(sent)
            vectors.append(vec)
            sentence_vecs.append(vec)
            weights.append(float(len(tok.vectors)))
            for clause in clauses(text, sent):
                clause_vec = tok.pool(clause.start - sent.start, clause.end - sent.start)
                if clause_vec is not None:
                    spans.append(clause)
                    vectors.append(clause_vec)
        kept = [s for s in sents if s in spans]
        for i in range(len(sentence_vecs) - 1):
            mixed = sentence_vecs[i] * weights[i] + sentence_vecs[i + 1] * weights[i + 1]
            spans.append(Span(text[kept[i].start:kept[i + 1].end], kept[i].start, kept[i + 1].end, "window"))
            vectors.append(mixed / np.linalg.norm(mixed))
        matrix = np.array(vectors, dtype=np.float32) if vectors else np.zeros((0, self.embedder.dim), np.float32)
        whole = None
        if sentence_vecs:
            # Not an evidence span: the mean of a long on-topic answer resembles every key point a little,
            # which would turn topical vocabulary into credit. It serves the echo and off-topic checks.
            mean = np.average(np.array(sentence_vecs), axis=0, weights=weights)
            whole = (mean / np.linalg.norm(mean)).astype(np.float32)
        return spans, matrix, whole

    def _grade_prepared(self, p: _Prepared, tokens: list[TokenEmbeddings]) -> GradeResult:
        q = p.question
        assert q is not None and p.sentences is not None
        spans, matrix, whole = self._spans(p.text, p.sentences, tokens)
        kp_texts = [kp.text for kp in q.key_points]
        coverage = score_key_points(kp_texts, self.index.keypoint_vectors(q.id), spans, matrix, self.thresholds,
                                    question=q.question)
        flags = self._flags(p, q, whole, coverage.results, coverage.contradictions)
        score, breakdown = apply_flags(coverage.coverage, flags, self.thresholds)
        result = GradeResult(
            status="graded", id=p.request.id, label=p.request.label, question_id=q.id, question=q.question,
            match_confidence=p.match.confidence if p.match else 1.0, matched_by=p.matched_by,  # type: ignore[arg-type]
            score=score, grade=grade_from_score(score), key_points=coverage.results, flags=flags,
            breakdown=breakdown,
        )
        if self.calibration is not None:
            self.calibration.apply_to(result)  # type: ignore[attr-defined]
        result.summary = summarise(result)
        return result

    def _flags(self, p: _Prepared, q: Question, whole: np.ndarray | None,
               kp_results: list[KeyPointResult], contradictions: list[int]) -> list[Flag]:
        out: list[Flag] = []
        n_content = detect.content_word_count(p.text)
        if n_content == 0:
            return [Flag(code="empty", message="The answer is empty or has no content words.")]
        if p.truncated:
            out.append(Flag(code="truncated", message=f"Only the first {self.max_answer_words} words were graded.",
                            details={"max_words": self.max_answer_words}))
        earned = sum(r.credit for r in kp_results) / max(1, len(kp_results))
        # A terse answer that states the point is a correct short answer, not a near-empty one.
        if n_content < 3 and earned < 0.5:
            out.append(Flag(code="too_short", message="The answer is too short to show understanding.",
                            details={"content_words": n_content}))
        is_list, list_details = detect.keyword_list_score(p.text)
        if is_list and not detect.asks_for_a_list(" ".join(filter(None, [q.question, p.request.question]))):
            out.append(Flag(code="keyword_list", message="The answer lists keywords without explaining them.",
                            details=list_details))
        if whole is not None:
            out.extend(self._echo_and_topic_flags(p, q, whole, kp_results))
        if contradictions:
            points = [kp_results[i].text for i in contradictions]
            out.append(Flag(code="contradiction", message="The answer contradicts the reference: "
                            + "; ".join(f"{kp_results[i].note} ({kp_results[i].text})" for i in contradictions),
                            details={"count": len(contradictions), "key_points": points}))
        cues = detect.injection_cues(p.request.answer)
        if cues:
            out.append(Flag(code="injection_attempt", message="The answer contains text addressed to the grader; "
                            "it is treated as part of the answer and cannot change the score.",
                            details={"cues": cues}))
        return out

    def _echo_and_topic_flags(self, p: _Prepared, q: Question, vector: np.ndarray,
                              kp_results: list[KeyPointResult]) -> list[Flag]:
        t = self.thresholds
        out: list[Flag] = []
        best_kp = max((r.similarity for r in kp_results), default=0.0)
        asked = " ".join(filter(None, [q.question, p.request.question]))
        share, new_words = detect.echo_overlap(p.text, asked)
        q_sim = float(self.index.question_vector(q.id) @ vector)
        if (share >= t.echo_share and new_words <= 3) or (q_sim >= t.echo_similarity and q_sim > best_kp + 0.05):
            out.append(Flag(code="question_echo", message="The answer mostly restates the question.",
                            details={"question_word_share": round(share, 2), "new_content_words": new_words,
                                     "question_similarity": round(q_sim, 4)}))
        ref_scores = self.index.reference_scores(vector)
        own = ref_scores.get(q.id, -1.0)
        other_id, other = max(((k, v) for k, v in ref_scores.items() if k != q.id),
                              key=lambda kv: kv[1], default=(None, -1.0))
        covered = sum(r.credit for r in kp_results) / max(1, len(kp_results))
        # Off topic means about another question: its reference fits clearly better, and the answer is
        # also closer to that question's wording than to this one's (related questions share vocabulary).
        closer_to_other = other_id is not None and float(
            self.index.question_vector(other_id) @ vector) >= q_sim
        if (other_id is not None and other >= t.off_topic_fit and other - own >= t.off_topic_margin
                and covered < 0.5 and closer_to_other):
            out.append(Flag(code="off_topic", message="The answer fits another question better: "
                            f"{self.bank.by_id[other_id].question!r}.",
                            details={"other_question_id": other_id, "other_similarity": round(other, 4),
                                     "own_similarity": round(own, 4)}))
        if own >= 0.97 and detect.echo_overlap(p.text, q.reference_answer)[0] >= 0.9:
            out.append(Flag(code="copied_reference", message="The answer reproduces the reference answer."))
        return out


def summarise(result: GradeResult) -> str:
    """A short plain-language account of a graded result."""
    counts = {v: sum(1 for k in result.key_points if k.verdict == v)
              for v in ("covered", "partial", "missing", "contradicted")}
    total = len(result.key_points)
    parts = [f"Score {result.score:g}/100 (grade {result.grade:g}/5): covered {counts['covered']} of {total} "
             f"key points"]
    if counts["partial"]:
        parts[0] += f", {counts['partial']} partly"
    if counts["contradicted"]:
        parts[0] += f", contradicted {counts['contradicted']}"
    parts[0] += "."
    missing = [k.text for k in result.key_points if k.verdict == "missing"]
    if missing:
        parts.append(f"Missing, e.g.: {missing[0]}")
    serious = [f.message for f in result.flags if f.code not in ("truncated",)]
    if serious:
        parts.append(" ".join(serious))
    return " ".join(parts)


def default_grader(settings: Settings | None = None) -> Grader:
    """The Grader for the current settings."""
    from dlgrader.config import get_settings

    return Grader.from_settings(settings or get_settings())


