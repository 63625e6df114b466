"""Checks on the model's reply, in code: quotes must occur in the answer, feedback must rest on its citations.

- A quote is located in the answer by character offsets: verbatim first, then ignoring case, runs of
  whitespace and typographic quote marks. A verdict whose quote is not found, or is too short to show
  anything, is void: the engine's verdict stands.
- A feedback sentence must cite at least one known excerpt id, and its embedding must reach
  ``support`` cosine similarity with one of the excerpts it cites; otherwise it is removed and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlgrader.embedding import Embedder
from dlgrader.feedback.prompts import Excerpt, neutralise
from dlgrader.feedback.schema import Statement

MIN_QUOTE_CHARS = 8
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2039": "<",
                       "\u203a": ">", "\u2013": "-", "\u2014": "-"})


@dataclass(frozen=True)
class VerifyThresholds:
    """Cosine similarity a feedback sentence needs with a cited excerpt (all-MiniLM-L6-v2)."""

    support: float = 0.35


@dataclass
class Located:
    start: int
    end: int
    text: str


def _folded(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with quote marks unified and whitespace runs collapsed, and each char's origin."""
    out: list[str] = []
    origin: list[int] = []
    for i, original in enumerate(text):
        ch = original.translate(_FOLD).lower()
        if len(ch) != 1:  # a few characters lower-case to two; keep them as they are
            ch = original
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        origin.append(i)
    return "".join(out), origin


def locate_quote(answer: str, quote: str) -> Located | None:
    """Where ``quote`` occurs in ``answer`` (offsets into the original answer), or None."""
    quote = quote.strip().strip('"').strip()
    if quote.endswith("...") or quote.endswith("\u2026"):
        quote = quote.rstrip(".\u2026").rstrip()
    if len(quote) < MIN_QUOTE_CHARS:
        return None
    for haystack in (answer, neutralise(answer)):
        start = haystack.find(quote)
        if start >= 0:
            return Located(start, start + len(quote), answer[start:start + len(quote)])
    folded_answer, origin = _folded(answer)
    folded_quote, _ = _folded(quote)
    folded_quote = folded_quote.strip()
    start = folded_answer.find(folded_quote)
    if start < 0:
        return None
    begin, end = origin[start], origin[start + len(folded_quote) - 1] + 1
    return Located(begin, end, answer[begin:end])


@dataclass
class CheckedStatement:
    """A feedback sentence that passed, with its citations and how well the best one supports it."""

    text: str
    refs: list[str]
    support: float


@dataclass
class StatementCheck:
    kept: dict[str, list[CheckedStatement]] = field(default_factory=dict)
    checked: int = 0
    uncited: int = 0
    unsupported: int = 0
    removed: list[dict[str, object]] = field(default_factory=list)


def check_statements(groups: dict[str, list[Statement]], excerpts: list[Excerpt], embedder: Embedder,
                     thresholds: VerifyThresholds) -> StatementCheck:
    """Keep the sentences of each group ('strengths', 'gaps', 'suggestion') that their citations support."""
    by_id = {e.id: i for i, e in enumerate(excerpts)}
    texts = [s.text for group in groups.values() for s in group]
    vectors = embedder.encode(texts + [e.text for e in excerpts]) if texts else np.zeros((0, 1), np.float32)
    statement_vecs, excerpt_vecs = vectors[:len(texts)], vectors[len(texts):]
    check = StatementCheck()
    row = 0
    for name, group in groups.items():
        check.kept[name] = []
        for statement in group:
            vector = statement_vecs[row]
            row += 1
            check.checked += 1
            refs = [r for r in dict.fromkeys(statement.refs) if r in by_id]
            if not refs:
                check.uncited += 1
                check.removed.append({"group": name, "text": statement.text, "why": "no valid citation"})
                continue
            support = max(float(excerpt_vecs[by_id[r]] @ vector) for r in refs)
            if support < thresholds.support:
                check.unsupported += 1
                check.removed.append({"group": name, "text": statement.text, "why": "not supported by "
                                      + ", ".join(refs), "support": round(support, 3)})
                continue
            check.kept[name].append(CheckedStatement(statement.text, refs, round(support, 3)))
    return check
