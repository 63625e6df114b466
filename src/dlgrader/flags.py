"""Lexical detectors for answers that only look right. Pure functions of text; no model needed.

The embedding similarity says whether an answer talks about the right things; these checks catch what
similarity cannot: a list of buzzwords, a restated question, a reversed claim, an injected instruction.
"""

from __future__ import annotations

import re

from dlgrader.corpus.text import STOPWORDS, content_stems, stem

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:\.\d+)?")
NEGATIONS = frozenset(
    "not no never none cannot can't doesn't don't isn't aren't won't wasn't weren't hasn't haven't "
    "shouldn't couldn't wouldn't didn't without neither nor fails unable".split()
)
# Opposite pairs that flip a claim about deep learning (compared after stemming).
_ANTONYM_PAIRS = [
    ("increase", "decrease"), ("increase", "reduce"), ("increase", "lower"), ("increase", "prevent"),
    ("raise", "lower"), ("add", "remove"), ("more", "less"), ("more", "fewer"), ("higher", "lower"),
    ("larger", "smaller"), ("faster", "slower"), ("fast", "slow"), ("speed", "slow"),
    ("stable", "unstable"), ("stability", "instability"), ("stable", "instability"),
    ("stabilize", "destabilize"),
    ("training", "inference"), ("train", "inference"), ("training", "test"),
    ("before", "after"), ("positive", "negative"), ("linear", "non-linear"), ("linear", "nonlinear"),
    ("overfitting", "underfitting"), ("vanishing", "exploding"), ("minimize", "maximize"),
    ("minimise", "maximise"), ("supervised", "unsupervised"), ("easier", "harder"),
    ("simple", "complex"), ("simpler", "more complex"), ("shallow", "deep"), ("forward", "backward"),
    ("small", "large"), ("high", "low"), ("improve", "worsen"), ("improve", "hurt"),
    ("zero-centered", "not zero-centered"), ("all", "none"), ("always", "never"),
    ("random", "fixed"), ("random", "same"), ("deactivate", "activate"), ("ignore", "consider"),
]
ANTONYMS: dict[str, set[str]] = {}
for _a, _b in _ANTONYM_PAIRS:
    ANTONYMS.setdefault(stem(_a), set()).add(stem(_b))
    ANTONYMS.setdefault(stem(_b), set()).add(stem(_a))

_INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier)|disregard (?:the|all|previous|your)|"
    r"(?:give|award|assign|grade)\b.{0,40}\b(?:full marks|full credit|100|maximum|max score|5/5|a perfect)|"
    r"you are now|new instructions?|system prompt|</?\s*(?:system|assistant|instructions?)\s*>|"
    r"\[/?(?:INST|SYS)\]|<\|im_start\|>|\"verdict\"\s*:|as an ai|score (?:this|me) (?:as )?(?:100|5)",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def negation_count(text: str) -> int:
    """How many negation cues a span holds ("n't" forms included)."""
    return sum(1 for w in words(text) if _is_negation(w))


def _is_negation(word: str) -> bool:
    return word in NEGATIONS or word.endswith("n't")


NEGATION_SCOPE = 4  # a cue negates the next few words ("does not reduce the loss")
_CLAUSE_STOP = re.compile(r"[,.;:!?]|\b(?:and|but|so|which|while|because)\b")


def negated_stems(text: str) -> set[str]:
    """Stems of the content words inside some negation's scope (up to the next clause boundary)."""
    out: set[str] = set()
    for clause in _CLAUSE_STOP.split(text.lower()):
        if not clause:
            continue
        tokens = words(clause)
        for i, word in enumerate(tokens):
            if _is_negation(word):
                out.update(stem(w) for w in tokens[i + 1 : i + 1 + NEGATION_SCOPE] if w not in STOPWORDS)
    return out


def polarity_conflict(key_point: str, evidence: str) -> str | None:
    """Why the evidence reverses the key point's claim, or None.

    Two signals: the evidence negates a content word of the key point that the key point asserts (or
    asserts one that the key point negates), or it uses the opposite of a word the key point relies on
    (increases/reduces, training/inference) without also using the word itself.
    """
    kp_stems = {stem(w) for w in words(key_point) if w not in STOPWORDS}
    ev_stems = {stem(w) for w in words(evidence) if w not in STOPWORDS}
    kp_negated, ev_negated = negated_stems(key_point), negated_stems(evidence)
    flipped = sorted((ev_negated & kp_stems) - kp_negated)
    if flipped:
        return f"the answer negates '{flipped[0]}', which the reference asserts"
    unflipped = sorted((kp_negated & ev_stems) - ev_negated)
    if unflipped:
        return f"the answer asserts '{unflipped[0]}', which the reference negates"
    for term in sorted(kp_stems):
        opposites = ANTONYMS.get(term, set()) & ev_stems
        if opposites and term not in ev_stems and not (opposites & kp_stems):
            return f"says '{sorted(opposites)[0]}' where the reference says '{term}'"
    return None


def keyword_list_score(answer: str) -> tuple[bool, dict[str, object]]:
    """Whether the answer is a bag of keywords: no sentence, few function words, comma/line separated."""
    tokens = words(answer)
    if not tokens:
        return False, {}
    function_share = sum(1 for w in tokens if w in STOPWORDS) / len(tokens)
    pieces = [p.strip() for p in re.split(r"[,;\n/|•]+", answer) if p.strip()]
    short_pieces = sum(1 for p in pieces if len(p.split()) <= 3)
    listy = len(pieces) >= 3 and short_pieces / len(pieces) >= 0.7
    terse = len(tokens) >= 3 and function_share < 0.12
    longest_clause = max((len(p.split()) for p in pieces), default=0)
    is_list = (listy and function_share < 0.25) or (terse and longest_clause <= 6)
    return is_list, {"function_word_share": round(function_share, 2), "pieces": len(pieces)}


def echo_overlap(answer: str, question: str) -> tuple[float, int]:
    """(share of the answer's content words that come from the question, number of new content words)."""
    answer_stems, question_stems = content_stems(answer), content_stems(question)
    if not answer_stems:
        return 1.0, 0
    new = answer_stems - question_stems
    return 1 - len(new) / len(answer_stems), len(new)


def injection_cues(answer: str) -> list[str]:
    """Phrases that try to instruct a grader ("ignore previous instructions", fake role tags...)."""
    return sorted({m.group(0)[:60] for m in _INJECTION.finditer(answer)})


def content_word_count(answer: str) -> int:
    return len([w for w in words(answer) if w not in STOPWORDS])
