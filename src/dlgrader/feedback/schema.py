"""What the model must return: the JSON schema sent to the server and the pydantic models that check it.

The schema is built per question, so the key point ids (K1..Kn) and excerpt ids (R1..Rm) are enums: a
server that constrains decoding (OpenAI structured outputs, llama.cpp grammars) cannot emit others. The
same rules are checked again in code, because a server in JSON mode may ignore the schema.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlgrader.errors import FeedbackOutputError
from dlgrader.models import Verdict

MAX_STATEMENTS = 3
MAX_QUOTE_CHARS = 8000
MAX_TEXT_CHARS = 1000


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class KeyPointLabel(_Output):
    """The model's verdict on one key point and the passage of the answer it rests on."""

    id: str
    verdict: Verdict
    quote: str = Field(max_length=MAX_QUOTE_CHARS)

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class Statement(_Output):
    """One feedback sentence and the reference excerpts it cites."""

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    refs: list[str] = Field(max_length=6)


class FeedbackOutput(_Output):
    """The whole reply."""

    key_points: list[KeyPointLabel] = Field(max_length=64)
    strengths: list[Statement] = Field(max_length=MAX_STATEMENTS)
    gaps: list[Statement] = Field(max_length=MAX_STATEMENTS)
    suggestion: Statement


def json_schema(n_key_points: int, excerpt_ids: list[str], *, bounded: bool = True) -> dict[str, Any]:
    """The response schema for one question. ``bounded`` adds array length limits (grammar servers)."""
    refs: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": excerpt_ids or ["R0"]}}
    statement = {"type": "object", "additionalProperties": False, "required": ["text", "refs"],
                 "properties": {"text": {"type": "string"}, "refs": refs}}
    label = {
        "type": "object", "additionalProperties": False, "required": ["id", "verdict", "quote"],
        "properties": {
            "id": {"type": "string", "enum": [f"K{i + 1}" for i in range(n_key_points)]},
            "verdict": {"type": "string", "enum": ["covered", "partial", "missing", "contradicted"]},
            "quote": {"type": "string"},
        },
    }
    statements: dict[str, Any] = {"type": "array", "items": statement}
    key_points: dict[str, Any] = {"type": "array", "items": label}
    if bounded:
        statements = {**statements, "maxItems": MAX_STATEMENTS}
        key_points = {**key_points, "minItems": n_key_points, "maxItems": n_key_points}
        refs["maxItems"] = 3
    return {
        "type": "object", "additionalProperties": False,
        "required": ["key_points", "strengths", "gaps", "suggestion"],
        "properties": {"key_points": key_points, "strengths": statements, "gaps": statements,
                       "suggestion": statement},
    }


def _strip_fence(text: str) -> str:
    """Models in JSON mode sometimes still wrap the object in a ``` fence."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return body.strip()


def parse_output(content: str | None, n_key_points: int) -> FeedbackOutput:
    """The validated reply, or ``FeedbackOutputError`` saying what is wrong (used in the repair prompt)."""
    if not content or not content.strip():
        raise FeedbackOutputError("the reply was empty")
    try:
        data = json.loads(_strip_fence(content), strict=False)  # raw newlines in strings: grammar servers
    except json.JSONDecodeError as exc:
        raise FeedbackOutputError(f"the reply is not valid JSON ({exc.msg} at character {exc.pos})") from None
    try:
        output = FeedbackOutput.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise FeedbackOutputError(f"the reply does not follow the schema ({problems})") from None
    known = {f"K{i + 1}" for i in range(n_key_points)}
    ids = [label.id for label in output.key_points]
    unknown = sorted(set(ids) - known)
    if unknown:
        raise FeedbackOutputError(f"unknown key point ids {unknown}; use K1 to K{n_key_points}")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise FeedbackOutputError(f"key point ids given more than once: {repeated}")
    return output
