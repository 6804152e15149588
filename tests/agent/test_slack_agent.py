"""The agent in Slack: signed requests to the real endpoint, the fake Web API and the fake model.

The verdict message carries the explanation and any disagreement (or one line on why there is
none); a mention in a triage thread is answered by the agent from the saved report, the
thread's memory and fresh tool calls, and by the rules' answers when the agent cannot.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.agent.memory import ThreadMemory
from bot.compose import sandbox_target
from bot.slack.app import build_app
from bot.slack.server import start_http
from bot.slack.settings import SlackSettings
from bot.store import TriageStore
from tests.agent.conftest import AgentFactory
from tests.agent.fake_openai import FakeOpenAI, final, server_error, tool_calls
from tests.slack.conftest import SIGNING_SECRET, Harness, Thread
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack

SKU = "SKU-3101"

HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def harness(
    fake_slack: FakeSlack, make_agent: AgentFactory, tmp_path: Path
) -> AsyncIterator[Harness]:
    settings = SlackSettings(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_url=fake_slack.api_url,
        host="127.0.0.1",
        port=0,
        triage_timeout=30,
    )
    store = TriageStore(tmp_path / "triage.db")
    app, services = build_app(
        settings, store=store, resolve=sandbox_target, agent=make_agent(max_retries=0)
    )
    server = await start_http(app, "127.0.0.1", 0)
    h = Harness(fake_slack, server, services, store, aiohttp.ClientSession())
    yield h
    await services.runner.shutdown(grace=5)
    await server.stop()
    await h.session.close()
    store.close()


def explained(cause: str = "L3.flow_suspended", **extra: Any) -> dict[str, Any]:
    return {
        "verdict": {"layer": 3, "cause": cause},
        "summary": "The Shopify to NetSuite flow is suspended, so the sell-out never reached the ERP.",
        "claims": [{"text": "The flow is suspended since 01:00 UTC.", "cites": ["E4"]}],
        **extra,
    }


async def mention(h: Harness, thread: Thread, text: str, ts: str) -> Any:
    before = len(thread.messages)
    reply = await h.event(
        {
            "type": "app_mention",
            "user": "U1",
            "text": f"<@UBOT> {text}",
            "ts": ts,
            "thread_ts": thread.root_ts,
            "channel": "C1",
        }
    )
    assert reply.status == 200
    return await h.fake.wait_for(
        lambda: thread.messages[before] if len(thread.messages) > before else None, "the answer"
    )


async def test_the_verdict_message_shows_the_explanation_and_the_saved_report_has_it(
    harness: Harness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(
        tool_calls(("run_check", {"check_id": "L3.flow_status"})), final(explained())
    )
    thread = await harness.triage(SKU)
    verdict = thread.verdicts[-1].everything
    assert ":robot_face: *Explanation*" in verdict
    assert "The flow is suspended since 01:00 UTC." in verdict and "`E4`" in verdict
    assert "the sell-out never reached the ERP" not in verdict, "a person reads cited claims"
    assert "disagrees" not in verdict
    _row, saved = harness.store.get(thread.triage_id) or (None, None)
    assert saved is not None and saved.agent is not None and saved.agent.status == "ok"
    assert saved.agent.usage is not None and saved.agent.usage.model_calls == 2
    # The model's own summary was not shown: kept for audit in the store, and only there.
    audit = [c.text for c in saved.agent.held_back]
    assert any("the sell-out never reached the ERP" in t for t in audit)
    assert "the sell-out never reached the ERP" not in saved.model_dump_json()


async def test_a_disagreement_is_shown_for_a_person_and_the_verdict_is_the_rules(
    harness: Harness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(final(explained("L4.integration_user_permissions")))
    thread = await harness.triage(SKU)
    message = thread.verdicts[-1]
    assert message.text.startswith(f"{SKU}: L3.flow_suspended (confirmed)")
    assert "The agent disagrees" in message.everything
    assert "L4.integration_user_permissions" in message.everything


async def test_when_the_model_fails_the_verdict_says_why_in_one_line(
    harness: Harness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(server_error(500))
    thread = await harness.triage(SKU)
    verdict = thread.verdicts[-1].everything
    assert "No explanation: the model endpoint 127.0.0.1" in verdict and "HTTP 500" in verdict
    assert "L3.flow_suspended" in verdict


async def test_follow_ups_are_answered_by_the_agent_with_the_threads_memory(
    harness: Harness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(final(explained()))
    thread = await harness.triage(SKU)
    fake_openai.script(
        tool_calls(("read_listing", {"channel": "amazon"})),
        final(
            {
                "verdict": None,
                "summary": "Amazon shows zero because the connector stopped forwarding.",
                "claims": [{"text": "Amazon lists 0 units.", "cites": ["T1"]}],
            }
        ),
        final(
            {
                "verdict": None,
                "summary": "The integration admin owns it.",
                "claims": [{"text": "Owner: integration admin.", "cites": ["E4"]}],
            }
        ),
    )
    first = await mention(harness, thread, "why didn't the Amazon listing update?", "1700000099.1")
    assert "Amazon lists 0 units." in first.everything and "`T1`" in first.everything
    assert "Amazon shows zero" not in first.everything, "the uncited summary is not shown"
    assert "1 fresh tool call(s)" in first.everything
    second = await mention(harness, thread, "and who fixes it?", "1700000099.2")
    assert "Owner: integration admin." in second.everything
    sent = fake_openai.requests[-1]["messages"][1]["content"]
    memory = sent[sent.index("<thread_memory>") : sent.index("</thread_memory>")]
    assert "why didn't the Amazon listing update?" in memory and "Amazon lists 0 units" in memory
    turns = ThreadMemory(harness.store.db).turns("C1", thread.root_ts)
    assert [t.source for t in turns] == ["agent", "agent"]


async def test_when_the_agent_cannot_answer_the_rules_answer_and_say_why(
    harness: Harness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(final(explained()))
    thread = await harness.triage(SKU)
    fake_openai.script(server_error(503))
    answer = await mention(harness, thread, "what does the webhook log say?", "1700000099.3")
    assert "E5" in answer.everything and "the ERP never received it" in answer.everything
    assert "The agent could not answer" in answer.everything and "HTTP 503" in answer.everything
    turns = ThreadMemory(harness.store.db).turns("C1", thread.root_ts)
    assert [t.source for t in turns] == ["rules"]
    assert json.loads(json.dumps(turns[0].cites))  # the evidence it rested on is remembered
