"""``oos tickets list`` and ``oos tickets retry``, and the server's outbox pass."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.tickets.cli import _retry
from bot.tickets.service import Outcome
from bot.tickets.store import OutboxItem
from tests.tickets.conftest import World, WorldFactory, report_for


async def test_list_shows_tickets_and_the_outbox(
    make_world: WorldFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await make_world("jira")
    service = world.service()
    await service.open(report_for("SKU-4101"), "t1")
    world.emulator.outage = 503
    await service.open(report_for("SKU-3101"), "t2")

    # main() runs its own event loop: give it a thread of its own.
    code = await asyncio.to_thread(main, ["tickets", "list", "--db", str(world.db)])

    out = capsys.readouterr().out
    assert code == 0
    assert (
        "open     SKU-4101 · L4.listener_inactive  ERP-1 https://oos-sandbox.atlassian.net/browse/ERP-1"
        in out
    )
    assert "none     SKU-3101 · L3.flow_suspended  (not opened yet)" in out
    assert "pending  open     triage t2 attempts 1 — jira returned a server error (HTTP 503" in out


async def test_retry_sends_what_is_queued_now(
    make_world: WorldFactory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    world = await make_world("servicenow")
    service = world.service()
    world.emulator.outage = 503
    await service.open(report_for("SKU-4101"), "t1")
    world.emulator.outage = None

    code = await _retry(service)  # no waiting for the backoff: retry means now

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("opened     oos-fp-")
    assert "INC0010001" in out
    assert "1 action(s) to send: 1 done now" in out
    assert "0 still pending (0 held by a live worker's lease), 0 failed" in out
    assert world.ticket_count() == 1


async def test_retry_exits_1_while_the_system_is_still_down(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    service = world.service()
    world.emulator.outage = 502
    await service.open(report_for("SKU-4101"), "t1")
    assert await _retry(service) == 1
    assert "1 still pending (0 held by a live worker's lease)" in capsys.readouterr().out


async def test_retry_counts_what_a_live_worker_holds_and_exits_1(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running server holds the fingerprint's lease (its heartbeat keeps it alive): retry
    cannot send that action, and says so instead of "nothing left"."""
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    server, cli = world.service(), world.service()
    world.emulator.outage = 503
    report = report_for("SKU-4101")
    await server.open(report, "t1")
    world.emulator.outage = None
    (item,) = server.store.pending()
    assert server.store.acquire(item.fingerprint, "server:attempt", now=world.clock(), lease=20)

    assert await _retry(cli) == 1
    out = capsys.readouterr().out
    assert "1 still pending (1 held by a live worker's lease), 0 failed" in out
    assert world.ticket_count() == 0


def test_retry_without_a_tickets_table_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "stack.toml"
    stack.write_text(
        '[storefront]\nvendor = "shopify"\noptions = { shop = "acme" }\n'
        '[middleware]\nvendor = "celigo"\noptions = { flows = {} }\n'
        '[erp]\nvendor = "netsuite"\noptions = { account_id = "1234567" }\n'
    )
    assert main(["tickets", "retry", "--config", str(stack), "--db", str(tmp_path / "t.db")]) == 2
    assert "no [tickets] table" in capsys.readouterr().err


async def test_the_server_pass_drains_until_stopped(world: World) -> None:
    service = world.service()
    world.emulator.outage = 503
    await service.open(report_for("SKU-4101"), "t1")
    world.emulator.outage = None
    world.clock.advance(hours=1)
    stop = asyncio.Event()
    told = service.notify

    async def notify_then_stop(item: OutboxItem, outcome: Outcome) -> None:
        await told(item, outcome)
        stop.set()  # the server shutting down once the ticket is out: nothing waits on time

    service.notify = notify_then_stop
    await service.run(stop)

    assert world.ticket_count() == 1
    assert service.store.pending() == []
    assert world.told.kinds == ["queued", "opened"]
