"""Parser for 001_5c83a72077dff821.txt, a GeeksforGeeks-style list of 62 deep-learning interview questions.

The article is a flat text copy: a title/date preamble, then questions numbered ``1.`` to ``62.``, each
header on its own line and sometimes wrapped in markdown bold (``**5. What are ...?``, ``3. **What is``).
Most answers lost their bullet lists and keep only numbered bold sub-headings (``**1. Input Layer:``) or
indented numbered list items (``1. Feedforward Neural Networks`` after two spaces); these restart at 1
inside an answer, so a line only counts as a question header when it starts at column 0 and carries the
next number in the 1..62 sequence. Tables were flattened into consecutive lines (one per row) and are kept
as answer text. Image captions and link titles survive as isolated one-line paragraphs ("Artificial Neural
Network - Geeksforgeeks", "ezgif", "LSTM Model architecture") and are dropped: a paragraph of a single
short line without sentence punctuation, markup or formula symbols. The preamble before question 1 is not
a question-and-answer unit and is skipped. Each block gets the locator ``N.``, the header text cleaned of
``**`` and numbering as its question, and its remaining paragraphs, verbatim, as its answer.
"""

from __future__ import annotations

import re

from dlgrader.corpus.parsers.base import DraftBlock

_HEADER = re.compile(r"^(?:\*\*)?(\d{1,3})\.\s*(?:\*\*)?\s*(\S.*)$")
_CAPTION_MAX_WORDS = 6
_SENTENCE_END = (".", ":", "?", "!", ")")
_FORMULA_OR_MARKUP = ("**", "=", "\\")
_LEAD_INS = frozenset({"where"})  # dangling words before a lost formula legend: text, not captions


def _paragraphs(lines: list[str]) -> list[list[str]]:
    """Group lines into blank-line separated paragraphs (lines stripped)."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_caption(paragraph: list[str]) -> bool:
    """An image caption or link title: one short line with no sentence punctuation, markup or formula."""
    if len(paragraph) != 1:
        return False  # flattened tables and lists span several consecutive lines
    line = paragraph[0]
    if "geeksforgeeks" in line.lower():
        return True
    if line.lower() in _LEAD_INS or line.endswith(_SENTENCE_END):
        return False
    if any(mark in line for mark in _FORMULA_OR_MARKUP):
        return False
    return len(line.split()) <= _CAPTION_MAX_WORDS


def _header(line: str, expected: int) -> str | None:
    """The cleaned question text when ``line`` is the header of question ``expected``, else None."""
    if line[:1].isspace():
        return None  # indented numbered list items belong to an answer
    match = _HEADER.match(line)
    if match is None or int(match.group(1)) != expected:
        return None
    return match.group(2).replace("**", "").strip()


def _block(document: str, number: int, question: str, body: list[str]) -> DraftBlock:
    kept = [p for p in _paragraphs(body) if not _is_caption(p)]
    answer = "\n\n".join("\n".join(p) for p in kept)
    return DraftBlock(document=document, locator=f"{number}.", question=question, answer=answer)


def parse(text: str, document: str) -> list[DraftBlock]:
    """Split the article into one block per numbered question, in article order."""
    blocks: list[DraftBlock] = []
    current: tuple[int, str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        expected = current[0] + 1 if current else 1
        question = _header(line, expected)
        if question is None:
            if current is not None:
                body.append(line)
            continue
        if current is not None:
            blocks.append(_block(document, current[0], current[1], body))
        current, body = (expected, question), []
    if current is not None:
        blocks.append(_block(document, current[0], current[1], body))
    return blocks
