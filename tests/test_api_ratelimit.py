"""The token buckets behind the API's limits (on a fake clock), in memory and in a real Redis, and the
suppressor that keeps refused requests from flooding the access log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from dlgrader.api.logs import RepeatSuppressor
from dlgrader.api.ratelimit import Limits, MemoryStore, RateLimiter, RedisStore, limits_from_settings
from dlgrader.config import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hits(limiter: RateLimiter, identity: str, count: int) -> list[int]:
    async def run() -> list[int]:
        return [await limiter.hit(identity) for _ in range(count)]

    return asyncio.run(run())


def test_rate_limiter_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(6, clock=clock)  # 6 a minute: one token every 10 s
    assert hits(limiter, "a", 7) == [0] * 6 + [10]
    assert hits(limiter, "b", 1) == [0]  # identities do not share a bucket
    clock.now += 4
    assert hits(limiter, "a", 1) == [6]  # 0.4 of a token back: 6 s to the next one
    clock.now += 6
    assert hits(limiter, "a", 2) == [0, 10]
    clock.now += 3600  # a long pause refills to the burst size, not beyond
    assert hits(limiter, "a", 7) == [0] * 6 + [10]


def test_blocked_looks_without_taking() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock)
    assert asyncio.run(limiter.blocked("a")) == 0
    assert hits(limiter, "a", 2) == [0, 0]  # looking took nothing
    assert asyncio.run(limiter.blocked("a")) == 30
    assert hits(limiter, "a", 1) == [30]


def test_rate_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, max_identities=3)
    for name in "abcd":
        assert hits(limiter, name, 1) == [0]
    assert hits(limiter, "a", 1) == [0]  # 'a' was evicted (least recently seen), so it starts afresh
    assert hits(limiter, "d", 1) == [60]
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_limits_follow_the_settings() -> None:
    assert limits_from_settings(Settings(rate_limit_per_minute=0)) == Limits(None, None)
    plain = limits_from_settings(Settings(rate_limit_per_minute=30))
    assert plain.requests is not None and plain.requests.per_minute == 30 and plain.auth_failures is None
    keyed = limits_from_settings(Settings(rate_limit_per_minute=0, api_keys="k1", auth_failures_per_minute=4))
    assert keyed.requests is None and keyed.auth_failures is not None and keyed.auth_failures.per_minute == 4
    with pytest.raises(ValueError, match="Redis URL"):
        Settings(rate_limit_store="memcached://x")


# ---------------------------------------------------------------- log suppression


def test_refusals_are_logged_once_per_identity_and_interval_then_counted() -> None:
    clock = FakeClock()
    suppressor = RepeatSuppressor(interval=60, max_keys=2, clock=clock)
    assert suppressor.flush() is None
    assert [suppressor.admit("ip-a") for _ in range(1000)] == [True] + [False] * 999
    assert suppressor.admit("ip-b") is True
    assert suppressor.admit("ip-c") is False  # past max_keys, even a first line is only counted
    clock.now += 59
    assert suppressor.flush() is None  # the interval is not over
    clock.now += 1
    summary = suppressor.flush()
    assert summary is not None
    assert (summary.count, summary.identities, summary.top[0]) == (1000, 2, ("ip-a", 999))
    assert suppressor.admit("ip-a") is True  # a new interval logs the first line again
    clock.now += 60
    assert suppressor.flush() is None  # nothing was left out


# ---------------------------------------------------------------- the shared Redis store


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    import redisserver

    with redisserver.running(tmp_path / "redis") as server:
        yield server


def test_redis_store_holds_one_limit_across_workers(redis_server) -> None:  # type: ignore[no-untyped-def]
    """Two limiters on one Redis, as two workers would have: together they allow the limit, not twice it."""
    clock = FakeClock()

    async def run() -> tuple[list[int], list[int], list[int], float]:
        first = RateLimiter(4, store=RedisStore(redis_server.url, clock=clock))
        second = RateLimiter(4, store=RedisStore(redis_server.url, clock=clock))
        try:
            waits = [await (first if i % 2 else second).hit("key-x") for i in range(8)]
            other = [await first.hit("key-y"), await second.blocked("key-x")]
            clock.now += 15  # one token back (4 a minute)
            again = [await second.hit("key-x"), await first.hit("key-x")]
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(redis_server.url)
            ttl = await client.pttl("dlgrader:ratelimit:requests:key-x")
            await client.aclose()
            return waits, other, again, ttl
        finally:
            await first._store.aclose()  # type: ignore[attr-defined]
            await second._store.aclose()  # type: ignore[attr-defined]

    waits, other, again, ttl = asyncio.run(run())
    assert waits == [0, 0, 0, 0, 15, 15, 15, 15]
    assert other == [0, 15]  # another identity has its own bucket; looking takes nothing
    assert again == [0, 15]
    assert 0 < ttl <= 61_000  # the bucket expires once it would be full again: Redis does not fill up


def test_redis_down_fails_open_to_the_process_with_a_warning(redis_server, caplog) -> None:  # type: ignore[no-untyped-def]
    """Decided: an unreachable Redis neither refuses every request nor drops the limit; each process
    counts on its own (logged once) until Redis answers again."""
    clock = FakeClock()

    async def run() -> tuple[list[int], list[int]]:
        store = RedisStore(redis_server.url, clock=clock, retry_after=0.0, fallback=MemoryStore(clock=clock))
        limiter = RateLimiter(2, store=store)
        try:
            assert await limiter.hit("k") == 0
            redis_server.stop()
            during = [await limiter.hit("k") for _ in range(3)]
            import redisserver

            restarted = redisserver.start(redis_server.log_path.parent, port=redis_server.port)
            try:
                after = [await limiter.hit("k") for _ in range(3)]
            finally:
                restarted.stop()
            return during, after
        finally:
            await store.aclose()

    with caplog.at_level(logging.WARNING, logger="dlgrader.api.ratelimit"):
        during, after = asyncio.run(run())
    assert during == [0, 0, 30]  # the local bucket still limits (it started full: Redis's count is lost)
    assert after == [0, 0, 30]  # a fresh Redis counts again
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "unreachable" in m]) == 1, messages
    assert any("reachable again" in m for m in messages)
