"""Building the feedback engine from settings, and the dry-run estimate of what it would send.

Nothing here opens a connection: the OpenAI client connects on its first request.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlgrader.config import PROMPTS_DIR, Settings
from dlgrader.feedback.cache import FeedbackCache
from dlgrader.feedback.client import ClientConfig, LLMClient
from dlgrader.feedback.engine import FeedbackEngine
from dlgrader.feedback.prompts import load_prompt
from dlgrader.feedback.usage import Prices

if TYPE_CHECKING:
    from dlgrader.embedding import Embedder
    from dlgrader.records import Columns
    from dlgrader.service import Grader

NO_MODEL_REASON = "no model name is configured (set DLGRADER_LLM_MODEL)"


def off_reason(settings: Settings) -> str | None:
    """Why feedback is off with these settings (None when an endpoint and a model are configured)."""
    from dlgrader.service import OFFLINE_REASON

    config = ClientConfig.from_settings(settings)
    if config is None:
        return OFFLINE_REASON
    return NO_MODEL_REASON if not config.model else None


def prices(settings: Settings) -> Prices:
    return Prices(settings.llm_price_input, settings.llm_price_output)


def engine_from_settings(settings: Settings, *, embedder: Embedder, corpus_hash: str) -> FeedbackEngine:
    """The engine for these settings (an endpoint must be configured: see ``off_reason``)."""
    config = ClientConfig.from_settings(settings)
    if config is None:
        raise ValueError("no LLM endpoint is configured")
    return FeedbackEngine(LLMClient(config), load_prompt(PROMPTS_DIR), embedder=embedder,
                          corpus_hash=corpus_hash,
                          cache=FeedbackCache.in_data_dir(settings.resolved_data_dir()),
                          invalid_retries=settings.llm_invalid_output_retries)


def dry_run_estimate(grader: Grader, input_path: Path, columns: Columns, settings: Settings) -> str:
    """What ``batch --feedback`` would send for ``input_path``: calls and tokens, nothing sent."""
    from dlgrader.feedback.estimate import estimate

    config = ClientConfig.from_settings(settings)
    model = config.model if config else ""
    cache_file = settings.resolved_data_dir() / "llm_cache.sqlite3"
    cache = FeedbackCache(cache_file) if cache_file.exists() else None
    result = estimate(grader, input_path, columns, prompt=load_prompt(PROMPTS_DIR), model=model, cache=cache)
    endpoint = f"{config.model or '(no model set)'} at {config.base_url}" if config else None
    return result.report(source=str(input_path), invalid_retries=settings.llm_invalid_output_retries,
                         prices=prices(settings), endpoint=endpoint)
