"""``Grader``: the one object that the CLI, the HTTP API, batch runs and practice all call.

It owns the whole grading job for a list of answers, in four steps (``grade_many``):

1. ``_prepare``: clean the text (lone surrogates), resolve ``question_id``; invalid requests end here.
2. ``_match_free_text``: free-text questions are matched to the bank in one encoder call.
3. ``_analyse``: every answer's sentences are encoded in one shared call; per answer, the spans that make a
   claim about the question are compared with the key points and misconceptions. ``_verify``: with the
   verifier on, one call decides every (span, key point) pair worth verifying, for all answers at once.
   ``_finish``: verdicts and credits (``grading``), the measurements become ``AnswerFacts``, and the flag
   policy decides the flags and the score (``policy``).
4. Optional LLM feedback (``FeedbackEngine``), under one error policy: feedback that cannot be had is an
   ``available: false`` record with the reason, never an error of the grade.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from dlgrader import flags as detect
from dlgrader.config import Settings
from dlgrader.corpus.loader import Bank, load_bank
from dlgrader.corpus.text import content_stems
from dlgrader.embedding import Embedder, TokenEmbeddings, load_embedder
from dlgrader.errors import FeedbackError
from dlgrader.grading import (
    WHOLE,
    Coverage,
    Thresholds,
    VerifierThresholds,
    apply_misconceptions,
    blend_verifier,
    candidate_spans,
    evidence_similarities,
    score_key_points,
    verified_key_points,
    verified_misconceptions,
    verifier_vetoes,
)
from dlgrader.index import BankIndex, load_or_build
from dlgrader.matching import Match, QuestionMatcher
from dlgrader.models import Feedback, GradeResult, Question
from dlgrader.policy import AnswerFacts, FlagPolicy, apply_flags, fire_flags, grade_from_score
from dlgrader.segment import Span, clauses, clean_text, sentences, truncate_words

if TYPE_CHECKING:
    from dlgrader.calibration import Calibration
    from dlgrader.feedback.engine import FeedbackEngine
    from dlgrader.verifier import Verifier

log = logging.getLogger(__name__)

OFFLINE_REASON = ("offline mode: no LLM endpoint is configured "
                  "(set DLGRADER_LLM_BASE_URL and DLGRADER_LLM_MODEL, or OPENAI_BASE_URL)")


@dataclass(frozen=True)
class GradeRequest:
    """One answer to grade: by ``question_id`` or free-text ``question``; ``id``/``label`` pass through."""

    answer: str
    question_id: str | None = None
    question: str | None = None
    id: str | None = None
    label: float | str | None = None

    def cleaned(self) -> GradeRequest:
        """The same request with every text field safe to encode (see ``segment.clean_text``)."""
        return replace(self, answer=_clean(self.answer), question_id=_clean(self.question_id),
                       question=_clean(self.question), id=_clean(self.id), label=_clean(self.label))


T = TypeVar("T")


def _clean(value: T) -> T:
    return clean_text(value) if isinstance(value, str) else value  # type: ignore[return-value]


@dataclass
class _Prepared:
    request: GradeRequest
    question: Question | None = None
    match: Match | None = None
    matched_by: Literal["id", "text"] | None = None
    text: str = ""
    truncated: bool = False
    sentences: list[Span] | None = None
    result: GradeResult | None = None  # set when grading ends early (invalid, unknown question)


@dataclass
class _Analysis:
    """One answer between the encoder and its verdicts: its claim spans (``spans``, ``sims`` restricted to
    them) and, with the verifier, the candidate pairs and their probabilities."""

    p: _Prepared
    q: Question
    ev: _Evidence
    sims: np.ndarray  # key points x claim spans
    claims: set[int]
    keep: list[int]  # indexes into ev.spans of the claim spans
    mc_sims: np.ndarray | None = None  # misconceptions x claim spans
    kp_candidates: list[list[int]] = field(default_factory=list)
    mc_candidates: list[list[int]] = field(default_factory=list)
    kp_probs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    mc_probs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    whole: Span | None = None  # the claim sentences together, a premise of their own for the verifier

    @property
    def spans(self) -> list[Span]:
        return [self.ev.spans[j] for j in self.keep]


@dataclass
class _Evidence:
    """An answer's evidence spans with their vectors; ``owners`` says which sentences each span lies in."""

    spans: list[Span]
    vectors: np.ndarray
    owners: list[tuple[int, ...]]
    sentence_vectors: list[np.ndarray]
    sentence_weights: list[float]


class Grader:
    """Grades answers against a bank with an embedder and the bank's FAISS index."""

    def __init__(self, *, bank: Bank, embedder: Embedder, index: BankIndex,
                 thresholds: Thresholds | None = None, policy: FlagPolicy | None = None,
                 max_answer_words: int = 600, calibration: Calibration | None = None,
                 feedback: FeedbackEngine | None = None, feedback_off_reason: str = OFFLINE_REASON,
                 verifier: Verifier | None = None, verifier_thresholds: VerifierThresholds | None = None,
                 matcher: QuestionMatcher | None = None) -> None:
        self.bank = bank
        self.embedder = embedder
        self.index = index
        self.thresholds = thresholds or Thresholds()
        self.policy = policy or FlagPolicy()
        self.max_answer_words = max_answer_words
        self.matcher = matcher or QuestionMatcher(bank, index)
        self.calibration = calibration
        self.feedback = feedback
        self.feedback_off_reason = feedback_off_reason
        self.verifier = verifier
        self.verifier_thresholds = verifier_thresholds or VerifierThresholds()

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder | None = None) -> Grader:
        """Load the bank, the embedder (once per process), a current index (rebuilt when stale), the
        calibration and, when an LLM endpoint is configured, the feedback engine."""
        from dlgrader.feedback.setup import engine_from_settings, off_reason

        bank = load_bank(settings.corpus)
        embedder = embedder or load_embedder(model=settings.model, backend=settings.backend,
                                             threads=settings.threads)
        index = load_or_build(bank, embedder, settings.resolved_index_dir())
        calibration = None
        if settings.calibration is not None:
            from dlgrader.calibration import Calibration

            calibration = Calibration.load(settings.calibration)
        reason = off_reason(settings)
        engine = None if reason else engine_from_settings(settings, embedder=embedder,
                                                          corpus_hash=bank.content_hash)
        verifier = None
        if settings.verifier == "on":
            from dlgrader.verifier import load_verifier

            verifier = load_verifier(settings.verifier_dir, threads=settings.threads)
        matcher = None
        if settings.matcher == "on":
            from dlgrader.verifier import load_verifier
            from dlgrader.verifier.matcher import QuestionReranker

            model = load_verifier(settings.matcher_dir, threads=settings.threads)
            matcher = QuestionMatcher(bank, index, reranker=QuestionReranker(model),
                                      accept=float(model.manifest.get("accept_threshold", 0.5)))
        return cls(bank=bank, embedder=embedder, index=index, max_answer_words=settings.max_answer_words,
                   calibration=calibration, feedback=engine, feedback_off_reason=reason or OFFLINE_REASON,
                   verifier=verifier, matcher=matcher)

    def close(self) -> None:
        """Release the feedback client's connections (the model needs nothing)."""
        if self.feedback is not None:
            self.feedback.close()

    # ------------------------------------------------------------------ public API

    def match_question(self, text: str) -> Match:
        """The bank question a free-text question asks (or None with suggestions)."""
        text = self.matcher.normalise(clean_text(text))
        return self.matcher.match(text, self.embedder.encode([text])[0])

    def resolve_questions(self, requests: Sequence[GradeRequest]) -> list[Question | None]:
        """The bank question each request asks (by id or by matching its text), without grading."""
        prepared = [self._prepare(r.cleaned()) for r in requests]
        self._match_free_text([p for p in prepared if p.result is None and p.question is None])
        return [p.question if p.result is None or p.result.status == "graded" else None for p in prepared]

    def grade(self, answer: str, *, question_id: str | None = None, question: str | None = None,
              feedback: bool = False) -> GradeResult:
        """Grade one answer (with LLM feedback when ``feedback``)."""
        request = GradeRequest(answer=answer, question_id=question_id, question=question)
        return self.grade_many([request], feedback=feedback)[0]

    def grade_many(self, requests: Sequence[GradeRequest], progress: Callable[[int], None] | None = None,
                   *, feedback: bool = False) -> list[GradeResult]:
        """Grade answers together: all question texts and all sentences are encoded in shared batches."""
        prepared = [self._prepare(r.cleaned()) for r in requests]
        self._match_free_text([p for p in prepared if p.result is None and p.question is None])
        live = [p for p in prepared if p.result is None]
        all_sentences = [s.text for p in live for s in p.sentences or []]
        tokens = iter(self.embedder.encode_tokens(all_sentences))
        analyses = [self._analyse(p, [next(tokens) for _ in p.sentences or []]) for p in live]
        if self.verifier is not None:
            self._verify(analyses)
        for a in analyses:
            a.p.result = self._finish(a)
        results = []
        for p in prepared:
            assert p.result is not None
            results.append(p.result)
            if progress:
                progress(1)
        if feedback:
            self.add_feedback(results, [p.request.answer for p in prepared])
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
                p.result = GradeResult(
                    status="unknown_question", question_id=request.question_id,
                    error=f"no question with id {request.question_id!r} in the bank",
                    summary="The question id is not in the bank; nothing was scored.",
                    suggestions=self.bank.suggest_ids(request.question_id), **base)
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
        asked = [self.matcher.normalise(str(p.request.question)) for p in pending]
        vectors = self.embedder.encode(asked)
        for p, text, vector in zip(pending, asked, vectors, strict=True):
            p.match = self.matcher.match(text, vector)
            p.question, p.matched_by = p.match.question, "text"
            if p.question is None:
                p.result = GradeResult(
                    status="unknown_question", id=p.request.id, label=p.request.label,
                    match_confidence=p.match.confidence, matched_by="text", suggestions=p.match.suggestions,
                    summary="This question is not covered by the question bank, so the answer was not scored."
                    + (f" Nearest: {p.match.suggestions[0].question!r}." if p.match.suggestions else ""),
                )

    def _evidence(self, text: str, sents: list[Span], tokens: list[TokenEmbeddings]) -> _Evidence:
        """Evidence spans (sentences, clauses, adjacent-sentence windows) with their vectors.

        Each sentence is encoded once; clause vectors are pooled from its token vectors, and windows are
        token-weighted means of sentence vectors (no extra forward passes).
        """
        spans: list[Span] = []
        vectors: list[np.ndarray] = []
        owners: list[tuple[int, ...]] = []
        kept: list[Span] = []
        sentence_vecs, weights = [], []
        for sent, tok in zip(sents, tokens, strict=True):
            vec = tok.pool()
            if vec is None:
                continue
            k = len(kept)
            kept.append(sent)
            spans.append(sent)
            vectors.append(vec)
            owners.append((k,))
            sentence_vecs.append(vec)
            weights.append(float(len(tok.vectors)))
            for clause in clauses(text, sent):
                clause_vec = tok.pool(clause.start - sent.start, clause.end - sent.start)
                if clause_vec is not None:
                    spans.append(clause)
                    vectors.append(clause_vec)
                    owners.append((k,))
        for i in range(len(kept) - 1):
            mixed = sentence_vecs[i] * weights[i] + sentence_vecs[i + 1] * weights[i + 1]
            spans.append(Span(text[kept[i].start:kept[i + 1].end], kept[i].start, kept[i + 1].end, "window"))
            vectors.append(mixed / np.linalg.norm(mixed))
            owners.append((i, i + 1))
        matrix = np.array(vectors, dtype=np.float32) if vectors else np.zeros((0, self.embedder.dim), np.float32)
        return _Evidence(spans, matrix, owners, sentence_vecs, weights)

    def _claims(self, ev: _Evidence, sims: np.ndarray, question_vec: np.ndarray) -> set[int]:
        """The sentences that say something about the question: near a key point or the question itself,
        and not addressed to the grader. The rest (padding, greetings, instructions to the grader, fake
        scores) is left out of grading, so adding such text can never raise a score."""
        claims = set()
        for j, (span, owner) in enumerate(zip(ev.spans, ev.owners, strict=True)):
            if span.kind != "sentence":
                continue
            near = max(float(sims[:, j].max(initial=-1.0)), float(ev.vectors[j] @ question_vec))
            if near >= self.thresholds.claim_floor and not detect.injection_cues(span.text):
                claims.add(owner[0])
        return claims

    def _analyse(self, p: _Prepared, tokens: list[TokenEmbeddings]) -> _Analysis:
        """Evidence spans, their similarities to the key points and misconceptions, the claim spans and,
        with the verifier, the (span, key point) pairs worth verifying."""
        q = p.question
        assert q is not None and p.sentences is not None
        ev = self._evidence(p.text, p.sentences, tokens)
        sims = evidence_similarities([kp.text for kp in q.key_points], self.index.keypoint_vectors(q.id),
                                     ev.spans, ev.vectors, self.thresholds, question=q.question)
        claims = self._claims(ev, sims, self.index.question_vector(q.id))
        keep = [j for j, owner in enumerate(ev.owners) if set(owner) <= claims]
        a = _Analysis(p, q, ev, sims[:, keep], claims, keep)
        if q.misconceptions and keep:
            a.mc_sims = evidence_similarities([m.text for m in q.misconceptions],
                                              self.index.misconception_vectors(q.id), a.spans, ev.vectors[keep],
                                              self.thresholds, question=q.question)
        if self.verifier is not None:
            claim_sentences = [ev.spans[j] for j in keep if ev.spans[j].kind == "sentence"]
            if len(claim_sentences) > 1 and self.verifier_thresholds.whole:
                a.whole = Span(" ".join(s.text for s in claim_sentences), claim_sentences[0].start,
                               claim_sentences[-1].end, "whole")
            a.kp_candidates = candidate_spans(a.sims, a.spans, self.verifier_thresholds)
            # only the "verdicts" mode reads misconceptions through the verifier; the others match them by
            # embedding, so their pairs would cost time for nothing
            a.mc_candidates = (candidate_spans(a.mc_sims, a.spans, self.verifier_thresholds)
                               if a.mc_sims is not None and self.verifier_thresholds.mode == "verdicts" else [])
        return a

    def _verify(self, analyses: list[_Analysis]) -> None:
        """The verifier on every pair worth verifying: first each key point's and misconception's closest
        spans, then the whole answer for the key points no single span states.

        A point a span states is covered whatever the rest of the answer says, so its whole-answer pair
        could not change the verdict (``verifier_thresholds.whole_when_stated`` verifies it anyway); the
        whole answer is read for the others: a fact stated across two sentences, or one it contradicts.
        Not one call for all answers: the int8 model quantises activations per call (dynamic quantisation
        takes the scale from the whole input), so an answer's probabilities would shift with whichever
        other answers share its call, and a grade would depend on the batch it came in."""
        assert self.verifier is not None
        vt = self.verifier_thresholds
        for a in analyses:
            spans = [("kp", i, j) for i, js in enumerate(a.kp_candidates) for j in js]
            spans += [("mc", m, j) for m, js in enumerate(a.mc_candidates) for j in js]
            self._verify_pairs(a, spans)
            if a.whole is None or vt.mode not in ("verdicts", "blend"):
                continue
            stated = {i for (i, j), probs in a.kp_probs.items() if probs[0] >= vt.covered}
            self._verify_pairs(a, [("kp", i, WHOLE) for i in range(len(a.q.key_points))
                                   if vt.whole_when_stated or i not in stated])

    def _verify_pairs(self, a: _Analysis, wanted: list[tuple[str, int, int]]) -> None:
        """One verifier call on (kind, index, span) pairs of one answer; the probabilities land on ``a``."""
        assert self.verifier is not None
        if not wanted:
            return
        texts = [((a.whole.text if j == WHOLE and a.whole else a.spans[j].text),
                  (a.q.key_points[i].text if kind == "kp" else a.q.misconceptions[i].text))
                 for kind, i, j in wanted]
        for (kind, i, j), probs in zip(wanted, self.verifier.predict(texts), strict=True):
            (a.kp_probs if kind == "kp" else a.mc_probs)[(i, j)] = probs

    def _finish(self, a: _Analysis) -> GradeResult:
        p, q, t = a.p, a.q, self.thresholds
        weights = [kp.weight for kp in q.key_points]
        kp_texts = [kp.text for kp in q.key_points]
        misconceptions = []
        vt = self.verifier_thresholds
        if self.verifier is not None and vt.mode == "verdicts":
            coverage = verified_key_points(kp_texts, weights, a.sims, a.spans, a.kp_candidates, a.kp_probs, t, vt,
                                           whole=a.whole)
            misconceptions = verified_misconceptions(coverage, q.misconceptions, a.mc_candidates, a.mc_probs,
                                                     a.kp_probs, a.spans, t, vt)
        else:
            coverage = score_key_points(kp_texts, a.sims, a.spans, t, weights=weights)
            if a.mc_sims is not None:
                misconceptions = apply_misconceptions(coverage, q.misconceptions, a.mc_sims, a.sims, a.spans, t)
            if self.verifier is not None and vt.mode == "blend":
                blend_verifier(coverage, a.spans, a.kp_candidates, a.kp_probs, t, vt, whole=a.whole)
            elif self.verifier is not None:
                verifier_vetoes(coverage, a.sims, a.spans, a.kp_candidates, a.kp_probs, t, vt)
        facts = self._facts(p, q, a.ev, a.claims, coverage)
        flags = fire_flags(facts, self.policy)
        score, breakdown = apply_flags(coverage.coverage, flags, self.policy)
        result = GradeResult(
            status="graded", id=p.request.id, label=p.request.label, question_id=q.id, question=q.question,
            match_confidence=p.match.confidence if p.match else 1.0, matched_by=p.matched_by,
            score=score, grade=grade_from_score(score), key_points=coverage.results, flags=flags,
            misconceptions=misconceptions, breakdown=breakdown,
        )
        if self.calibration is not None:
            self.calibration.apply_to(result)
        result.summary = summarise(result)
        return result

    def _facts(self, p: _Prepared, q: Question, ev: _Evidence, claims: set[int],
               coverage: Coverage) -> AnswerFacts:
        """Everything the flag policy needs, measured on the claims (echo, list, length) or on the whole
        answer (emptiness, off-topic fit, copying, injection cues)."""
        kp_results = coverage.results
        claim_text = " ".join(ev.spans[j].text for j, owner in enumerate(ev.owners)
                              if ev.spans[j].kind == "sentence" and owner[0] in claims)
        asked = " ".join(filter(None, [q.question, p.request.question]))
        share, new_words = detect.echo_overlap(claim_text, asked)
        is_list, list_details = detect.keyword_list_score(claim_text)
        facts = AnswerFacts(
            content_words=detect.content_word_count(p.text),
            claim_words=detect.content_word_count(claim_text),
            mean_credit=sum(r.credit for r in kp_results) / max(1, len(kp_results)),
            truncated=p.truncated, max_words=self.max_answer_words,
            keyword_list=is_list, keyword_details=list_details,
            question_asks_for_list=detect.asks_for_a_list(asked),
            echo_share=share, echo_new_words=new_words,
            best_key_point_similarity=max((r.similarity for r in kp_results), default=0.0),
            contradicted=[(kp_results[i].text, kp_results[i].note or "") for i in coverage.contradictions],
            injection_cues=detect.injection_cues(p.request.answer),
        )
        whole = _mean_vector(ev.sentence_vectors, ev.sentence_weights)
        if whole is None:
            return facts
        own_question = self.index.question_vector(q.id)
        claimed = _mean_vector([v for k, v in enumerate(ev.sentence_vectors) if k in claims],
                               [w for k, w in enumerate(ev.sentence_weights) if k in claims])
        if claimed is not None:
            facts.question_similarity = float(own_question @ claimed)
        ref_scores = self.index.reference_scores(whole)
        facts.own_reference_fit = ref_scores.get(q.id, -1.0)
        other_id, other = max(((k, v) for k, v in ref_scores.items() if k != q.id),
                              key=lambda kv: kv[1], default=(None, -1.0))
        if other_id is not None:
            facts.other_question_id, facts.other_reference_fit = other_id, other
            facts.other_question = self.bank.by_id[other_id].question
            facts.closer_to_other_question = (float(self.index.question_vector(other_id) @ whole)
                                              >= float(own_question @ whole))
            other_terms = content_stems(facts.other_question)
            facts.other_question_is_part = bool(other_terms) and other_terms <= content_stems(q.question)
        facts.reference_share = detect.echo_overlap(p.text, q.reference_answer)[0]
        return facts

    def add_feedback(self, results: Sequence[GradeResult], answers: Sequence[str]) -> None:
        """LLM feedback on graded results (``feedback`` set on each), or an 'unavailable' record saying why.

        ``grade_many(..., feedback=True)`` calls this; the practice loop calls it after showing the offline
        result. One error policy: an LLM that fails, times out or answers nonsense never fails the grade.
        """
        graded = [(r, a) for r, a in zip(results, answers, strict=True)
                  if r.status == "graded" and r.question_id in self.bank.by_id]
        if not graded:
            return
        if self.feedback is None:
            for result, _ in graded:
                result.feedback = Feedback(available=False, reason=self.feedback_off_reason)
            return
        from dlgrader.feedback.engine import FeedbackItem

        items = []
        for result, answer in graded:
            question = self.bank.by_id[str(result.question_id)]
            text, _ = truncate_words(clean_text(answer), self.max_answer_words)
            items.append(FeedbackItem(result=result, answer=text, question=question,
                                      keypoint_vectors=self.index.keypoint_vectors(question.id)))
        try:
            self.feedback.attach(items)
        except FeedbackError as exc:
            log.warning("LLM feedback failed: %s", exc)
            for result, _ in graded:
                if result.feedback is None:
                    result.feedback = Feedback(available=False, reason=str(exc))


def _mean_vector(vectors: list[np.ndarray], weights: list[float]) -> np.ndarray | None:
    """Token-weighted mean of sentence vectors, normalised. Not an evidence span: the mean of a long
    on-topic answer resembles every key point a little, which would turn topical vocabulary into credit.
    It serves the echo and off-topic checks."""
    if not vectors:
        return None
    mean = np.average(np.array(vectors), axis=0, weights=weights)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


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
