"""Token usage and cost: per call in each result, summed over a batch run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

_COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "cache_hits", "cache_misses", "unavailable")


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens (None when unknown: costs are then not reported)."""

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.input_per_mtok is None or self.output_per_mtok is None:
            return None
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


@dataclass
class Usage:
    """What feedback has cost so far: HTTP requests, tokens, cache hits and misses, failures."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    unavailable: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, other: dict[str, int]) -> None:
        with self._lock:
            for name in _COUNTERS:
                setattr(self, name, getattr(self, name) + int(other.get(name, 0)))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _COUNTERS}

    def line(self, prices: Prices | None = None) -> str:
        """One line for a terminal, e.g. at the end of a batch run."""
        text = (f"LLM: {self.requests} request(s), {self.prompt_tokens:,} prompt + "
                f"{self.completion_tokens:,} completion tokens; cache {self.cache_hits} hit(s), "
                f"{self.cache_misses} miss(es); {self.unavailable} without feedback")
        cost = (prices or Prices()).cost(self.prompt_tokens, self.completion_tokens)
        return text + (f"; cost ${cost:.4f}" if cost is not None else "")
