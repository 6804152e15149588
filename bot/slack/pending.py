"""Verdicts that Slack would not take, kept in the triage store until it does.

When a saved triage's verdict cannot be posted (Slack down, or rate limited past the client's
deadline), its place is kept here: the triage id and where it belongs. The verdict itself is
rendered again from the saved report when it goes out, so nothing is duplicated and an
explanation or resolution added meanwhile is shown. Rows are taken out with one ``DELETE …
RETURNING``, so two processes on one database never post the same verdict twice; a row whose
post fails again is put back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from tools.clock import Clock, utc_now

TABLE = "slack_pending_verdicts"


@dataclass(frozen=True)
class PendingVerdict:
    triage_id: str
    channel: str
    thread_ts: str
    root_ts: str | None  # the thread's root when this triage opened it (its outcome line)
    kept_at: str
    error: str


class PendingVerdicts:
    def __init__(self, db: sqlite_utils.Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock
        with db.conn:
            db.conn.execute(
                f"create table if not exists {TABLE} ("
                "triage_id text primary key, channel text not null, thread_ts text not null, "
                "root_ts text, kept_at text not null, error text not null)"
            )

    def keep(
        self, triage_id: str, *, channel: str, thread_ts: str, root_ts: str | None, error: str
    ) -> None:
        with self.db.conn:
            self.db.conn.execute(
                f"insert or replace into {TABLE} values (?, ?, ?, ?, ?, ?)",
                [triage_id, channel, thread_ts, root_ts, self._clock().isoformat(), error],
            )

    def take_all(self) -> list[PendingVerdict]:
        """Every kept verdict, oldest first, removed from the table (put back with ``keep``)."""
        try:
            with self.db.conn:
                rows = self.db.conn.execute(
                    f"delete from {TABLE} returning triage_id, channel, thread_ts, root_ts, "
                    "kept_at, error"
                ).fetchall()
        except sqlite3.OperationalError:  # locked by another process: try on the next pass
            return []
        return sorted((PendingVerdict(*row) for row in rows), key=lambda p: p.kept_at)

    def count(self) -> int:
        return int(self.db.conn.execute(f"select count(*) from {TABLE}").fetchone()[0])
