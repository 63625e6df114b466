"""The chat client: any OpenAI-compatible server through the ``openai`` package, bounded in every way.

Each request has a timeout; 429, 5xx, timeouts and refused connections are retried up to ``max_retries``
times with exponential backoff (a server's ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER`` seconds);
at most ``concurrency`` requests are in flight per endpoint in this process. The openai client's own
retries are switched off so that these rules are the only ones. Every failure ends as
``FeedbackUnavailable`` with a reason.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dlgrader.config import Settings
from dlgrader.errors import FeedbackUnavailable

log = logging.getLogger(__name__)

JsonMode = Literal["json_schema", "json_object", "json_object_schema"]
MAX_RETRY_AFTER = 30.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
LOCAL_API_KEY = "not-needed"  # the openai client insists on a key; local servers ignore it
OPENAI_BASE_URL = "https://api.openai.com/v1"  # used when only an API key and a model are set

# One limit per endpoint for the whole process: API requests that each build a client share it.
_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _slots_for(base_url: str, concurrency: int) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        return _SLOTS.setdefault((base_url, concurrency), threading.BoundedSemaphore(concurrency))


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to call the model (from ``Settings``; ``None`` from ``from_settings`` when offline)."""

    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.0
    seed: int | None = 7
    timeout: float = 30.0
    max_retries: int = 2
    concurrency: int = 4
    json_mode: JsonMode = "json_schema"
    max_tokens: int = 1500

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientConfig | None:
        base_url, api_key, model = settings.llm_endpoint()
        if not base_url and api_key and model:
            base_url = OPENAI_BASE_URL
        if not base_url:
            return None
        return cls(base_url=base_url, model=model or "", api_key=api_key,
                   temperature=settings.llm_temperature, seed=settings.llm_seed, timeout=settings.llm_timeout,
                   max_retries=settings.llm_max_retries,
                   concurrency=settings.llm_concurrency, json_mode=settings.llm_json_mode)


@dataclass(frozen=True)
class Reply:
    """One completion: its text and token usage."""

    content: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    requests: int  # HTTP requests it took, retries included


class LLMClient:
    """Sends chat requests that must answer with JSON; retries transient failures, never hangs."""

    def __init__(self, config: ClientConfig, *, openai_client: Any | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._client = openai_client or self._make_openai(config)
        self._sleep = sleep
        self._slots = _slots_for(config.base_url, config.concurrency)

    @staticmethod
    def _make_openai(config: ClientConfig) -> Any:
        import openai

        return openai.OpenAI(base_url=config.base_url, api_key=config.api_key or LOCAL_API_KEY,
                             timeout=config.timeout, max_retries=0)

    def response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The ``response_format`` for the configured JSON mode."""
        if self.config.json_mode == "json_schema":
            return {"type": "json_schema",
                    "json_schema": {"name": "dlgrader_feedback", "strict": True, "schema": schema}}
        if self.config.json_mode == "json_object_schema":  # llama.cpp's server: a grammar from the schema
            return {"type": "json_object", "schema": schema}
        return {"type": "json_object"}

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], *,
                 max_tokens: int | None = None) -> Reply:
        """One chat completion held to ``schema``; ``FeedbackUnavailable`` once the retries are spent."""
        import openai

        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages,
                                  "temperature": self.config.temperature,
                                  "max_tokens": min(self.config.max_tokens, max_tokens or self.config.max_tokens),
                                  "response_format": self.response_format(schema)}
        if self.config.seed is not None:
            kwargs["seed"] = self.config.seed
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._slots:
                    response = self._client.chat.completions.create(**kwargs)
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                reason = _describe(exc)
                if attempt > self.config.max_retries:
                    raise FeedbackUnavailable(f"{reason} (after {attempt} attempt(s))") from None
                delay = self._delay(attempt, exc)
                log.info("LLM request failed (%s); retry %d in %.2fs", reason, attempt, delay)
                self._sleep(delay)
                continue
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying cannot help
                raise FeedbackUnavailable(_describe(exc)) from None
            return _reply(response, attempt)

    def _delay(self, attempt: int, exc: Exception) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return backoff * (1 - 0.25 * random.random())  # jitter spreads out clients that failed together

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close:
            close()


def _reply(response: Any, requests: int) -> Reply:
    usage = getattr(response, "usage", None)
    choice = response.choices[0] if getattr(response, "choices", None) else None
    return Reply(
        content=choice.message.content if choice is not None else None,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=getattr(choice, "finish_reason", None),
        requests=requests,
    )


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    if headers.get("retry-after-ms"):
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            return None
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _describe(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "the LLM server did not answer in time (timeout)"
    if isinstance(exc, openai.APIConnectionError):
        return "cannot reach the LLM server (connection failed)"
    status = getattr(exc, "status_code", None)
    return f"the LLM server answered HTTP {status}" if status else f"LLM request failed: {exc}"
