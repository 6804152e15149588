"""The ticket tables, in the same SQLite file as the triage store (``bot.store``).

``tickets``: one row per fingerprint (its PRIMARY KEY is the UNIQUE constraint that lets two
instances, or two triages finishing at once, agree there is one problem), with the ticket it
maps to once known, and a lease: whoever holds it is the only one writing to the ticket system
for that fingerprint.

A lease belongs to one attempt at working a fingerprint (a random token per attempt), never to a
process: two coroutines of one server are two holders like two servers are. It is short
(``LEASE_SECONDS``) and renewed by a heartbeat while the attempt runs, so a worker killed
mid-request frees the fingerprint within seconds.

``ticket_outbox``: every ticket action (open — which comments, reopens or links when a ticket
exists — and resolve) is written here first, in the same transaction that claims the
fingerprint, and done from here. An action that fails for a passing reason (outage, 5xx,
timeout, 429) stays ``pending`` with a backoff; one that cannot succeed as configured (refused
credentials, a refused field) becomes ``failed`` and is kept until ``oos tickets retry``. The
same triage never queues the same action twice (UNIQUE fingerprint + action + triage id), so a
double click or an auto-open plus a click is one action.

Transactions are short and never span an await; ``BEGIN IMMEDIATE`` takes the write lock
before reading, so two connections cannot both see "no ticket yet" and both act.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.store import StoreError
from bot.tickets.fingerprint import Fingerprint
from tools.ticketing.base import Ticket

Action = Literal["open", "resolve"]
ItemState = Literal["pending", "done", "failed"]
# ticket: nothing sent yet; creating: a create was sent and its answer not recorded (it may
# exist in the ticket system: look before creating again); attach: created, attachment missing.
Step = Literal["ticket", "creating", "attach"]

_SCHEMA = """
create table if not exists tickets (
    fingerprint text primary key,
    sku text not null,
    cause text not null,
    location text,
    owner text,
    system text,
    ticket_id text,
    ticket_key text,
    url text,
    state text not null default 'none' check (state in ('none', 'open', 'resolved')),
    status text,
    lease_owner text,
    lease_until real,
    created_at text not null,
    updated_at text not null
);
create table if not exists ticket_outbox (
    id integer primary key autoincrement,
    fingerprint text not null references tickets(fingerprint),
    action text not null check (action in ('open', 'resolve')),
    triage_id text not null,
    report text not null,
    owner text,
    channel text,
    thread_ts text,
    thread_url text,
    step text not null default 'ticket',
    state text not null default 'pending' check (state in ('pending', 'done', 'failed')),
    attempts integer not null default 0,
    next_at real not null,
    last_error text,
    outcome text,
    created_at text not null,
    done_at text,
    create_sent_at real,
    unique (fingerprint, action, triage_id)
);
create index if not exists ticket_outbox_due on ticket_outbox (state, next_at);
"""
# Columns added after the first release: (table, column, definition).
_ADDED_COLUMNS = (("ticket_outbox", "create_sent_at", "real"),)


@dataclass(frozen=True)
class TicketRow:
    fingerprint: str
    sku: str
    cause: str
    location: str | None
    owner: str | None
    system: str | None
    ticket_id: str | None
    ticket_key: str | None
    url: str | None
    state: Literal["none", "open", "resolved"]
    status: str | None

    @property
    def ticket(self) -> Ticket | None:
        if not (self.system and self.ticket_id and self.ticket_key and self.url):
            return None
        return Ticket(
            self.system,
            self.ticket_id,
            self.ticket_key,
            self.url,
            "resolved" if self.state == "resolved" else "open",
            self.status or "",
        )


@dataclass(frozen=True)
class OutboxItem:
    id: int
    fingerprint: str
    action: Action
    triage_id: str
    report: str
    owner: str | None
    channel: str | None
    thread_ts: str | None
    thread_url: str | None
    step: Step
    state: ItemState
    attempts: int
    next_at: float
    last_error: str | None
    outcome: str | None
    created_at: str
    done_at: str | None
    create_sent_at: float | None = None


@dataclass(frozen=True)
class Backlog:
    """What ``oos tickets retry`` must say is not finished."""

    pending: int  # waiting to be tried (due now or backing off)
    held: int  # of those, on a fingerprint a live worker holds the lease of
    failed: int  # given up until someone retries


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class TicketStore:
    """The ticket tables on ``path`` (the triage store's file). One connection per instance."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every transaction here is explicit (BEGIN IMMEDIATE … COMMIT).
            self._conn = sqlite3.connect(
                str(path), timeout=10, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            if str(path) != ":memory:":
                self._conn.execute("pragma journal_mode=wal")
            self._conn.execute("pragma foreign_keys=on")
            with self._write():
                # One statement at a time: executescript() would commit our BEGIN first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                for table, column, definition in _ADDED_COLUMNS:
                    have = {r["name"] for r in self._conn.execute(f"pragma table_info({table})")}
                    if column not in have:
                        self._conn.execute(f"alter table {table} add column {column} {definition}")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(
                f"cannot use the ticket tables in {self.path}: {exc}. "
                "Move the file aside (or set OOS_DB to another path) and run again."
            ) from None

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("begin immediate")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the ticket tables in {self.path} are busy or broken: {exc}"
            ) from None
        try:
            yield conn
        except BaseException:
            conn.execute("rollback")
            raise
        else:
            conn.execute("commit")

    # --- claiming and queueing -------------------------------------------------------------

    def enqueue(
        self,
        fp: Fingerprint,
        action: Action,
        *,
        triage_id: str,
        report_json: str,
        owner: str | None,
        channel: str | None,
        thread_ts: str | None,
        thread_url: str | None,
        now: datetime,
    ) -> OutboxItem:
        """Claim the fingerprint (first caller creates its row) and queue the action, in one
        transaction; the same triage's same action is queued once."""
        stamp = _iso(now)
        with self._write() as conn:
            conn.execute(
                "insert or ignore into tickets (fingerprint, sku, cause, location, owner, "
                "state, created_at, updated_at) values (?, ?, ?, ?, ?, 'none', ?, ?)",
                [fp.value, fp.sku, fp.cause, fp.location, owner, stamp, stamp],
            )
            conn.execute(
                "insert or ignore into ticket_outbox (fingerprint, action, triage_id, report, "
                "owner, channel, thread_ts, thread_url, next_at, created_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    fp.value,
                    action,
                    triage_id,
                    report_json,
                    owner,
                    channel,
                    thread_ts,
                    thread_url,
                    now.timestamp(),
                    stamp,
                ],
            )
            row = conn.execute(
                "select * from ticket_outbox where fingerprint = ? and action = ? and triage_id = ?",
                [fp.value, action, triage_id],
            ).fetchone()
        return _item(row)

    def acquire(self, fingerprint: str, holder: str, *, now: datetime, lease: float) -> bool:
        """Take the fingerprint's lease for ``holder`` (one attempt's token) when it is free or
        expired. True if taken. A holder never re-enters: a second attempt needs its own token
        and waits like any other worker."""
        with self._write() as conn:
            cursor = conn.execute(
                "update tickets set lease_owner = ?, lease_until = ? where fingerprint = ? "
                "and (lease_owner is null or lease_until < ?)",
                [holder, now.timestamp() + lease, fingerprint, now.timestamp()],
            )
        return cursor.rowcount == 1

    def renew(self, fingerprint: str, holder: str, *, now: datetime, lease: float) -> bool:
        """Extend ``holder``'s lease (the heartbeat); False when it is no longer ``holder``'s."""
        with self._write() as conn:
            cursor = conn.execute(
                "update tickets set lease_until = ? where fingerprint = ? and lease_owner = ?",
                [now.timestamp() + lease, fingerprint, holder],
            )
        return cursor.rowcount == 1

    def release(self, fingerprint: str, holder: str) -> None:
        with self._write() as conn:
            conn.execute(
                "update tickets set lease_owner = null, lease_until = null "
                "where fingerprint = ? and lease_owner = ?",
                [fingerprint, holder],
            )

    # --- reading ---------------------------------------------------------------------------

    def ticket(self, fingerprint: str) -> TicketRow | None:
        row = self._conn.execute(
            "select fingerprint, sku, cause, location, owner, system, ticket_id, ticket_key, "
            "url, state, status from tickets where fingerprint = ?",
            [fingerprint],
        ).fetchone()
        return TicketRow(**dict(row)) if row else None

    def item(self, item_id: int) -> OutboxItem | None:
        row = self._conn.execute("select * from ticket_outbox where id = ?", [item_id]).fetchone()
        return _item(row) if row else None

    def pending(self, fingerprint: str | None = None) -> list[OutboxItem]:
        """Pending items, oldest first (for one fingerprint, or all)."""
        where, args = "state = 'pending'", []
        if fingerprint is not None:
            where += " and fingerprint = ?"
            args.append(fingerprint)
        rows = self._conn.execute(
            f"select * from ticket_outbox where {where} order by id", args
        ).fetchall()
        return [_item(r) for r in rows]

    def items(self, *, state: ItemState | None = None, limit: int = 100) -> list[OutboxItem]:
        """Outbox items, newest first."""
        where, args = ("where state = ?", [state]) if state else ("", [])
        rows = self._conn.execute(
            f"select * from ticket_outbox {where} order by id desc limit ?", [*args, limit]
        ).fetchall()
        return [_item(r) for r in rows]

    def due_fingerprints(self, now: datetime) -> list[str]:
        """Fingerprints whose oldest pending item is due."""
        rows = self._conn.execute(
            "select fingerprint, min(next_at) as due, min(id) as first from ticket_outbox "
            "where state = 'pending' group by fingerprint having due <= ? order by first",
            [now.timestamp()],
        ).fetchall()
        return [str(r["fingerprint"]) for r in rows]

    def tickets(self) -> list[TicketRow]:
        rows = self._conn.execute(
            "select fingerprint, sku, cause, location, owner, system, ticket_id, ticket_key, "
            "url, state, status from tickets order by updated_at desc"
        ).fetchall()
        return [TicketRow(**dict(r)) for r in rows]

    # --- writing results -------------------------------------------------------------------

    def record_ticket(self, fingerprint: str, ticket: Ticket, *, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "update tickets set system = ?, ticket_id = ?, ticket_key = ?, url = ?, "
                "state = ?, status = ?, updated_at = ? where fingerprint = ?",
                [
                    ticket.system,
                    ticket.id,
                    ticket.key,
                    ticket.url,
                    ticket.state,
                    ticket.status,
                    _iso(now),
                    fingerprint,
                ],
            )

    def set_step(self, item_id: int, step: Step) -> None:
        with self._write() as conn:
            conn.execute("update ticket_outbox set step = ? where id = ?", [step, item_id])

    def mark_create_sent(self, item_id: int, *, now: datetime) -> None:
        """Say, before it goes, that a create is being sent: should its answer be lost (or the
        worker die), the next attempt looks for the ticket first and waits out the ticket
        system's search lag before creating again. The first send's time is kept."""
        with self._write() as conn:
            conn.execute(
                "update ticket_outbox set step = 'creating', "
                "create_sent_at = coalesce(create_sent_at, ?) where id = ?",
                [now.timestamp(), item_id],
            )

    def backlog(self, *, now: datetime) -> Backlog:
        """How many actions are not finished, and how many of those a live lease holds."""
        row = self._conn.execute(
            "select sum(o.state = 'pending') as pending, sum(o.state = 'failed') as failed, "
            "sum(o.state = 'pending' and t.lease_owner is not null and t.lease_until >= ?) "
            "as held from ticket_outbox o join tickets t using (fingerprint)",
            [now.timestamp()],
        ).fetchone()
        return Backlog(int(row["pending"] or 0), int(row["held"] or 0), int(row["failed"] or 0))

    def finish(self, item_id: int, outcome: str, *, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "update ticket_outbox set state = 'done', outcome = ?, done_at = ?, "
                "last_error = null where id = ?",
                [outcome, _iso(now), item_id],
            )

    def defer(self, item_id: int, *, error: str, next_at: datetime) -> int:
        """Count a failed attempt and set when to try again; returns the attempts so far."""
        with self._write() as conn:
            conn.execute(
                "update ticket_outbox set attempts = attempts + 1, last_error = ?, next_at = ? "
                "where id = ?",
                [error, next_at.timestamp(), item_id],
            )
            row = conn.execute(
                "select attempts from ticket_outbox where id = ?", [item_id]
            ).fetchone()
        return int(row["attempts"])

    def fail(self, item_id: int, *, error: str) -> None:
        with self._write() as conn:
            conn.execute(
                "update ticket_outbox set state = 'failed', attempts = attempts + 1, "
                "last_error = ? where id = ?",
                [error, item_id],
            )

    def cancel(self, fingerprint: str, action: Action, *, outcome: str, now: datetime) -> int:
        """Close the fingerprint's pending ``action`` items without doing them."""
        with self._write() as conn:
            cursor = conn.execute(
                "update ticket_outbox set state = 'done', outcome = ?, done_at = ? "
                "where fingerprint = ? and action = ? and state = 'pending'",
                [outcome, _iso(now), fingerprint, action],
            )
        return cursor.rowcount

    def rearm(self, *, now: datetime, failed: bool = True) -> int:
        """Make every pending item due now (and failed ones pending again): ``oos tickets
        retry``. Returns how many items were re-armed."""
        states = ("pending", "failed") if failed else ("pending",)
        marks = ", ".join("?" for _ in states)
        with self._write() as conn:
            cursor = conn.execute(
                f"update ticket_outbox set state = 'pending', next_at = ? where state in ({marks})",
                [now.timestamp(), *states],
            )
        return cursor.rowcount


def _item(row: Any) -> OutboxItem:
    return OutboxItem(**dict(row))
