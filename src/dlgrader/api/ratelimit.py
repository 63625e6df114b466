"""Token buckets behind the API's limits, kept in one of two stores.

``MemoryStore`` keeps the buckets in this process: the default, and right for one worker. With several
workers (``dlgrader serve --workers N``) or several replicas each process would count on its own and a
client would get N times the limit, so ``RedisStore`` keeps them in Redis
(``DLGRADER_RATE_LIMIT_STORE=redis://host:port/db``): each take is one atomic Lua script on a hash keyed
by limit and identity, which expires once the bucket would be full again.

Redis unreachable at request time: the store *fails open to the process*. It logs a warning (at most one a
minute) and counts in a local ``MemoryStore`` until Redis answers again (retried every few seconds), so
limits keep holding per worker instead of vanishing (fail open) or refusing every request (fail closed,
which would turn a cache outage into an API outage).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dlgrader.errors import ConfigError

if TYPE_CHECKING:
    from dlgrader.config import Settings

log = logging.getLogger(__name__)


class BucketStore(Protocol):
    """Where token buckets live. ``take`` removes ``cost`` tokens (0 only looks) from the bucket ``key``
    when it holds at least one, and returns 0; otherwise the seconds until it holds one."""

    async def take(self, key: str, *, capacity: int, per_second: float, cost: int = 1) -> float: ...


class MemoryStore:
    """Buckets in this process. Only the most recently used ``max_keys`` are kept, so memory stays bounded
    whoever calls. The clock is injected so tests need no sleeping."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self._clock = clock
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, time)
        self._lock = threading.Lock()

    def take_now(self, key: str, *, capacity: int, per_second: float, cost: int = 1) -> float:
        """``take``, synchronously (nothing here waits on I/O)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + max(0.0, now - last) * per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= cost
            else:
                wait = (1.0 - tokens) / per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait

    async def take(self, key: str, *, capacity: int, per_second: float, cost: int = 1) -> float:
        return self.take_now(key, capacity=capacity, per_second=per_second, cost=cost)


# KEYS[1]: the bucket. ARGV: capacity, tokens per second, cost, and the time in seconds ("" = Redis's own
# clock, so that every worker and replica agrees on it). Returns the wait as a string: Redis would truncate
# a Lua number to an integer.
TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = capacity
  last = now
end
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - cost
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisStore:
    """Buckets in Redis, shared by every worker and replica pointed at the same database (see the module
    docstring for what happens while Redis is unreachable)."""

    def __init__(self, url: str, *, prefix: str = "dlgrader:ratelimit:", timeout: float = 0.5,
                 retry_after: float = 5.0, clock: Callable[[], float] | None = None,
                 fallback: MemoryStore | None = None) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import RedisError
        except ImportError as exc:
            raise ConfigError("DLGRADER_RATE_LIMIT_STORE names Redis but the redis client is not installed: "
                              "pip install 'dlgrader[redis]'") from exc
        try:
            # One immediate retry: enough for a pooled connection that died with a Redis restart; more (the
            # client's default backs off for seconds) would stall requests while Redis is down.
            self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                                  retry=Retry(NoBackoff(), 1))
        except ValueError as exc:
            raise ConfigError(f"DLGRADER_RATE_LIMIT_STORE is not a usable Redis URL: {exc}") from exc
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)  # OSError: timeouts too
        self._script = self._redis.register_script(TOKEN_BUCKET_LUA)
        self._prefix = prefix
        self._retry_after = retry_after
        self._clock = clock  # None: Redis's clock (tests inject one to step time without sleeping)
        self._fallback = fallback or MemoryStore()
        self._down_until = 0.0
        self._warned_at: float | None = None
        self.location = _without_password(url)

    async def take(self, key: str, *, capacity: int, per_second: float, cost: int = 1) -> float:
        now = time.monotonic()
        if now < self._down_until:
            return await self._fallback.take(key, capacity=capacity, per_second=per_second, cost=cost)
        at = "" if self._clock is None else repr(self._clock())
        try:
            raw: Any = await self._script(keys=[self._prefix + key], args=[capacity, repr(per_second), cost, at])
        except self._errors as exc:
            self._down_until = now + self._retry_after
            if self._warned_at is None or now - self._warned_at >= 60.0:
                self._warned_at = now
                log.warning("rate-limit store %s unreachable (%s: %s); counting per process until it answers",
                            self.location, type(exc).__name__, exc, extra={"event": "ratelimit_store_down"})
            return await self._fallback.take(key, capacity=capacity, per_second=per_second, cost=cost)
        if self._warned_at is not None:
            self._warned_at = None
            log.warning("rate-limit store %s reachable again", self.location,
                        extra={"event": "ratelimit_store_up"})
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


class RateLimiter:
    """``per_minute`` requests a minute per identity (an API key's fingerprint or a client address), in
    bursts of up to ``per_minute``: a token bucket refilled at ``per_minute / 60`` tokens a second.

    ``name`` keeps different limits apart in a shared store. Without a ``store``, buckets live in this
    process (``clock`` and ``max_identities`` then configure it).
    """

    def __init__(self, per_minute: int, *, name: str = "requests", store: BucketStore | None = None,
                 clock: Callable[[], float] = time.monotonic, max_identities: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.name = name
        self._rate = per_minute / 60.0
        self._store: BucketStore = store or MemoryStore(clock=clock, max_keys=max_identities)

    async def hit(self, identity: str) -> int:
        """Take a token for ``identity``: 0 when allowed, else the whole seconds to wait before retrying."""
        return self._seconds(await self._store.take(f"{self.name}:{identity}", capacity=self.per_minute,
                                                    per_second=self._rate))

    async def blocked(self, identity: str) -> int:
        """Whether ``identity`` is out of tokens, without taking one: 0 when not, else the seconds to wait."""
        return self._seconds(await self._store.take(f"{self.name}:{identity}", capacity=self.per_minute,
                                                    per_second=self._rate, cost=0))

    @staticmethod
    def _seconds(wait: float) -> int:
        return 0 if wait <= 0 else max(1, math.ceil(wait - 1e-9))


@dataclass(frozen=True)
class Limits:
    """The API's limiters, sharing one store: requests per identity, and failed API keys per address."""

    requests: RateLimiter | None
    auth_failures: RateLimiter | None


def build_store(url: str) -> BucketStore:
    """The store a ``DLGRADER_RATE_LIMIT_STORE`` value names: ``memory`` or a ``redis://`` URL."""
    if url == "memory":
        return MemoryStore()
    return RedisStore(url)


def limits_from_settings(settings: Settings) -> Limits:
    """The limiters the settings ask for (None where a limit is off), on the configured store."""
    wanted = settings.rate_limit_per_minute or (settings.api_key_set and settings.auth_failures_per_minute)
    if not wanted:
        return Limits(None, None)
    store = build_store(settings.rate_limit_store)
    requests = (RateLimiter(settings.rate_limit_per_minute, name="requests", store=store)
                if settings.rate_limit_per_minute else None)
    failures = (RateLimiter(settings.auth_failures_per_minute, name="auth-failures", store=store)
                if settings.api_key_set and settings.auth_failures_per_minute else None)
    return Limits(requests, failures)
