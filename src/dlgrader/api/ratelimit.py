"""A per-identity token bucket: ``per_minute`` requests a minute, in bursts of up to ``per_minute``."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by identity (an API key's fingerprint or a client address).

    Each bucket holds up to ``per_minute`` tokens and refills at ``per_minute / 60`` tokens a second; a
    request takes one token. Only the most recently seen ``max_identities`` buckets are kept, so memory
    stays bounded whoever calls. The clock is injected so tests need no sleeping.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 max_identities: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max = max_identities
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # identity -> (tokens, time)
        self._lock = threading.Lock()

    def hit(self, identity: str) -> int:
        """Take a token for ``identity``: 0 when allowed, else the whole seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(identity, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
            wait = 0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self._rate))
            self._buckets[identity] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait
