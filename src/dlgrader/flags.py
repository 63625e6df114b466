"""Lexical detectors for answers that only look right. Pure functions of text; no model needed.

The embedding similarity says whether an answer talks about the right things; these checks catch what
similarity cannot: a list of buzzwords, a restated question, an injected instruction. Reversed claims are
``polarity.py``'s job.
"""

from __future__ import annotations

import re

from dlgrader.corpus.text import STOPWORDS, content_stems

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:\.\d+)?")
_INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier)|disregard (?:the|all|previous|your)|"
    r"(?:give|award|assign|grade)\b.{0,40}\b(?:full marks|full credit|100|maximum|max score|5/5|a perfect)|"
    r"you are now|new instructions?|system prompt|</?\s*(?:system|assistant|instructions?)\s*>|"
    r"\[/?(?:INST|SYS)\]|<\|im_start\|>|\"verdict\"\s*:|as an ai|score (?:this|me) (?:as )?(?:100|5)",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


_ENUMERATIVE = re.compile(
    r"^\s*(?:list|name|enumerate|give)\b|\bwhat are (?:the |some )?(?:\w+ ){0,2}"
    r"(?:types|kinds|advantages|disadvantages|benefits|applications|examples|techniques|methods|layers|"
    r"steps|stages|components|variants|challenges|metrics|uses)\b",
    re.IGNORECASE,
)


def asks_for_a_list(question: str) -> bool:
    """Questions such as "What are the types of ...?" are fairly answered with a list of names."""
    return bool(_ENUMERATIVE.search(question))


# A formula or a stated mapping relates its terms, which a list of keywords never does: an equation or a
# sampling whose right side computes something ("p_i = exp(z_i) / sum_j exp(z_j)", "W ~ N(0, 2/fan_in)"), or an
# arrow from a cause to its effect ("-> sparse weights"). A bare setting such as "beta=0.9" is not one.
_RELATION = re.compile(
    r"(?:->|\u2192|=>|\u21d2)\s*\S"
    r"|[\w)\]'|]\s*(?:=|~|\u2248|<=|>=|\u2264|\u2265)\s*[^,;\n]*?(?:\w\(|[/*^+|]|\d\s*-|\w\s+-\s*\w)"
)
# A piece of this many words is a clause, not a keyword.
_CLAUSE_WORDS = 7


def states_a_relation(piece: str) -> bool:
    """Whether a piece of an answer is a formula, or maps one thing to another with an arrow."""
    return bool(_RELATION.search(piece))


def keyword_list_score(answer: str) -> tuple[bool, dict[str, object]]:
    """Whether the answer is a bag of keywords: no sentence, few function words, comma/line separated, and
    no piece that is a clause or relates its terms (a formula, an arrow): terse notation explains."""
    tokens = words(answer)
    if not tokens:
        return False, {}
    function_share = sum(1 for w in tokens if w in STOPWORDS) / len(tokens)
    pieces = [p.strip() for p in re.split(r"[,;\n|\u2022]+|\s/\s", answer) if p.strip()]
    words_per_piece = [len(p.split()) for p in pieces]
    short_pieces = sum(1 for n in words_per_piece if n <= 3)
    listy = len(pieces) >= 3 and short_pieces / len(pieces) >= 0.7 and function_share < 0.25
    terse = len(tokens) >= 3 and function_share < 0.12
    relations = sum(1 for p in pieces if states_a_relation(p))
    longest_clause = max(words_per_piece, default=0)
    is_list = (listy or terse) and longest_clause < _CLAUSE_WORDS and not relations
    return is_list, {"function_word_share": round(function_share, 2), "pieces": len(pieces),
                     "relations": relations}


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


_ADDRESSED_TO_GRADER = re.compile(
    "|".join([
        # role markers and score claims: "SYSTEM: ...", "Score: 100", "grade = 5/5"
        r"(?:^|[\n.!?]\s*)(?:system|assistant|developer|user)\s*:",
        r"\b(?:score|grade|mark|rating|result)\s*(?:[:=]|is|of)\s*\d{1,3}(?:\s*(?:/|out of)\s*\d{1,3})?\b",
        r"\b(?:full|maximum|max|perfect|top)\s+(?:marks|score|credit|points)\b",
        r"\bnote to (?:the )?(?:grader|marker|examiner|reviewer|teacher|model)\b",
        # addressed to a grader or model ("attention model", "bypass", "forget gate" stay legal)
        r"\b(?:dear|note to(?: the)?|hey)\s+(?:grader|evaluator|judge|assistant|ai|llm)\b",
        r"\b(?:grader|evaluator|judge|assistant|llm)s?\s*[:,]\s*"
        r"(?:please|you must|mark|rate|set|output|return)",
        r"\b(?:mark|rate|grade|score|label|treat)\s+(?:this|my)\s+(?:answer|response|submission|reply)\b",
        r"\bmark (?:it|everything|all|each)\b.{0,20}\bas (?:covered|correct|perfect|complete)\b",
        r"\ball (?:the )?key points? (?:are|were|is) (?:covered|present|satisfied|met)\b",
        r"\b(?:respond|reply)\s+(?:only\s+)?with\b.{0,30}\b(?:json|verdicts?|covered)\b",
        r"\boutput (?:the following|this) json\b",
        r"\b(?:jailbreak|developer mode|DAN mode)\b",
        r"\boverride (?:the|your|all|any|previous) (?:instructions|rules|grading|system|prompt)",
        r"\bprevious (?:rules|instructions|prompt)\b",
        r"\bforget (?:everything|all) (?:above|before|previous|you)",
        r"\bforget your (?:instructions|rules|prompt)",
        # imitations of the reply schema or of role/answer markers
        r"\"(?:key_points|strengths|gaps|suggestion|score|grade|verdict|quote)\"\s*:",
        r"[<\u2039]/?(?:answer|user|system|assistant|instructions?|im_end|im_start|eot_id)\b",
        r"<\|[a-z_]+\|>|\[/?(?:INST|SYS|SYSTEM)\]|###\s*(?:system|instruction|response)\b",
        r"\bend of (?:the )?(?:answer|data|candidate)\b",
        # other languages: "ignore the instructions", "full marks"
        r"\bignor(?:a|e|ez|iere|ate|eer)\b.{0,30}\b(?:instrucciones|instructions|anweisungen|istruzioni|"
        r"instructies|instru\u00e7\u00f5es|consignes)\b",
        r"\b(?:volle punktzahl|puntuaci\u00f3n m\u00e1xima|nota m\u00e1xima|note maximale|punteggio massimo|"
        r"pontua\u00e7\u00e3o m\u00e1xima)\b",
        r"\u5ffd\u7565|\u6ee1\u5206|\u6e80\u70b9|\u0438\u0433\u043d\u043e\u0440\u0438\u0440\u0443\u0439",
    ]),
    re.IGNORECASE,
)



def injection_cues(answer: str) -> list[str]:
    """Phrases that try to instruct a grader: "ignore previous instructions", fake role tags, a score
    claimed in the answer, imitations of the judge's reply schema. The one detector every path uses."""
    found = {m.group(0).strip()[:60] for m in _INJECTION.finditer(answer)}
    found.update(m.group(0).strip()[:60] for m in _ADDRESSED_TO_GRADER.finditer(answer))
    return sorted(found)


def content_word_count(answer: str) -> int:
    return len([w for w in words(answer) if w not in STOPWORDS])
