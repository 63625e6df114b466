"""``GET /v1/questions`` (filtered, paginated), ``/v1/questions/random`` and ``/v1/questions/{id}``."""

from __future__ import annotations

import difflib
import random
from typing import Annotated

from fastapi import APIRouter, Path, Query

from dlgrader.api.deps import GraderDep
from dlgrader.api.errors import COMMON_ERRORS, ApiError
from dlgrader.api.routes.examples import QUESTION_DETAIL, QUESTION_SUMMARY, ok
from dlgrader.api.schemas import ErrorOut, QuestionDetail, QuestionPage, QuestionSummary
from dlgrader.corpus.loader import Bank
from dlgrader.models import Difficulty, Question

router = APIRouter(prefix="/v1/questions", tags=["questions"])

TopicQ = Annotated[str | None, Query(max_length=100, description="Topic name (see GET /v1/topics).",
                                     openapi_examples={"cnn": {"value": "cnn"}})]
DifficultyQ = Annotated[Difficulty | None, Query(description="beginner, intermediate or advanced.")]
_NOT_FOUND = {404: {"model": ErrorOut, "description": "No such question."}}


def summary(q: Question) -> QuestionSummary:
    return QuestionSummary(id=q.id, question=q.question, aliases=q.aliases, topic=q.topic,
                           difficulty=q.difficulty, documents=q.documents, key_point_count=len(q.key_points))


def _check_topic(bank: Bank, topic: str | None) -> None:
    known = sorted({q.topic for q in bank.questions})
    if topic is not None and topic not in known:
        raise ApiError(422, "unknown_topic", f"No topic {topic!r} in the bank; use one of: "
                       f"{', '.join(known)}.",
                       {"known": known})


def _matching_documents(bank: Bank, source: str) -> set[str]:
    documents = sorted({d for q in bank.questions for d in q.documents})
    chosen = {d for d in documents if d == source or d.startswith(source)}
    if not chosen:
        raise ApiError(422, "unknown_source", f"No source article {source!r}; use a file name or its "
                       f"leading number: {', '.join(documents)}.", {"known": documents})
    return chosen


def _matches_text(q: Question, words: list[str]) -> bool:
    haystack = " ".join([q.id, q.question, *q.aliases]).lower()
    return all(w in haystack for w in words)


def select(bank: Bank, *, topic: str | None = None, difficulty: str | None = None, source: str | None = None,
           text: str | None = None) -> list[Question]:
    """The bank's questions that pass every given filter, in bank order."""
    _check_topic(bank, topic)
    documents = _matching_documents(bank, source) if source else None
    words = text.lower().split() if text else []
    return [q for q in bank.questions
            if (topic is None or q.topic == topic) and (difficulty is None or q.difficulty == difficulty)
            and (documents is None or documents & set(q.documents)) and _matches_text(q, words)]


@router.get("", response_model=QuestionPage, responses={
    **ok({"items": [QUESTION_SUMMARY], "total": 1, "limit": 20, "offset": 0, "next_offset": None}),
    **COMMON_ERRORS})
async def list_questions(
    grader: GraderDep, topic: TopicQ = None, difficulty: DifficultyQ = None,
    source: Annotated[str | None, Query(max_length=200, description="Source article: its file name or "
                                        "leading number, e.g. `002`.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words that must all appear in the "
                                   "question, its aliases or its id (case-insensitive).")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QuestionPage:
    """List the bank's questions, filtered by topic, difficulty, source article and text; paginated."""
    found = select(grader.bank, topic=topic, difficulty=difficulty, source=source, text=q)
    page = found[offset:offset + limit]
    next_offset = offset + limit if offset + limit < len(found) else None
    return QuestionPage(items=[summary(x) for x in page], total=len(found), limit=limit, offset=offset,
                        next_offset=next_offset)


@router.get("/random", response_model=QuestionSummary,
            responses={**ok(QUESTION_SUMMARY), **_NOT_FOUND, **COMMON_ERRORS})
async def random_question(
    grader: GraderDep, topic: TopicQ = None, difficulty: DifficultyQ = None,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Same seed, same question.")] = None,
) -> QuestionSummary:
    """A random question (optionally of a topic and difficulty), without its answer: for practice."""
    found = select(grader.bank, topic=topic, difficulty=difficulty)
    if not found:
        raise ApiError(404, "no_question", "No question has this topic and difficulty; widen the filter.",
                       {"topic": topic, "difficulty": difficulty})
    return summary(random.Random(seed).choice(found))


@router.get("/{question_id}", response_model=QuestionDetail,
            responses={**ok(QUESTION_DETAIL), **_NOT_FOUND, **COMMON_ERRORS})
async def get_question(
    grader: GraderDep,
    question_id: Annotated[str, Path(max_length=200, openapi_examples={"dropout": {"value": "dropout"}})],
) -> QuestionDetail:
    """One question with its reference answer, key points and sources."""
    question = grader.bank.get(question_id)
    if question is None:
        close = difflib.get_close_matches(question_id, list(grader.bank.by_id), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See GET /v1/questions for the ids."
        raise ApiError(404, "question_not_found", f"No question with id {question_id!r}.{hint}",
                       {"question_id": question_id, "suggestions": close})
    return QuestionDetail(**summary(question).model_dump(), reference_answer=question.reference_answer,
                          key_points=question.key_points, sources=question.sources)
