"""Does a span of the answer reverse a key point's claim? Negation in scope, antonyms, other figures.

Pure functions of text. ``grading.py`` asks them about the spans closest to each key point; precision matters
more than recall, because a false contradiction costs a correct answer dearly.
"""

from __future__ import annotations

import re

from dlgrader.corpus.text import STOPWORDS, stem
from dlgrader.flags import words

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
        return f"the answer negates '{word_for(flipped[0], evidence)}', which the reference asserts"
    # The other direction needs two words: "without forcing them to exactly zero" is not contradicted by
    # "shrinks the weights towards zero", but "does not saturate for positive values" is by "saturates for
    # positive inputs".
    unflipped = sorted((kp_negated & ev_stems) - ev_negated)
    if len(unflipped) >= 2:
        return f"the answer asserts '{word_for(unflipped[0], evidence)}', which the reference negates"
    numbers = number_conflict(key_point, evidence)
    if numbers:
        return numbers
    for term in sorted(kp_stems):
        opposites = ANTONYMS.get(term, set()) & ev_stems
        present = ({term} | SYNONYMS.get(term, set())) & ev_stems
        if opposites and not present and not (opposites & kp_stems):
            opposite = sorted(opposites)[0]
            return (f"says '{word_for(opposite, evidence)}' where the reference says "
                    f"'{word_for(term, key_point)}'")
    return None


def word_for(word_stem: str, text: str) -> str:
    """The word of ``text`` that ``word_stem`` came from ("inferenc" -> "inference"): messages are read
    by people, who should never see a stem."""
    for word in re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", text):
        if stem(word.lower()) == word_stem:
            return word
    return word_stem


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
