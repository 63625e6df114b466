"""Request and response bodies of the HTTP API (the engine's ``GradeResult`` is returned as it is)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from dlgrader.models import Difficulty, GradeResult, KeyPoint, Misconception, SourceRef

EXAMPLE_ANSWER = ("Dropout randomly switches off a fraction of the neurons at each training step, so the "
                  "network cannot rely on any single unit and learns redundant features. At inference all "
                  "neurons are used and their outputs are scaled.")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(value: Any) -> Any:
    """``value`` with every string safe to encode as UTF-8: a lone surrogate (JSON lets a client send
    ``"\\ud800"``) becomes U+FFFD. Error messages echo input, and an unencodable one would turn a clean
    4xx into a 500."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


class _In(BaseModel):
    """A request body: unknown fields refused, and types strict (``"feedback": 0`` or ``"true"`` is not a
    boolean, ``"id": 1.0`` not an id) so that what a client sends means what the schema says."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        # Lone surrogates (a JSON "\ud800") cannot be encoded in a response, a log line or by the
        # tokenizer: they become U+FFFD here, at the edge, so such text is graded, or refused cleanly.
        return encodable(data)


class _GradeFields(_In):
    question_id: str | None = Field(None, max_length=200, description="Bank id of the question "
                                    "(see GET /v1/questions). Takes precedence over `question`.")
    question: str | None = Field(None, max_length=2000, description="The question as free text; it is "
                                 "matched against the bank. Not in the bank: status `unknown_question`.")
    answer: str = Field(description="The answer to grade; at most DLGRADER_MAX_ANSWER_CHARS characters "
                        "(default 20000). Only the first DLGRADER_MAX_ANSWER_WORDS words are scored.")

    @model_validator(mode="after")
    def _asks_something(self) -> _GradeFields:
        if not (self.question_id or "").strip() and not (self.question or "").strip():
            raise ValueError("give 'question_id' (a bank id) or a non-empty 'question'")
        return self


class GradeIn(_GradeFields):
    """One answer to grade, by question id or free-text question."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"question_id": "dropout", "answer": EXAMPLE_ANSWER},
        {"question": "How does dropout help a neural network?", "answer": EXAMPLE_ANSWER, "feedback": True},
    ]})
    feedback: bool = Field(False, description="Add LLM feedback when an LLM is configured; otherwise the "
                           "result says feedback is unavailable.")


class BatchItemIn(_GradeFields):
    """One answer of a batch; ``id`` is yours and comes back on its result."""

    id: str | int | None = Field(None, description="Your id for this answer, echoed back (as a string).")
    label: float | str | None = Field(None, description="A human grade or label, echoed back.")


@dataclass(frozen=True)
class InvalidItem:
    """A batch item that does not fit ``BatchItemIn``: it becomes an ``invalid`` result, alone."""

    id: str | None
    problems: list[str]


def _keep_bad_items(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        raw_id = value.get("id") if isinstance(value, dict) else None
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'item'}: "
                    + e["msg"].removeprefix("Value error, ") for e in exc.errors()]
        usable = isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
        return InvalidItem(id=str(raw_id) if usable else None, problems=problems)


# Documented as BatchItemIn; an item that does not validate is kept as an InvalidItem instead of
# failing the whole request (one bad item never fails the others).
LenientBatchItem = Annotated[BatchItemIn, WrapValidator(_keep_bad_items)]


class BatchIn(_In):
    """Answers to grade together; results come back in the same order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"id": "a1", "question_id": "dropout", "answer": EXAMPLE_ANSWER},
        {"id": "a2", "question": "What is the capital of France?", "answer": "Paris."},
    ]}]})
    items: list[LenientBatchItem] = Field(min_length=1, description="At most DLGRADER_MAX_BATCH_ITEMS "
                                          "(default 100) items. An item that is itself invalid gets a "
                                          "result with status `invalid`; the others are graded.")
    feedback: bool = Field(False, description="Add LLM feedback to each graded answer (when configured).")


class BatchOut(BaseModel):
    """Results in the order of the items, with counts by status."""

    results: list[GradeResult]
    count: int
    graded: int
    unknown_question: int
    invalid: int


class QuestionSummary(BaseModel):
    """A question of the bank, without its answer."""

    id: str
    question: str
    aliases: list[str]
    topic: str
    difficulty: Difficulty
    documents: list[str] = Field(description="Source articles the question comes from.")
    key_point_count: int


class SourceOut(BaseModel):
    """A source of the question (see ``SourceRef``), with ``label`` for people: the article's title and the
    question number."""

    document: str
    locator: str
    excerpt: str
    title: str | None
    label: str

    @classmethod
    def of(cls, source: SourceRef) -> SourceOut:
        return cls(document=source.document, locator=source.locator, excerpt=source.excerpt, title=source.title,
                   label=source.label)


class QuestionDetail(QuestionSummary):
    """A question with its reference answer, key points, misconceptions and sources."""

    reference_answer: str
    key_points: list[KeyPoint]
    sources: list[SourceOut]
    misconceptions: list[Misconception] = Field(default_factory=list, description="Wrong beliefs candidates "
                                                "hold about this question (editorial), with corrections.")


# ---------------------------------------------------------------- practice

SESSION_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
RatingName = Literal["again", "hard", "good", "easy"]


class CardOut(BaseModel):
    """Where a question stands for this learner."""

    due: str = Field(description="When the question is due next (ISO 8601, UTC).")
    reviews: int
    last_score: float | None


class QueueOut(BaseModel):
    """Of the questions the filters choose: due now, never seen, in (re)learning steps."""

    due_now: int
    new: int
    learning: int


class NextOut(BaseModel):
    """The next card to practise, and why it comes now; ``question`` is null when nothing is left."""

    question: QuestionSummary | None
    reason: Literal["relearn", "due", "new", "ahead", "done"] = Field(description="relearn: failed earlier in "
        "this session; due: its review is due; new: never seen; ahead: in learning steps, due within 20 "
        "minutes; done: nothing left for now (see next_due).")
    card: CardOut | None
    queue: QueueOut
    next_due: str | None = Field(None, description="When reason is `done`: the earliest due date, if any.")


class AnswerIn(_In):
    """An answer to a practice question."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"question_id": "dropout", "answer": EXAMPLE_ANSWER, "session_id": "s-1a2b3c"}]})
    question_id: str = Field(max_length=200, description="Bank id of the question.")
    answer: str = Field(description="The answer; at most DLGRADER_MAX_ANSWER_CHARS characters.")
    session_id: str | None = Field(None, pattern=SESSION_PATTERN, description="Made up by the client once "
                                   "per practice session: failed cards come back within it.")
    hints: int = Field(0, ge=0, le=20, description="Hints the learner used; each multiplies the credited "
                       "score by 0.75, and a hinted answer rates at most Good.")


class RevealIn(_In):
    """The learner gives up on a question: it counts as not known, and the reference is returned."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"question_id": "dropout"}]})
    question_id: str = Field(max_length=200)
    session_id: str | None = Field(None, pattern=SESSION_PATTERN)


class RatingIn(_In):
    """The rating the learner gives the attempt (confirming or overriding the suggested one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rating": "hard"}]})
    rating: RatingName


class ScheduleOut(BaseModel):
    attempt_id: int
    rating: RatingName
    due: str = Field(description="Next review (ISO 8601, UTC).")
    interval: str = Field(description="The same, for people: 'in 3 days'.")


class AnswerOut(ScheduleOut):
    """The graded answer, the rating suggested from it (already applied), and the reference."""

    result: GradeResult
    suggested_rating: RatingName
    credited_score: float | None
    reference: QuestionDetail


class RevealOut(ScheduleOut):
    reference: QuestionDetail


class RatingOut(ScheduleOut):
    suggested_rating: RatingName | None
    overridden: bool


class QuestionPage(BaseModel):
    """One page of questions; ``next_offset`` is null on the last page."""

    items: list[QuestionSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class TopicOut(BaseModel):
    name: str
    description: str | None
    question_count: int


class TopicList(BaseModel):
    topics: list[TopicOut]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    questions: int
    model: str
    backend: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable code, e.g. `validation_error`.")
    message: str = Field(description="What went wrong and what to do about it.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """The shape of every error response."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": {
        "code": "validation_error", "message": "The request is invalid: body.answer: Field required.",
        "details": {"errors": [{"field": "body.answer", "message": "Field required", "type": "missing"}]}}}]})
    error: ErrorBody
