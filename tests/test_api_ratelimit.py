"""The per-key token bucket behind the API's rate limit, on a fake clock."""

from __future__ import annotations

import pytest

from dlgrader.api.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(6, clock=clock)  # 6 a minute: one token every 10 s
    assert [limiter.hit("a") for _ in range(6)] == [0] * 6
    assert limiter.hit("a") == 10
    assert limiter.hit("b") == 0  # identities do not share a bucket
    clock.now += 4
    assert limiter.hit("a") == 6  # 0.4 of a token back: 6 s to the next one
    clock.now += 6
    assert limiter.hit("a") == 0
    assert limiter.hit("a") == 10
    clock.now += 3600  # a long pause refills to the burst size, not beyond
    assert [limiter.hit("a") for _ in range(7)] == [0] * 6 + [10]


def test_rate_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, max_identities=3)
    for name in "abcd":
        assert limiter.hit(name) == 0
    assert limiter.hit("a") == 0  # 'a' was evicted (least recently seen), so it starts afresh
    assert limiter.hit("d") == 60
    with pytest.raises(ValueError):
        RateLimiter(0)
