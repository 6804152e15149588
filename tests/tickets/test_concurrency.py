"""Two triages of one SKU finishing at the same moment — two asyncio tasks, two store instances
(two connections, as two server processes would have) on one database file — yield one ticket;
the other triage's evidence becomes a comment on it."""

from __future__ import annotations

import asyncio

import pytest

from tests.tickets.conftest import World, report_for
from tools.sandbox.emulators.faults import Faults


async def _yield(_seconds: float) -> None:
    await asyncio.sleep(0)  # every emulated request gives the other task its turn


@pytest.mark.parametrize("triages", [2, 5])
async def test_concurrent_triages_of_one_sku_yield_one_ticket(world: World, triages: int) -> None:
    world.emulator.faults = Faults(latency=1.0)
    world.emulator._sleep = _yield
    services = [world.service() for _ in range(triages)]
    report = report_for("SKU-4101")

    outcomes = await asyncio.gather(
        *(s.open(report, f"t{n}", channel="C1", thread_ts=f"{n}.0") for n, s in enumerate(services))
    )

    assert world.ticket_count() == 1
    kinds = sorted(o.kind for o in outcomes)
    assert kinds.count("opened") == 1
    # The others either commented themselves or were picked up by the lease holder ("busy").
    assert set(kinds) <= {"opened", "commented", "busy"}
    # Whoever did the work, every triage is accounted for exactly once, and none is left.
    assert sorted(world.told.kinds) == sorted(["opened"] + ["commented"] * (triages - 1))
    assert all(s.store.pending() == [] for s in services)
    (key,) = {o.ticket.key for _i, o in world.told.events if o.ticket}
    assert len(world.comments(key)) == triages - 1


async def test_the_claim_is_unique_in_the_database(world: World) -> None:
    """Without any network in between: two stores race to claim one fingerprint."""
    a, b = world.service(), world.service()
    report = report_for("SKU-4101")
    from bot.tickets.fingerprint import fingerprint_of

    fp = fingerprint_of(report)
    assert fp is not None
    now = world.clock()
    assert a.store.acquire(fp.value, "a", now=now, lease=60) is False  # no row yet
    for service, triage_id in ((a, "t1"), (b, "t2")):
        service.store.enqueue(
            fp,
            "open",
            triage_id=triage_id,
            report_json="{}",
            owner=None,
            channel=None,
            thread_ts=None,
            thread_url=None,
            now=now,
        )
    assert len(a.store.tickets()) == 1
    assert a.store.acquire(fp.value, "a", now=now, lease=60)
    assert not b.store.acquire(fp.value, "b", now=now, lease=60)
    world.clock.advance(seconds=61)  # a crashed worker's lease runs out
    assert b.store.acquire(fp.value, "b", now=world.clock(), lease=60)
