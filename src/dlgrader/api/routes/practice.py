"""Practice and progress for one learner: ``/v1/practice/next``, ``/v1/practice/answers``,
``/v1/practice/attempts/{id}/rating``, ``/v1/practice/reveal`` and ``/v1/progress``.

The learner is the API key (its fingerprint) when the server has keys, else the profile named by the
``X-Learner`` header, ``default`` without one: the profile ``dlgrader practice`` uses, so that the CLI and
the web app share progress on one machine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from dlgrader.api.deps import BankDep, GraderDep, PoolDep, SettingsDep
from dlgrader.api.errors import BODY_ERRORS, COMMON_ERRORS, ApiError
from dlgrader.api.practice_store import PracticeStore
from dlgrader.api.routes.examples import GRADED, ok
from dlgrader.api.routes.questions import DifficultyQ, TopicQ, detail, find, select, summary
from dlgrader.api.schemas import (
    SESSION_PATTERN,
    AnswerIn,
    AnswerOut,
    CardOut,
    ErrorOut,
    NextOut,
    QueueOut,
    RatingIn,
    RatingName,
    RatingOut,
    RevealIn,
    RevealOut,
)
from dlgrader.errors import AttemptNotFound, RatingLocked
from dlgrader.practice import when
from dlgrader.progress import DEFAULT_LEARNER, LEARNER_PATTERN, CardInfo, ProgressSummary, rating_named
from dlgrader.service import GradeRequest

router = APIRouter(prefix="/v1", tags=["practice"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such question."}}


def get_learner(request: Request) -> str:
    """Whose progress this request reads and writes."""
    key_id = getattr(request.state, "key_id", None)
    if key_id:
        return str(key_id)
    name = request.headers.get("x-learner", "").strip()
    if not name:
        return DEFAULT_LEARNER
    if not re.match(LEARNER_PATTERN, name):
        raise ApiError(422, "bad_learner", "The X-Learner header must be a profile name of 1-64 letters, digits, "
                       "'_', '.' or '-'.", {"pattern": LEARNER_PATTERN})
    return name


def get_store(request: Request) -> PracticeStore:
    return request.app.state.practice_store


LearnerDep = Annotated[str, Depends(get_learner)]
StoreDep = Annotated[PracticeStore, Depends(get_store)]
SessionQ = Annotated[str | None, Query(pattern=SESSION_PATTERN, description="The client's practice session id: "
                                       "a card failed in it comes back after three other questions.")]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _card(card: CardInfo | None) -> CardOut | None:
    if card is None:
        return None
    return CardOut(due=_iso(card.due), reviews=card.reviews, last_score=card.last_score)


def _name(rating: Any) -> RatingName:
    return rating.name.lower()


@router.get("/practice/next", response_model=NextOut, responses={**ok({
    "question": {"id": "dropout", "question": "What is dropout and how does it work?", "aliases": [],
                 "topic": "regularisation", "difficulty": "beginner", "documents": [], "key_point_count": 6},
    "reason": "new", "card": None, "queue": {"due_now": 0, "new": 142, "learning": 0}, "next_due": None}),
    **COMMON_ERRORS})
async def next_card(bank: BankDep, store: StoreDep, learner: LearnerDep, topic: TopicQ = None,
                    difficulty: DifficultyQ = None, session_id: SessionQ = None) -> NextOut:
    """The next question to practise (without its answer): a card failed in this session, then due cards,
    then new questions, then cards in learning steps due soon."""
    ids = [q.id for q in select(bank, topic=topic, difficulty=difficulty)]

    def pick(s: Any) -> NextOut:
        chosen = s.next_card(ids, session_id=session_id, learner=learner)
        counts = s.queue_counts(ids, learner=learner)
        queue = QueueOut(due_now=counts.due_now, new=counts.new, learning=counts.learning)
        if chosen is None:
            dues = [c.due for q, c in s.cards(learner).items() if q in set(ids)]
            return NextOut(question=None, reason="done", card=None, queue=queue,
                           next_due=_iso(min(dues)) if dues else None)
        return NextOut(question=summary(bank.by_id[chosen.question_id]), reason=chosen.reason,
                       card=_card(chosen.card), queue=queue)

    return await store.run(pick)


@router.post("/practice/answers", response_model=AnswerOut, responses={**ok({
    "attempt_id": 17, "result": GRADED, "suggested_rating": "easy", "rating": "easy", "credited_score": 100.0,
    "due": "2026-12-09T10:00:00+00:00", "interval": "in 8 days", "reference": {"...": "see GET /v1/questions/{id}"}}),
    **_NOT_FOUND, **BODY_ERRORS})
async def answer(body: AnswerIn, bank: BankDep, grader: GraderDep, pool: PoolDep, settings: SettingsDep,
                 store: StoreDep, learner: LearnerDep) -> AnswerOut:
    """Grade an answer to a practice question, store it, and schedule the card with the suggested rating
    (confirm or change it with POST /v1/practice/attempts/{id}/rating)."""
    question = find(bank, body.question_id)
    if not body.answer.strip():
        raise ApiError(422, "empty_answer", "The answer is empty. Write an answer, or give up with "
                       "POST /v1/practice/reveal to see the reference.", {})
    if len(body.answer) > settings.max_answer_chars:
        raise ApiError(422, "answer_too_long", f"The answer has {len(body.answer)} characters; the limit is "
                       f"{settings.max_answer_chars} (DLGRADER_MAX_ANSWER_CHARS). Shorten it.",
                       {"max_answer_chars": settings.max_answer_chars, "answer_chars": len(body.answer)})
    [result] = await pool.grade(grader, [GradeRequest(answer=body.answer, question_id=question.id)])
    if result.status != "graded" or result.score is None:
        raise ApiError(422, "not_graded", result.error or result.summary or "The answer could not be graded.",
                       {"status": result.status})
    recorded = await store.run(lambda s: s.record(
        question_id=question.id, status="graded", answer=body.answer, result=result, hints=body.hints,
        session_id=body.session_id, learner=learner))
    assert recorded.rating is not None and recorded.due is not None
    return AnswerOut(attempt_id=recorded.attempt_id, result=result, suggested_rating=_name(recorded.rating),
                     rating=_name(recorded.rating), credited_score=recorded.credited_score,
                     due=_iso(recorded.due), interval=when(recorded.due, recorded.at), reference=detail(question))


@router.post("/practice/attempts/{attempt_id}/rating", response_model=RatingOut, responses={**ok({
    "attempt_id": 17, "suggested_rating": "good", "rating": "hard", "overridden": True,
    "due": "2026-12-02T10:00:00+00:00", "interval": "in 1 day"}),
    404: {"model": ErrorOut, "description": "No such attempt for this learner."},
    409: {"model": ErrorOut, "description": "The card was reviewed again since: the rating is locked."},
    **BODY_ERRORS})
async def rate(body: RatingIn, store: StoreDep, learner: LearnerDep,
               attempt_id: Annotated[int, Path(ge=1, le=2**62)]) -> RatingOut:
    """Confirm or override the rating of an attempt; the card's schedule is recomputed from before it."""
    try:
        change = await store.run(lambda s: s.set_rating(attempt_id, rating_named(body.rating), learner=learner))
    except AttemptNotFound as exc:
        raise ApiError(404, "attempt_not_found", f"No attempt {attempt_id} for this learner.",
                       {"attempt_id": attempt_id}) from exc
    except RatingLocked as exc:
        raise ApiError(409, "rating_locked", f"The rating of attempt {attempt_id} can no longer change: {exc}.",
                       {"attempt_id": attempt_id}) from exc
    return RatingOut(attempt_id=attempt_id, rating=_name(change.rating),
                     suggested_rating=_name(change.suggested) if change.suggested else None,
                     overridden=change.overridden, due=_iso(change.due), interval=when(change.due, change.at))


@router.post("/practice/reveal", response_model=RevealOut, responses={**ok({
    "attempt_id": 18, "rating": "again", "due": "2026-12-01T10:01:00+00:00", "interval": "in 1 minute",
    "reference": {"...": "see GET /v1/questions/{id}"}}), **_NOT_FOUND, **BODY_ERRORS})
async def reveal(body: RevealIn, bank: BankDep, store: StoreDep, learner: LearnerDep) -> RevealOut:
    """Give up on a question: it counts as not known (rated Again, it comes back soon) and the reference
    answer comes back."""
    question = find(bank, body.question_id)
    recorded = await store.run(lambda s: s.record(question_id=question.id, status="skipped",
                                                  session_id=body.session_id, learner=learner))
    assert recorded.rating is not None and recorded.due is not None
    return RevealOut(attempt_id=recorded.attempt_id, rating=_name(recorded.rating), due=_iso(recorded.due),
                     interval=when(recorded.due, recorded.at), reference=detail(question))


@router.get("/progress", response_model=ProgressSummary, responses={**ok({
    "learner": "default", "database": None, "attempts": 3, "graded": 2, "questions_seen": 2, "questions_total": 142,
    "due_now": 1, "due_today": 1, "new": 140, "streak_days": 1, "practice_days": 1, "last_practice": "2026-12-01",
    "topics": [{"topic": "regularisation", "questions": 13, "seen": 2, "mastered": 1, "mastery": 12.3,
                "average_score": 80.0, "due": 1}],
    "weakest_key_points": [{"question_id": "dropout", "index": 4, "text": "Each training iteration with dropout "
                            "trains a different thinned model…", "attempts": 2, "missed": 2, "partial": 0}],
    "history": [{"date": "2026-11-30", "reviews": 0, "graded": 0, "again": 0, "mean_score": None},
                {"date": "2026-12-01", "reviews": 3, "graded": 2, "again": 1, "mean_score": 80.0}],
    "due_cards": [{"question_id": "gru", "question": "What is a GRU, and how does it work?",
                   "topic": "sequence_models", "due": "2026-12-01T10:01:00+00:00", "last_score": 0.0}]}),
    **COMMON_ERRORS})
async def progress(bank: BankDep, store: StoreDep, learner: LearnerDep,
                   days: Annotated[int, Query(ge=1, le=366, description="Days of history.")] = 30
                   ) -> ProgressSummary:
    """This learner's progress: mastery per topic, due counts, streak, history per day, due cards and the
    key points missed most often."""
    summary = await store.run(lambda s: s.summary(bank, history_days=days, learner=learner))
    return summary.model_copy(update={"database": None})  # a server's file paths are not its clients' business
