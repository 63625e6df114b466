"""Lexical detectors for answers that only look right. Pure functions of text; no model needed.

The embedding similarity says whether an answer talks about the right things; these checks catch what
similarity cannot: a list of buzzwords, a restated question, a reversed claim, an injected instruction.
"""

from __future__ import annotations

import re

from dlgrader.corpus.text import STOPWORDS, content_stems, stem

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:\.\d+)?")
# Verbs that negate what follows them: "stops the model from depending" denies "depending".
NEGATING_VERBS = frozenset("stop stops stopped prevent prevents prevented avoid avoids avoided".split())
NEGATIONS = frozenset(
    "not no never none cannot can't doesn't don't isn't aren't won't wasn't weren't hasn't haven't "
    "shouldn't couldn't wouldn't didn't without neither nor fails unable".split()
) | NEGATING_VERBS
# Opposite pairs that flip a claim about deep learning (compared after stemming).
_ANTONYM_PAIRS = [
    ("increase", "decrease"), ("increase", "reduce"), ("increase", "lower"), ("increase", "prevent"),
    ("raise", "lower"), ("add", "remove"), ("more", "less"), ("more", "fewer"), ("higher", "lower"),
    ("larger", "smaller"), ("faster", "slower"), ("fast", "slow"), ("speed", "slow"),
    ("stable", "unstable"), ("stability", "instability"), ("stable", "instability"),
    ("stabilize", "destabilize"), ("opposite", "same"), ("reduce", "upsample"), ("downsample", "upsample"),
    ("reduce", "expand"), ("shrink", "grow"), ("shrink", "expand"), ("reduce", "higher"), ("reduce", "more"),
    ("local", "global"), ("sparse", "dense"), ("parallel", "sequential"), ("independent", "depend"),
    ("mitigate", "cause"), ("solve", "cause"), ("prevent", "cause"), ("avoid", "cause"),
    ("generalize", "memorize"), ("generalise", "memorise"), ("discard", "keep"), ("short", "long"),
    ("training", "inference"), ("train", "inference"),
    ("positive", "negative"), ("linear", "non-linear"), ("linear", "nonlinear"),
    ("overfitting", "underfitting"), ("vanishing", "exploding"), ("minimize", "maximize"),
    ("minimise", "maximise"), ("supervised", "unsupervised"), ("easier", "harder"),
    ("simple", "complex"), ("simpler", "more complex"), ("shallow", "deep"),
    ("small", "large"), ("high", "low"), ("improve", "worsen"), ("improve", "hurt"),
    ("zero-centered", "not zero-centered"), ("all", "none"), ("always", "never"),
    ("random", "fixed"), ("random", "same"), ("deactivate", "activate"), ("ignore", "consider"),
    ("early", "late"), ("early", "later"), ("earlier", "later"), ("first", "last"), ("before", "after"),
    ("below", "above"), ("forward", "backward"), ("better", "worse"), ("noisy", "smooth"), ("rare", "common"),
    ("bidirectional", "unidirectional"), ("maximum", "minimum"),
]
# Words that stand in for a term, so "at test time" does not read as the opposite of "inference".
SYNONYMS: dict[str, set[str]] = {
    stem("inference"): {stem("test"), stem("testing"), stem("test-time"), stem("prediction"), stem("predict"),
                        stem("deployment")},
    stem("training"): {stem("train"), stem("fit"), stem("fitting"), stem("learning")},
    stem("reduce"): {stem("decrease"), stem("lower"), stem("shrink"), stem("prevent"), stem("mitigate")},
    stem("increase"): {stem("raise"), stem("grow"), stem("higher")},
}
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
_CLAUSE_STOP = re.compile(r"[,.;:!?]|\b(?:and|or|but|so|which|while|because)\b")


_CONDITIONAL = frozenset({"if", "unless", "otherwise", "when", "whenever", "without"})


def _names_topic(verb: str, topic: set[str] | frozenset[str]) -> bool:
    root = next(r for r in ("stop", "prevent", "avoid") if verb.startswith(r))
    return any(t.startswith(root) for t in topic)


def negated_stems(text: str, topic: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Stems of the content words inside some negation's scope (up to the next clause boundary).

    Two kinds of clause assert nothing and are skipped: conditionals ("if you don't add a non-linearity",
    "without activation functions, ...") and double negations ("doesn't fit without padding"). A negating
    verb whose stem is in ``topic`` names the subject, not a denial: "you stop training" about early
    stopping asserts something.
    """
    out: set[str] = set()
    for clause in _CLAUSE_STOP.split(text.lower()):
        tokens = words(clause or "")
        cues = [i for i, word in enumerate(tokens)
                if _is_negation(word) and not (word in NEGATING_VERBS and _names_topic(word, topic))]
        if not cues or _CONDITIONAL & set(tokens[:2]) or len(cues) % 2 == 0:
            continue
        for i in cues:
            out.update(_stems(" ".join(tokens[i + 1 : i + 1 + NEGATION_SCOPE])))
    return out


MIN_SHARED = 0.3  # share of the key point's content words the span must repeat to be "the same claim"


def _stems(text: str) -> set[str]:
    # Hyphenated words stay whole: "non-linear" is not "linear".
    return {stem(w) for w in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()) if w not in STOPWORDS}


def polarity_conflict(key_point: str, evidence: str) -> str | None:
    """Why the evidence reverses the key point's claim, or None.

    Only a span that repeats a good part of the key point's words is read as the same claim. It then
    conflicts when it negates a content word the key point asserts (or asserts one the key point negates),
    or uses the opposite of a word the key point relies on (increases/reduces, training/inference) without
    also using the word itself. Precision matters more than recall: a false contradiction costs a correct
    answer dearly.
    """
    kp_stems, ev_stems = _stems(key_point), _stems(evidence)
    if not kp_stems or len(kp_stems & ev_stems) / len(kp_stems) < MIN_SHARED:
        return None
    kp_negated, ev_negated = negated_stems(key_point), negated_stems(evidence, topic=kp_stems)
    flipped = sorted((ev_negated & kp_stems) - kp_negated)
    if flipped:
        return f"the answer negates '{flipped[0]}', which the reference asserts"
    # The other direction needs two words: "without forcing them to exactly zero" is not contradicted by
    # "shrinks the weights towards zero", but "does not saturate for positive values" is by "saturates for
    # positive inputs".
    unflipped = sorted((kp_negated & ev_stems) - ev_negated)
    if len(unflipped) >= 2:
        return f"the answer asserts '{unflipped[0]}', which the reference negates"
    numbers = number_conflict(key_point, evidence)
    if numbers:
        return numbers
    for term in sorted(kp_stems):
        opposites = ANTONYMS.get(term, set()) & ev_stems
        present = ({term} | SYNONYMS.get(term, set())) & ev_stems
        if opposites and not present and not (opposites & kp_stems):
            return f"says '{sorted(opposites)[0]}' where the reference says '{term}'"
    return None


_NUMBER = re.compile(r"(?<![\w.^])-?\d+(?:\.\d+)?%?")


def number_conflict(key_point: str, evidence: str) -> str | None:
    """A different figure for the same claim: "outputs values between -1 and 1" against "between 0 and 1".

    Only when both state figures, the evidence leaves out one of the key point's and brings one of its own
    that lies outside the key point's range ("a rate of 0.3" does not contradict "between 0.2 and 0.5").
    """
    kp_numbers, ev_numbers = set(_NUMBER.findall(key_point)), set(_NUMBER.findall(evidence))
    if not (kp_numbers and ev_numbers and kp_numbers - ev_numbers):
        return None
    low, high = min(map(_value, kp_numbers)), max(map(_value, kp_numbers))
    outside = sorted(n for n in ev_numbers - kp_numbers if not low <= _value(n) <= high)
    if outside:
        return f"says '{outside[0]}' where the reference says '{sorted(kp_numbers - ev_numbers)[0]}'"
    return None


def _value(number: str) -> float:
    return float(number.rstrip("%"))


_ENUMERATIVE = re.compile(
    r"^\s*(?:list|name|enumerate|give)\b|\bwhat are (?:the |some )?(?:\w+ ){0,2}"
    r"(?:types|kinds|advantages|disadvantages|benefits|applications|examples|techniques|methods|layers|"
    r"steps|stages|components|variants|challenges|metrics|uses)\b",
    re.IGNORECASE,
)


def asks_for_a_list(question: str) -> bool:
    """Questions such as "What are the types of ...?" are fairly answered with a list of names."""
    return bool(_ENUMERATIVE.search(question))


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


# Words any answer may add to a restated question without saying anything ("used in neural networks").
FILLER = content_stems(
    "neural network networks model models deep learning machine technique method approach way thing things "
    "basically really simply just called refer refers means mean kind type sort something used apply applies "
    "applied add adds added layer layers function functions work works process data input output"
)


def echo_overlap(answer: str, question: str) -> tuple[float, int]:
    """(share of the answer's content words that come from the question, number of new content words).

    Filler words ("technique", "neural network", "used") count as coming from the question.
    """
    answer_stems, question_stems = content_stems(answer), content_stems(question) | FILLER
    if not answer_stems:
        return 1.0, 0
    new = answer_stems - question_stems
    return 1 - len(new) / len(answer_stems), len(new)


def injection_cues(answer: str) -> list[str]:
    """Phrases that try to instruct a grader ("ignore previous instructions", fake role tags...)."""
    return sorted({m.group(0)[:60] for m in _INJECTION.finditer(answer)})


def content_word_count(answer: str) -> int:
    return len([w for w in words(answer) if w not in STOPWORDS])
