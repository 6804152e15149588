"""Rate limiters on a fake clock: the waits they ask for, never real time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.fakes import FakeClock
from tools.ratelimit import (
    ConcurrencySlots,
    LeakyBucket,
    NoLimit,
    RateLimiter,
    ShopifyCostThrottle,
    TokenBucket,
)


def shopify_answer(available: float, maximum: float = 1000.0, restore: float = 50.0) -> Any:
    return httpx.Response(
        200,
        json={
            "data": {"productVariants": {"nodes": []}},
            "extensions": {
                "cost": {
                    "requestedQueryCost": 52,
                    "actualQueryCost": 12,
                    "throttleStatus": {
                        "maximumAvailable": maximum,
                        "currentlyAvailable": available,
                        "restoreRate": restore,
                    },
                }
            },
        },
    )


@pytest.mark.parametrize(
    "limiter",
    [
        NoLimit(),
        TokenBucket(1, 1),
        LeakyBucket(10, 1),
        ShopifyCostThrottle(),
        ConcurrencySlots(1),
    ],
)
def test_every_limiter_speaks_the_protocol(limiter: object) -> None:
    assert isinstance(limiter, RateLimiter)


async def test_token_bucket_allows_burst_then_paces_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert clock.sleeps == [0.5, 0.5]


async def test_token_bucket_refills_while_idle() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await bucket.acquire()
    clock.now += 3.0
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    assert clock.sleeps == [1.0]


async def test_token_bucket_queues_concurrent_callers() -> None:
    clock = FakeClock()
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    bucket = TokenBucket(rate=2, burst=1, clock=clock, sleep=record)
    await asyncio.gather(*(bucket.acquire() for _ in range(4)))
    assert sorted(waits) == [0.5, 1.0, 1.5]


async def test_token_bucket_adopts_sp_api_rate_header() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock, sleep=clock.sleep)
    await bucket.acquire()
    bucket.observe(httpx.Response(200, headers={"x-amzn-RateLimit-Limit": "5.0"}))
    assert bucket.rate == 5.0
    await bucket.acquire()
    assert clock.sleeps == [0.2]


@pytest.mark.parametrize("header", ["", "abc", "0", "-1", "inf"])
async def test_token_bucket_ignores_unusable_rate_header(header: str) -> None:
    bucket = TokenBucket(rate=1, burst=1)
    bucket.observe(httpx.Response(200, headers={"x-amzn-RateLimit-Limit": header}))
    assert bucket.rate == 1


async def test_429_empties_the_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=10, clock=clock, sleep=clock.sleep)
    bucket.observe(httpx.Response(429))
    await bucket.acquire()
    assert clock.sleeps == [1.0]


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        ConcurrencySlots(0)


async def test_leaky_bucket_fills_then_drains() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(capacity=3, leak_rate=2, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    assert clock.sleeps == [0.5]


async def test_shopify_waits_when_cost_exceeds_what_is_left() -> None:
    clock = FakeClock()
    throttle = ShopifyCostThrottle(clock=clock, sleep=clock.sleep)
    throttle.observe(shopify_answer(available=100, restore=50))

    await throttle.acquire(80)
    assert clock.sleeps == []
    await throttle.acquire(120)  # 20 left, 100 short at 50/s
    assert clock.sleeps == [2.0]


async def test_shopify_restores_over_time_up_to_the_maximum() -> None:
    clock = FakeClock()
    throttle = ShopifyCostThrottle(clock=clock, sleep=clock.sleep)
    throttle.observe(shopify_answer(available=0, maximum=200, restore=10))
    clock.now += 100.0  # would restore 1000, capped at 200
    assert throttle.available == 200
    await throttle.acquire(500)  # more than the maximum: waits for a full bucket, not forever
    assert clock.sleeps == []


async def test_shopify_trusts_the_vendor_figures() -> None:
    clock = FakeClock()
    throttle = ShopifyCostThrottle(maximum=1000, restore_rate=50, clock=clock, sleep=clock.sleep)
    throttle.observe(shopify_answer(available=1500, maximum=2000, restore=100))
    assert (throttle.capacity, throttle.rate, throttle.available) == (2000, 100, 1500)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"data": {}}),
        httpx.Response(200, json={"extensions": {"cost": "high"}}),
    ],
)
def test_shopify_ignores_answers_without_throttle_status(response: httpx.Response) -> None:
    throttle = ShopifyCostThrottle(maximum=1000, restore_rate=50, clock=lambda: 0.0)
    throttle.observe(response)
    assert (throttle.capacity, throttle.rate, throttle.available) == (1000, 50, 1000)


async def test_concurrency_slots_hold_until_released() -> None:
    slots = ConcurrencySlots(2)
    await slots.acquire()
    await slots.acquire()
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)  # let it try (a yield, not a timing wait)
    assert not third.done()
    slots.release()
    await asyncio.wait_for(third, timeout=1)
    assert third.done()


async def test_no_limit_never_waits() -> None:
    limiter = NoLimit()
    for _ in range(1000):
        await limiter.acquire(100)
    limiter.observe(httpx.Response(429))
    limiter.release()
