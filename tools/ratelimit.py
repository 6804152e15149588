"""Client-side rate limiters, one per vendor rate-limit model, behind one small protocol.

``VendorClient`` calls ``await limiter.acquire(cost)`` before every attempt, ``observe(response)``
with each answer, and ``release()`` when the attempt is over, whatever happened. Limiters only
pace us so we rarely meet a 429; when we do, ``tools.retry`` handles it.

    TokenBucket          Amazon SP-API: per-operation rate (requests/s) and burst; adopts the
                         rate the vendor reports in ``x-amzn-RateLimit-Limit``
    ShopifyCostThrottle  Shopify GraphQL: query cost against the bucket reported in
                         ``extensions.cost.throttleStatus``
    LeakyBucket          Celigo: a bucket that fills per request and drains at a fixed rate
    ConcurrencySlots     NetSuite: at most N requests in flight (account concurrency limit)
    NoLimit              everything else

Buckets reserve capacity at once and sleep off any debt, so concurrent callers queue in order
without a lock. Clock and sleep are injectable: tests advance a fake clock, never real time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from tools.retry import parse_retry_after

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@runtime_checkable
class RateLimiter(Protocol):
    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until a request of ``cost`` may be sent, and account for it."""
        ...

    def observe(self, response: httpx.Response) -> None:
        """Learn from the vendor's answer (headers, throttle status, 429)."""
        ...

    def release(self) -> None:
        """The request is over (answered or failed)."""
        ...


class NoLimit:
    async def acquire(self, cost: float = 1.0) -> None:
        return None

    def observe(self, response: httpx.Response) -> None:
        return None

    def release(self) -> None:
        return None


class _Bucket:
    """``capacity`` units that refill at ``rate`` per second; a request takes ``cost`` units."""

    def __init__(self, rate: float, capacity: float, clock: Clock, sleep: Sleep) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._stamp = clock()
        self._last_cost = 1.0  # what the last request took: the one a 429 answers, usually

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, cost: float = 1.0) -> None:
        self._refill()
        self._last_cost = cost
        self._tokens -= min(cost, self.capacity)
        if self._tokens < 0:
            await self._sleep(-self._tokens / self.rate)

    def observe(self, response: httpx.Response) -> None:
        if response.status_code != 429:
            return
        # The vendor says the bucket is empty, whatever we counted …
        self._refill()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            self._tokens = min(self._tokens, 0.0)
        else:
            # … and when it takes a request again: the cost of the request it refused is ready by then, no
            # sooner and no later, whatever we counted (the retry already waits
            # ``Retry-After``; the refill of our own count on top of it made a
            # ``Retry-After: 1`` cost 4 s on a bucket refilling 0.25/s).
            self._tokens = min(self._last_cost, self.capacity) - retry_after * self.rate

    def release(self) -> None:
        return None


class TokenBucket(_Bucket):
    """Amazon SP-API: ``rate`` requests per second with a ``burst``; one bucket per operation."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(rate, burst, clock, sleep)

    def observe(self, response: httpx.Response) -> None:
        limit = _positive_float(response.headers.get("x-amzn-RateLimit-Limit"))
        if limit is not None:
            self._refill()
            self.rate = limit
        super().observe(response)


class LeakyBucket(_Bucket):
    """Celigo: each request adds ``cost`` to a bucket of ``capacity`` draining at ``leak_rate``/s.

    Filling a bucket that drains is the same arithmetic as spending tokens that refill; the
    parameters keep the vendor's wording.
    """

    def __init__(
        self,
        capacity: float,
        leak_rate: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(leak_rate, capacity, clock, sleep)


class ShopifyCostThrottle(_Bucket):
    """Shopify GraphQL cost throttle: wait while the query's expected cost exceeds what is left.

    Starts from ``maximum``/``restore_rate`` and then trusts the vendor: every response's
    ``extensions.cost.throttleStatus`` resets the maximum, the restore rate and what is left.
    """

    def __init__(
        self,
        maximum: float = 1000.0,
        restore_rate: float = 50.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(restore_rate, maximum, clock, sleep)

    def observe(self, response: httpx.Response) -> None:
        status = _throttle_status(response)
        if status is None:
            super().observe(response)
            return
        maximum = _positive_float(status.get("maximumAvailable"))
        restore = _positive_float(status.get("restoreRate"))
        left = _positive_float(status.get("currentlyAvailable"), allow_zero=True)
        if maximum is not None:
            self.capacity = maximum
        if restore is not None:
            self.rate = restore
        if left is not None:
            self._tokens = min(left, self.capacity)
            self._stamp = self._clock()


class ConcurrencySlots:
    """NetSuite: at most ``slots`` requests in flight; share one instance per account."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._semaphore = asyncio.Semaphore(slots)

    async def acquire(self, cost: float = 1.0) -> None:
        await self._semaphore.acquire()

    def observe(self, response: httpx.Response) -> None:
        return None

    def release(self) -> None:
        self._semaphore.release()


def _positive_float(value: Any, *, allow_zero: bool = False) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        return None
    return number


def _throttle_status(response: httpx.Response) -> dict[str, Any] | None:
    try:
        node: Any = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    for key in ("extensions", "cost", "throttleStatus"):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None
