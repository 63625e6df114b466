"""Article 003, a deep-learning interview guide whose questions survive only in its table of contents, lists
its sixteen beginner questions as numbered entries (``- 1. What is ...?``) near the top, then gives the
answers later in the body with every header lost, in TOC order; an "Advanced-Level" section follows whose
answers never had a listed question, and the page ends with end notes and reader comments. Because nothing
in the body marks where one answer stops and the next begins, the parser keeps a short table of the
opening words of each answer block (and of the section intro and end notes that close a block) and walks
the non-empty lines in order, matching those openings one after another, so the duplicated answer that
stands in for TOC 14 is picked up as a block of its own. The first sixteen blocks are paired with the TOC
questions (locator ``TOC n``); the advanced blocks get ``question=None`` and the locator ``paragraph N``
(1-based index of the non-empty line where they start). Obvious page noise is dropped: ``*Note: ...*``
asides, "here is an article/guide" link lines and the resource lists that follow them, trailing "You can
learn about ... here: <title>" sentences and a few inline link titles.
"""

from __future__ import annotations

import re

from dlgrader.corpus.parsers.base import DraftBlock
from dlgrader.corpus.text import normalize_ws

_TOC_ENTRY = re.compile(r"^- (\d+)\. (.+)$")

# Opening words of each answer block, in article order: sixteen TOC answers, then the advanced section.
ANSWER_OPENINGS: tuple[str, ...] = (
    "A Multi-Layer Perceptron (MLP) is one of",  # TOC 1
    "Essentially, you can have a different bias",  # TOC 2
    "The main aim of this question is to understand why we need activation",  # TOC 3
    "In simplest terms, if all the neurons have the same value of weights",  # TOC 4
    "Now, this can be one tricky question.",  # TOC 5
    "This is a question best explained with a real-life example.",  # TOC 6
    "Now, this can be answered in two ways.",  # TOC 7
    "Deep Learning goes right from the simplest data structures",  # TOC 8
    "Once the interviewer has asked you about the fundamentals",  # TOC 9
    "The most common activation functions are:",  # TOC 10
    "The key to this question lies in the Convolution operation.",  # TOC 11
    "The main component that differentiates Recurrent Neural Networks",  # TOC 12
    "This is a pretty intuitive answer.",  # TOC 13
    "This is a pretty intuitive answer.",  # TOC 14: the article repeats TOC 13's answer here
    "The key here is to make the explanation as simple as possible.",  # TOC 15
    "I am sure you would have a doubt",  # TOC 16
    "In Recurrent Neural Networks, we have an additional loop",  # advanced: RNN backpropagation
    "The LSTM model is considered a special case of RNNs.",  # advanced: LSTM
    "As you can see, the LSTM model can become quite complex.",  # advanced: GRU
    "Advancements in deep learning have made it possible",  # advanced: Transformer
    "Now, this is one question that is sure to be asked",  # advanced: explaining a project
)

# Paragraphs that close the current block without opening a new one (section intro, end notes).
BLOCK_ENDS: tuple[str, ...] = (
    "It is here that questions become really specific",
    "These are a list of a few key questions",
)

_NOISE_LINE = re.compile(
    r"^(\*[^*].*[^*]\*$"
    r"|Here is (a|an) (great |excellent )?(article|guide)"
    r"|Learning more about .* here\.$"
    r"|You can find a detailed explanation"
    r"|It is not possible to discuss all of them)"
)
_TRAILING_LINK = re.compile(r"\s*You can learn about [^.]* here: .*$")
# Inline link titles and "read more" pointers left inside answer lines.
LINK_TITLES: tuple[str, ...] = (
    ": Understanding Word Embeddings: From Word2Vec to Count Vectors",
    ": Learn How to Enhance a Blurred Image using an Autoencoder!",
    "Read more about tensors here",
)


def _paragraphs(text: str) -> list[str]:
    """Non-empty lines of the article, whitespace-normalised."""
    return [normalize_ws(line) for line in text.splitlines() if line.strip()]


def _toc_questions(paragraphs: list[str]) -> list[str]:
    """The numbered TOC questions, in order (the TOC is the only place they appear)."""
    questions: list[str] = []
    for line in paragraphs:
        match = _TOC_ENTRY.match(line)
        if match and int(match.group(1)) == len(questions) + 1:
            questions.append(match.group(2).strip())
    return questions


def _clean(lines: list[str]) -> str:
    """Drop note/link paragraphs (and a resource list introduced by one) and join the rest."""
    kept: list[str] = []
    skipping_list = False
    for line in lines:
        if _NOISE_LINE.match(line):
            skipping_list = line.endswith(":")
            continue
        if skipping_list and line.startswith("- "):
            continue
        skipping_list = False
        line = _TRAILING_LINK.sub("", line)
        for title in LINK_TITLES:
            line = line.replace(title, "")
        if line:
            kept.append(line)
    return "\n".join(kept)


def parse(text: str, document: str) -> list[DraftBlock]:
    """Split the article into one draft block per answer, paired with its TOC question where it has one."""
    paragraphs = _paragraphs(text)
    questions = _toc_questions(paragraphs)
    starts: list[int] = []  # 0-based paragraph index where each answer opens
    ends: set[int] = set()
    for index, line in enumerate(paragraphs):
        if len(starts) < len(ANSWER_OPENINGS) and line.startswith(ANSWER_OPENINGS[len(starts)]):
            starts.append(index)
        elif starts and line.startswith(BLOCK_ENDS):
            ends.add(index)
    blocks: list[DraftBlock] = []
    for number, start in enumerate(starts):
        stop = starts[number + 1] if number + 1 < len(starts) else len(paragraphs)
        stop = min([stop, *(end for end in ends if start < end < stop)])
        if number < len(questions):
            locator, question = f"TOC {number + 1}", questions[number]
        else:
            locator, question = f"paragraph {start + 1}", None
        blocks.append(DraftBlock(document, locator, question, _clean(paragraphs[start:stop])))
    return blocks
