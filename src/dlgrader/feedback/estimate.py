"""Dry run: how many model calls and tokens feedback on a batch file would take, before spending anything.

No request is sent. Records are read as ``dlgrader batch`` reads them and matched to bank questions (by id,
or by text with the embedder); each answer's real prompt is built and measured. Tokens are estimated at
``CHARS_PER_TOKEN`` characters per token (English text with common tokenizers); the completion estimate
comes from the size of the reply the schema asks for. Answers the cache already holds cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlgrader.batch import to_request
from dlgrader.feedback.cache import CacheKey, FeedbackCache
from dlgrader.feedback.prompts import PromptTemplate, excerpts_for
from dlgrader.feedback.usage import Prices
from dlgrader.flags import content_word_count
from dlgrader.models import Question
from dlgrader.records import Columns, iter_records
from dlgrader.segment import truncate_words
from dlgrader.service import Grader, GradeRequest

CHARS_PER_TOKEN = 4.0
# Reply size: the JSON frame, one label (id, verdict, short quote) per key point, up to 7 sentences.
COMPLETION_BASE = 150
COMPLETION_PER_KEY_POINT = 35
CHUNK = 256


@dataclass
class Estimate:
    """The counts a dry run reports."""

    records: int = 0
    calls: int = 0
    cached: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def report(self, *, source: str, invalid_retries: int, prices: Prices, endpoint: str | None) -> str:
        lines = [f"Dry run for {source}: nothing was sent to any model."]
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        lines.append(f"  records: {self.records}; without a model call: {skipped}")
        lines.append(f"  model calls: {self.calls} ({self.cached} more already in the cache); up to "
                     f"{self.calls * (1 + invalid_retries)} if every reply needed its {invalid_retries} "
                     "repair retr" + ("y" if invalid_retries == 1 else "ies"))
        per = ""
        if self.calls:
            per = (f" (~{self.prompt_tokens // self.calls:,} + "
                   f"~{self.completion_tokens // self.calls:,} per call)")
        lines.append(f"  tokens: ~{self.prompt_tokens:,} prompt + ~{self.completion_tokens:,} "
                     f"completion{per}")
        cost = prices.cost(self.prompt_tokens, self.completion_tokens)
        if cost is not None:
            lines.append(f"  cost: ~${cost:.4f} at ${prices.input_per_mtok:g} / ${prices.output_per_mtok:g} "
                         "per million prompt / completion tokens")
        else:
            lines.append("  cost: set DLGRADER_LLM_PRICE_INPUT and DLGRADER_LLM_PRICE_OUTPUT "
                         "(US$ per million tokens) to see one")
        lines.append(f"  endpoint: {endpoint}" if endpoint else
                     "  endpoint: none configured (offline mode: a real run would add no feedback)")
        return "\n".join(lines)


def estimate(grader: Grader, input_path: Path, columns: Columns, *, prompt: PromptTemplate, model: str,
             cache: FeedbackCache | None) -> Estimate:
    """Count the calls and tokens that ``dlgrader batch --feedback`` would spend on ``input_path``."""
    out = Estimate()
    pending: list[GradeRequest] = []

    def flush() -> None:
        for request, question in zip(pending, grader.resolve_questions(pending), strict=True):
            _count(out, grader, request, question, prompt=prompt, model=model, cache=cache)
        pending.clear()

    for number, record in iter_records(input_path):
        out.records += 1
        request = to_request(number, record, columns)
        if not isinstance(request, GradeRequest):
            out.skip("invalid")
            continue
        pending.append(request)
        if len(pending) >= CHUNK:
            flush()
    flush()
    return out


def _count(out: Estimate, grader: Grader, request: GradeRequest, question: Question | None, *,
           prompt: PromptTemplate, model: str, cache: FeedbackCache | None) -> None:
    if question is None:
        out.skip("unknown question")
        return
    if content_word_count(request.answer) == 0:
        out.skip("empty answer")
        return
    text, _ = truncate_words(request.answer, grader.max_answer_words)
    key = CacheKey.of(model=model, prompt_version=prompt.version, corpus_hash=grader.bank.content_hash,
                      question_id=question.id, answer=text)
    if cache is not None and cache.contains(key):
        out.cached += 1
        return
    messages = prompt.messages(question, excerpts_for(question), text)
    out.calls += 1
    out.prompt_tokens += round(sum(len(m["content"]) for m in messages) / CHARS_PER_TOKEN) + 8 * len(messages)
    out.completion_tokens += COMPLETION_BASE + COMPLETION_PER_KEY_POINT * len(question.key_points)
