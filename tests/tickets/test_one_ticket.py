"""One ticket per SKU and cause inside one service, the way ``oos serve`` runs it (one
``TicketService``, many triages finishing at once on one event loop); a lost create answer under
Jira's lagging search; ServiceNow's state model; text cut under each system's field limits."""

from __future__ import annotations

import asyncio
import json

from bot.report import Report
from bot.tickets.fingerprint import fingerprint_of
from tests.tickets.conftest import World, WorldFactory, report_for
from tools.sandbox.emulators.faults import Faults
from tools.sandbox.emulators.jira import JiraEmulator
from tools.sandbox.emulators.servicenow import ServiceNowEmulator

SKU = "SKU-4101"


async def _yield(_seconds: float) -> None:
    await asyncio.sleep(0)  # every emulated request lets the other triages run


async def test_twenty_concurrent_triages_in_one_service_open_one_ticket(world: World) -> None:
    world.emulator.faults = Faults(latency=1.0)
    world.emulator._sleep = _yield
    service = world.service()
    report = report_for(SKU)

    outcomes = await asyncio.gather(
        *(service.open(report, f"t{n}", channel="C1", thread_ts=f"{n}.0") for n in range(20))
    )

    assert world.ticket_count() == 1
    kinds = [o.kind for o in outcomes]
    assert kinds.count("opened") == 1
    assert set(kinds) <= {"opened", "commented", "busy"}
    # Every triage is told exactly once: one opened it, nineteen added their evidence.
    assert sorted(world.told.kinds) == ["commented"] * 19 + ["opened"]
    assert service.store.pending() == []
    (key,) = {o.ticket.key for _i, o in world.told.events if o.ticket}
    assert len(world.comments(key)) == 19
    assert len(world.attachments(key)) == 1


async def test_concurrent_after_triage_calls_in_one_service_open_one_ticket(world: World) -> None:
    """The automatic path (auto-open by policy) is the one a burst of /oos takes."""
    world.emulator.faults = Faults(latency=1.0)
    world.emulator._sleep = _yield
    service = world.service(auto_open="it_owners")  # SKU-4101: an ERP admin cause
    report = report_for(SKU)

    await asyncio.gather(*(service.after_triage(report, f"t{n}") for n in range(20)))

    assert world.ticket_count() == 1
    assert sorted(world.told.kinds) == ["commented"] * 19 + ["opened"]


async def test_a_lease_is_one_attempts_not_the_processes(world: World) -> None:
    """Two attempts of the same worker (same service) do not share a lease."""
    service = world.service()
    report = report_for(SKU)
    fp = fingerprint_of(report)
    assert fp is not None
    await service.open(report, "t1")
    now = world.clock()
    assert service.store.acquire(fp.value, f"{service.worker}:a", now=now, lease=20)
    assert not service.store.acquire(fp.value, f"{service.worker}:b", now=now, lease=20)
    assert not service.store.acquire(fp.value, f"{service.worker}:a", now=now, lease=20)
    # The heartbeat keeps it; once it stops, the lease runs out in seconds.
    world.clock.advance(seconds=15)
    assert service.store.renew(fp.value, f"{service.worker}:a", now=world.clock(), lease=20)
    world.clock.advance(seconds=15)
    assert not service.store.acquire(fp.value, "other:c", now=world.clock(), lease=20)
    world.clock.advance(seconds=6)
    assert service.store.acquire(fp.value, "other:c", now=world.clock(), lease=20)
    assert not service.store.renew(fp.value, f"{service.worker}:a", now=world.clock(), lease=20)


async def test_a_lost_create_under_jira_search_lag_waits_instead_of_duplicating(
    make_world: WorldFactory,
) -> None:
    world = await make_world("jira")
    assert isinstance(world.emulator, JiraEmulator)
    world.emulator.clock = world.clock
    world.emulator.search_lag = 120.0  # longer than the first retry's backoff
    service = world.service()
    report = report_for(SKU)
    world.emulator.lose_responses = 1

    first = await service.open(report, "t1", channel="C1", thread_ts="1.1")
    assert first.kind == "queued" and world.ticket_count() == 1

    # The retry comes before the search shows the new issue: it must not create another.
    world.clock.advance(seconds=45)
    assert [o.kind for o in await service.drain()] == ["queued"]
    assert world.ticket_count() == 1
    searches = [r for r in world.emulator.requests if r.path.endswith("/search/jql")]
    assert searches and searches[-1].json()["jql"].startswith("labels = ")

    # Once the index has caught up, the ticket is found and taken as this triage's own.
    world.clock.advance(minutes=5)
    outcomes = await service.drain()
    assert [o.kind for o in outcomes] == ["opened"]
    assert world.ticket_count() == 1
    (key,) = world.emulator.issues
    assert world.comments(key) == []
    assert len(world.attachments(key)) == 1
    row = service.ticket_for(report)
    assert row is not None and row.ticket_key == key


async def test_jira_search_sees_a_known_issue_through_reconcile_issues(
    make_world: WorldFactory,
) -> None:
    """The ids we know go as ``reconcileIssues``: a lagging index still returns them."""
    world = await make_world("jira")
    assert isinstance(world.emulator, JiraEmulator)
    world.emulator.clock = world.clock
    world.emulator.search_lag = 3600.0
    service = world.service()
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    assert opened.ticket is not None
    fp = fingerprint_of(report)
    assert fp is not None

    assert await service.system.find(fp.value) is None  # not indexed yet
    found = await service.system.find(fp.value, known=[opened.ticket.id])
    assert found is not None and found.key == opened.ticket.key
    sent = world.emulator.requests[-1].json()
    assert sent["reconcileIssues"] == [int(opened.ticket.id)]


async def test_a_closed_servicenow_incident_gets_a_new_linked_one_not_a_false_reopen(
    make_world: WorldFactory,
) -> None:
    world = await make_world("servicenow")
    assert isinstance(world.emulator, ServiceNowEmulator)
    service = world.service()  # recurrence = "reopen"
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    assert opened.ticket is not None
    world.emulator.close_in_servicenow(opened.ticket.key)

    again = await service.open(report, "t2")

    assert again.kind == "linked"
    assert again.previous is not None and again.previous.key == opened.ticket.key
    assert again.ticket is not None and again.ticket.key != opened.ticket.key
    assert world.emulator.by_number(opened.ticket.key)["state"] == "7"  # untouched
    assert opened.ticket.key in world.description(again.ticket.key)
    assert world.ticket_count() == 2


async def test_a_resolved_servicenow_incident_is_still_reopened(
    make_world: WorldFactory,
) -> None:
    world = await make_world("servicenow")
    service = world.service()
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    assert opened.ticket is not None
    world.resolve_in_system(opened.ticket.key)

    again = await service.open(report, "t2")

    assert again.kind == "reopened" and world.ticket_count() == 1


def _long(report: Report, chars: int) -> Report:
    """The report with a vendor message of ``chars`` characters in its first evidence item."""
    evidence = list(report.evidence)
    evidence[0] = evidence[0].model_copy(
        update={"statement": "connector said: " + "retrying after upstream error; " * (chars // 30)}
    )
    return report.model_copy(update={"evidence": evidence})


async def test_a_long_vendor_message_is_cut_under_the_limit_and_said_so(world: World) -> None:
    service = world.service()
    report = _long(report_for(SKU), 60_000)

    opened = await service.open(report, "t1")
    again = await service.open(report, "t2")  # the comment is cut the same way

    assert opened.kind == "opened" and opened.ticket is not None
    assert again.kind == "commented"
    key = opened.ticket.key
    description = world.description(key)
    assert "was cut to fit" in description and "full report is attached" in description
    if isinstance(world.emulator, JiraEmulator):
        sent = world.emulator.issue(key)["fields"]["description"]
        assert len(json.dumps(sent)) <= 32_767
        assert len(json.dumps(world.emulator.issue(key)["comments"][0]["body"])) <= 32_767
    else:
        assert len(description) <= 4_000
        assert all(len(note) <= 4_000 for note in world.comments(key))
    (attached,) = world.attachments(key)
    full = json.loads(attached)
    assert len(full["evidence"][0]["statement"]) >= 60_000  # the whole text, in the file
