"""``GET /v1/questions`` (filtered, paginated), ``/v1/questions/random`` and ``/v1/questions/{id}``."""

from __future__ import annotations

import random
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from dlgrader.api.deps import BankDep
from dlgrader.api.errors import COMMON_ERRORS, ApiError
from dlgrader.api.routes.examples import QUESTION_DETAIL, QUESTION_SUMMARY, ok
from dlgrader.api.schemas import ErrorOut, QuestionDetail, QuestionPage, QuestionSummary, SourceOut
from dlgrader.corpus.loader import Bank
from dlgrader.errors import BankQueryError
from dlgrader.models import Difficulty, Question

router = APIRouter(prefix="/v1/questions", tags=["questions"])

TopicQ = Annotated[str | None, Query(max_length=100, description="Topic name (see GET /v1/topics).",
                                     openapi_examples={"cnn": {"value": "cnn"}})]
DifficultyQ = Annotated[Difficulty | None, Query(description="beginner, intermediate or advanced.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such question."}}


def summary(q: Question) -> QuestionSummary:
    return QuestionSummary(id=q.id, question=q.question, aliases=q.aliases, topic=q.topic,
                           difficulty=q.difficulty, documents=q.documents, key_point_count=len(q.key_points))


def detail(q: Question) -> QuestionDetail:
    return QuestionDetail(**summary(q).model_dump(), reference_answer=q.reference_answer, key_points=q.key_points,
                          sources=[SourceOut.of(s) for s in q.sources],
                          misconceptions=q.misconceptions)


def find(bank: Bank, question_id: str) -> Question:
    """The question, or a 404 that suggests the nearest ids."""
    question = bank.get(question_id)
    if question is None:
        close = [s.question_id for s in bank.suggest_ids(question_id)]
        hint = f" Did you mean: {', '.join(close)}?" if close else " See GET /v1/questions for the ids."
        raise ApiError(404, "question_not_found", f"No question with id {question_id!r}.{hint}",
                       {"question_id": question_id, "suggestions": close})
    return question


def select(bank: Bank, **filters: str | None) -> list[Question]:
    """``Bank.select`` with its errors as API errors."""
    try:
        return bank.select(**filters)
    except BankQueryError as exc:
        raise ApiError(422, f"unknown_{exc.field}", str(exc), {"known": exc.known}) from exc


@router.get("", response_model=QuestionPage, responses={
    **ok({"items": [QUESTION_SUMMARY], "total": 1, "limit": 20, "offset": 0, "next_offset": None}),
    **COMMON_ERRORS})
async def list_questions(
    bank: BankDep, topic: TopicQ = None, difficulty: DifficultyQ = None,
    source: Annotated[str | None, Query(max_length=200, description="Source article: its file name or "
                                        "leading number, e.g. `002`.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words that must all appear in the "
                                   "question, its aliases or its id (case-insensitive).")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QuestionPage:
    """List the bank's questions, filtered by topic, difficulty, source article and text; paginated."""
    found = select(bank, topic=topic, difficulty=difficulty, source=source, text=q)
    page = found[offset:offset + limit]
    next_offset = offset + limit if offset + limit < len(found) else None
    return QuestionPage(items=[summary(x) for x in page], total=len(found), limit=limit, offset=offset,
                        next_offset=next_offset)


@router.get("/random", response_model=QuestionSummary,
            responses={**ok(QUESTION_SUMMARY), **_NOT_FOUND, **COMMON_ERRORS})
async def random_question(
    bank: BankDep, topic: TopicQ = None, difficulty: DifficultyQ = None,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Same seed, same question.")] = None,
) -> QuestionSummary:
    """A random question (optionally of a topic and difficulty), without its answer: for practice."""
    found = select(bank, topic=topic, difficulty=difficulty)
    if not found:
        raise ApiError(404, "no_question", "No question has this topic and difficulty; widen the filter.",
                       {"topic": topic, "difficulty": difficulty})
    return summary(random.Random(seed).choice(found))


@router.get("/{question_id}", response_model=QuestionDetail,
            responses={**ok(QUESTION_DETAIL), **_NOT_FOUND, **COMMON_ERRORS})
async def get_question(
    bank: BankDep,
    question_id: Annotated[str, Path(max_length=200, openapi_examples={"dropout": {"value": "dropout"}})],
) -> QuestionDetail:
    """One question with its reference answer, key points, misconceptions and sources."""
    return detail(find(bank, question_id))
