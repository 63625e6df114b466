"""Reading answer and result files (JSONL, CSV, TSV) record by record, and reading human labels.

Every reader of a user's file goes through here: ``dlgrader batch``, the feedback dry run, ``dlgrader
report`` and ``calibrate`` (results files and separate marking sheets). The one rule: a bad line costs that
line only. Files are read as bytes and decoded one physical line at a time, so an invalid byte, broken JSON
or a CSV field past the size limit turns into ``(line number, reason)`` for that line and reading goes on
with the next one. Line numbers are those of the file (a CSV record quoted over several lines is numbered
by its first line).

Text policy: input must be UTF-8 (a leading byte-order mark is dropped). A line with bytes that are not
UTF-8 is unreadable. JSON can still spell a lone UTF-16 surrogate (``"\\ud800"``), which is not a character
and cannot be written back out as UTF-8: each one is replaced by U+FFFD when the line is read, so nothing
downstream (the encoder, the results file, the console) ever sees one.

``parse_label`` is the one reading of a human label: a finite number, or the reason it is unusable.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from dlgrader.errors import InputError

BOM = b"\xef\xbb\xbf"
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# A lone surrogate can only come out of json.loads from an escape \uD800-\uDFFF; checking the raw line for
# one first keeps the common case free of a walk over every parsed value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

MISSING: object = object()
"""Stands for a label field that is absent from its record (``record.get(column, MISSING)``)."""

Record = tuple[int, dict[str, object] | str]
"""(line number, the record, or the reason the line cannot be used)."""


@dataclass(frozen=True)
class Columns:
    """Which input fields hold the id, question text, question id, answer and human label."""

    id: str = "id"
    question: str = "question"
    question_id: str = "question_id"
    answer: str = "answer"
    label: str = "label"

    @classmethod
    def parse(cls, mapping: str | None) -> Columns:
        """From 'answer=response,label=score' style overrides."""
        if not mapping:
            return cls()
        values: dict[str, str] = {}
        for part in mapping.split(","):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in cls.__dataclass_fields__:
                raise InputError(f"bad column mapping {part!r}: use FIELD=COLUMN with FIELD one of "
                                 f"{', '.join(cls.__dataclass_fields__)}")
            values[key.strip()] = value.strip()
        return cls(**values)


# ---------------------------------------------------------------- text


def without_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (not a character; unencodable as UTF-8) replaced by U+FFFD.

    Surrogates reach Python strings from JSON escapes and from command-line bytes that are not valid in
    the locale's encoding (``surrogateescape``); one U+FFFD stands for each.
    """
    return _SURROGATE.sub(REPLACEMENT, text)


def _scrubbed(value: object) -> object:
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {without_surrogates(str(k)): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def _decode(raw: bytes) -> str | None:
    """One physical line as text, or None when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _not_utf8(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}: {exc.reason})"
    return "not UTF-8 text"


def _physical_lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes (each with its newline), the byte-order mark dropped.

    The file is opened at once, not on the first line asked for, so that an unreadable input fails
    before the caller has done anything else (such as creating an output file)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror or exc}") from exc
    return _lines_of(handle)


def _lines_of(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        first = True
        for raw in handle:
            if first:
                first = False
                raw = raw.removeprefix(BOM)
            yield raw


# ---------------------------------------------------------------- records


def iter_records(path: Path) -> Iterator[Record]:
    """(line number, record or the reason the line is unreadable), streamed from JSONL, CSV or TSV.

    Raises InputError at once when the file cannot be opened."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _csv_records(_physical_lines(path), delimiter="\t" if suffix == ".tsv" else ",")
    return _jsonl_records(_physical_lines(path))


def _jsonl_records(lines: Iterable[bytes]) -> Iterator[Record]:
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        line = _decode(raw)
        if line is None:
            yield number, _not_utf8(raw)
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(value, dict):
            yield number, "each line must be a JSON object"
            continue
        yield number, cast(dict[str, object], _scrubbed(value)) if _SURROGATE_ESCAPE.search(line) else value


class _Lines:
    """Physical lines decoded for the csv module; remembers which ones were not UTF-8.

    A bad line is handed to csv with its bad bytes replaced, so the parser keeps its place in the file
    (quotes still pair up) and the record that holds the line is then reported instead of used.
    """

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)
        self.number = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.number += 1
        line = _decode(raw)
        if line is None:
            self.bad[self.number] = _not_utf8(raw)
            line = raw.decode("utf-8", errors="replace")
        return line


def _csv_records(lines: Iterable[bytes], *, delimiter: str) -> Iterator[Record]:
    source = _Lines(lines)
    reader = csv.reader(source, delimiter=delimiter)
    header: list[str] | None = None
    while True:
        start = source.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # the reader starts afresh on the next line
            source.bad.clear()
            yield start, f"unreadable CSV: {exc}"
            continue
        problems = [source.bad.pop(n) for n in range(start, source.number + 1) if n in source.bad]
        if header is None:
            header = row
            if problems:
                yield start, f"header: {problems[0]}"
            continue
        if problems:
            yield start, problems[0]
        elif row:  # a blank line is no record (as csv.DictReader has it)
            yield start, _row_record(header, row)


def _row_record(header: list[str], row: list[str]) -> dict[str, object]:
    # Like csv.DictReader: missing trailing fields are None, extra ones are dropped.
    return {name: (row[i] if i < len(row) else None) for i, name in enumerate(header)}


def record_id(number: int, record: dict[str, object] | str, columns: Columns) -> str:
    """The record's id column, or ``line-N`` when it has none (or cannot be read)."""
    if isinstance(record, dict) and record.get(columns.id) not in (None, ""):
        return str(record[columns.id])
    return f"line-{number}"


def count_records(path: Path) -> int | None:
    """Number of non-empty lines less a CSV header (a progress bar's total); None when unreadable."""
    try:
        with path.open("rb") as fh:
            lines = sum(1 for line in fh if line.strip())
    except OSError:
        return None
    return lines - 1 if path.suffix.lower() in (".csv", ".tsv") else lines


# ---------------------------------------------------------------- labels


def parse_label(value: object) -> float | str:
    """A human label as a finite number, or the reason it is unusable ("no label" when there is none).

    Numbers and numeric text count; booleans, NaN, infinities and other text do not.
    """
    if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
        return "no label"
    if isinstance(value, bool):
        return f"label {value!r} is not a number"
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        return f"label {str(value)[:40]!r} is not a number"
    if not math.isfinite(number):
        return f"label {str(value)[:40]!r} is not a finite number"
    return number


def passed_label(value: object) -> float | str | None:
    """The label a result carries through from its input: the number, None when there is none, else the
    text as given, so that ``dlgrader report`` can say why it is unusable rather than find it silently gone.
    """
    parsed = parse_label(value)
    if isinstance(parsed, float):
        return parsed
    if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)
