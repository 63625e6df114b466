"""``GET /v1/topics``."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from dlgrader.api.deps import BankDep
from dlgrader.api.errors import COMMON_ERRORS
from dlgrader.api.routes.examples import ok
from dlgrader.api.schemas import TopicList, TopicOut
from dlgrader.models import TOPICS

router = APIRouter(prefix="/v1", tags=["questions"])


@router.get("/topics", response_model=TopicList, responses={**ok({"topics": [
    {"name": "cnn", "description": TOPICS["cnn"], "question_count": 14}]}), **COMMON_ERRORS})
async def list_topics(bank: BankDep) -> TopicList:
    """The topics of the bank with their question counts, in the order of the topic list."""
    counts = Counter(q.topic for q in bank.questions)
    order = [t for t in TOPICS if t in counts] + sorted(t for t in counts if t not in TOPICS)
    return TopicList(topics=[TopicOut(name=t, description=TOPICS.get(t), question_count=counts[t])
                             for t in order])
