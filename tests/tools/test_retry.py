"""Retry policy arithmetic and send_with_retries, with an injected sleep that never sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from tools.retry import (
    RetryEvent,
    RetryPolicy,
    full_jitter,
    next_wait,
    parse_retry_after,
    retry_after_spread,
    send_with_retries,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class Script:
    """An async ``send`` that plays answers in order, counting calls."""

    def __init__(self, *answers: int | Exception, retry_after: str | None = None) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.retry_after = retry_after

    async def __call__(self) -> httpx.Response:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return httpx.Response(answer, headers=headers)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


async def run(
    script: Script, policy: RetryPolicy, *, idempotent: bool = True
) -> tuple[httpx.Response, Sleeps, list[RetryEvent]]:
    sleeps, events = Sleeps(), list[RetryEvent]()
    response = await send_with_retries(
        script,
        policy,
        idempotent=idempotent,
        sleep=sleeps,
        clock=sleeps.clock,
        jitter=lambda cap: cap,
        on_retry=events.append,
    )
    return response, sleeps, events


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),  # already past
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_presets_interactive_is_tighter_than_scan() -> None:
    interactive, scan = RetryPolicy.interactive(), RetryPolicy.scan()
    assert (interactive.max_attempts, interactive.total_seconds) == (3, 8.0)
    assert interactive.max_attempts < scan.max_attempts
    assert interactive.total_seconds < scan.total_seconds
    assert RetryPolicy.off().max_attempts == 1


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(total_seconds=-1)


def test_backoff_grows_exponentially_up_to_max_delay() -> None:
    policy = RetryPolicy(max_attempts=10, total_seconds=100, base_delay=0.5, max_delay=4.0)
    assert [policy.backoff_cap(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_within_the_cap() -> None:
    random.seed(7)
    draws = [full_jitter(2.0) for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 100  # jittered, not constant


def test_next_wait_stops_on_attempts_and_budget() -> None:
    policy = RetryPolicy(max_attempts=3, total_seconds=8.0, base_delay=0.5, max_delay=4.0)

    def top(cap: float) -> float:
        return cap

    assert next_wait(policy, 1, elapsed=0.0, jitter=top) == 0.5
    assert next_wait(policy, 2, elapsed=0.0, jitter=top) == 1.0
    assert next_wait(policy, 3, elapsed=0.0, jitter=top) is None  # attempts used up
    assert next_wait(policy, 1, elapsed=7.8, jitter=top) is None  # 7.8 + 0.5 > 8
    # What the vendor says plus at most a tenth of it (never more than half a second).
    assert next_wait(policy, 1, elapsed=0.0, retry_after=5.0, jitter=top) == 5.5
    assert next_wait(policy, 1, elapsed=0.0, retry_after=1.0, jitter=top) == 1.1
    assert next_wait(policy, 1, elapsed=0.0, retry_after=1.0, jitter=lambda c: 0.0) == 1.0
    assert next_wait(policy, 1, elapsed=0.0, retry_after=0.0, jitter=top) == 0.0
    assert next_wait(policy, 1, elapsed=4.0, retry_after=5.0, jitter=top) is None  # past budget


def test_retry_after_spread_is_small() -> None:
    assert [retry_after_spread(s) for s in (0.0, 1.0, 3.0, 60.0)] == [
        0.0,
        0.1,
        0.30000000000000004,
        0.5,
    ]


async def test_retries_5xx_until_success() -> None:
    script = Script(503, 502, 200)
    response, sleeps, events = await run(script, RetryPolicy.interactive())

    assert response.status_code == 200
    assert script.calls == 3
    assert sleeps.waits == [0.5, 1.0]
    assert [(e.attempt, e.reason, e.wait) for e in events] == [
        (1, "HTTP 503", 0.5),
        (2, "HTTP 502", 1.0),
    ]


async def test_exhausted_returns_the_last_response() -> None:
    script = Script(429)
    response, sleeps, _ = await run(script, RetryPolicy.interactive())

    assert response.status_code == 429
    assert script.calls == 3
    assert len(sleeps.waits) == 2


async def test_transport_errors_retried_then_last_one_raised() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    with pytest.raises(httpx.ReadTimeout):
        await run(script, RetryPolicy.interactive())
    assert script.calls == 3


async def test_other_exceptions_are_not_retried() -> None:
    script = Script(RuntimeError("bug"))
    with pytest.raises(RuntimeError):
        await run(script, RetryPolicy.interactive())
    assert script.calls == 1


@pytest.mark.parametrize("status", [200, 400, 401, 404])
async def test_non_retryable_status_returned_at_once(status: int) -> None:
    script = Script(status)
    response, sleeps, _ = await run(script, RetryPolicy.interactive())
    assert (response.status_code, script.calls, sleeps.waits) == (status, 1, [])


async def test_not_idempotent_means_one_call() -> None:
    script = Script(503, 200)
    response, _, _ = await run(script, RetryPolicy.scan(), idempotent=False)
    assert (response.status_code, script.calls) == (503, 1)


async def test_retries_switched_off() -> None:
    script = Script(503, 200)
    response, _, _ = await run(script, RetryPolicy.off())
    assert (response.status_code, script.calls) == (503, 1)


async def test_retry_after_replaces_backoff() -> None:
    script = Script(429, 200, retry_after="3")
    response, sleeps, _ = await run(script, RetryPolicy.interactive())
    assert response.status_code == 200
    assert len(sleeps.waits) == 1 and 3.0 <= sleeps.waits[0] <= 3.0 + retry_after_spread(3.0)


async def test_retry_after_past_the_budget_ends_retries() -> None:
    script = Script(429, 200, retry_after="120")
    response, sleeps, _ = await run(script, RetryPolicy.scan())
    assert (response.status_code, script.calls, sleeps.waits) == (429, 1, [])


async def test_budget_counts_the_time_already_spent() -> None:
    sleeps = Sleeps()
    calls = 0

    async def slow_503() -> httpx.Response:
        nonlocal calls
        calls += 1
        sleeps.now += 4.0  # each call takes 4 s
        return httpx.Response(503)

    policy = RetryPolicy(max_attempts=5, total_seconds=8.0, base_delay=0.5, max_delay=4.0)
    response = await send_with_retries(
        slow_503, policy, idempotent=True, sleep=sleeps, clock=sleeps.clock, jitter=lambda c: c
    )
    # t=4 wait .5 → t=8.5 is already past the budget
    assert (response.status_code, calls, sleeps.waits) == (503, 2, [0.5])
