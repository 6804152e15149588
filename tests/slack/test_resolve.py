"""Mark resolved is saved: the store row says who resolved the triage and when, the verdict and
App Home show the saved resolution, and the first resolution stands.

Like the other scenario tests, nothing here waits on time: background work is awaited by
polling the fake Web API's recorded calls in a bounded loop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.slack.blocks import common
from bot.slack.blocks import home as home_blocks
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.settings import AccessPolicy
from tests.slack.conftest import CAUSE, SKU, Harness, HarnessFactory


def saved_row(harness: Harness, triage_id: str) -> dict[str, Any]:
    found = harness.store.get(triage_id)
    assert found is not None
    return found[0]


async def test_pressing_mark_resolved_saves_who_resolved_it(harness: Harness) -> None:
    thread = await harness.triage()
    verdict = thread.verdicts[0]
    assert saved_row(harness, thread.triage_id)["resolved_by"] is None
    before = datetime.now(UTC)

    reply = await thread.press(verdict_blocks.ACTION_RESOLVE, user="U5")
    assert (reply.status, reply.body) == (200, "")
    await harness.fake.wait_for(lambda: "marked" in thread.messages[-1].text, "the notice")

    row = saved_row(harness, thread.triage_id)
    assert row["resolved_by"] == "U5"
    assert before <= datetime.fromisoformat(row["resolved_at"]) <= datetime.now(UTC)
    (recent,) = harness.store.recent()
    assert (recent["resolved_by"], recent["resolved_at"]) == ("U5", row["resolved_at"])

    # The verdict shows the saved resolution (its date is the stored one).
    shown = common.resolution_of(row)
    assert shown is not None
    assert "Marked resolved by <@U5>" in verdict.everything
    assert common.slack_date(shown.at) in verdict.everything


async def test_app_home_shows_a_resolved_triage_as_resolved(harness: Harness) -> None:
    resolved = await harness.triage()
    await resolved.press(verdict_blocks.ACTION_RESOLVE, user="U5")
    await harness.fake.wait_for(lambda: "marked" in resolved.messages[-1].text, "the notice")
    await harness.triage()  # a second one, still open

    await harness.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    (call,) = await harness.fake.wait_for(
        lambda: harness.fake.calls_to("views.publish"), "views.publish"
    )
    sections = [
        b["text"]["text"]
        for b in call.params["view"]["blocks"]
        if b["type"] == "section" and SKU in b["text"]["text"]
    ]
    assert len(sections) == 2
    assert sum("*resolved*" in s for s in sections) == 1
    text = json.dumps(call.params["view"])
    assert "resolved by <@U5>" in text and CAUSE in text


async def test_a_second_press_keeps_the_first_resolution(harness: Harness) -> None:
    thread = await harness.triage()
    verdict = thread.verdicts[0]
    await thread.press(verdict_blocks.ACTION_RESOLVE, user="U5")
    await harness.fake.wait_for(lambda: "marked" in thread.messages[-1].text, "the notice")
    first = saved_row(harness, thread.triage_id)["resolved_at"]

    # U6 still had the old message (with the button) and pressed it too.
    await thread.press(verdict_blocks.ACTION_RESOLVE, user="U6")
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the answer")

    assert answer["response_type"] == "ephemeral"
    assert "already marked resolved by <@U5>" in answer["text"]
    row = saved_row(harness, thread.triage_id)
    assert (row["resolved_by"], row["resolved_at"]) == ("U5", first)
    notices = [m for m in thread.messages if "marked" in m.text and "resolved" in m.text]
    assert len(notices) == 1, "one notice in the thread, for the first resolution"
    assert "Marked resolved by <@U5>" in verdict.everything
    assert "<@U6>" not in verdict.everything


async def test_a_refused_press_saves_nothing(make_harness: HarnessFactory) -> None:
    harness = await make_harness(access=AccessPolicy(action_users=frozenset({"ULEAD"})))
    thread = await harness.triage()

    await thread.press(verdict_blocks.ACTION_RESOLVE, user="U1")
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the refusal")

    assert "not allowed to use this action" in answer["text"]
    row = saved_row(harness, thread.triage_id)
    assert (row["resolved_by"], row["resolved_at"]) == (None, None)


def test_home_view_marks_resolved_rows_only() -> None:
    base: dict[str, Any] = {
        "sku": SKU,
        "cause": CAUSE,
        "confidence": "confirmed",
        "layer": "3",
        "started_at": "2024-05-01T10:00:00+00:00",
        "channel": "C1",
        "thread_ts": "1700000000.000001",
    }
    rows: list[dict[str, Any]] = [
        {**base, "id": "aaa", "resolved_by": "U5", "resolved_at": "2024-05-01T12:30:00+00:00"},
        {**base, "id": "bbb", "resolved_by": None, "resolved_at": None},
    ]
    view = home_blocks.home_view(rows)
    resolved_section, resolved_context, open_section, open_context = view["blocks"][1:5]

    assert "*resolved*" in resolved_section["text"]["text"]
    assert "resolved by <@U5> <!date^1714566600^" in json.dumps(resolved_context)
    assert "resolved" not in open_section["text"]["text"]
    assert "resolved" not in json.dumps(open_context)


def test_resolution_of_reads_the_saved_fields() -> None:
    at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert common.resolution_of(
        {"resolved_by": "U5", "resolved_at": at.isoformat()}
    ) == common.Resolution(user="U5", at=at)
    assert common.resolution_of({"resolved_by": None, "resolved_at": None}) is None
    assert common.resolution_of({}) is None
    assert common.resolution_of({"resolved_by": "U5", "resolved_at": "not a date"}) is None
