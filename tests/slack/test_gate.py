"""Every entry point: malformed requests get 400/401 and one log line, redelivered events are
answered once, and mentions obey the same access rules as ``/oos``. Signed requests to the
real HTTP endpoint; the Socket Mode twin is in ``test_socket_mode.py``."""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import pytest

from bot.slack.gate import SeenEvents
from bot.slack.settings import AccessPolicy
from tests.slack.conftest import Harness, HarnessFactory, sign


def mention(thread_ts: str | None, *, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": "<@UBOT> what does the webhook log say?",
        "ts": "1700000099.000001",
        "channel": channel,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command_body(**fields: str) -> str:
    return urllib.parse.urlencode({"command": "/oos", "text": "SKU-3101", **fields})


MALFORMED = [
    pytest.param("application/json", "{not json", None, 400, id="broken JSON"),
    pytest.param("application/json", "[1, 2]", None, 400, id="JSON that is not an object"),
    pytest.param(
        "application/x-www-form-urlencoded", "payload=%7Bnot-json", None, 400, id="broken payload"
    ),
    pytest.param(
        "application/x-www-form-urlencoded",
        command_body(user_id="U1", channel_id="C1"),
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        401,
        id="non-numeric timestamp",
    ),
    pytest.param(
        "application/x-www-form-urlencoded",
        command_body(user_id="U1", channel_id="C1"),
        "retry-num",
        400,
        id="non-numeric retry number",
    ),
    pytest.param(
        "application/x-www-form-urlencoded", command_body(), None, 400, id="command without user"
    ),
    pytest.param(
        "application/json",
        json.dumps({"type": "event_callback", "event_id": "Ev9", "event": {"type": "app_mention"}}),
        None,
        400,
        id="mention without channel",
    ),
    pytest.param(
        "application/json",
        json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}),
        None,
        400,
        id="event without id",
    ),
    pytest.param(
        "application/x-www-form-urlencoded",
        urllib.parse.urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}),
        None,
        400,
        id="click without user",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "headers", "status"), MALFORMED)
async def test_a_malformed_request_gets_400_or_401_and_one_log_line(
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: str,
    headers: Any,
    status: int,
) -> None:
    if headers is None:
        headers = sign(body)
    elif headers == "retry-num":
        headers = sign(body) | {"X-Slack-Retry-Num": "one"}
    with caplog.at_level(logging.INFO):
        reply = await harness.post(body, content_type, headers)
    assert reply.status == status
    assert "Traceback" not in reply.body and "Error" not in reply.body
    refused = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info is None
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log either"
    assert "chat.postMessage" not in harness.fake.methods()


async def test_non_utf8_bodies_get_400(harness: Harness) -> None:
    raw = b"\xff\xfe{}"
    async with harness.session.post(
        harness.server.url,
        data=raw,
        headers={"Content-Type": "application/json", **sign(raw.decode("latin-1"))},
    ) as resp:
        assert resp.status == 400


async def test_a_redelivered_event_is_answered_once(harness: Harness) -> None:
    thread = await harness.triage()
    first = await harness.event(mention(thread.root_ts), event_id="EvSAME")
    again = await harness.event(mention(thread.root_ts), event_id="EvSAME", retry=1)
    third = await harness.event(mention(thread.root_ts), event_id="EvSAME", retry=2)
    assert first.status == again.status == third.status == 200
    await harness.fake.wait_for(
        lambda: any("webhook log" in m.text.lower() for m in thread.messages), "the answer"
    )
    await harness.services.runner.drain()
    answers = [m for m in thread.messages if "webhook log" in m.text.lower()]
    assert len(answers) == 1
    # A retry of an event that never arrived the first time is answered (the first was lost).
    await harness.event(mention(thread.root_ts), event_id="EvLOST", retry=1)
    await harness.fake.wait_for(
        lambda: len([m for m in thread.messages if "webhook log" in m.text.lower()]) == 2,
        "the lost event's answer",
    )


def test_seen_events_forget_after_their_time_and_past_their_size() -> None:
    now = [0.0]
    seen = SeenEvents(ttl=10, size=3, clock=lambda: now[0])
    assert seen.first_time("a") and not seen.first_time("a")
    now[0] = 11.0
    assert seen.first_time("a"), "forgotten after the ttl"
    for e in ("b", "c", "d"):
        assert seen.first_time(e)
    assert seen.first_time("a"), "the oldest was dropped to stay at the size"


async def test_a_mention_in_a_channel_not_allowed_is_refused_privately(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(access=AccessPolicy(channels=frozenset({"C1"})))
    thread = await h.triage()
    before = len(h.fake.calls_to("chat.postMessage"))
    await h.event(mention("1700000000.000001", channel="C9"))
    refusal = await h.fake.wait_for(
        lambda: h.fake.calls_to("chat.postEphemeral"), "the private refusal"
    )
    assert refusal[0].params["user"] == "U1" and refusal[0].params["channel"] == "C9"
    assert "not enabled in this channel" in refusal[0].params["text"]
    await h.services.runner.drain()
    assert len(h.fake.calls_to("chat.postMessage")) == before, "nothing posted in public"
    assert len(thread.messages) == 3


async def test_mentions_follow_the_user_and_user_group_rules(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(access=AccessPolicy(usergroups=frozenset({"S1"})))
    h.fake.usergroups["S1"] = ["U1"]
    thread = await h.triage(user="U1")
    await h.event(mention(thread.root_ts, user="U2"))
    refusal = await h.fake.wait_for(
        lambda: h.fake.calls_to("chat.postEphemeral"), "the private refusal"
    )
    assert refusal[0].params["user"] == "U2"
    assert refusal[0].params["thread_ts"] == thread.root_ts
    assert "not allowed" in refusal[0].params["text"]
    assert not any("webhook log" in m.text.lower() for m in thread.messages)

    await h.event(mention(thread.root_ts, user="U1"))
    await h.fake.wait_for(
        lambda: any("webhook log" in m.text.lower() for m in thread.messages), "U1's answer"
    )
