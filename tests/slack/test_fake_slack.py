"""The strict fake Web API refuses what Slack refuses, so the app's tests can trust it."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import common, notices
from tests.slack.block_kit import block_errors, escaping_errors
from tests.slack.fake_slack import FakeSlack, Limits, Rate


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("blocks_", "says"),
    [
        ([section("x")] * 51, "no more than 50"),
        ([section("x" * 3001)], "blocks[0].text"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "fields"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "fields[0]"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "blocks[0].text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "plain_text"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "elements"),
        ([section("")], "non-empty"),
        ([{"type": "carousel"}], "unknown block type"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "b" * 76},
                            "action_id": "a",
                        }
                    ],
                }
            ],
            "elements[0].text",
        ),
    ],
)
def test_block_kit_limits_are_checked(blocks_: list[dict[str, Any]], says: str) -> None:
    errors = block_errors(blocks_)
    assert errors and any(says in e for e in errors), errors


def test_the_apps_own_messages_pass_the_block_kit_checks() -> None:
    message = notices.usage_message()
    assert block_errors(message.blocks) == []


@pytest.mark.parametrize(
    "text",
    [
        "hold note: <!everyone> ship now",
        "<!here>",
        "<!channel|channel> look",
        "click <https://evil.example|here> & win",
        "a < b",
        "x > y",
        "fish & chips",
    ],
)
def test_raw_outside_text_in_mrkdwn_is_flagged(text: str) -> None:
    assert escaping_errors({"text": "ok", "blocks": [section(text)]})
    assert escaping_errors({"text": text})


@pytest.mark.parametrize(
    "text",
    [
        "started by <@U123ABC>",
        "in <#C0123ABCD>",
        "for the owner <!subteam^S0INTEG>",
        "judged at <!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>",
        "ticket <https://jira.example/browse/OOS-1|OOS-1>",
        "hold note: &lt;!everyone&gt; fish &amp; chips",
    ],
)
def test_what_the_bot_builds_and_escaped_text_pass(text: str) -> None:
    assert escaping_errors({"text": text, "blocks": [section(text)]}) == []


async def test_the_fake_answers_invalid_blocks_like_slack(fake_slack: FakeSlack) -> None:
    client = fake_slack.client()
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001)])
    assert caught.value.response["error"] == "invalid_blocks"
    assert caught.value.response["errors"]
    assert fake_slack.violations
    fake_slack.violations.clear()  # seen: this test asked for it


async def test_the_fake_answers_429_with_retry_after_past_a_channel_limit(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.limits = Limits(methods={}, per_channel={"chat.postMessage": Rate(0.01, 2)})
    client = fake_slack.client()
    client.retry_handlers = []  # see the raw 429
    for _ in range(2):
        await client.chat_postMessage(channel="C1", text="burst")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="one too many")
    assert caught.value.response.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    await client.chat_postMessage(channel="C2", text="another channel has its own budget")


async def test_editing_a_deleted_message_is_message_not_found(fake_slack: FakeSlack) -> None:
    client = fake_slack.client()
    posted = await client.chat_postMessage(channel="C1", text="progress")
    fake_slack.delete(str(posted["ts"]))
    with pytest.raises(SlackApiError) as caught:
        await client.chat_update(channel="C1", ts=str(posted["ts"]), text="done")
    assert caught.value.response["error"] == "message_not_found"


def test_clipping_escaped_text_never_leaves_half_an_entity_or_link() -> None:
    escaped = common.esc("R&D <!everyone> " * 20)
    for limit in range(5, 80):
        out, cut = common.clip(escaped, limit)
        assert cut and escaping_errors({"text": out}) == [], out
    linked = "see " + "<https://jira.example/browse/OOS-1|OOS-1> " * 5
    for limit in range(5, 120):
        out, _ = common.clip(linked, limit)
        assert escaping_errors({"text": out}) == [], out
