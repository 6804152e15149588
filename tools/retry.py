"""Retries for idempotent vendor reads; the only module that uses tenacity.

A request is retried only when the caller says it is idempotent (a GET, or a POST that only
reads, such as a GraphQL query or a SuiteQL select), and only when the transport failed or the
vendor answered 429 or 5xx. Waits grow exponentially with full jitter; a ``Retry-After`` header
(seconds or HTTP-date) replaces the computed wait: exactly what the vendor says plus a small
jitter (``retry_after_spread``: at most a tenth of it, and never more than half a second), so
callers told the same time do not all come back at once. The rate limiters do not add a bucket
refill on top of it (``tools.ratelimit``). Attempts *and* total time are bounded: a
wait that would end past the time budget ends the retries at once, since sleeping into a
request the vendor already said it will refuse only makes the operator wait longer.

When retries end, the last response or transport exception goes back to the caller
(``tools.http``), which turns it into an ``AdapterError``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import cast

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, retry_if_result

from tools.clock import utc_now

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Jitter = Callable[[float], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` calls within ``total_seconds``.

    The wait before retry ``n`` is drawn from ``[0, min(max_delay, base_delay * 2**(n-1))]``.
    """

    max_attempts: int = 3
    total_seconds: float = 8.0
    base_delay: float = 0.5
    max_delay: float = 4.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.total_seconds < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("times must not be negative")

    @classmethod
    def interactive(cls) -> RetryPolicy:
        """A person is waiting in Slack: few attempts, short budget."""
        return cls(max_attempts=3, total_seconds=8.0, base_delay=0.5, max_delay=4.0)

    @classmethod
    def scan(cls) -> RetryPolicy:
        """Background scans can afford to wait out a throttle."""
        return cls(max_attempts=6, total_seconds=60.0, base_delay=1.0, max_delay=20.0)

    @classmethod
    def off(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(max_attempts=1, total_seconds=0.0)

    def backoff_cap(self, attempt: int) -> float:
        """Upper bound of the jittered wait after failed attempt number ``attempt`` (from 1)."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class RetryEvent:
    """A retry about to happen, for logging."""

    attempt: int  # the attempt that just failed, from 1
    max_attempts: int
    wait: float
    reason: str  # "HTTP 503" or the transport exception's class name


RETRY_AFTER_SPREAD = 0.1  # jitter after a Retry-After: up to this share of it …
RETRY_AFTER_SPREAD_MAX = 0.5  # … and never more than this many seconds


def full_jitter(cap: float) -> float:
    return random.uniform(0.0, cap)


def retry_after_spread(seconds: float) -> float:
    """The most jitter added to a vendor's ``Retry-After`` of ``seconds``."""
    return min(RETRY_AFTER_SPREAD_MAX, seconds * RETRY_AFTER_SPREAD)


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utc_now())).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def next_wait(
    policy: RetryPolicy,
    attempt: int,
    *,
    elapsed: float,
    retry_after: float | None = None,
    jitter: Jitter = full_jitter,
) -> float | None:
    """Seconds to wait after failed attempt ``attempt``, or None when retrying must stop."""
    if attempt >= policy.max_attempts:
        return None
    if retry_after is not None:
        if elapsed + retry_after > policy.total_seconds:
            return None
        return retry_after + jitter(retry_after_spread(retry_after))
    wait = jitter(policy.backoff_cap(attempt))
    if elapsed + wait > policy.total_seconds:
        return None
    return wait


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    jitter: Jitter = full_jitter,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> httpx.Response:
    """Call ``send`` until it answers with a non-retryable status or the policy gives up.

    Returns the last response (possibly a 429/5xx) or raises the last ``httpx.TransportError``.
    Any other exception propagates at once.
    """
    if not idempotent or policy.max_attempts == 1:
        return await send()

    start = clock()
    waits: dict[int, float | None] = {}

    # tenacity asks for the wait and the stop decision separately (in an order that changed
    # between versions); both come from one memoized decision per attempt.
    def decide(state: RetryCallState) -> float | None:
        if state.attempt_number not in waits:
            retry_after = None
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                response = cast(httpx.Response, outcome.result())
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            waits[state.attempt_number] = next_wait(
                policy,
                state.attempt_number,
                elapsed=clock() - start,
                retry_after=retry_after,
                jitter=jitter,
            )
        return waits[state.attempt_number]

    def stop(state: RetryCallState) -> bool:
        return decide(state) is None

    def wait(state: RetryCallState) -> float:
        return decide(state) or 0.0

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        if state.outcome.failed:
            reason = type(state.outcome.exception()).__name__
        else:
            reason = f"HTTP {cast(httpx.Response, state.outcome.result()).status_code}"
        on_retry(RetryEvent(state.attempt_number, policy.max_attempts, wait(state), reason))

    def give_back_last(state: RetryCallState) -> httpx.Response:
        assert state.outcome is not None
        return cast(httpx.Response, state.outcome.result())

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop,
        wait=wait,
        retry=(
            retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda r: is_retryable_status(r.status_code))
        ),
        before_sleep=before_sleep,
        retry_error_callback=give_back_last,
    )
    return await retrying(send)
