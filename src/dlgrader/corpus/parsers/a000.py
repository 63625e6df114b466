"""Parser for article 000 ("45 deep learning questions", one answer paragraph per question).

The article is plain text, one paragraph per line. The interview questions are header lines ``Q1.`` ...
``Q45.``, each followed by a single answer paragraph. Between groups of questions the article inserts a
section title, a subtitle and a short blurb (title and subtitle carry no closing punctuation); those, and
the introduction before ``Q1.``, are noise and are skipped: a Q block ends at the first heading-like line.
After the last Q block the article has a tail of short headed sections ("Machine Learning vs. Deep
Learning", interview tips) and a "Frequently Asked Questions" part whose questions are lines ending in
``?``; each heading or question line there with an answer paragraph under it becomes a block located as
``paragraph N`` (1-based index of the non-empty line it starts on). The tail ends at the "Read More" ad or
the "Conclusion" heading, which are dropped with everything after them.
"""

from __future__ import annotations

import re

from dlgrader.corpus.parsers.base import DraftBlock
from dlgrader.corpus.text import normalize_ws

_Q_HEADER = re.compile(r"^Q(\d+)\.\s*(.+)$")
_TAIL_END = re.compile(r"^(Read More\b|Conclusion$)")
_TERMINAL = (".", "!", ":", ";", '"', "\u201d")


def _is_heading(line: str) -> bool:
    """A section title or subtitle: a line without closing punctuation (question lines end in '?')."""
    return not line.endswith(_TERMINAL) and not line.endswith("?")


def _is_question(line: str) -> bool:
    return line.endswith("?")


def _q_blocks(lines: list[str], document: str) -> tuple[list[DraftBlock], int]:
    """The ``Qn.`` blocks, and the index of the first line after the last one's answer."""
    blocks: list[DraftBlock] = []
    current: tuple[str, str] | None = None
    answer: list[str] = []
    end = 0

    def flush() -> None:
        if current is not None and answer:
            blocks.append(DraftBlock(document, current[0], current[1], normalize_ws(" ".join(answer))))

    for i, line in enumerate(lines):
        match = _Q_HEADER.match(line)
        if match:
            flush()
            current, answer = (f"Q{match.group(1)}", normalize_ws(match.group(2))), []
        elif current is not None and _is_heading(line):
            flush()
            current, answer = None, []
        elif current is not None:
            answer.append(line)
            end = i + 1
    flush()
    return blocks, end


def _tail_blocks(lines: list[str], start: int, document: str) -> list[DraftBlock]:
    """Headed sections and FAQ questions after the last Q block, up to the ad or the conclusion."""
    blocks: list[DraftBlock] = []
    header: tuple[int, str] | None = None
    answer: list[str] = []

    def flush() -> None:
        if header is not None and answer:
            locator = f"paragraph {header[0] + 1}"
            blocks.append(DraftBlock(document, locator, header[1], normalize_ws(" ".join(answer))))

    for i in range(start, len(lines)):
        line = lines[i]
        if _TAIL_END.match(line):
            break
        if _is_heading(line) or _is_question(line):
            flush()
            header, answer = (i, line), []
        elif header is not None:
            answer.append(line)
    flush()
    return blocks


def parse(text: str, document: str) -> list[DraftBlock]:
    """Split the article into its Q&A blocks, in article order."""
    lines = [normalize_ws(line) for line in text.splitlines() if line.strip()]
    blocks, end = _q_blocks(lines, document)
    return blocks + _tail_blocks(lines, end, document)
