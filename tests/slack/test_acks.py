"""Acks first: background work waits while Slack requests are being answered, never longer
than the cap, and at once when none is."""

from __future__ import annotations

import asyncio

from bot.slack.acks import AckGate


async def test_work_waits_for_the_requests_being_answered() -> None:
    gate = AckGate()
    order: list[str] = []

    async def triage() -> None:
        await gate.settled(max_wait=30)
        order.append("triage")

    with gate.answering():
        task = asyncio.create_task(triage())
        for _ in range(10):
            await asyncio.sleep(0)
        order.append("ack written")
    await task
    assert order == ["ack written", "triage"]


async def test_with_nothing_being_answered_work_starts_at_once() -> None:
    gate = AckGate()
    await asyncio.wait_for(gate.settled(max_wait=30), 5)


async def test_a_steady_stream_of_requests_cannot_starve_the_work() -> None:
    gate = AckGate()
    with gate.answering():  # never answered while the work waits
        await gate.settled(max_wait=0.01)  # returns: the cap, not the stream, decides
