"""Spend-limit counters in a real Redis: fixed and sliding windows, a sliding window's running total (kept beside
its set, expiring with it, summed once for a set an earlier kumo kept without one), and fail-open/closed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis

from kumo.gateway.controls.spend import Budget
from kumo.storage.redis_spend import RedisSpendCounter

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix():
    name = f"kumo-test-spend-{uuid.uuid4().hex[:8]}:"
    yield name
    plain = redis.Redis.from_url(URL)
    for key in plain.scan_iter(name + "*"):
        plain.delete(key)


def run(coro):
    return asyncio.run(coro)


def counter(prefix: str, **options) -> RedisSpendCounter:
    return RedisSpendCounter(URL, prefix=prefix, **options)


def test_fixed_and_sliding(prefix):
    fixed, sliding = Budget("f", 60, "fixed", 1.0, "r"), Budget("s", 1, "sliding", 1.0, "r")

    async def go():
        c = counter(prefix)
        try:
            await c.add([fixed, sliding], 0.25)
            await c.add([fixed, sliding], 0.5)
            assert await c.spent([fixed, sliding]) == [pytest.approx(0.75), pytest.approx(0.75)]
            await asyncio.sleep(1.1)  # the sliding window has passed
            assert await c.spent([fixed, sliding]) == [pytest.approx(0.75), 0.0]
            await c.add([sliding], 0.125)  # a fresh window: nothing stale carried over
            assert await c.spent([sliding]) == [pytest.approx(0.125)]
        finally:
            await c.close()

    run(go())
    plain = redis.Redis.from_url(URL)
    key = f"{prefix}sliding:s"
    assert float(plain.get(key + ":total")) == pytest.approx(0.125)
    assert 0 < plain.ttl(key + ":total") <= 2 and 0 < plain.ttl(key) <= 2  # they expire together


def test_a_sliding_window_drops_only_what_expired(prefix):
    budget = Budget("s", 2, "sliding", 1.0, "r")

    async def go():
        c = counter(prefix)
        try:
            for _ in range(200):
                await c.add([budget], 0.001)
            await asyncio.sleep(1.2)
            for _ in range(100):
                await c.add([budget], 0.002)
            assert (await c.spent([budget]))[0] == pytest.approx(0.4)
            await asyncio.sleep(1.0)  # the first 200 have left the window, the last 100 not
            assert (await c.spent([budget]))[0] == pytest.approx(0.2)
        finally:
            await c.close()

    run(go())


def test_a_set_kept_without_its_total(prefix):
    """An earlier kumo kept only the sorted set: its calls are summed once, then kept as a running total."""
    plain = redis.Redis.from_url(URL)
    key = f"{prefix}sliding:s"
    now = time.time()
    plain.zadd(key, {"1:0.25": now, "2:0.5": now})
    plain.expire(key, 61)
    budget = Budget("s", 60, "sliding", 1.0, "r")

    async def go():
        c = counter(prefix)
        try:
            assert await c.spent([budget]) == [pytest.approx(0.75)]
            await c.add([budget], 0.125)
            assert await c.spent([budget]) == [pytest.approx(0.875)]
        finally:
            await c.close()

    run(go())
    assert float(plain.get(key + ":total")) == pytest.approx(0.875)


def test_unreachable_redis_follows_fail_open(prefix):
    budget = Budget("s", 60, "sliding", 1.0, "r")

    async def go(fail_open: bool) -> list[float]:
        c = RedisSpendCounter("redis://127.0.0.1:9/0", prefix=prefix, fail_open=fail_open)
        try:
            await c.add([budget], 1.0)  # logged, not raised
            return await c.spent([budget])
        finally:
            await c.close()

    assert run(go(True)) == [0.0]
    assert run(go(False)) == [float("inf")]
