"""Attach optional LLM feedback to graded results: the seam the CLI, the API, batch runs and practice call.

Offline (no endpoint configured) every graded result gets ``{"available": false, "reason": ...}`` at once,
without any network call. Otherwise ``FeedbackEngine`` does the work (see ``dlgrader.feedback``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dlgrader.batch import Columns
from dlgrader.config import PROMPTS_DIR, Settings, get_settings
from dlgrader.feedback import (
    ClientConfig,
    FeedbackCache,
    FeedbackEngine,
    LLMClient,
    Prices,
    Usage,
    load_prompt,
    unavailable,
)
from dlgrader.feedback.estimate import estimate
from dlgrader.models import GradeResult
from dlgrader.service import Grader

OFFLINE_REASON = ("offline mode: no LLM endpoint is configured "
                  "(set DLGRADER_LLM_BASE_URL and DLGRADER_LLM_MODEL, or OPENAI_BASE_URL)")
NO_MODEL_REASON = "no model name is configured (set DLGRADER_LLM_MODEL)"


def _offline_reason(config: ClientConfig | None) -> str | None:
    if config is None:
        return OFFLINE_REASON
    return NO_MODEL_REASON if not config.model else None


def prices(settings: Settings) -> Prices:
    return Prices(settings.llm_price_input, settings.llm_price_output)


def build_engine(grader: Grader, settings: Settings) -> FeedbackEngine:
    """The engine for these settings (an endpoint must be configured)."""
    config = ClientConfig.from_settings(settings)
    assert config is not None
    return FeedbackEngine(grader, LLMClient(config), load_prompt(PROMPTS_DIR),
                          cache=FeedbackCache.in_data_dir(settings.resolved_data_dir()),
                          invalid_retries=settings.llm_invalid_output_retries)


def attach_feedback(grader: Grader, results: list[GradeResult], answers: list[str],
                    settings: Settings | None = None) -> Usage:
    """Set ``result.feedback`` on every graded result (an 'unavailable' record when offline)."""
    settings = settings or get_settings()
    usage = Usage()
    reason = _offline_reason(ClientConfig.from_settings(settings))
    if reason:
        for result in results:
            if result.status == "graded":
                result.feedback = unavailable(reason)
        return usage
    engine = build_engine(grader, settings)
    try:
        for call in engine.attach(results, answers):
            usage.add(call)
    finally:
        engine.client.close()
    return usage


class BatchFeedback:
    """Batch hook: adds feedback to each chunk of graded results before it is written; keeps token totals."""

    def __init__(self, grader: Grader, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.grader = grader
        self.totals = Usage()
        self.offline_reason = _offline_reason(ClientConfig.from_settings(self.settings))
        self._engine = None if self.offline_reason else build_engine(grader, self.settings)

    def __call__(self, results: Sequence[GradeResult], answers: Sequence[str]) -> None:
        if self._engine is None:
            for result in results:
                if result.status == "graded":
                    result.feedback = unavailable(self.offline_reason or OFFLINE_REASON)
            return
        for call in self._engine.attach(results, answers):
            self.totals.add(call)

    def line(self) -> str:
        """Running totals, one line (with the cost when prices are set)."""
        if self.offline_reason:
            return f"LLM feedback: {self.offline_reason}"
        return self.totals.line(prices(self.settings))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.client.close()


def dry_run_estimate(grader: Grader, input_path: Path, columns: Columns,
                     settings: Settings | None = None) -> str:
    """What ``batch --feedback`` would send for ``input_path``: calls and tokens, nothing sent."""
    settings = settings or get_settings()
    config = ClientConfig.from_settings(settings)
    model = config.model if config else ""
    cache_file = settings.resolved_data_dir() / "llm_cache.sqlite3"
    cache = FeedbackCache(cache_file) if cache_file.exists() else None
    result = estimate(grader, input_path, columns, prompt=load_prompt(PROMPTS_DIR), model=model, cache=cache)
    endpoint = f"{config.model or '(no model set)'} at {config.base_url}" if config else None
    return result.report(source=str(input_path), invalid_retries=settings.llm_invalid_output_retries,
                         prices=prices(settings), endpoint=endpoint)
