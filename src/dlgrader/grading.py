"""Pure scoring: from similarities between key points and answer spans to verdicts, credits and coverage.

No I/O and no model: ``service.Grader`` computes the vectors and hands them here. The rule, in full:

1. Each key point's evidence is the answer span (sentence, clause or adjacent-sentence window) with the
   highest similarity to it: 0.6 x cosine + 0.4 x the share of the key point's own words (those not in the
   question) that the span repeats.
2. similarity >= ``covered`` -> covered, credit 1; ``partial`` <= similarity < ``covered`` -> partial, credit
   rising linearly from 0.25 to 0.75 across the band; below ``partial`` -> missing, credit 0.
   A covered or partial point whose evidence reverses its polarity (negation, or an antonym such as
   increases/reduces, training/inference) is contradicted: credit 0, and a penalty.
3. coverage (``weighted_coverage``): with rubric weights, 0.9 x the core credit over 75% of the core points
   (capped at 1) + 0.1 x the share of supporting credit; without (a teacher's bank), the credit over the
   points a complete answer is expected to make (all up to two, else 60%, at least two). raw = 100 x coverage.
4. Flags then subtract their penalty and may cap the score: ``policy.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dlgrader.corpus.text import content_stems
from dlgrader.models import Evidence, KeyPointResult, Misconception, MisconceptionMatch, Verdict, Weight
from dlgrader.polarity import polarity_conflict
from dlgrader.segment import Span


@dataclass(frozen=True)
class Thresholds:
    """Verdict thresholds on the blended similarity for all-MiniLM-L6-v2, set on the dev set's tune file
    (bench/devset); ``partial`` was lowered from 0.43 to 0.41 on the independent validation file, where
    answers in other words than the key points earned too little (the tune file is flat between the two).
    What flags cost and when they fire is ``policy.py``'s business."""

    covered: float = 0.60
    partial: float = 0.41
    # Share of word overlap (key-point words the question does not already contain) blended into the
    # cosine: embeddings alone rate any on-topic sentence as close to every key point of its topic.
    lexical_weight: float = 0.4
    # A tight span must be at least this close to a key point before its polarity can reverse it.
    polarity_gate: float = 0.515  # set on the tune file (lower gates reversed correct answers)
    # A sentence that comes no closer than this to any key point or to the question makes no claim about
    # the question (padding, greetings, text addressed to the grader): it is left out of grading, so
    # adding it can never change a score.
    claim_floor: float = 0.25
    # Rubric weights: a complete answer states the core points (they carry 90% of the score), supporting
    # points add depth (the other 10%). ``core_expected`` is the share of core points that counts as all of
    # them, since the embedding evidence misses some correct paraphrases.
    core_share: float = 0.9
    core_expected: float = 0.75
    # A span states a known misconception when it is this close to it, and closer to it than to the key
    # point the misconception denies by ``misconception_margin``.
    misconception_match: float = 0.80  # tune file: 0.70 named false misconceptions in correct answers
    misconception_margin: float = 0.05


@dataclass
class Coverage:
    results: list[KeyPointResult]
    coverage: float
    contradictions: list[int] = field(default_factory=list)


def credit_for(similarity: float, t: Thresholds) -> tuple[Verdict, float]:
    """Verdict and credit for one similarity (before the contradiction check)."""
    if similarity >= t.covered:
        return "covered", 1.0
    if similarity >= t.partial:
        position = (similarity - t.partial) / (t.covered - t.partial)
        return "partial", round(0.25 + 0.5 * position, 4)
    return "missing", 0.0


EXPECTED_SHARE = 0.6


def expected_points(n_points: int) -> int:
    """How many key points a complete answer is expected to make: an interview answer that states 60% of
    a merged entry's facts (at least two) is complete; the reference lists more than one answer needs."""
    return n_points if n_points <= 2 else max(2, math.ceil(EXPECTED_SHARE * n_points))


def lexical_overlap(key_point_stems: set[str], span_text: str) -> float:
    """Share of the key point's specific words (question words removed) that the span repeats."""
    if not key_point_stems:
        return 0.0
    return len(key_point_stems & content_stems(span_text)) / len(key_point_stems)


def evidence_similarities(key_points: list[str], kp_vectors: np.ndarray, spans: list[Span],
                          span_vectors: np.ndarray, t: Thresholds, question: str = "") -> np.ndarray:
    """(n_points, n_spans) blended similarity: cosine mixed with the share of each key point's own words
    (question words removed) that the span repeats."""
    sims = kp_vectors @ span_vectors.T
    if t.lexical_weight and len(spans):
        # Question words say nothing about whether the answer knows the fact ("question demoting").
        demoted = content_stems(question)
        span_stems = [content_stems(s.text) for s in spans]
        for i, kp in enumerate(key_points):
            specific = content_stems(kp) - demoted
            if specific:
                lex = np.array([len(specific & st) / len(specific) for st in span_stems])
                sims[i] = (1 - t.lexical_weight) * sims[i] + t.lexical_weight * lex
    return np.asarray(sims, dtype=np.float32)


def weighted_coverage(results: list[KeyPointResult], t: Thresholds) -> float:
    """0-1 from the credits. Without supporting points (a teacher's own bank): credits over the points a
    complete answer is expected to make. With rubric weights: ``core_share`` x the core credit over
    ``core_expected`` of the core points, plus the rest x the supporting credit over all supporting points."""
    core = [r.credit for r in results if r.weight == "core"]
    supporting = [r.credit for r in results if r.weight == "supporting"]
    if not supporting:
        return min(1.0, sum(core) / expected_points(len(core))) if core else 0.0
    core_part = min(1.0, sum(core) / max(1, math.ceil(t.core_expected * len(core)))) if core else 1.0
    return t.core_share * core_part + (1 - t.core_share) * min(1.0, sum(supporting) / len(supporting))


def score_key_points(key_points: list[str], sims: np.ndarray, spans: list[Span], t: Thresholds,
                     weights: list[Weight] | None = None) -> Coverage:
    """Best evidence span, verdict and credit for every key point, from ``evidence_similarities``."""
    weights = weights or ["core"] * len(key_points)
    if not spans:
        results = [KeyPointResult(index=i, text=kp, verdict="missing", similarity=0.0, credit=0.0, weight=w)
                   for i, (kp, w) in enumerate(zip(key_points, weights, strict=True))]
        return Coverage(results, 0.0)
    results, contradictions = [], []
    for i, kp in enumerate(key_points):
        best = int(np.argmax(sims[i]))
        similarity = float(sims[i, best])
        span = spans[best]
        verdict, credit = credit_for(similarity, t)
        note: str | None = None
        # Polarity is read on tight spans (sentences, clauses) that are about this point: a negation
        # elsewhere in a long window says nothing about this claim. The closest three are checked, so a
        # reversed claim is caught even when another sentence restates the point correctly.
        tight = sorted((j for j, s in enumerate(spans) if s.kind in ("sentence", "clause")),
                       key=lambda j: -sims[i, j])[:3]
        if verdict != "missing":
            for j in tight:
                # Only a span that is clearly about the same claim can reverse it.
                if sims[i, j] < t.polarity_gate:
                    break
                conflict = polarity_conflict(kp, spans[j].text)
                if conflict:
                    verdict, credit, note, span = "contradicted", 0.0, conflict, spans[j]
                    contradictions.append(i)
                    break
        evidence = Evidence(text=span.text, start=span.start, end=span.end) if verdict != "missing" else None
        results.append(KeyPointResult(index=i, text=kp, verdict=verdict, similarity=round(similarity, 4),
                                      credit=credit, evidence=evidence, note=note, weight=weights[i]))
    return Coverage(results, weighted_coverage(results, t), contradictions)


def apply_misconceptions(coverage: Coverage, misconceptions: list[Misconception], mc_sims: np.ndarray,
                         kp_sims: np.ndarray, spans: list[Span], t: Thresholds) -> list[MisconceptionMatch]:
    """Known wrong beliefs the answer states (``mc_sims``: misconceptions x spans, ``kp_sims``: key points x
    spans). A matched misconception that denies a key point makes that point contradicted (credit 0), with
    the correction as its note; every match is returned for the result."""
    matches: list[MisconceptionMatch] = []
    if not spans or not misconceptions:
        return matches
    for m, row in zip(misconceptions, mc_sims, strict=True):
        j = int(np.argmax(row))
        similarity = float(row[j])
        if similarity < t.misconception_match:
            continue
        if m.contradicts is not None and similarity < float(kp_sims[m.contradicts, j]) + t.misconception_margin:
            continue  # the span says the point itself at least as clearly as the wrong belief
        span = spans[j]
        match = MisconceptionMatch(text=m.text, correction=m.correction, similarity=round(similarity, 4),
                                   evidence=Evidence(text=span.text, start=span.start, end=span.end))
        matches.append(match)
        if m.contradicts is None:
            continue
        point = coverage.results[m.contradicts]
        point.verdict, point.credit, point.evidence, point.misconception = "contradicted", 0.0, match.evidence, match
        point.note = f"a known misconception: {m.correction}"
        if m.contradicts not in coverage.contradictions:
            coverage.contradictions.append(m.contradicts)
    coverage.coverage = weighted_coverage(coverage.results, t)
    return matches


# ---------------------------------------------------------------- with the verifier


@dataclass(frozen=True)
class VerifierThresholds:
    """How the verifier's probabilities become verdicts. Set on bench/devset/tune.jsonl with
    ``bench/tune_verifier.py`` (validation only to choose between variants); see the README for figures."""

    # "blend" (the default): the verifier decides where it is confident, and scales the embedding credit by
    # ``neutral_factor`` where it reads neutral; "verdicts": it decides alone; "veto": embedding verdicts,
    # the verifier may only contradict one (the first shipped model's mode)
    mode: str = "blend"
    spans: int = 1  # the closest spans of each key point that are verified (besides the whole answer); 1 did
    # as well as 2 or 3 on the tune and validation files, at a third of the verifier calls
    floor: float = 0.0  # a span less similar than this to a key point is not verified (formulas score low)
    # P(entailment) for covered, and for partial credit (rising from 0.25 at ``partial`` to 0.75). Chosen
    # again for the 2026-12-02 model (was 0.80 / 0.65): tune 0.616 -> 0.633, validation 0.638 -> 0.648.
    covered: float = 0.90
    partial: float = 0.50
    # P(contradiction), above every P(entailment), for contradicted. Lower values (0.7-0.93) named false
    # contradictions in complete answers on the tune and validation files.
    contradicted: float = 0.97
    misconception: float = 0.60  # P(entailment) of a misconception by a span, to name it ("verdicts" mode)
    whole: bool = True  # also verify each key point against the whole answer (its claim sentences)
    # ... even when one of its spans already states it (the whole answer cannot then change the verdict
    # but for an even surer contradiction; off: about half the verifier pairs of a good answer)
    whole_when_stated: bool = False
    neutral_factor: float = 0.5  # blend: the share of the embedding credit kept where the verifier reads neutral


def candidate_spans(sims: np.ndarray, spans: list[Span], vt: VerifierThresholds) -> list[list[int]]:
    """For each row of ``sims``, the spans worth verifying: the closest few above the floor, tight spans
    (sentences and clauses) first since a window mixes two claims."""
    out = []
    for row in sims:
        order = [j for j in np.argsort(-row) if row[j] >= vt.floor]
        tight = [j for j in order if spans[j].kind != "window"]
        out.append([int(j) for j in (tight + [j for j in order if spans[j].kind == "window"])][:vt.spans])
    return out


WHOLE = -1
"""The key of the whole answer (its claim sentences) among a key point's verified premises: a fact is often
stated across two sentences, or only by the answer as a whole."""


def verified_key_points(key_points: list[str], weights: list[Weight], sims: np.ndarray, spans: list[Span],
                        candidates: list[list[int]], probs: dict[tuple[int, int], np.ndarray], t: Thresholds,
                        vt: VerifierThresholds, whole: Span | None = None) -> Coverage:
    """Verdicts from the verifier's probabilities (entailment, contradiction, neutral) on each key point's
    premises (its candidate spans, and the whole answer under the key ``WHOLE``): contradicted when some
    premise contradicts it with P >= ``vt.contradicted`` and more than any premise states it; covered or
    partial by the best P(entailment); otherwise missing. The similarity is kept for the record, and the
    evidence shown is the closest span when only the whole answer states the point."""
    results, contradictions = [], []
    for i, (kp, weight) in enumerate(zip(key_points, weights, strict=True)):
        similarity = float(sims[i].max()) if len(spans) else 0.0
        scored = premise_probabilities(i, candidates, probs, whole)
        best_e = max(scored, key=lambda s: s[1][0], default=None)
        best_c = max(scored, key=lambda s: s[1][1], default=None)
        verdict: Verdict = "missing"
        credit, j_evidence, note = 0.0, None, None
        if best_c is not None and best_e is not None and best_c[1][1] >= vt.contradicted and \
                best_c[1][1] > best_e[1][0]:
            verdict, j_evidence = "contradicted", best_c[0]
            note = f"the verifier reads this as contradicting the point (p={best_c[1][1]:.2f})"
            contradictions.append(i)
        elif best_e is not None and best_e[1][0] >= vt.covered:
            verdict, credit, j_evidence = "covered", 1.0, best_e[0]
        elif best_e is not None and best_e[1][0] >= vt.partial:
            verdict, j_evidence = "partial", best_e[0]
            credit = round(0.25 + 0.5 * (float(best_e[1][0]) - vt.partial) / max(1e-6, vt.covered - vt.partial), 4)
        span = premise_span(j_evidence, candidates[i], spans, whole) if j_evidence is not None else None
        evidence = Evidence(text=span.text, start=span.start, end=span.end) if span is not None else None
        results.append(KeyPointResult(index=i, text=kp, verdict=verdict, similarity=round(similarity, 4),
                                      credit=credit, evidence=evidence, note=note, weight=weight))
    return Coverage(results, weighted_coverage(results, t), contradictions)


def premise_span(j: int, closest: list[int], spans: list[Span], whole: Span | None) -> Span | None:
    """The span shown as evidence for premise ``j``: the whole answer's evidence is its span closest to the
    point (the whole answer itself when there is none)."""
    if j != WHOLE:
        return spans[j]
    return spans[closest[0]] if closest else whole


def premise_probabilities(i: int, candidates: list[list[int]], probs: dict[tuple[int, int], np.ndarray],
                          whole: Span | None) -> list[tuple[int, np.ndarray]]:
    """The verifier's probabilities for key point ``i`` on each of its premises (``WHOLE`` for the answer)."""
    scored = [(j, probs[(i, j)]) for j in candidates[i] if (i, j) in probs]
    if whole is not None and (i, WHOLE) in probs:
        scored.append((WHOLE, probs[(i, WHOLE)]))
    return scored


def blend_verifier(coverage: Coverage, spans: list[Span], candidates: list[list[int]],
                   probs: dict[tuple[int, int], np.ndarray], t: Thresholds, vt: VerifierThresholds,
                   whole: Span | None = None) -> None:
    """The verifier decides where it is confident, the embedding verdict stands in between: a point some
    premise contradicts (P >= ``vt.contradicted``, above every P(entailment)) is contradicted; one a premise
    states (P(entailment) >= ``vt.covered``) is covered; a partial reading keeps the better of the two
    credits; where every premise reads neutral, the embedding credit is scaled by ``vt.neutral_factor``."""
    for i, result in enumerate(coverage.results):
        scored = premise_probabilities(i, candidates, probs, whole)
        if not scored:
            continue
        j_e, p_e = max(scored, key=lambda s: s[1][0])
        j_c, p_c = max(scored, key=lambda s: s[1][1])
        e, c = float(p_e[0]), float(p_c[1])
        def place(j: int, result: KeyPointResult = result, closest: list[int] = candidates[i]) -> None:
            span = premise_span(j, closest, spans, whole)
            if span is not None:
                result.evidence = Evidence(text=span.text, start=span.start, end=span.end)

        if c >= vt.contradicted and c > e:
            if result.verdict != "contradicted":
                result.verdict, result.credit = "contradicted", 0.0
                result.note = f"the verifier reads this as contradicting the point (p={c:.2f})"
                place(j_c)
                if i not in coverage.contradictions:
                    coverage.contradictions.append(i)
        elif result.verdict == "contradicted":
            continue  # a lexical reversal or a known misconception stands unless the verifier disagrees
        elif e >= vt.covered:
            if result.verdict != "covered":
                place(j_e)
            result.verdict, result.credit = "covered", 1.0
        elif e >= vt.partial:
            mapped = 0.25 + 0.5 * (e - vt.partial) / max(1e-6, vt.covered - vt.partial)
            if mapped > result.credit:
                result.verdict, result.credit = "partial", round(mapped, 4)
                place(j_e)
        else:
            result.credit = round(result.credit * vt.neutral_factor, 4)
            if result.credit == 0 and result.verdict == "partial":
                result.verdict, result.evidence = "missing", None
    coverage.coverage = weighted_coverage(coverage.results, t)


def verified_misconceptions(coverage: Coverage, misconceptions: list[Misconception], candidates: list[list[int]],
                            probs: dict[tuple[int, int], np.ndarray], kp_probs: dict[tuple[int, int], np.ndarray],
                            spans: list[Span], t: Thresholds, vt: VerifierThresholds) -> list[MisconceptionMatch]:
    """Misconceptions a span entails (and entails more than the key point the misconception denies)."""
    matches = []
    for m_index, m in enumerate(misconceptions):
        if m_index >= len(candidates):  # no claim span at all: nothing to match
            break
        scored = [(j, probs[(m_index, j)][0]) for j in candidates[m_index]]
        if not scored:
            continue
        j, p = max(scored, key=lambda s: s[1])
        if p < vt.misconception:
            continue
        if m.contradicts is not None and (m.contradicts, j) in kp_probs and kp_probs[(m.contradicts, j)][0] >= p:
            continue
        span = spans[j]
        match = MisconceptionMatch(text=m.text, correction=m.correction, similarity=round(float(p), 4),
                                   evidence=Evidence(text=span.text, start=span.start, end=span.end))
        matches.append(match)
        if m.contradicts is not None:
            point = coverage.results[m.contradicts]
            point.verdict, point.credit, point.evidence, point.misconception = ("contradicted", 0.0,
                                                                                match.evidence, match)
            point.note = f"a known misconception: {m.correction}"
            if m.contradicts not in coverage.contradictions:
                coverage.contradictions.append(m.contradicts)
    coverage.coverage = weighted_coverage(coverage.results, t)
    return matches


def verifier_vetoes(coverage: Coverage, sims: np.ndarray, spans: list[Span], candidates: list[list[int]],
                    probs: dict[tuple[int, int], np.ndarray], t: Thresholds, vt: VerifierThresholds) -> None:
    """The embedding verdicts stand; the verifier may only take credit away: a covered or partial point
    whose close span (similarity >= the polarity gate) the verifier reads as contradicting it with
    P >= ``vt.contradicted`` becomes contradicted. (Measured on the tune set, the verifier's own verdicts
    lose to the embedding ones: it rejects correct answers in unseen words; its confident contradictions
    are what it adds.)"""
    for i, result in enumerate(coverage.results):
        if result.verdict not in ("covered", "partial"):
            continue
        for j in candidates[i]:
            p = probs.get((i, j))
            if p is None or sims[i, j] < t.polarity_gate or p[1] < vt.contradicted or p[1] <= p[0]:
                continue
            span = spans[j]
            result.verdict, result.credit = "contradicted", 0.0
            result.evidence = Evidence(text=span.text, start=span.start, end=span.end)
            result.note = f"the verifier reads this as contradicting the point (p={p[1]:.2f})"
            if i not in coverage.contradictions:
                coverage.contradictions.append(i)
            break
    coverage.coverage = weighted_coverage(coverage.results, t)
