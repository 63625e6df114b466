"""Cues that an answer talks to the LLM judge, beyond the engine's own (``dlgrader.flags.injection_cues``).

Detection only labels the answer (``injection_attempt``) and switches off score raises for it; the score
is safe without it, because a raise needs a quote that itself supports the key point.
"""

from __future__ import annotations

import re

from dlgrader.flags import injection_cues

_EXTRA = re.compile(
    "|".join([
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


def all_injection_cues(answer: str) -> list[str]:
    """Every cue, from the engine's detector and from the judge-specific patterns above."""
    cues = set(injection_cues(answer))
    cues.update(m.group(0)[:60] for m in _EXTRA.finditer(answer))
    return sorted(cues)
