"""Text helpers shared by the corpus validator and the extraction step.

Everything here is pure standard library so that the checks run anywhere, without the model.
"""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Function words carry no fact; leaving them out keeps the support ratio about content.
STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto over under about
    as is are was were be been being am do does did done doing has have had having it its it's this
    that these those there here which who whom whose what when where why how than so such very can
    could may might must shall should will would also not no nor only just more most less least
    each every any all both either neither some many much few other another same own their them
    they we our us you your he she his her i me my one ones s t via per while during before after
    between within without through up down out off again further once too use used using uses
    don doesn isn aren won didn wasn weren hasn haven shouldn couldn wouldn ll ve re d m""".split()
)


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def stem(word: str) -> str:
    """A deliberately crude suffix stripper: enough to match 'reduces'/'reduce', 'layers'/'layer'."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    # 'reduce'/'reduces'/'reduced' all end up as 'reduc'
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def content_stems(text: str) -> set[str]:
    """Stemmed content words of a text (lower-cased, stopwords removed)."""
    words = _WORD.findall(text.lower())
    return {stem(w) for w in words if w not in STOPWORDS}


def support_ratio(claim: str, evidence: str) -> float:
    """Share of the claim's content words that also occur in the evidence (1.0 for an empty claim)."""
    claim_stems = content_stems(claim)
    if not claim_stems:
        return 1.0
    return len(claim_stems & content_stems(evidence)) / len(claim_stems)


def occurs_verbatim(excerpt: str, document: str) -> bool:
    """True when the excerpt occurs in the document once whitespace is normalised on both sides."""
    needle = normalize_ws(excerpt)
    return bool(needle) and needle in normalize_ws(document)
