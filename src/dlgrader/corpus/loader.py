"""Load a question bank (JSONL or CSV) into validated ``Question`` objects, with a content hash.

A teacher's minimal bank may give only ``id``, ``question`` and ``reference_answer``: key points are then
derived from the reference answer's sentences.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from dlgrader.errors import BankQueryError, CorpusError, CorpusValidationError
from dlgrader.models import KeyPoint, Question, Suggestion

MAX_DERIVED_KEY_POINTS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class TypedQuestion:
    """A question as a user might type it, with the entry it asks (None: the bank does not answer it)."""

    asked: str
    expected: str | None


@dataclass(frozen=True)
class Bank:
    """A loaded question bank: questions in file order, looked up by id, and its content hash."""

    path: Path
    questions: list[Question]
    content_hash: str
    by_id: dict[str, Question] = field(repr=False)
    # Former ids of entries merged into another (``replaces`` in the rubric) -> the entry that took them.
    redirects: dict[str, str] = field(default_factory=dict, repr=False)
    # Typed questions from ``matching/*.jsonl`` beside the bank file: more ways in for matching, and the
    # examples its ranker learns from (see ``match_ranker``).
    typed: tuple[TypedQuestion, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return len(self.questions)

    def get(self, question_id: str) -> Question | None:
        """The entry with this id, or the one that replaced it."""
        found = self.by_id.get(question_id)
        if found is None and question_id in self.redirects:
            found = self.by_id.get(self.redirects[question_id])
        return found

    # Queries that need no model: they work while the model and index are still loading.

    @property
    def topics(self) -> list[str]:
        return sorted({q.topic for q in self.questions})

    @property
    def documents(self) -> list[str]:
        return sorted({d for q in self.questions for d in q.documents})

    def suggest_ids(self, question_id: str, n: int = 3) -> list[Suggestion]:
        """Ids that look like a mistyped ``question_id`` ("did you mean")."""
        close = difflib.get_close_matches(question_id, list(self.by_id), n=n, cutoff=0.5)
        return [Suggestion(question_id=c, question=self.by_id[c].question, similarity=0.0) for c in close]

    def select(self, *, topic: str | None = None, difficulty: str | None = None, source: str | None = None,
               text: str | None = None) -> list[Question]:
        """The questions that pass every given filter, in bank order.

        ``source`` is a document file name or its leading characters ("002"); ``text`` words must all occur
        in the id, the question or an alias. An unknown topic or source raises ``BankQueryError``.
        """
        if topic is not None and topic not in self.topics:
            raise BankQueryError(f"No topic {topic!r} in the bank; use one of: {', '.join(self.topics)}.",
                                 field="topic", known=self.topics)
        documents = None
        if source:
            documents = {d for d in self.documents if d == source or d.startswith(source)}
            if not documents:
                raise BankQueryError(f"No source article {source!r}; use a file name or its leading number: "
                                     f"{', '.join(self.documents)}.", field="source", known=self.documents)
        words = text.lower().split() if text else []

        def passes(q: Question) -> bool:
            haystack = " ".join([q.id, q.question, *q.aliases]).lower()
            return ((topic is None or q.topic == topic) and (difficulty is None or q.difficulty == difficulty)
                    and (documents is None or bool(documents & set(q.documents)))
                    and all(w in haystack for w in words))

        return [q for q in self.questions if passes(q)]

    def pick(self, *, topic: str | None = None, difficulty: str | None = None,
             seed: int | None = None) -> Question | None:
        """One question at random among those that pass the filters (None when none does)."""
        found = self.select(topic=topic, difficulty=difficulty)
        return random.Random(seed).choice(found) if found else None


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
            rows.append((number, f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"))
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


def content_hash(questions: list[Question], typed: Sequence[TypedQuestion] = ()) -> str:
    """A stable hash of the bank's content: it changes when any question, point, source or typed question
    changes."""
    digest = hashlib.sha256()
    for q in questions:
        digest.update(json.dumps(q.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(b"\n")
    for t in typed:
        digest.update(json.dumps([t.asked, t.expected]).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


TYPED_DIR = "matching"  # beside the bank file


def load_typed(bank_path: Path, known: Callable[[str], str | None]) -> tuple[list[TypedQuestion], list[str]]:
    """The typed questions of ``<bank dir>/matching/*.jsonl`` (``{"asked", "expected": id or null}``), ids
    resolved through ``known`` (redirects included), and the problems found, by file and line."""
    folder = bank_path.parent / TYPED_DIR
    typed: list[TypedQuestion] = []
    problems: list[str] = []
    for file in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file.name}: cannot read ({exc})")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                asked, expected = record["asked"], record["expected"]
            except (json.JSONDecodeError, TypeError, KeyError) as exc:
                problems.append(f"{file.name} line {number}: not a typed question ({exc})")
                continue
            if not isinstance(asked, str) or not asked.strip() or not (expected is None or isinstance(expected, str)):
                problems.append(f"{file.name} line {number}: 'asked' must be text and 'expected' an id or null")
                continue
            resolved = known(expected) if expected is not None else None
            if expected is not None and resolved is None:
                problems.append(f"{file.name} line {number}: unknown question id {expected!r}")
                continue
            typed.append(TypedQuestion(asked.strip(), resolved))
    return typed, problems


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
    redirects = {old: q.id for q in questions for old in q.replaces if old not in seen}
    by_id = {q.id: q for q in questions}
    typed, typed_problems = load_typed(path, lambda i: i if i in by_id else redirects.get(i))
    if typed_problems:
        raise CorpusValidationError(typed_problems)
    return Bank(path=path, questions=questions, content_hash=content_hash(questions, typed),
                by_id=by_id, redirects=redirects, typed=tuple(typed))
