"""The store: every triage saved in SQLite (via sqlite-utils), with who asked and where.

Each save is one transaction in WAL mode, so a crash mid-write loses nothing already saved and
leaves no half-written row. A database that cannot be opened or is corrupt raises
``StoreError`` with one line saying what to do.

Schema versions (``PRAGMA user_version``), migrated forward on open, in one transaction:

1. ``triages``: the report and who asked where.
2. ``resolved_at`` (ISO 8601, UTC) and ``resolved_by`` (Slack user id): "Mark resolved".
   Added with ``ALTER TABLE … ADD COLUMN``, so every existing row is kept (unresolved).
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.report import Report
from tools.clock import utc_now
from tools.sku import normalize_sku

SCHEMA_VERSION = 2

# Columns added after version 1, in the order they were added (name → type), so a database
# from any earlier version gets exactly the ones it lacks.
_ADDED_COLUMNS: dict[str, type] = {"resolved_at": str, "resolved_by": str}

_RECENT_COLUMNS = (
    "id, sku, pattern, cause, layer, confidence, started_at, seconds, origin, user, channel, "
    "thread_ts, resolved_at, resolved_by"
)


class StoreError(RuntimeError):
    """The store cannot be used; the message says which file and what to do."""


class TriageStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            if str(path) != ":memory:":
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(
                f"cannot use the triage store at {self.path}: {exc}. "
                "Move the file aside (or set OOS_DB to another path) and run again."
            ) from None

    def _migrate(self) -> None:
        """Create the schema, or bring an older database up to ``SCHEMA_VERSION`` in place.

        ``BEGIN IMMEDIATE`` takes the write lock before looking, so two processes opening the
        same old file at once migrate it once (the second waits, then finds nothing to do), and
        a failure halfway leaves the file exactly as it was.
        """
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            triages = self.db.table("triages")
            if not triages.exists():
                triages.create(
                    {
                        "id": str,
                        "sku": str,
                        "pattern": str,
                        "cause": str,
                        "layer": str,
                        "confidence": str,
                        "started_at": str,
                        "seconds": float,
                        "origin": str,
                        "user": str,
                        "channel": str,
                        "thread_ts": str,
                        "report": str,
                        **_ADDED_COLUMNS,
                    },
                    pk="id",
                    not_null={"sku", "report", "started_at"},
                )
                triages.create_index(["sku", "started_at"])
                triages.create_index(["channel", "thread_ts"])
            else:
                have = set(triages.columns_dict)
                for name, kind in _ADDED_COLUMNS.items():
                    if name not in have:
                        triages.add_column(name, kind)
            if version < SCHEMA_VERSION:  # a newer file (a later release) is left as it is
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if conn.in_transaction:  # sqlite-utils 3 commits inside create(); 4 nests in ours
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def save(
        self,
        report: Report,
        *,
        origin: str = "cli",
        user: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Save one report; returns its id. One transaction: all of it or none of it."""
        triage_id = uuid.uuid4().hex[:12]
        row = {
            "id": triage_id,
            "sku": normalize_sku(report.sku),  # one SKU, one key: NFC as everywhere (tools/sku.py)
            "pattern": report.pattern,
            "cause": report.verdict.cause,
            "layer": None if report.verdict.layer is None else str(report.verdict.layer),
            "confidence": report.verdict.confidence,
            "started_at": report.started_at.astimezone(UTC).isoformat(),
            "seconds": report.seconds,
            "origin": origin,
            "user": user,
            "channel": channel,
            "thread_ts": thread_ts,
            "report": report.stored_json(),
        }
        try:
            with self.db.conn:
                self.db["triages"].insert(row)  # type: ignore[union-attr]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not save the triage to {self.path}: {exc}") from None
        return triage_id

    def replace_report(self, triage_id: str, report: Report) -> None:
        """Save a later version of a triage's report (the agent's explanation, added after the
        verdict was posted). The verdict columns are the rules' and do not change."""
        try:
            with self.db.conn:
                self.db.conn.execute(
                    "update triages set report = ? where id = ?",
                    [report.stored_json(), triage_id],
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not update the triage in {self.path}: {exc}") from None

    def get(self, triage_id: str) -> tuple[dict[str, Any], Report] | None:
        rows = list(self.db.query("select * from triages where id = ?", [triage_id]))
        if not rows:
            return None
        return rows[0], Report.model_validate_json(rows[0]["report"])

    def by_thread(self, channel: str, thread_ts: str) -> tuple[dict[str, Any], Report] | None:
        rows = list(
            self.db.query(
                "select * from triages where channel = ? and thread_ts = ? order by started_at desc limit 1",
                [channel, thread_ts],
            )
        )
        return (rows[0], Report.model_validate_json(rows[0]["report"])) if rows else None

    def first_in_thread(self, channel: str, thread_ts: str) -> dict[str, Any] | None:
        """The triage that opened a thread (its root names that triage's user), without the
        report body; None when no saved triage did."""
        rows = list(
            self.db.query(
                f"select {_RECENT_COLUMNS} from triages where channel = ? and thread_ts = ? "
                "order by started_at asc limit 1",
                [channel, thread_ts],
            )
        )
        return rows[0] if rows else None

    def recent(
        self, *, user: str | None = None, sku: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Newest first, without the report body; ``resolved_at``/``resolved_by`` are None
        until someone marks the triage resolved."""
        where, args = [], []
        if user:
            where.append("user = ?")
            args.append(user)
        if sku:
            where.append("sku = ?")
            args.append(normalize_sku(sku))
        clause = f"where {' and '.join(where)}" if where else ""
        sql = f"select {_RECENT_COLUMNS} from triages {clause} order by started_at desc limit ?"
        return list(self.db.query(sql, [*args, limit]))

    def mark_resolved(self, triage_id: str, user: str, *, at: datetime | None = None) -> bool:
        """Record that ``user`` resolved the triage (at ``at``, default now). True if this call
        resolved it; False if there is no such triage or it was already resolved, in which case
        the first resolution stands (``get`` says by whom and when)."""
        when = (at or utc_now()).astimezone(UTC).isoformat()
        try:
            with self.db.conn:
                cursor = self.db.conn.execute(
                    "update triages set resolved_at = ?, resolved_by = ? "
                    "where id = ? and resolved_at is null",
                    [when, user, triage_id],
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not mark the triage resolved in {self.path}: {exc}") from None
        return cursor.rowcount == 1

    def count(self) -> int:
        return int(self.db.execute("select count(*) from triages").fetchone()[0])

    def writable(self) -> str | None:
        """None when a write commits (``/readyz``), else why not. Writes one tiny row."""
        conn = self.db.conn
        try:
            with conn:
                conn.execute(
                    "create table if not exists ready_probe (id integer primary key, at text)"
                )
                conn.execute(
                    "insert or replace into ready_probe (id, at) values (1, ?)",
                    [utc_now().isoformat()],
                )
        except sqlite3.Error as exc:
            return str(exc)
        return None

    def close(self) -> None:
        self.db.conn.close()
