"""Cut an answer into sentences and clauses, keeping character offsets into the original text.

Offsets let every piece of evidence in a result point at the exact span of the answer it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or a line break; decimals ("0.5") and common abbreviations do not end one.
_SENTENCE_BREAK = re.compile(
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\betc\.)(?<!\bDr\.)(?<=[.!?;])\s+"
    r"|\n+"
    r"|(?<=[a-z0-9)])\s+(?=[-*•]\s)"
)
# Clause boundaries inside a sentence: connectives and punctuation that join separate claims.
_CLAUSE_BREAK = re.compile(
    r",\s+(?:and|but|while|whereas|which|so|because|since|although|though)\s+"
    r"|\s+(?:but|whereas|while|because|although|though|however)\s+"
    r"|;\s*|:\s+|\s+-\s+|\s+–\s+",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
MIN_CLAUSE_CHARS = 12


@dataclass(frozen=True)
class Span:
    """A piece of the answer: its text and [start, end) character offsets into the answer."""

    text: str
    start: int
    end: int
    kind: str  # "sentence" | "clause"


def _pieces(text: str, pattern: re.Pattern[str], base: int) -> list[tuple[int, int]]:
    pieces, cursor = [], 0
    for match in pattern.finditer(text):
        pieces.append((cursor, match.start()))
        cursor = match.end()
    pieces.append((cursor, len(text)))
    out = []
    for start, end in pieces:
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        marker = _LIST_MARK.match(chunk[lead:])
        if marker:
            lead += marker.end()
        trail = len(chunk) - len(chunk.rstrip())
        if end - trail > start + lead:
            out.append((base + start + lead, base + end - trail))
    return out


def sentences(answer: str) -> list[Span]:
    """The answer's sentences (list items and lines count as sentences)."""
    return [Span(answer[s:e], s, e, "sentence") for s, e in _pieces(answer, _SENTENCE_BREAK, 0)]


def clauses(answer: str, sentence: Span) -> list[Span]:
    """The clauses of one sentence; empty when the sentence has only one."""
    found = [
        Span(answer[s:e], s, e, "clause")
        for s, e in _pieces(sentence.text, _CLAUSE_BREAK, sentence.start)
        if e - s >= MIN_CLAUSE_CHARS
    ]
    return found if len(found) > 1 else []


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The text with lone surrogates replaced by U+FFFD (and NUL removed).

    They come from JSON escapes such as "\\ud800" or from undecodable bytes that Python carried through
    ``surrogateescape``; no tokenizer or UTF-8 writer accepts them, so they are replaced once, here, at the
    door of the grader."""
    return _LONE_SURROGATE.sub("\ufffd", text).replace("\x00", "")


def truncate_words(answer: str, max_words: int) -> tuple[str, bool]:
    """Keep the first ``max_words`` words (cut at a word boundary); says whether anything was cut."""
    matches = list(re.finditer(r"\S+", answer))
    if len(matches) <= max_words:
        return answer, False
    return answer[: matches[max_words - 1].end()], True
