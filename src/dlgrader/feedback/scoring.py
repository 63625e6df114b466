"""The score with the model's labels, computed in code by the offline engine's rules (``dlgrader.grading``).

The model only labels key points. For each point:

- no label, or a void one (its quote is not in the answer): the engine's verdict stands;
- a lower verdict is taken as it is (missing, or contradicted: a reversal the embeddings missed);
  a point lowered to partial keeps the top partial credit its similarity allows;
- a higher verdict is taken only when the quote itself reaches the engine's ``partial`` threshold against
  the key point, and only one step (missing -> partial -> covered); never when the answer carries an
  injection attempt, and never over a contradiction the engine found.

Then coverage, flags (the contradiction flag rebuilt from the final verdicts), penalties, caps, the clamp to
0-100 and the 0-5 grade all come from ``grading.py`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlgrader.feedback.verify import Located
from dlgrader.grading import Thresholds, credit_for, weighted_coverage
from dlgrader.models import Evidence, Flag, KeyPointResult, ScoreBreakdown, Verdict
from dlgrader.policy import apply_flags, grade_from_score

RANK = {"missing": 0, "partial": 1, "covered": 2}
STEPS: list[Verdict] = ["missing", "partial", "covered"]


@dataclass
class Label:
    """The model's verdict on one key point after quote verification."""

    verdict: Verdict
    quote: Located | None  # None: the quote was not found (or the verdict needs none)
    quote_similarity: float | None = None
    void: str | None = None  # why the label is void


@dataclass
class Rescored:
    key_points: list[KeyPointResult]
    changes: list[dict[str, object]]
    flags: list[Flag]
    score: float
    grade: float
    breakdown: ScoreBreakdown
    counts: dict[str, int] = field(default_factory=dict)


def _partial_credit(similarity: float, t: Thresholds) -> float:
    """Partial credit for a similarity, held inside the partial band (0.25-0.75)."""
    verdict, credit = credit_for(similarity, t)
    return {"covered": 0.75, "missing": 0.25}.get(verdict, credit)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    credit: float
    status: str  # agreed | lowered | raised | raise_capped | raise_refused | void | unlabelled
    reason: str | None = None


def decide(engine: KeyPointResult, label: Label | None, t: Thresholds, *, allow_raise: bool) -> Decision:
    """The final verdict and credit of one key point, and why."""
    keep = engine.verdict, engine.credit
    if label is None:
        return Decision(*keep, "unlabelled")
    if label.void:
        return Decision(*keep, "void", label.void)
    wanted = label.verdict
    if wanted == engine.verdict:
        return Decision(*keep, "agreed")
    if wanted == "contradicted":
        return Decision("contradicted", 0.0, "lowered", "the judge found a reversal")
    if engine.verdict == "contradicted":
        return Decision(*keep, "raise_refused", "the embeddings found a reversal; the judge cannot undo it")
    if RANK[wanted] < RANK[engine.verdict]:
        credit = 0.0 if wanted == "missing" else min(engine.credit, _partial_credit(engine.similarity, t))
        return Decision(wanted, credit, "lowered")
    if not allow_raise:
        return Decision(*keep, "raise_refused", "the answer addresses the grader: no raise is allowed")
    quote_sim = label.quote_similarity
    if quote_sim is None or quote_sim < t.partial:
        return Decision(*keep, "raise_refused", "the judge's quote does not support the key point")
    step = STEPS[RANK[engine.verdict] + 1]
    credit = 1.0 if step == "covered" else max(engine.credit, _partial_credit(quote_sim, t))
    if step == wanted:
        return Decision(step, credit, "raised")
    return Decision(step, credit, "raise_capped", "a raise is at most one step")


def rescore(engine_points: list[KeyPointResult], engine_flags: list[Flag], labels: dict[int, Label],
            t: Thresholds, *, allow_raise: bool) -> Rescored:
    """Final key points, flags and score from the engine's results and the verified labels."""
    points: list[KeyPointResult] = []
    changes: list[dict[str, object]] = []
    counts = dict.fromkeys(("agreed", "lowered", "raised", "raise_capped", "raise_refused", "void",
                            "unlabelled"), 0)
    for engine in engine_points:
        label = labels.get(engine.index)
        decision = decide(engine, label, t, allow_raise=allow_raise)
        verdict, credit, status = decision.verdict, decision.credit, decision.status
        counts[status] += 1
        point = engine.model_copy(deep=True)
        if verdict != engine.verdict and label is not None:
            point.verdict, point.credit = verdict, credit
            if label.quote is not None:
                point.evidence = Evidence(text=label.quote.text, start=label.quote.start, end=label.quote.end)
            elif verdict == "missing":
                point.evidence = None
            point.note = ("the LLM judge found a reversal" if verdict == "contradicted"
                          else f"LLM judge: {verdict} (engine: {engine.verdict})")
        points.append(point)
        change: dict[str, object] = {"index": engine.index, "text": engine.text, "engine": engine.verdict,
                                     "final": verdict, "credit": credit, "status": status}
        if label is not None:
            change["llm"] = label.verdict
            if label.quote is not None:
                quote = label.quote
                change["quote"] = {"text": quote.text, "start": quote.start, "end": quote.end}
            if label.quote_similarity is not None:
                change["quote_similarity"] = round(label.quote_similarity, 4)
        if decision.reason:
            change["reason"] = decision.reason
        changes.append(change)
    flags = _flags(points, engine_flags)
    coverage = weighted_coverage(points, t) if points else 0.0
    score, breakdown = apply_flags(coverage, flags)
    return Rescored(points, changes, flags, score, grade_from_score(score), breakdown, counts)


def _flags(points: list[KeyPointResult], engine_flags: list[Flag]) -> list[Flag]:
    """The engine's flags, with the contradiction flag rebuilt from the final verdicts."""
    flags = [f.model_copy(deep=True) for f in engine_flags if f.code != "contradiction"]
    contradicted = [p for p in points if p.verdict == "contradicted"]
    if contradicted:
        flags.append(Flag(code="contradiction", message="The answer contradicts the reference: "
                          + "; ".join(f"{p.note or 'reversed'} ({p.text})" for p in contradicted),
                          details={"count": len(contradicted), "key_points": [p.text for p in contradicted]}))
    return flags
