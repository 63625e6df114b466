"""``FeedbackEngine``: from graded results and their answers to verified, rescored ``Feedback`` records.

Per answer: the cache, else the model (schema-held JSON, invalid replies retried ``invalid_retries``
times with a repair message), then quote verification, citation/support checks and the score with the
model's labels (``scoring.py``). Model calls run concurrently (bounded by the client); verification runs
afterwards on the calling thread. A failure of any kind gives ``{"available": false, "reason": ...}``:
feedback is never invented, and the engine's grade is never touched. ``Grader.add_feedback`` is the only
caller; it hands over each result with its question and key-point vectors, so the engine never reaches
into the Grader.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlgrader.errors import FeedbackOutputError, FeedbackUnavailable
from dlgrader.feedback.cache import CacheKey, FeedbackCache
from dlgrader.feedback.client import LLMClient
from dlgrader.feedback.prompts import Excerpt, PromptTemplate, excerpts_for
from dlgrader.feedback.schema import FeedbackOutput, json_schema, parse_output
from dlgrader.feedback.scoring import Label, rescore
from dlgrader.feedback.usage import Usage
from dlgrader.feedback.verify import VerifyThresholds, check_statements, locate_quote
from dlgrader.flags import injection_cues
from dlgrader.grading import Thresholds
from dlgrader.models import Feedback, FeedbackStatement, GradeResult, Question

if TYPE_CHECKING:
    import numpy as np

    from dlgrader.embedding import Embedder

log = logging.getLogger(__name__)


def reply_budget(n_key_points: int) -> int:
    """Most tokens a reply may take: a label with a quote per key point and seven short sentences.

    A small model can loop inside a JSON string until ``max_tokens``; this bounds the time that costs.
    """
    return 400 + 80 * n_key_points


def unavailable(reason: str, **extra: Any) -> Feedback:
    """The feedback record when there is none: says why, carries no verdict and no score."""
    return Feedback(available=False, reason=reason, **extra)


@dataclass
class FeedbackItem:
    """One graded answer to get feedback on, with what the engine needs from the bank and the index."""

    result: GradeResult
    answer: str  # cleaned and truncated as it was graded
    question: Question
    keypoint_vectors: np.ndarray


@dataclass
class _Job:
    result: GradeResult
    answer: str
    question: Question
    keypoint_vectors: np.ndarray
    excerpts: list[Excerpt]
    key: CacheKey
    reply: FeedbackOutput | None = None
    usage: dict[str, int] | None = None
    cache: str = "miss"
    attempts: int = 0
    error: str | None = None


class FeedbackEngine:
    """Adds LLM feedback to graded results. Every collaborator is injected."""

    def __init__(self, client: LLMClient, prompt: PromptTemplate, *, embedder: Embedder, corpus_hash: str,
                 grading_thresholds: Thresholds | None = None, cache: FeedbackCache | None = None,
                 invalid_retries: int = 1, thresholds: VerifyThresholds | None = None) -> None:
        self.client = client
        self.prompt = prompt
        self.embedder = embedder
        self.corpus_hash = corpus_hash
        self.grading_thresholds = grading_thresholds or Thresholds()
        self.cache = cache
        self.invalid_retries = invalid_retries
        self.thresholds = thresholds or VerifyThresholds()
        self.usage = Usage()  # running totals over every call of this engine

    @property
    def model(self) -> str:
        return self.client.config.model

    # ------------------------------------------------------------------ public

    def attach(self, items: Sequence[FeedbackItem]) -> list[dict[str, int]]:
        """Set ``result.feedback`` on each item's result; returns each call's usage counters."""
        jobs = [job for job in map(self._job, items) if job is not None]
        with ThreadPoolExecutor(max_workers=self.client.config.concurrency,
                                thread_name_prefix="dlgrader-llm") as pool:
            list(pool.map(self._fetch, jobs))
        calls = [self._finish(job) for job in jobs]
        for call in calls:
            self.usage.add(call)
        return calls

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ steps

    def cache_key(self, question_id: str, answer: str) -> CacheKey:
        """The cache key of one answer's reply (the dry-run estimate asks the same)."""
        return CacheKey.of(model=self.model, prompt_version=self.prompt.version, corpus_hash=self.corpus_hash,
                           question_id=question_id, answer=answer)

    def _job(self, item: FeedbackItem) -> _Job | None:
        if "empty" in item.result.flag_codes:
            item.result.feedback = unavailable("the answer is empty: there is nothing to give feedback on")
            return None
        return _Job(item.result, item.answer, item.question, item.keypoint_vectors,
                    excerpts_for(item.question), self.cache_key(item.question.id, item.answer))

    def _fetch(self, job: _Job) -> None:
        """The model's reply for one job: from the cache, else from the server (runs on a worker)."""
        n_points = len(job.question.key_points)
        if self.cache is not None:
            cached = self.cache.get(job.key)
            if cached is not None:
                try:
                    job.reply = parse_output(cached.reply, n_points)
                    job.cache = "hit"
                    job.usage = {"cache_hits": 1}
                    return
                except FeedbackOutputError:
                    log.warning("ignoring an unreadable cache entry for %s", job.question.id)
        usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cache_misses": 1}
        job.usage = usage
        messages = self.prompt.messages(job.question, job.excerpts, job.answer)
        schema = json_schema(n_points, [e.id for e in job.excerpts],
                             bounded=self.client.config.json_mode != "json_schema")
        for attempt in range(1, self.invalid_retries + 2):
            job.attempts = attempt
            try:
                reply = self.client.complete(messages, schema, max_tokens=reply_budget(n_points))
            except FeedbackUnavailable as exc:
                job.error = str(exc)
                return
            usage["requests"] += reply.requests
            usage["prompt_tokens"] += reply.prompt_tokens
            usage["completion_tokens"] += reply.completion_tokens
            try:
                job.reply = parse_output(reply.content, n_points)
            except FeedbackOutputError as exc:
                job.error = f"the model's output stayed invalid after {attempt} attempt(s): {exc}"
                messages = [*messages, {"role": "assistant", "content": (reply.content or "")[:4000]},
                            self.prompt.repair_message(str(exc), n_points)]
                continue
            job.error = None
            if self.cache is not None:
                self.cache.put(job.key, job.reply.model_dump_json(), prompt_tokens=reply.prompt_tokens,
                               completion_tokens=reply.completion_tokens)
            return

    def _finish(self, job: _Job) -> dict[str, int]:
        usage = dict(job.usage or {})
        if job.reply is None:
            usage["unavailable"] = 1
            job.result.feedback = unavailable(job.error or "no reply", model=self.model,
                                              prompt_version=self.prompt.version, attempts=job.attempts,
                                              usage=_call_usage(usage))
            return usage
        job.result.feedback = self._verified(job, job.reply)
        job.result.feedback.usage = _call_usage(usage)
        return usage

    def _labels(self, job: _Job, reply: FeedbackOutput) -> dict[int, Label]:
        labels: dict[int, Label] = {}
        needs_similarity: list[tuple[int, str]] = []
        for item in reply.key_points:
            index = int(item.id[1:]) - 1
            if item.verdict == "missing":
                labels[index] = Label(item.verdict, None)
                continue
            located = locate_quote(job.answer, item.quote)
            if located is None:
                labels[index] = Label(item.verdict, None, void="the quote does not occur in the answer")
                continue
            if injection_cues(located.text):
                labels[index] = Label(item.verdict, located, void="the quote is an instruction to the grader")
                continue
            labels[index] = Label(item.verdict, located)
            needs_similarity.append((index, located.text))
        if needs_similarity:
            vectors = self.embedder.encode([text for _, text in needs_similarity])
            for (index, _), vector in zip(needs_similarity, vectors, strict=True):
                labels[index].quote_similarity = float(job.keypoint_vectors[index] @ vector)
        return labels

    def _verified(self, job: _Job, reply: FeedbackOutput) -> Feedback:
        result = job.result
        # The Grader flags injection on the whole answer; the judge sees this text, so it is read again.
        cues = injection_cues(job.answer)
        labels = self._labels(job, reply)
        rescored = rescore(result.key_points, result.flags, labels, self.grading_thresholds,
                           allow_raise=not cues)
        groups = {"strengths": reply.strengths, "gaps": reply.gaps, "suggestion": [reply.suggestion]}
        statements = check_statements(groups, job.excerpts, self.embedder, self.thresholds)
        kept = statements.kept
        voided = sum(1 for label in labels.values() if label.void)
        cited = {r for group in kept.values() for s in group for r in s.refs}
        return Feedback(
            available=True,
            model=self.model,
            prompt_version=self.prompt.version,
            cache=job.cache,
            attempts=job.attempts,
            score=rescored.score,
            grade=rescored.grade,
            engine_score=result.score,
            breakdown=rescored.breakdown,
            key_points=rescored.changes,
            flags=[{"code": f.code, "penalty": f.penalty} for f in rescored.flags],
            strengths=[_statement(s) for s in kept["strengths"]],
            gaps=[_statement(s) for s in kept["gaps"]],
            suggestion=_statement(kept["suggestion"][0]) if kept["suggestion"] else None,
            references=[{"id": e.id, "text": e.text, "document": e.document, "locator": e.locator}
                        for e in job.excerpts if e.id in cited],
            verification={
                "labels": len(labels), "quotes_voided": voided,
                "raises_refused": rescored.counts["raise_refused"],
                "raises_capped": rescored.counts["raise_capped"],
                "statements": statements.checked, "uncited_removed": statements.uncited,
                "unsupported_removed": statements.unsupported,
                "removed": statements.uncited + statements.unsupported,
                "removed_statements": statements.removed,
            },
            injection_cues=cues,
        )


def _statement(s: Any) -> FeedbackStatement:
    return FeedbackStatement(text=s.text, refs=s.refs, support=s.support)


def _call_usage(usage: dict[str, int]) -> dict[str, int]:
    return {k: usage.get(k, 0) for k in ("requests", "prompt_tokens", "completion_tokens")}
