"""Slack end to end: signed requests to the real endpoint, the fake Slack Web API on loopback,
and the ticket service injected through ``build_app(tickets=…)`` over the Jira emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.engine import triage
from bot.slack.app import build_app
from bot.slack.blocks import verdict
from bot.slack.server import start_http
from bot.slack.settings import AccessPolicy
from bot.store import TriageStore
from bot.tickets.service import TicketService
from bot.tickets.store import TicketStore
from tests.slack.conftest import Harness, Thread, fake_slack, slack_settings  # noqa: F401
from tests.slack.fake_slack import FakeSlack
from tests.tickets.conftest import JIRA_PROJECTS, Clock, memory_target, no_sleep, tickets_config
from tools.retry import RetryPolicy
from tools.sandbox.emulators.jira import JiraEmulator
from tools.ticketing.jira import JiraTickets


class TicketHarness(Harness):
    jira: JiraEmulator
    tickets: TicketService
    clock: Clock


Factory = Callable[..., Awaitable[TicketHarness]]


@pytest.fixture
async def make(fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Factory]:  # noqa: F811
    started: list[TicketHarness] = []

    async def build(**config: object) -> TicketHarness:
        settings = slack_settings(fake_slack, triage_timeout=30, access=AccessPolicy())
        db = tmp_path / "triage.db"
        store = TriageStore(db)
        jira = JiraEmulator(projects=JIRA_PROJECTS)
        cfg = tickets_config("jira", **config)
        adapter = JiraTickets.from_settings(
            base_url=cfg.base_url,
            credentials=cfg.credentials,
            transport=jira,
            retry=RetryPolicy.off(),
            sleep=no_sleep,
        )
        clock = Clock()
        tickets = TicketService(cfg, adapter, TicketStore(db), clock=clock, jitter=lambda: 1.0)
        app, services = build_app(
            settings, store=store, resolve=memory_target, engine=triage, tickets=tickets
        )
        server = await start_http(app, "127.0.0.1", 0)
        h = TicketHarness(fake_slack, server, services, store, aiohttp.ClientSession())
        h.jira, h.tickets, h.clock = jira, tickets, clock
        started.append(h)
        return h

    yield build
    for h in started:
        await h.services.runner.shutdown(grace=5)
        await h.server.stop()
        await h.session.close()
        await h.tickets.aclose()
        h.store.close()


async def _said(h: Harness, thread: Thread, words: str) -> str:
    found = await h.fake.wait_for(
        lambda: next((m.everything for m in thread.messages if words in m.everything), None),
        f"a message saying {words!r}",
    )
    return str(found)


async def test_open_ticket_click_creates_the_ticket_and_posts_its_link(make: Factory) -> None:
    h = await make()
    thread = await h.triage("SKU-3101")  # layer 3: offered, not opened automatically
    assert h.jira.issues == {}

    reply = await thread.press(verdict.ACTION_TICKET)
    assert reply.status == 200

    said = await _said(h, thread, "Opened")
    (key,) = h.jira.issues
    assert key.startswith("INT-")
    assert f"https://oos-sandbox.atlassian.net/browse/{key}" in said
    assert "<!subteam^S0INTEG>" in said and "Integration admin" in said
    # The ticket links back to the thread.
    description = str(h.jira.issue(key)["fields"]["description"])
    assert (
        f"https://fake-workspace.slack.com/archives/C1/p{thread.root_ts.replace('.', '')}"
        in description
    )

    # A second click (or another person's) adds nothing new: the same triage, one action.
    await thread.press(verdict.ACTION_TICKET)
    responses = await h.fake.wait_for(lambda: h.fake.responses, "the answer to the second click")
    assert (
        f"escalated already: <https://oos-sandbox.atlassian.net/browse/{key}|{key}>"
        in responses[-1]["text"]
    )
    assert len(h.jira.issues) == 1 and h.jira.issue(key)["comments"] == []


async def test_a_layer_4_verdict_opens_its_ticket_and_a_second_oos_comments(make: Factory) -> None:
    h = await make()
    first = await h.triage("SKU-4101")
    said = await _said(h, first, "Opened")
    (key,) = h.jira.issues
    assert key.startswith("ERP-") and key in said

    second = await h.triage("SKU-4101", channel="C2")  # the harness finds threads by channel
    said = await _said(h, second, "already open")
    assert key in said and "L4.listener_inactive" in said
    assert len(h.jira.issues) == 1
    assert len(h.jira.issue(key)["comments"]) == 1


async def test_mark_resolved_resolves_the_ticket(make: Factory) -> None:
    h = await make()
    thread = await h.triage("SKU-4101")
    await _said(h, thread, "Opened")
    (key,) = h.jira.issues

    await thread.press(verdict.ACTION_RESOLVE)

    said = await _said(h, thread, "is resolved")
    assert key in said
    assert h.jira.status_of(key) == "Done"


async def test_an_outage_is_said_in_the_thread_and_the_link_follows_on_recovery(
    make: Factory,
) -> None:
    h = await make()
    h.jira.outage = 503
    thread = await h.triage("SKU-4101")

    said = await _said(h, thread, "kept in the outbox")
    assert "Jira is not answering" in said
    assert h.jira.issues == {}

    h.jira.outage = None
    h.clock.advance(hours=1)
    await h.tickets.drain()  # what oos serve's outbox pass does

    said = await _said(h, thread, "Opened")
    (key,) = h.jira.issues
    assert key in said


async def test_nothing_to_escalate_for_an_in_sync_sku(make: Factory) -> None:
    h = await make()
    thread = await h.triage("SKU-1000")
    await thread.press(verdict.ACTION_TICKET)
    responses = await h.fake.wait_for(lambda: h.fake.responses, "the ephemeral answer")
    assert "Nothing to escalate" in responses[-1]["text"]
    assert h.jira.issues == {}
