"""Fix misspelt subject words in a typed question before it is matched ("gradiant decent" → "gradient
descent", "regularizaton" → "regularization").

MiniLM's word pieces break a misspelt word into fragments that point nowhere, and the match ranker counts
it as a term the bank does not know, so one typo turns an in-bank question into "unknown". A word is
corrected only when it is surely a typo of the bank's own vocabulary:

- it is not an English word (pyspellchecker's word list), a whole word of the model's vocabulary or a word
  of the bank: real words, including names of things the bank does not cover, stay as typed ("Nesterov",
  "router", "regressor");
- it is written in lower case or capitalised, never an acronym or code name ("SELU" is not "ELU");
- one bank word of at least five letters is one edit away (two edits already change meaning: "maximises"
  is not "minimises"), with the same first and last letters and not merely another ending of the same word
  ("tokenizes" is not "tokenizers"); British spellings count as English words; when several bank words
  fit, the most frequent wins only when it is clearly more frequent.

A real word right after a bank term's first word is corrected when it misspells the term's second word
and the bank never writes it there: "decent" after "gradient" becomes "descent".
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_LENGTH = 5
TERM_PAIRS = 10  # how often the bank writes two words together before they count as one term
CLEAR_MARGIN = 3.0  # a tie between bank words is decided only when one is this many times as frequent


def edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return deletes | transposes | replaces | inserts


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """English words: pyspellchecker's word list (160,000 words) and the whole words of the bundled
    model's vocabulary. Read once, on the first question with a word the bank does not use (~0.3 s)."""
    import importlib.resources

    words: set[str] = set()
    try:
        resource = importlib.resources.files("spellchecker") / "resources" / "en.json.gz"
        words.update(json.loads(gzip.decompress(resource.read_bytes())))
    except (OSError, ValueError, ModuleNotFoundError):
        log.warning("pyspellchecker's English word list is missing: typo correction is off")
        return frozenset()
    from dlgrader.embedding import bundled_model_dir

    try:
        vocab = json.loads((Path(bundled_model_dir()) / "tokenizer.json").read_text(encoding="utf-8"))
        words.update(w for w in vocab["model"]["vocab"] if w.isalpha())
    except (OSError, ValueError, KeyError):
        pass
    return frozenset(words)


_ENDINGS = ("ing", "ers", "es", "ed", "er", "s", "d")
# British spellings the American word list lacks: "regularise", "memorising", "normalisation".
_BRITISH = (("isation", "ization"), ("ising", "izing"), ("ised", "ized"), ("ises", "izes"), ("ise", "ize"),
            ("yse", "yze"), ("our", "or"))


def _inflection(a: str, b: str) -> bool:
    """Whether two words differ only by an ending: "compute"/"computer", "happen"/"happens",
    "tokenizes"/"tokenizers" (a stem of one starts the other)."""
    for x, y in ((a, b), (b, a)):
        if y.startswith(x):
            return True
        for ending in _ENDINGS:
            if (x.endswith(ending) and not y.endswith(ending) and len(x) - len(ending) >= 4
                    and y.startswith(x[:-len(ending)])):
                return True
    return False


def american(word: str) -> str:
    """The American spelling of a British "-ise"/"-isation"/"-our" word (the word itself otherwise)."""
    for british, us in _BRITISH:
        if british in word:
            return word.replace(british, us)
    return word


class Speller:
    """Corrects typed questions against the words of one bank."""

    def __init__(self, texts: Iterable[str], known_words: frozenset[str] | None = None) -> None:
        words: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for text in texts:
            tokens = [w.lower() for w in _WORD.findall(text)]
            words.update(tokens)
            pairs.update(zip(tokens, tokens[1:], strict=False))
        self.words = words
        self.pairs = pairs
        self._known = known_words
        self._targets = {w for w, _ in words.items() if len(w) >= MIN_LENGTH}

    @property
    def known(self) -> frozenset[str]:
        if self._known is None:
            self._known = english_words()
        return self._known

    def _plausible(self, fix: str, word: str) -> bool:
        """A typo keeps the first and last letters and is not another ending of the same word."""
        return fix[0] == word[0] and fix[-1] == word[-1] and not _inflection(fix, word)

    def _best(self, candidates: set[str]) -> str | None:
        if not candidates:
            return None
        ranked = sorted(candidates, key=lambda w: (-self.words[w], w))
        if len(ranked) > 1 and self.words[ranked[0]] < CLEAR_MARGIN * self.words[ranked[1]]:
            return None
        return ranked[0]

    def suggestion(self, word: str) -> str | None:
        """The bank word an unknown ``word`` (lower case) misspells, or None."""
        if len(word) < MIN_LENGTH or word in self.words or not self.known or word in self.known \
                or american(word) in self.known:
            return None
        # One edit only: two ("maximises" → "minimises", "approximators" → "approximations") change meaning.
        return self._best({w for w in edits1(word) & self._targets if self._plausible(w, word)})

    def _pair_suggestion(self, previous: str, word: str) -> str | None:
        """A word the bank never writes after ``previous`` that misspells the second word of a bank term after its first
        ("gradient decent"); the first word must be a subject word too, not "to" or "the"."""
        if len(word) < MIN_LENGTH or len(previous) < MIN_LENGTH or self.pairs[(previous, word)]:
            return None
        found = {w for w in edits1(word) & self._targets
                 if self._plausible(w, word) and self.pairs[(previous, w)] >= TERM_PAIRS}
        return self._best(found)

    def correct(self, text: str) -> str:
        """``text`` with its misspelt words replaced (unchanged when nothing is surely a typo)."""
        out: list[str] = []
        last = 0
        previous = ""
        for m in _WORD.finditer(text):
            word = m.group()
            lower = word.lower()
            fix = None
            if word == lower or (word[0].isupper() and word[1:] == lower[1:]):
                fix = self.suggestion(lower)
                if fix is None and previous:
                    fix = self._pair_suggestion(previous, lower)
            if fix is not None:
                out.append(text[last:m.start()])
                out.append(fix if word == lower else fix.capitalize())
                last = m.end()
                lower = fix
            previous = lower
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)
