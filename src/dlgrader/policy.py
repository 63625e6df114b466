"""When a flag fires and what it costs: every rule and every number of it, in one place.

The grader measures an answer (``AnswerFacts``: word counts, overlaps, similarities to this and other
questions); this module decides from those facts which flags fire (``fire_flags``) and turns coverage and
flags into the final score (``apply_flags``). The detectors that produce the facts live in ``flags.py``
(text) and ``service.py`` (vectors); neither decides anything.

| flag | fires when | effect |
|---|---|---|
| empty | no content word | score 0 |
| too_short | fewer than 3 content words about the question and under half the credit | cap 15 |
| keyword_list | a list of buzzwords (no clause, no formula, no arrow), unless the question asks for a list | cap 25 |
| question_echo | restates the question (word share, or vector closeness above the key points) | cap 10 |
| off_topic | another question's reference fits clearly better, under half the credit (not one side of it) | cap 20 |
| contradiction | a key point is contradicted | -20 per point (at most 2), cap 35 |
| truncated, injection_attempt, copied_reference | reported | none |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlgrader.models import Flag, ScoreBreakdown


@dataclass(frozen=True)
class FlagRule:
    """What a fired flag costs: points taken off, and a ceiling on the final score."""

    penalty: float = 0.0
    cap: float | None = None


RULES: dict[str, FlagRule] = {
    "empty": FlagRule(cap=0.0),
    "too_short": FlagRule(cap=15.0),
    "keyword_list": FlagRule(cap=25.0),
    "question_echo": FlagRule(cap=10.0),
    "off_topic": FlagRule(cap=20.0),
    # 20 points per contradicted key point, counted up to two (see ``FlagPolicy``).
    "contradiction": FlagRule(penalty=20.0, cap=35.0),
    "truncated": FlagRule(),
    "injection_attempt": FlagRule(),
    "copied_reference": FlagRule(),
}


@dataclass(frozen=True)
class FlagPolicy:
    """The numbers the firing rules use. Set on bench/devset/tune.jsonl (see README, "How a grade is
    decided"); change them only with the dev-set benchmark in hand."""

    too_short_words: int = 3  # fewer content words than this ...
    too_short_credit: float = 0.5  # ... and less mean credit than this: a terse correct answer is fine
    echo_share: float = 0.8  # share of the answer's content words taken from the question
    echo_new_words: int = 3  # ... with at most this many words of its own
    echo_similarity: float = 0.88  # or this close to the question's vector
    echo_margin: float = 0.05  # ... and closer to the question than to any key point by this much
    off_topic_fit: float = 0.5  # the other question's reference must really fit the answer
    off_topic_margin: float = 0.10  # ... better than this question's own by this much
    off_topic_credit: float = 0.5  # ... and the answer earns less than this mean credit here
    copied_similarity: float = 0.97  # answer vector vs the reference answer's
    copied_share: float = 0.9  # ... and this share of its words from the reference
    contradictions_counted: int = 2  # penalties stop after this many contradicted points


@dataclass
class AnswerFacts:
    """What the grader measured about one answer; ``fire_flags`` decides from these alone."""

    content_words: int  # in the whole answer
    mean_credit: float
    claim_words: int = 0  # in the sentences that say something about the question
    truncated: bool = False
    max_words: int = 0
    keyword_list: bool = False
    keyword_details: dict[str, object] = field(default_factory=dict)
    question_asks_for_list: bool = False
    echo_share: float = 0.0
    echo_new_words: int = 0
    question_similarity: float | None = None  # of the claims; None when no sentence makes a claim
    best_key_point_similarity: float = 0.0
    own_reference_fit: float = -1.0
    other_question_id: str | None = None
    other_question: str = ""
    other_reference_fit: float = -1.0
    closer_to_other_question: bool = False
    # The other question asks about one side of this one ("What is L1 regularization?" inside "L1 vs L2"):
    # a right answer to a comparison fits each side's reference, so it is never off topic for that.
    other_question_is_part: bool = False
    reference_share: float = 0.0
    contradicted: list[tuple[str, str]] = field(default_factory=list)  # (key point, why)
    injection_cues: list[str] = field(default_factory=list)


def fire_flags(facts: AnswerFacts, policy: FlagPolicy) -> list[Flag]:
    """The flags one answer earns, in a stable order."""
    if facts.content_words == 0:
        return [Flag(code="empty", message="The answer is empty or has no content words.")]
    out: list[Flag] = []
    if facts.truncated:
        out.append(Flag(code="truncated", message=f"Only the first {facts.max_words} words were graded.",
                        details={"max_words": facts.max_words}))
    if facts.claim_words < policy.too_short_words and facts.mean_credit < policy.too_short_credit:
        out.append(Flag(code="too_short", message="The answer says too little about the question to show "
                        "understanding.",
                        details={"content_words": facts.claim_words}))
    if facts.keyword_list and not facts.question_asks_for_list:
        out.append(Flag(code="keyword_list", message="The answer lists keywords without explaining them.",
                        details=facts.keyword_details))
    out.extend(_vector_flags(facts, policy))
    if facts.contradicted:
        out.append(Flag(code="contradiction", message="The answer contradicts the reference: "
                        + "; ".join(f"{why} ({point})" for point, why in facts.contradicted),
                        details={"count": len(facts.contradicted),
                                 "key_points": [point for point, _ in facts.contradicted]}))
    if facts.injection_cues:
        out.append(Flag(code="injection_attempt", message="The answer contains text addressed to the grader; "
                        "it is treated as part of the answer and cannot change the score.",
                        details={"cues": facts.injection_cues}))
    return out


def _vector_flags(facts: AnswerFacts, policy: FlagPolicy) -> list[Flag]:
    out: list[Flag] = []
    q_sim = facts.question_similarity
    word_echo = facts.echo_share >= policy.echo_share and facts.echo_new_words <= policy.echo_new_words
    vector_echo = (q_sim is not None and q_sim >= policy.echo_similarity
                   and q_sim > facts.best_key_point_similarity + policy.echo_margin)
    if q_sim is not None and (word_echo or vector_echo):
        out.append(Flag(code="question_echo", message="The answer mostly restates the question.",
                        details={"question_word_share": round(facts.echo_share, 2),
                                 "new_content_words": facts.echo_new_words,
                                 "question_similarity": round(q_sim, 4)}))
    # Off topic means about another question: its reference fits clearly better, and the answer is also
    # closer to that question's wording than to this one's (related questions share vocabulary).
    if (facts.other_question_id is not None and facts.other_reference_fit >= policy.off_topic_fit
            and facts.other_reference_fit - facts.own_reference_fit >= policy.off_topic_margin
            and facts.mean_credit < policy.off_topic_credit and facts.closer_to_other_question
            and not facts.other_question_is_part):
        out.append(Flag(code="off_topic", message=f"The answer fits another question better: "
                        f"{facts.other_question!r}.",
                        details={"other_question_id": facts.other_question_id,
                                 "other_similarity": round(facts.other_reference_fit, 4),
                                 "own_similarity": round(facts.own_reference_fit, 4)}))
    if facts.own_reference_fit >= policy.copied_similarity and facts.reference_share >= policy.copied_share:
        out.append(Flag(code="copied_reference", message="The answer reproduces the reference answer."))
    return out


def apply_flags(coverage: float, flags: list[Flag], policy: FlagPolicy | None = None
                ) -> tuple[float, ScoreBreakdown]:
    """Final 0-100 score from coverage and flags, with every step recorded (each flag's penalty set)."""
    policy = policy or FlagPolicy()
    raw = 100.0 * coverage
    penalties, cap = 0.0, None
    for flag in flags:
        rule = RULES[flag.code]
        penalty = rule.penalty
        if flag.code == "contradiction":
            count = flag.details.get("count", 1)
            penalty *= min(policy.contradictions_counted, int(count) if isinstance(count, int | float) else 1)
        flag.penalty = penalty
        penalties += penalty
        if rule.cap is not None:
            cap = rule.cap if cap is None else min(cap, rule.cap)
    score = raw - penalties
    if cap is not None:
        score = min(score, cap)
    score = round(max(0.0, min(100.0, score)), 1)
    return score, ScoreBreakdown(coverage=round(coverage, 4), raw_score=round(raw, 1),
                                 penalties=penalties, cap=cap)


def grade_from_score(score: float) -> float:
    """0-100 -> 0-5 in steps of 0.5."""
    return round(score / 10.0) / 2.0
