"""Parser for article 002 ("Top 30 Deep Learning Interview Questions for Data Scientists"): a plain-text copy
of a blog post with an author/date preamble and an intro paragraph, then thirty questions, each on its own
line as ``Q<n>. <question>``, followed by an answer that usually (not always) opens with ``A.`` and continues
over paragraphs, ``•`` bullets and numbered lists; some sub-headings of the answers were lost in the copy.
Image captions are interleaved as bare lines ("neural network | deep learning interview questions", "finance
in deep learning"), a "Bonus Questions" section label sits before Q29, and after Q30 comes an unlabelled
conclusion, the author line and a placeholder FAQ. The parser splits the text at the ``Q<n>.`` headers
(locator ``Q<n>``), drops the ``A.`` prefix, the captions and the section label, cuts the trailing conclusion
off the last answer, and normalises whitespace line by line.
"""

from __future__ import annotations

import re

from dlgrader.corpus.parsers.base import DraftBlock

_HEADER = re.compile(r"^Q(\d+)\.\s+(.+?)\s*$")
_ANSWER_PREFIX = re.compile(r"^A\.\s*")
# Image captions: "<alt text> | deep learning interview questions" or "<topic> in deep learning".
_CAPTION = re.compile(r"^(?:.+\|\s*deep learning interview questions|[A-Za-z ]+ in deep learning)$")
_SECTION_LABELS = frozenset({"Bonus Questions"})
# The unlabelled conclusion that follows the last answer starts with this sentence.
_TRAILER_START = "In the dynamic world of data science"


def _clean_line(line: str) -> str:
    """Normalise the whitespace of one line (non-breaking spaces included)."""
    return " ".join(line.replace("\xa0", " ").split())


def _is_noise(line: str) -> bool:
    return bool(_CAPTION.match(line)) or line in _SECTION_LABELS


def _finish(document: str, number: str, question: str, lines: list[str]) -> DraftBlock:
    body = [line for line in lines if line and not _is_noise(line)]
    if body:
        body[0] = _ANSWER_PREFIX.sub("", body[0])
    return DraftBlock(document=document, locator=f"Q{number}", question=question, answer="\n".join(body))


def parse(text: str, document: str) -> list[DraftBlock]:
    """Split the article into one DraftBlock per ``Q<n>.`` question, in article order."""
    blocks: list[DraftBlock] = []
    current: tuple[str, str] | None = None
    lines: list[str] = []
    for raw in text.splitlines():
        line = _clean_line(raw)
        header = _HEADER.match(line)
        if header:
            if current is not None:
                blocks.append(_finish(document, *current, lines))
            current, lines = (header.group(1), header.group(2)), []
        elif line.startswith(_TRAILER_START):
            break
        elif current is not None:
            lines.append(line)
    if current is not None:
        blocks.append(_finish(document, *current, lines))
    return blocks
