"""Load a question bank (JSONL or CSV) into validated ``Question`` objects, with a content hash.

A teacher's minimal bank may give only ``id``, ``question`` and ``reference_answer``: key points are then
derived from the reference answer's sentences.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from dlgrader.errors import CorpusError, CorpusValidationError
from dlgrader.models import KeyPoint, Question

MAX_DERIVED_KEY_POINTS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Bank:
    """A loaded question bank: questions in file order, looked up by id, and its content hash."""

    path: Path
    questions: list[Question]
    content_hash: str
    by_id: dict[str, Question] = field(repr=False)

    def __len__(self) -> int:
        return len(self.questions)

    def get(self, question_id: str) -> Question | None:
        return self.by_id.get(question_id)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences (periods inside numbers or abbreviations like 'e.g.' are kept)."""
    parts = _SENTENCE_END.split(" ".join(text.split()))
    return [p.strip() for p in parts if len(p.strip()) > 2]


def derive_key_points(reference_answer: str) -> list[KeyPoint]:
    """Key points for a minimal bank: the reference answer's sentences, at most eight."""
    sentences = split_sentences(reference_answer) or [reference_answer.strip()]
    return [KeyPoint(text=s) for s in sentences[:MAX_DERIVED_KEY_POINTS]]


def _rows_from_jsonl(text: str) -> list[tuple[int, dict[str, object] | str]]:
    rows: list[tuple[int, dict[str, object] | str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((number, f"invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        rows.append((number, value if isinstance(value, dict) else "a line must be a JSON object"))
    return rows


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


def _rows_from_csv(text: str) -> list[tuple[int, dict[str, object] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, dict[str, object] | str]] = []
    for number, raw in enumerate(reader, 2):  # line 1 is the header
        row: dict[str, object] = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        for key in ("aliases",):
            if isinstance(row.get(key), str):
                row[key] = _split_list(str(row[key]))
        if isinstance(row.get("key_points"), str):
            row["key_points"] = [{"text": t} for t in _split_list(str(row["key_points"]))]
        for key in [k for k, v in row.items() if v in ("", [])]:
            del row[key]  # empty optional cells fall back to defaults
        rows.append((number, row))
    return rows


def _to_question(row: dict[str, object]) -> Question:
    if not row.get("key_points") and isinstance(row.get("reference_answer"), str):
        row = {**row, "key_points": [kp.model_dump() for kp in derive_key_points(str(row["reference_answer"]))]}
    return Question.model_validate(row)


def parse_bank_rows(path: Path) -> list[tuple[int, Question | str]]:
    """Every record of the bank with its line number: a Question, or the reason it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CorpusError(f"question bank not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read question bank {path}: {exc}") from exc
    raw_rows = _rows_from_csv(text) if path.suffix.lower() == ".csv" else _rows_from_jsonl(text)
    parsed: list[tuple[int, Question | str]] = []
    for number, row in raw_rows:
        if isinstance(row, str):
            parsed.append((number, row))
            continue
        try:
            parsed.append((number, _to_question(row)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
            )
            parsed.append((number, problems))
    return parsed


def content_hash(questions: list[Question]) -> str:
    """A stable hash of the bank's content: it changes when any question, point or source changes."""
    digest = hashlib.sha256()
    for q in questions:
        digest.update(json.dumps(q.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def load_bank(path: Path) -> Bank:
    """Load a bank, refusing it (with every problem listed by line) when a record is unusable."""
    rows = parse_bank_rows(path)
    problems = [f"line {n}: {r}" for n, r in rows if isinstance(r, str)]
    questions = [r for _, r in rows if isinstance(r, Question)]
    seen: set[str] = set()
    for n, r in rows:
        if isinstance(r, Question):
            if r.id in seen:
                problems.append(f"line {n}: duplicate id {r.id!r}")
            seen.add(r.id)
    if problems:
        raise CorpusValidationError(problems)
    if not questions:
        raise CorpusError(f"the question bank {path} has no questions")
    return Bank(path=path, questions=questions, content_hash=content_hash(questions),
                by_id={q.id: q for q in questions})
