"""``oos serve --sandbox`` escalates too: the real Jira adapter over the in-process Jira emulator
(``bot.compose.sandbox_tickets``), exercised over signed Slack requests to the real endpoint with
the fake Slack Web API, on the emulated sandbox catalog."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.compose import SANDBOX_JIRA_PROJECT, sandbox_jira, sandbox_tickets
from bot.slack import server
from bot.slack.blocks import verdict
from bot.tickets.service import TicketService
from tests.slack.conftest import (  # noqa: F401
    SIGNING_SECRET,
    Harness,
    HarnessFactory,
    Thread,
    fake_slack,
    loopback_only,
    make_harness,
)
from tests.slack.fake_slack import BOT_TOKEN
from tools.sandbox.emulators.jira import JiraEmulator
from tools.ticketing.jira import JiraTickets

SITE = "https://oos-sandbox.atlassian.net"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def credentials() -> None:
    """Overrides the ticket tests' fixture: the sandbox needs no credentials in the environment."""


async def _said(h: Harness, thread: Thread, words: str) -> str:
    found = await h.fake.wait_for(
        lambda: next((m.everything for m in thread.messages if words in m.everything), None),
        f"a message saying {words!r}",
    )
    return str(found)


async def _sandbox(make: HarnessFactory) -> tuple[Harness, JiraEmulator]:
    jira = sandbox_jira()
    # The default resolver is the emulated sandbox catalog, as `oos serve --sandbox` has it.
    h = await make(tickets=sandbox_tickets(jira=jira))
    return h, jira


def _component(jira: JiraEmulator, key: str) -> str:
    fields = jira.issue(key)["fields"]
    assert fields["project"]["key"] == SANDBOX_JIRA_PROJECT
    (component,) = fields["components"]
    return str(component["name"])


async def test_a_layer_4_verdict_opens_one_sandbox_ticket_and_a_second_oos_comments(
    make_harness: HarnessFactory,  # noqa: F811
) -> None:
    h, jira = await _sandbox(make_harness)

    first = await h.triage("SKU-4101")  # L4.listener_inactive, owned by the ERP admin
    said = await _said(h, first, "Opened")
    (key,) = jira.issues
    assert key == f"{SANDBOX_JIRA_PROJECT}-1"
    assert f"{SITE}/browse/{key}" in said and "ERP admin" in said
    assert _component(jira, key) == "ERP"
    assert jira.issue(key)["attachments"], "the report is attached"

    second = await h.triage("SKU-4101", channel="C2")  # the harness finds threads by channel
    said = await _said(h, second, "already open")
    assert f"{SITE}/browse/{key}" in said and "L4.listener_inactive" in said
    assert list(jira.issues) == [key]
    assert len(jira.issue(key)["comments"]) == 1

    # The sandbox credentials went to the adapter privately, never through the environment.
    assert not [name for name in os.environ if name.startswith("OOS_SANDBOX_JIRA")]


async def test_open_ticket_on_a_layer_3_verdict_opens_one_and_a_second_oos_comments(
    make_harness: HarnessFactory,  # noqa: F811
) -> None:
    h, jira = await _sandbox(make_harness)

    thread = await h.triage("SKU-3101")  # L3.flow_suspended: offered, not opened by itself
    assert jira.issues == {}

    reply = await thread.press(verdict.ACTION_TICKET)
    assert reply.status == 200
    said = await _said(h, thread, "Opened")
    (key,) = jira.issues
    assert f"{SITE}/browse/{key}" in said and "Integration admin" in said
    assert "No ticket system is configured" not in said
    assert _component(jira, key) == "Integration"

    second = await h.triage("SKU-3101", channel="C2")
    said = await _said(h, second, "already open")
    assert key in said
    assert list(jira.issues) == [key]
    assert len(jira.issue(key)["comments"]) == 1


# --- the wiring: `oos serve --sandbox` gets the sandbox tickets, a config without [tickets] none


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[TicketService | None]:
    """Runs ``oos serve`` up to the point of serving, and records the ticket service it got."""
    got: list[TicketService | None] = []

    async def fake_serve(*_args: Any, tickets: TicketService | None = None, **_kw: Any) -> int:
        got.append(tickets)
        if tickets is not None:
            await tickets.aclose()
        return 0

    monkeypatch.setattr(server, "serve", fake_serve)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    return got


def _run(argv: list[str]) -> int:
    args: argparse.Namespace = build_parser().parse_args(argv)
    return int(args.run(args))


def test_oos_serve_sandbox_escalates_to_the_jira_emulator(
    served: list[TicketService | None], tmp_path: Path
) -> None:
    assert _run(["serve", "--sandbox", "--db", str(tmp_path / "t.db")]) == 0
    (tickets,) = served
    assert tickets is not None
    assert tickets.config.system == "jira" and tickets.config.base_url == SITE
    assert {route.project for route in tickets.config.routes.values()} == {SANDBOX_JIRA_PROJECT}
    assert isinstance(tickets.system, JiraTickets)  # the real adapter
    assert tickets.system.url("OOS-1") == f"{SITE}/browse/OOS-1"


def test_oos_serve_config_without_tickets_has_no_ticket_system(
    served: list[TicketService | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ROOT / "examples" / "stack.toml"
    for name in re.findall(r'= "([A-Z][A-Z0-9_]+)"', config.read_text()):
        monkeypatch.setenv(name, "set-for-the-test")  # serve refuses to start without them
    assert "[tickets]" not in config.read_text()
    assert _run(["serve", "--config", str(config), "--db", str(tmp_path / "t.db")]) == 0
    assert served == [None]
