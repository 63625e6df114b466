"""``POST /v1/grade`` and ``POST /v1/grade/batch``."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from dlgrader.api.deps import GraderDep, PoolDep, SettingsDep
from dlgrader.api.errors import BODY_ERRORS, ApiError
from dlgrader.api.routes.examples import GRADED, UNKNOWN, ok
from dlgrader.api.schemas import BatchIn, BatchItemIn, BatchOut, GradeIn, InvalidItem
from dlgrader.models import GradeResult
from dlgrader.service import GradeRequest

router = APIRouter(prefix="/v1", tags=["grading"])
log = logging.getLogger(__name__)


def _too_long(answer: str, limit: int) -> str | None:
    if len(answer) > limit:
        return (f"the answer has {len(answer)} characters; the limit is {limit} "
                "(DLGRADER_MAX_ANSWER_CHARS). Send a shorter answer.")
    return None


@router.post("/grade", response_model=GradeResult, responses={**ok(GRADED), **BODY_ERRORS})
async def grade(body: GradeIn, grader: GraderDep, pool: PoolDep, settings: SettingsDep) -> GradeResult:
    """Grade one answer against a bank question (by `question_id`, or by free-text `question`).

    A question that is not in the bank gives a normal result with status `unknown_question` and the
    nearest questions as suggestions. With `feedback: true` the result carries LLM feedback, or a record
    saying why it is unavailable.
    """
    problem = _too_long(body.answer, settings.max_answer_chars)
    if problem:
        raise ApiError(422, "answer_too_long", problem[0].upper() + problem[1:],
                       {"max_answer_chars": settings.max_answer_chars, "answer_chars": len(body.answer)})
    request = GradeRequest(answer=body.answer, question_id=body.question_id, question=body.question)
    [result] = await pool.grade(grader, [request], feedback=body.feedback)
    return result


def _invalid(item_id: str | None, message: str) -> GradeResult:
    return GradeResult(status="invalid", id=item_id, error=message,
                       summary="This item was not graded: " + message)


@router.post("/grade/batch", response_model=BatchOut,
             responses={**ok({"results": [GRADED, UNKNOWN], "count": 2, "graded": 1, "unknown_question": 1,
                              "invalid": 0}), **BODY_ERRORS})
async def grade_batch(body: BatchIn, grader: GraderDep, pool: PoolDep, settings: SettingsDep) -> BatchOut:
    """Grade up to DLGRADER_MAX_BATCH_ITEMS (default 100) answers; results come back in order.

    An item that is itself unusable (wrong types, no question, answer too long) gets a result with status
    `invalid` and an `error` saying why; it never fails the other items.
    """
    if len(body.items) > settings.max_batch_items:
        raise ApiError(422, "too_many_items", f"The batch has {len(body.items)} items; the limit is "
                       f"{settings.max_batch_items} (DLGRADER_MAX_BATCH_ITEMS). Split it into smaller "
                       "batches.",
                       {"max_batch_items": settings.max_batch_items, "items": len(body.items)})
    log.debug("grading a batch of %d items", len(body.items))
    results: list[GradeResult | None] = [None] * len(body.items)
    todo: list[tuple[int, BatchItemIn]] = []
    for position, item in enumerate(body.items):
        if isinstance(item, InvalidItem):
            results[position] = _invalid(item.id, "; ".join(item.problems))
        elif problem := _too_long(item.answer, settings.max_answer_chars):
            results[position] = _invalid(None if item.id is None else str(item.id), problem)
        else:
            todo.append((position, item))
    requests = [GradeRequest(answer=i.answer, question_id=i.question_id, question=i.question,
                             id=None if i.id is None else str(i.id), label=i.label) for _, i in todo]
    graded = await pool.grade(grader, requests, feedback=body.feedback)
    for (position, _), result in zip(todo, graded, strict=True):
        results[position] = result
    final = [r for r in results if r is not None]
    return BatchOut(results=final, count=len(final), graded=sum(r.status == "graded" for r in final),
                    unknown_question=sum(r.status == "unknown_question" for r in final),
                    invalid=sum(r.status == "invalid" for r in final))
