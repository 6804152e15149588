"""Create, dedupe, comment, resolve, reopen and link — over the Jira and ServiceNow emulators —
and what survives a restart, a lost database, a lost answer, an outage and refused credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tickets.fingerprint import fingerprint_of
from tests.tickets.conftest import World, WorldFactory, report_for
from tools.sandbox.emulators.faults import Scripted

SKU = "SKU-4101"  # L4.listener_inactive, confirmed: an ERP admin ticket


async def test_open_creates_one_ticket_with_the_report_attached(world: World) -> None:
    service = world.service()
    report = report_for(SKU)

    outcome = await service.open(
        report,
        "t1",
        channel="C1",
        thread_ts="1.1",
        thread_url="https://x.slack.com/archives/C1/p11",
    )

    assert outcome.kind == "opened" and outcome.ticket is not None
    assert world.ticket_count() == 1
    key = outcome.ticket.key
    (attached,) = world.attachments(key)
    assert b'"sku": "SKU-4101"' in attached
    row = service.ticket_for(report)
    assert row is not None and (row.ticket_key, row.state) == (key, "open")
    assert world.told.kinds == ["opened"]
    assert world.told.events[0][0].thread_ts == "1.1"


async def test_a_second_triage_of_the_same_sku_and_cause_comments_instead(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    first = await service.open(report, "t1")
    second = await service.open(report, "t2", thread_url="https://x.slack.com/archives/C1/p22")

    assert second.kind == "commented"
    assert first.ticket is not None and second.ticket is not None
    assert second.ticket.key == first.ticket.key
    assert world.ticket_count() == 1
    (comment,) = world.comments(first.ticket.key)
    assert "t2" in comment and "https://x.slack.com/archives/C1/p22" in comment
    for item in report.evidence:
        assert item.id in comment


async def test_the_same_triage_twice_is_one_action(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    await service.open(report, "t1")
    again = await service.open(report, "t1")  # a double click, or auto-open then a click

    assert again.kind == "opened"  # the recorded outcome of the one action
    assert world.ticket_count() == 1
    assert world.comments(again.ticket.key if again.ticket else "") == []


async def test_another_cause_on_the_same_sku_is_another_ticket(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    other = report.model_copy(
        update={"verdict": report.verdict.model_copy(update={"cause": "L4.threshold_delta"})}
    )
    await service.open(report, "t1")
    await service.open(other, "t2")
    assert world.ticket_count() == 2


async def test_resolve_then_recurrence_reopens(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    assert opened.ticket is not None
    key = opened.ticket.key

    resolved = await service.resolve(report, "t1", thread_url="https://x.slack.com/archives/C1/p1")
    assert resolved is not None and resolved.kind == "resolved"
    assert world.is_resolved(key)
    row = service.ticket_for(report)
    assert row is not None and row.state == "resolved"

    again = await service.open(report, "t2")
    assert again.kind == "reopened"
    assert again.ticket is not None and again.ticket.key == key
    assert not world.is_resolved(key)
    assert world.ticket_count() == 1
    assert any("came back" in c for c in world.comments(key))


async def test_recurrence_links_a_new_ticket_when_the_policy_says_link(world: World) -> None:
    service = world.service(recurrence="link")
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    await service.resolve(report, "t1")

    again = await service.open(report, "t2")

    assert again.kind == "linked"
    assert again.previous is not None and opened.ticket is not None
    assert again.previous.key == opened.ticket.key
    assert again.ticket is not None and again.ticket.key != opened.ticket.key
    assert world.ticket_count() == 2
    assert opened.ticket.key in world.description(again.ticket.key)
    # The next triage comments on the new ticket, not on the resolved one.
    third = await service.open(report, "t3")
    assert third.kind == "commented" and third.ticket is not None
    assert third.ticket.key == again.ticket.key


async def test_a_ticket_resolved_in_the_ticket_system_closes_the_loop(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    opened = await service.open(report, "t1")
    assert opened.ticket is not None
    world.resolve_in_system(opened.ticket.key)  # IT fixed it and resolved it themselves

    again = await service.open(report, "t2")

    assert again.kind == "reopened"
    assert world.ticket_count() == 1


async def test_mark_resolved_without_a_ticket_does_nothing(world: World) -> None:
    service = world.service()
    assert await service.resolve(report_for(SKU), "t1") is None
    assert world.ticket_count() == 0


async def test_in_sync_has_nothing_to_escalate(world: World) -> None:
    outcome = await world.service().open(report_for("SKU-1000"), "t1")
    assert outcome.kind == "nothing"
    assert world.ticket_count() == 0


async def test_dedupe_holds_across_a_restart(world: World) -> None:
    report = report_for(SKU)
    await world.service().open(report, "t1")

    restarted = world.service()  # a new process: new store connection, same database file
    outcome = await restarted.open(report, "t2")

    assert outcome.kind == "commented"
    assert world.ticket_count() == 1


async def test_dedupe_holds_without_our_database_via_the_fingerprint_on_the_ticket(
    world: World, tmp_path: Path
) -> None:
    report = report_for(SKU)
    first = await world.service().open(report, "t1")

    elsewhere = world.service(db=tmp_path / "another-instance.db")
    outcome = await elsewhere.open(report, "t2")

    assert outcome.kind == "commented"
    assert first.ticket is not None and outcome.ticket is not None
    assert outcome.ticket.key == first.ticket.key
    assert world.ticket_count() == 1


async def test_a_lost_answer_to_create_does_not_open_a_duplicate(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    world.emulator.lose_responses = 1  # created, but the answer times out

    first = await service.open(report, "t1", channel="C1", thread_ts="1.1")
    assert first.kind == "queued" and first.first_failure
    assert world.ticket_count() == 1

    world.clock.advance(minutes=5)
    outcomes = await service.drain()

    # Found by fingerprint, not re-created; it is this triage's ticket: "opened", with the
    # report attached, and no "triaged again" comment on it.
    assert [o.kind for o in outcomes] == ["opened"]
    assert world.ticket_count() == 1
    (key,) = {o.ticket.key for o in outcomes if o.ticket}
    assert world.comments(key) == []
    (attached,) = world.attachments(key)
    assert b'"sku": "SKU-4101"' in attached
    assert world.told.kinds == ["queued", "opened"]


@pytest.mark.parametrize("fault", ["outage", "timeout", "rate_limited"])
async def test_an_outage_during_creation_yields_one_ticket_after_recovery(
    world: World, fault: str
) -> None:
    service = world.service()
    report = report_for(SKU)
    if fault == "outage":
        world.emulator.outage = 503
    elif fault == "timeout":
        world.emulator.faults.timeout = True
    else:
        world.emulator.faults.statuses = [Scripted(429, retry_after=120)] * 50

    first = await service.open(report, "t1", channel="C1", thread_ts="1.1")
    second = await service.open(report, "t2", channel="C2", thread_ts="2.2")  # still down

    assert first.kind == "queued" and first.first_failure
    assert second.kind == "busy"  # waits behind the first, in order
    assert world.ticket_count() == 0
    pending = service.store.pending()
    assert [i.triage_id for i in pending] == ["t1", "t2"]

    # Before the backoff is over nothing is tried.
    calls = len(world.emulator.requests)
    assert await service.drain() == []
    assert len(world.emulator.requests) == calls

    # Still down at the next try: the thread is not told twice.
    world.clock.advance(minutes=1)
    assert [o.kind for o in await service.drain()] == ["queued"]
    assert world.told.kinds == ["queued"]

    world.emulator.outage = None
    world.emulator.faults.timeout = False
    world.emulator.faults.statuses = []
    world.clock.advance(hours=1)
    outcomes = await service.drain()

    assert [o.kind for o in outcomes] == ["opened", "commented"]
    assert world.ticket_count() == 1
    assert service.store.pending() == []
    assert world.told.kinds == ["queued", "opened", "commented"]
    # Each outcome goes to the thread its action came from.
    assert [(i.channel, o.kind) for i, o in world.told.events[1:]] == [
        ("C1", "opened"),
        ("C2", "commented"),
    ]


async def test_backoff_grows_and_is_capped(world: World) -> None:
    service = world.service(outbox={"first_retry_seconds": 10, "max_retry_seconds": 35})
    world.emulator.outage = 503
    await service.open(report_for(SKU), "t1")
    waits = []
    for _ in range(4):
        (item,) = service.store.pending()
        waits.append(round(item.next_at - world.clock().timestamp()))
        world.clock.advance(seconds=waits[-1])
        await service.drain()
    assert waits == [10, 20, 35, 35]


async def test_refused_credentials_park_the_action_until_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = world.service()
    report = report_for(SKU)
    world.emulator.faults.expired_token = True

    outcome = await service.open(report, "t1")

    assert outcome.kind == "failed" and outcome.error and "credentials" in outcome.error
    assert service.store.items(state="failed")
    world.clock.advance(days=1)
    assert await service.drain() == []  # a failed action waits for a person

    world.emulator.faults.expired_token = False
    assert service.store.rearm(now=world.clock()) == 1
    outcomes = await service.drain()
    assert [o.kind for o in outcomes] == ["opened"]
    assert world.ticket_count() == 1


async def test_a_failed_attachment_is_retried_alone(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    # create goes through; the attachment upload hits a 503
    world.emulator.faults.statuses = [Scripted(200)] * 2 + [Scripted(503)]

    first = await service.open(report, "t1")
    assert first.kind == "queued"
    assert world.ticket_count() == 1

    world.clock.advance(hours=1)
    outcomes = await service.drain()
    assert [o.kind for o in outcomes] == ["opened"]
    assert world.ticket_count() == 1
    assert outcomes[0].ticket is not None
    assert len(world.attachments(outcomes[0].ticket.key)) == 1


async def test_resolved_before_the_ticket_could_be_opened_cancels_it(world: World) -> None:
    service = world.service()
    report = report_for(SKU)
    world.emulator.outage = 503
    await service.open(report, "t1")

    assert await service.resolve(report, "t1") is None

    world.emulator.outage = None
    world.clock.advance(hours=1)
    assert await service.drain() == []
    assert world.ticket_count() == 0


async def test_after_triage_follows_the_policy_and_comments_on_open_tickets(
    make_world: WorldFactory,
) -> None:
    world = await make_world("jira")
    service = world.service()
    offered = report_for("SKU-3101")  # layer 3: offered, not opened
    assert await service.after_triage(offered, "t1") is None
    assert world.ticket_count() == 0

    auto = await service.after_triage(report_for(SKU), "t2")  # confirmed layer 4: opened
    assert auto is not None and auto.kind == "opened"

    # Once someone opened a ticket for the layer 3 cause, the next triage comments on it.
    await service.open(offered, "t3")
    follow = await service.after_triage(offered, "t4")
    assert follow is not None and follow.kind == "commented"


async def test_the_fingerprint_names_the_location_where_it_matters() -> None:
    moved = report_for("SKU-3105")  # L3.location_mapping
    fp = fingerprint_of(moved)
    assert fp is not None and fp.location == "gid://shopify/Location/61"
    assert fp.value.startswith("oos-fp-") and len(fp.value) == len("oos-fp-") + 16

    elsewhere = moved.model_copy(
        update={
            "facts": [
                f.model_copy(update={"value": ["gid://shopify/Location/99"]})
                if f.id == "storefront.adjustments.locations"
                else f
                for f in moved.facts
            ]
        }
    )
    other = fingerprint_of(elsewhere)
    assert other is not None and other.value != fp.value
    # Locations do not split causes that are not about a location.
    plain = fingerprint_of(report_for(SKU))
    assert plain is not None and plain.location is None
