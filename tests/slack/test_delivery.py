"""A verdict is never lost: signed ``/oos`` requests to the real endpoint, one service as
``oos serve`` runs it, and the strict fake Web API refusing, rate limiting or going down.

No test waits on time: each waits (bounded) for what the fake recorded. Rate limits are
Slack's shapes (``SLACK_LIMITS``), a few times faster where a test would otherwise take
minutes; the app is told the same pace, as an operator would set ``OOS_SLACK_POSTS_PER_SECOND``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import pytest

from bot.report import AgentClaim, AgentRun, Report
from bot.slack.blocks import notices
from bot.slack.poster import SlackPoster, TokenBucket
from tests.slack.conftest import CAUSE, SKU, Harness, HarnessFactory, Thread, verdict_of
from tests.slack.fake_slack import SLACK_LIMITS, FakeSlack


def is_verdict(params: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in params.get("blocks") or [])


async def started(h: Harness, channel: str = "C1", count: int = 1) -> list[Any]:
    """The first ``count`` root messages of ``channel`` once posted."""
    return list(
        await h.fake.wait_for(
            lambda: len(h.fake.roots(channel)) >= count and h.fake.roots(channel)[:count],
            f"{count} root message(s)",
        )
    )


# --- progress edits are best effort ---------------------------------------------------------


async def test_a_deleted_progress_message_does_not_stop_the_verdict(
    make_harness: HarnessFactory,
) -> None:
    walked_one = asyncio.Event()
    go_on = asyncio.Event()

    async def pausing(sku: str, stack: Any, *, now: Any = None, progress: Any = None) -> Report:
        from bot.engine import triage

        async def on_layer(layer: Any, checks: Any) -> None:
            await progress(layer, checks)
            if not walked_one.is_set():
                walked_one.set()
                await go_on.wait()

        return await triage(sku, stack, now=now, progress=on_layer)

    h = await make_harness(engine=pausing)
    fake = h.fake
    await h.command(SKU)
    (root,) = await started(h)
    progress = await fake.wait_for(lambda: fake.thread("C1", root.ts)[1:], "the progress")
    await asyncio.wait_for(walked_one.wait(), 10)
    fake.delete(progress[0].ts)  # someone deleted it mid-walk
    go_on.set()
    await h.services.runner.drain()

    thread = Thread(h, "C1", root.ts)
    assert len(thread.verdicts) == 1
    assert CAUSE in thread.verdicts[0].text
    failed = [c for c in fake.calls_to("chat.update") if c.params["ts"] == progress[0].ts]
    assert failed, "the progress edits went on and met message_not_found"
    assert not any("could not finish" in m.text for m in fake.messages.values())
    assert CAUSE in fake.messages[root.ts].everything, "the root line still got the outcome"


async def test_sustained_429s_on_chat_update_never_hold_up_the_verdict(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    fake = h.fake
    release = fake.hold("chat.update")  # every edit hangs, as behind a long rate limit
    await h.command(SKU)
    (root,) = await started(h)
    verdict = await fake.wait_for(
        lambda: next((m for m in fake.thread("C1", root.ts) if verdict_of(m)), None),
        "the verdict while every edit waits",
    )
    assert CAUSE in verdict.text
    assert not fake.calls_to("chat.update"), "no edit got through, yet the verdict is posted"
    release.set()
    await h.services.runner.drain()
    assert "Checklist walked" in fake.thread("C1", root.ts)[1].everything


async def test_more_than_four_429s_on_the_verdict_are_waited_out(harness: Harness) -> None:
    fake = harness.fake
    for _ in range(8):
        fake.rate_limit_once("chat.postMessage", retry_after=0)
    thread = await harness.triage()
    assert len(fake.rate_limited("chat.postMessage")) == 8
    assert len(thread.verdicts) == 1 and len(fake.roots("C1")) == 1


# --- pacing per channel -------------------------------------------------------------------------


async def test_ten_commands_in_one_channel_all_get_their_verdict_in_order(
    make_harness: HarnessFactory,
) -> None:
    """Slack's limits, five times faster: one service paces its posts to them."""
    h = await make_harness(posts_per_second=5.0, edits_per_minute=200.0)
    h.fake.limits = SLACK_LIMITS.scaled(5.0)
    replies = await asyncio.gather(*(h.command(SKU) for _ in range(10)))
    assert all(r.status == 200 for r in replies)
    await h.fake.wait_for(lambda: h.store.count() == 10, "ten saved triages", timeout=60)
    await h.services.runner.drain()

    roots = h.fake.roots("C1")
    assert len(roots) == 10
    for root in roots:
        messages = Thread(h, "C1", root.ts).messages
        kinds = ["verdict" if verdict_of(m) else "progress" for m in messages[1:]]
        assert kinds == ["progress", "verdict"], "root, then progress, then verdict"
        assert "Checklist walked" in messages[1].everything
    posts = h.fake.calls_to("chat.postMessage", ok_only=False)
    rate_limited = [c for c in posts if c.status == 429]
    assert len(rate_limited) <= 2, "paced at the channel's rate, not bounced off it"
    edits = h.fake.calls_to("chat.update", ok_only=False)
    assert len([c for c in edits if c.status == 429]) <= 2, "edits paced to their tier too"


async def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(1.0, 3, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await bucket.take()
    assert waits == [1.0, 1.0], "three at once, then one a second"


async def test_posts_to_one_channel_keep_the_order_they_were_queued_in(
    fake_slack: FakeSlack,
) -> None:
    poster = SlackPoster(fake_slack.client(), rate=100.0, burst=1)
    hold = fake_slack.hold("chat.postMessage")
    futures = [poster.enqueue("C1", notices.notice(f"message {i}")) for i in range(5)]
    other = poster.enqueue("C2", notices.notice("elsewhere"))
    hold.set()
    await asyncio.gather(*futures, other)
    texts = [m.text for m in fake_slack.messages.values() if m.channel == "C1"]
    assert texts == [f"message {i}" for i in range(5)]
    await poster.shutdown()


async def test_replies_in_open_threads_go_before_new_roots(fake_slack: FakeSlack) -> None:
    poster = SlackPoster(fake_slack.client(), rate=100.0, burst=1)
    hold = fake_slack.hold("chat.postMessage")
    roots = [poster.enqueue("C1", notices.notice(f"root {i}")) for i in range(3)]
    replies = [
        poster.enqueue("C1", notices.notice(f"reply {i}"), thread_ts="1.0") for i in range(2)
    ]
    hold.set()
    await asyncio.gather(*roots, *replies)
    texts = [m.text for m in fake_slack.messages.values()]
    # All five were queued before the first went out: the replies first, each kind in order.
    assert texts == ["reply 0", "reply 1", "root 0", "root 1", "root 2"]
    await poster.shutdown()


# --- Slack down: the verdict is kept ----------------------------------------------------------


async def test_slack_down_before_the_thread_opens_tells_the_user_and_keeps_nothing(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.down = frozenset({"chat.postMessage"})
    await harness.command(SKU)
    (answer,) = await fake.wait_for(lambda: fake.responses, "the ephemeral answer")
    await harness.services.runner.drain()
    assert "could not finish" in answer["text"] and "Reference" in answer["text"]
    assert harness.store.count() == 0 and harness.services.runner.pending.count() == 0


async def test_a_saved_verdict_is_kept_through_an_outage_then_posted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fake = harness.fake
    runner = harness.services.runner
    walked = asyncio.Event()
    release = asyncio.Event()
    real_engine = runner.engine

    async def then_outage(sku: str, stack: Any, *, now: Any = None, progress: Any = None) -> Report:
        report = await real_engine(sku, stack, now=now, progress=progress)
        walked.set()
        await release.wait()
        return report

    runner.engine = then_outage
    await harness.command(SKU)
    (root,) = await started(harness)
    await asyncio.wait_for(walked.wait(), 10)
    fake.down = frozenset({"chat.postMessage", "chat.update"})  # Slack goes down
    with caplog.at_level(logging.ERROR, logger="bot.slack.runner"):
        release.set()
        await runner.drain()

    assert harness.store.count() == 1, "the report was saved"
    assert runner.pending.count() == 1, "and its verdict kept"
    assert not Thread(harness, "C1", root.ts).verdicts
    assert not any("could not finish" in m.everything for m in fake.messages.values())
    assert any("kept" in r.getMessage() for r in caplog.records)

    assert await runner.redeliver() == 0, "still down: kept for the next pass"
    assert runner.pending.count() == 1

    fake.down = frozenset()  # Slack is back
    assert await runner.redeliver() == 1
    await runner.drain()
    thread = Thread(harness, "C1", root.ts)
    assert len(thread.verdicts) == 1 and CAUSE in thread.verdicts[0].text
    assert runner.pending.count() == 0
    assert CAUSE in fake.messages[root.ts].everything, "the root line has the outcome"
    assert await runner.redeliver() == 0, "posted once"


# --- the explanation follows the verdict -------------------------------------------------------


class SlowAgent:
    """Explains only when the test lets it: the verdict must not wait for it."""

    model = "fake-model"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.asked = 0

    async def explain(
        self, report: Report, stack: Any, *, now: datetime | None = None, **_: Any
    ) -> Report:
        self.asked += 1
        await self.release.wait()
        run = AgentRun(
            status="ok",
            summary="The connector flow is switched off, so nothing carries the change.",
            claims=[AgentClaim(text="The flow is disabled.", cites=[report.checks[0].id])],
        )
        return report.model_copy(update={"agent": run, "explanation": run.summary})

    async def aclose(self) -> None:
        return None


async def verdict_before_a_slow_explanation(harness: Harness) -> tuple[SlowAgent, Any, Any]:
    """Run /oos with an agent that holds its explanation; return it, the root and the verdict."""
    fake = harness.fake
    agent = SlowAgent()
    harness.services.runner.agent = agent  # type: ignore[assignment]
    await harness.command(SKU)
    (root,) = await started(harness)
    verdict = await fake.wait_for(
        lambda: next((m for m in fake.thread("C1", root.ts) if verdict_of(m)), None),
        "the rules verdict before any explanation",
    )
    return agent, root, verdict


async def test_the_verdict_and_the_ticket_do_not_wait_for_the_explanation(
    harness: Harness,
) -> None:
    agent, _root, verdict = await verdict_before_a_slow_explanation(harness)
    assert agent.asked == 1 and not agent.release.is_set()
    assert "writing its explanation" in verdict.everything
    assert harness.store.count() == 1

    agent.release.set()
    await harness.services.runner.drain()
    assert "The flow is disabled." in verdict.everything, "edited in place"
    assert "writing its explanation" not in verdict.everything
    _row, saved = harness.store.get(verdict_of(verdict) or "") or ({}, None)
    assert saved is not None and saved.explanation is not None, "the store has it too"


async def test_when_the_verdict_cannot_be_edited_the_explanation_is_a_reply(
    harness: Harness,
) -> None:
    fake = harness.fake
    agent, root, verdict = await verdict_before_a_slow_explanation(harness)
    fake.delete(verdict.ts)
    agent.release.set()
    await harness.services.runner.drain()
    last = fake.thread("C1", root.ts)[-1]
    assert "The flow is disabled." in last.everything
    assert last.thread_ts == root.ts


def test_two_processes_on_one_database_never_take_the_same_kept_verdict(tmp_path: Any) -> None:
    from bot.slack.pending import PendingVerdicts
    from bot.store import TriageStore

    first, second = TriageStore(tmp_path / "t.db"), TriageStore(tmp_path / "t.db")
    try:
        mine, theirs = PendingVerdicts(first.db), PendingVerdicts(second.db)
        mine.keep("t1", channel="C1", thread_ts="1.0", root_ts="1.0", error="HTTP 503")
        mine.keep("t2", channel="C1", thread_ts="2.0", root_ts=None, error="ratelimited")
        assert theirs.count() == 2, "both processes see what either kept"
        taken = theirs.take_all()
        assert sorted(p.triage_id for p in taken) == ["t1", "t2"]
        assert mine.take_all() == [], "taken once, by one process"
        theirs.keep("t1", channel="C1", thread_ts="1.0", root_ts="1.0", error="HTTP 503")
        assert [p.triage_id for p in mine.take_all()] == ["t1"], "put back, taken again"
    finally:
        first.close()
        second.close()
