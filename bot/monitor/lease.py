"""Leases in SQLite, so two running instances never post the same alert twice.

Every scheduled run is a *slot*: a job name and the time it was scheduled for. Before running
a slot an instance claims it in the ``monitor_runs`` table of the store's database file (its
own table: ``bot/store.py`` owns the others). A claim is one ``BEGIN IMMEDIATE`` transaction,
which SQLite serialises across connections and processes, so of any number of instances
sharing the file exactly one wins the slot:

    no row                        insert it: claimed
    finished (done / failed /     not claimed: it ran (or was skipped) already
    skipped)
    running, lease not expired    not claimed: another instance is on it
    running, lease expired        the holder died mid-run: taken over, at most
                                  ``MAX_ATTEMPTS`` times in all

The winner holds the lease for ``ttl`` and renews it while the job runs (``Lease.keep``), and
checks it still holds it right before each post (``Lease.held``): an instance paused past its
lease (a frozen VM) finds the slot taken over and posts nothing. A failed run is not retried:
the next slot runs as usual, and the failure is in the log with the slot.

``connect`` and ``write`` are how a monitoring table of its own uses the store's file (this one,
and the latency state's ``latency_breaches``): WAL, and explicit transactions that take the
write lock up front.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from tools.clock import Clock, utc_now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a slot whose holder died is taken over once, not again and again
Status = Literal["done", "failed", "skipped"]

_SCHEMA = """
create table if not exists monitor_runs (
    job text not null,
    slot text not null,
    owner text not null,
    status text not null,
    claimed_at text not null,
    expires_at text not null,
    finished_at text,
    attempts integer not null default 1,
    detail text,
    primary key (job, slot)
)
"""


class LeaseError(RuntimeError):
    """The lease table cannot be used; the message names the file."""


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to the store's SQLite file (its folder made, WAL), in autocommit mode so
    every transaction is an explicit ``write``; usable from any thread. ``:memory:`` for tests."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    if str(path) != ":memory:":
        conn.execute("pragma journal_mode=wal")
    return conn


@contextlib.contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, holding SQLite's write lock from the start."""
    conn.execute("begin immediate")
    try:
        yield conn
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def new_owner() -> str:
    """This instance's name in the lease table: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Lease:
    """A claimed slot. ``held`` turns False when a renewal finds the slot taken over."""

    store: LeaseStore
    job: str
    slot: datetime
    owner: str
    ttl: timedelta
    lost: bool = field(default=False)

    def held(self) -> bool:
        """Still ours? Asked right before posting (a fencing check)."""
        if self.lost:
            return False
        if not self.store.holds(self):
            self.lost = True
        return not self.lost

    def renew(self) -> bool:
        if not self.lost and not self.store.renew(self):
            self.lost = True
        return not self.lost

    @contextlib.asynccontextmanager
    async def keep(self) -> AsyncIterator[Lease]:
        """Renew the lease every third of its ttl while the block runs."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.ttl.total_seconds() / 3)
                if not self.renew():
                    log.warning("lease on %s %s was taken over", self.job, _iso(self.slot))
                    return

        task = asyncio.create_task(beat())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LeaseStore:
    """The ``monitor_runs`` table on the store's SQLite file (WAL), one connection each."""

    def __init__(
        self,
        path: Path | str,
        *,
        owner: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.path = Path(path)
        self.owner = owner or new_owner()
        self._clock = clock
        try:
            self._conn = connect(path)
            self._conn.execute(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise LeaseError(f"cannot use the monitoring tables in {self.path}: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def claim(self, job: str, slot: datetime, ttl: timedelta) -> Lease | None:
        """The slot's lease if this instance wins it, else None (see the module docstring)."""
        now = self._clock()
        key = (job, _iso(slot))
        with write(self._conn) as db:
            row = db.execute(
                "select status, expires_at, attempts from monitor_runs where job = ? and slot = ?",
                key,
            ).fetchone()
            if row is None:
                db.execute(
                    "insert into monitor_runs (job, slot, owner, status, claimed_at, expires_at) "
                    "values (?, ?, ?, 'running', ?, ?)",
                    (*key, self.owner, _iso(now), _iso(now + ttl)),
                )
            else:
                status, expires_at, attempts = row
                if status != "running" or _parse(expires_at) > now or attempts >= MAX_ATTEMPTS:
                    return None
                log.warning("taking over %s %s: its holder's lease expired", job, key[1])
                db.execute(
                    "update monitor_runs set owner = ?, claimed_at = ?, expires_at = ?, "
                    "attempts = attempts + 1 where job = ? and slot = ?",
                    (self.owner, _iso(now), _iso(now + ttl), *key),
                )
        return Lease(self, job, slot, self.owner, ttl)

    def renew(self, lease: Lease) -> bool:
        with write(self._conn) as db:
            changed = db.execute(
                "update monitor_runs set expires_at = ? "
                "where job = ? and slot = ? and owner = ? and status = 'running'",
                (_iso(self._clock() + lease.ttl), lease.job, _iso(lease.slot), lease.owner),
            ).rowcount
        return changed == 1

    def holds(self, lease: Lease) -> bool:
        row = self._conn.execute(
            "select owner, status, expires_at from monitor_runs where job = ? and slot = ?",
            (lease.job, _iso(lease.slot)),
        ).fetchone()
        return (
            row is not None
            and row[0] == lease.owner
            and row[1] == "running"
            and _parse(row[2]) > self._clock()
        )

    def finish(self, lease: Lease, status: Status = "done", detail: str | None = None) -> None:
        with write(self._conn) as db:
            db.execute(
                "update monitor_runs set status = ?, finished_at = ?, detail = ? "
                "where job = ? and slot = ? and owner = ?",
                (status, _iso(self._clock()), detail, lease.job, _iso(lease.slot), lease.owner),
            )

    def skip(self, job: str, slot: datetime, detail: str) -> bool:
        """Record a slot as not to be run (e.g. it was due before monitoring started here).
        False when the slot already has a row."""
        now = _iso(self._clock())
        with write(self._conn) as db:
            changed = db.execute(
                "insert or ignore into monitor_runs "
                "(job, slot, owner, status, claimed_at, expires_at, finished_at, detail) "
                "values (?, ?, ?, 'skipped', ?, ?, ?, ?)",
                (job, _iso(slot), self.owner, now, now, now, detail),
            ).rowcount
        return changed == 1

    def latest_slot(self, job: str) -> datetime | None:
        """The newest slot recorded for ``job`` in any state, or None if it never had one."""
        row = self._conn.execute(
            "select max(slot) from monitor_runs where job = ?", (job,)
        ).fetchone()
        return _parse(row[0]) if row and row[0] else None

    def runs(self, job: str) -> list[dict[str, object]]:
        """Every slot of ``job``, oldest first (for ``oos`` diagnostics and tests)."""
        cursor = self._conn.execute(
            "select slot, owner, status, attempts, detail from monitor_runs "
            "where job = ? order by slot",
            (job,),
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
