"""Leases: of any number of instances sharing the store's file, exactly one runs a slot; a dead
holder's slot is taken over once; a holder that lost its lease cannot post."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.monitor.lease import MAX_ATTEMPTS, Lease, LeaseStore
from bot.monitor.schedule import Cron, ScheduledJob, Scheduler
from bot.store import TriageStore
from tests.monitor.conftest import Clock
from tests.slack.fake_slack import FakeSlack

SLOT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
TTL = timedelta(minutes=10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "triage.db"
    TriageStore(path).close()  # the leases live in the triage store's own file
    return path


async def test_two_schedulers_on_one_file_post_exactly_once(
    db: Path, fake_slack: FakeSlack
) -> None:
    client = fake_slack.client()
    both_ticking = asyncio.Barrier(2)

    def scheduler(owner: str) -> Scheduler:
        async def post(lease: Lease) -> str:
            if lease.held():
                await client.chat_postMessage(channel="C1", text=f"daily drift from {owner}")
            return "posted"

        job = ScheduledJob("daily_drift", Cron("0 7 * * *", "Europe/Berlin"), post)
        return Scheduler([job], LeaseStore(db, owner=owner, clock=Clock(SLOT)))

    a, b = scheduler("a"), scheduler("b")
    now = SLOT + timedelta(seconds=30)

    async def tick(s: Scheduler) -> list[str]:
        await both_ticking.wait()  # both instances reach the slot at the same moment
        return await s.tick(now)

    ran = await asyncio.gather(tick(a), tick(b))

    assert sorted(ran) == [[], ["daily_drift"]]
    posts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 1
    assert a.leases.runs("daily_drift") == b.leases.runs("daily_drift")
    assert [r["status"] for r in a.leases.runs("daily_drift")] == ["done"]


def test_claims_from_many_threads_have_one_winner(db: Path) -> None:
    stores = [LeaseStore(db, owner=f"i{n}", clock=Clock(SLOT)) for n in range(8)]
    start = threading.Barrier(len(stores))
    won: list[Lease | None] = [None] * len(stores)

    def claim(n: int) -> None:
        start.wait()
        won[n] = stores[n].claim("weekly_health", SLOT, TTL)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [lease for lease in won if lease is not None]
    assert len(winners) == 1
    assert stores[0].runs("weekly_health")[0]["owner"] == winners[0].owner


def test_a_dead_holders_slot_is_taken_over_once_and_the_old_holder_is_fenced(db: Path) -> None:
    clock = Clock(SLOT)
    a, b, c = (LeaseStore(db, owner=o, clock=clock) for o in "abc")
    first = a.claim("daily_drift", SLOT, TTL)
    assert first is not None and first.held()

    clock.at = SLOT + TTL / 2
    assert b.claim("daily_drift", SLOT, TTL) is None, "the lease has not expired yet"

    clock.at = SLOT + TTL + timedelta(seconds=1)  # a froze or died: its lease ran out
    second = b.claim("daily_drift", SLOT, TTL)
    assert second is not None
    assert not first.held(), "a finds its slot taken over and must not post"
    assert not first.renew()

    clock.at += TTL + timedelta(seconds=1)
    assert MAX_ATTEMPTS == 2
    assert c.claim("daily_drift", SLOT, TTL) is None, "taken over once, not again and again"


def test_renewal_keeps_the_slot(db: Path) -> None:
    clock = Clock(SLOT)
    a, b = LeaseStore(db, owner="a", clock=clock), LeaseStore(db, owner="b", clock=clock)
    lease = a.claim("latency_check", SLOT, TTL)
    assert lease is not None
    clock.at = SLOT + TTL * 0.9
    assert lease.renew()
    clock.at = SLOT + TTL * 1.5
    assert b.claim("latency_check", SLOT, TTL) is None
    assert lease.held()


def test_a_finished_slot_is_never_claimed_again(db: Path) -> None:
    clock = Clock(SLOT)
    a, b = LeaseStore(db, owner="a", clock=clock), LeaseStore(db, owner="b", clock=clock)
    lease = a.claim("daily_drift", SLOT, TTL)
    assert lease is not None
    a.finish(lease, "failed", "ref 1234")
    clock.at = SLOT + timedelta(days=1)
    assert a.claim("daily_drift", SLOT, TTL) is None
    assert b.claim("daily_drift", SLOT, TTL) is None
    assert b.runs("daily_drift")[0]["detail"] == "ref 1234"


def test_a_store_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    from bot.monitor.lease import LeaseError

    bad = tmp_path / "triage.db"
    bad.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LeaseError, match=r"triage\.db"):
        LeaseStore(bad)
