"""LLM feedback: grounded, verified and injection-proof, through any OpenAI-compatible server.

Modules, one job each:

- ``client``: the chat client (timeouts, retries with backoff, concurrency limit, JSON modes);
- ``prompts``: versioned templates from ``prompts/``, the answer's data field and its neutralisation;
- ``schema``: the JSON schema sent to the server and the validation of the reply;
- ``verify``: quotes located in the answer, feedback sentences checked against their citations;
- ``scoring``: the score with the model's labels, by the offline engine's rules;
- ``injection``: cues that an answer addresses the judge;
- ``cache``: SQLite cache of valid replies; ``usage``: tokens and cost; ``estimate``: the dry run;
- ``engine``: ``FeedbackEngine``, which runs all of the above for a list of graded results.

Nothing here reads settings or opens a connection at import time; ``dlgrader.feedback_runner`` builds
the engine from settings.
"""

from __future__ import annotations

from dlgrader.feedback.cache import CacheKey, FeedbackCache
from dlgrader.feedback.client import ClientConfig, LLMClient, Reply
from dlgrader.feedback.engine import FeedbackEngine, unavailable
from dlgrader.feedback.prompts import DEFAULT_PROMPT, Excerpt, PromptTemplate, load_prompt
from dlgrader.feedback.schema import FeedbackOutput, json_schema, parse_output
from dlgrader.feedback.usage import Prices, Usage
from dlgrader.feedback.verify import VerifyThresholds

__all__ = [
    "DEFAULT_PROMPT", "CacheKey", "ClientConfig", "Excerpt", "FeedbackCache", "FeedbackEngine",
    "FeedbackOutput", "LLMClient", "Prices", "PromptTemplate", "Reply", "Usage", "VerifyThresholds",
    "json_schema", "load_prompt", "parse_output", "unavailable",
]
