"""Drift state in SQLite: which SKUs are flagged, since when, across runs and restarts.

Two tables beside the triage store's, in the same database file (WAL):

    drift_runs      one row per completed run: scope, when, what was compared, the counts
    drift_episodes  one row per gap episode of a SKU: first_seen / last_seen (the first and
                    latest runs that flagged it), the latest figures, and resolved_at once a
                    run compared the SKU and found it back within the threshold. At most one
                    open episode per (scope, SKU); a SKU flagged again after resolving opens a
                    new episode.

``DriftState.record`` applies one run in one ``BEGIN IMMEDIATE`` transaction, reading the open
episodes inside it, so two processes recording at once serialise and neither sees half of the
other's run. A SKU that was open and that this run could not compare (gone from one system,
untracked) stays open and is reported as unverified: never resolved on no evidence. ``scope``
keeps stacks apart (the stack config's name, a sandbox catalog's ``sandbox:size:seed``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bot.monitor.scan import Pair
from bot.store import StoreError, TriageStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drift_runs (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    ran_at TEXT NOT NULL,
    seconds REAL,
    storefront TEXT,
    erp TEXT,
    measure TEXT,
    threshold INTEGER,
    compared INTEGER,
    flagged INTEGER,
    new INTEGER,
    resolved INTEGER,
    unverified INTEGER
);
CREATE INDEX IF NOT EXISTS drift_runs_scope ON drift_runs (scope, ran_at);
CREATE TABLE IF NOT EXISTS drift_episodes (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    sku TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    resolved_at TEXT,
    first_run TEXT NOT NULL,
    last_run TEXT NOT NULL,
    storefront INTEGER NOT NULL,
    erp INTEGER NOT NULL,
    storefront_record TEXT,
    erp_record TEXT,
    announced INTEGER NOT NULL DEFAULT 1,
    resolution_run TEXT,
    resolution_announced INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS drift_open ON drift_episodes (scope, sku)
    WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS drift_episodes_sku ON drift_episodes (scope, sku, first_seen);
"""
# Columns added after the first release: a file made before them gains them, every episode it
# holds counting as announced (its posts went out under the old rules).
_ANNOUNCE_COLUMNS = {
    "announced": "INTEGER NOT NULL DEFAULT 1",
    "resolution_run": "TEXT",
    "resolution_announced": "INTEGER NOT NULL DEFAULT 1",
}


@dataclass(frozen=True)
class Tracked:
    """A SKU's state after a run: its figures, its episode's first / last seen, and status."""

    pair: Pair
    status: Literal["new", "open", "resolved"]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class RunSummary:
    """What a run is recorded with, besides its gaps."""

    run_id: str
    scope: str
    ran_at: datetime
    seconds: float
    storefront: str
    erp: str
    measure: str
    threshold: int
    compared: int


@dataclass(frozen=True)
class Recorded:
    """A run as the state saw it: flagged (new and open), resolved, unverified SKUs, and when the
    previous run of the scope was."""

    flagged: list[Tracked]
    resolved: list[Tracked]
    unverified: list[str]
    previous_run_at: datetime | None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class DriftState:
    """The drift tables of one SQLite file (the triage store's), e.g. ``DriftState.of(store)``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot use the drift state at {self.path}: {exc}") from None
        self._open(conn)

    @classmethod
    def of(cls, store: TriageStore) -> DriftState:
        """The drift tables beside ``store``'s (its own connection to the same file)."""
        if str(store.path) == ":memory:":
            state = cls.__new__(cls)
            state.path = store.path
            state._open(store.db.conn)
            return state
        return cls(store.path)

    def _open(self, conn: sqlite3.Connection) -> None:
        self.db = conn
        try:
            conn.executescript(_SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(drift_episodes)")}
            for name, kind in _ANNOUNCE_COLUMNS.items():
                if name not in have:
                    conn.execute(f"ALTER TABLE drift_episodes ADD COLUMN {name} {kind}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use the drift state at {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def last_run(self, scope: str) -> dict[str, object] | None:
        """The latest completed run of ``scope`` (its ``drift_runs`` row), if any."""
        cursor = self.db.execute(
            "SELECT * FROM drift_runs WHERE scope = ? ORDER BY ran_at DESC LIMIT 1", [scope]
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row, strict=True))

    def open_skus(self, scope: str) -> list[str]:
        """SKUs with an open episode in ``scope``."""
        rows = self.db.execute(
            "SELECT sku FROM drift_episodes WHERE scope = ? AND resolved_at IS NULL ORDER BY sku",
            [scope],
        )
        return [r[0] for r in rows]

    def record(
        self,
        run: RunSummary,
        gaps: Iterable[Pair],
        compared: Callable[[list[str]], dict[str, Pair]],
        *,
        announce: bool = True,
    ) -> Recorded:
        """Apply one run: ``gaps`` are this run's flagged SKUs; ``compared(skus)`` gives this
        run's figures for the SKUs among ``skus`` that it compared (to resolve open episodes).

        A gap stays *new*, and a resolution stays in the *resolved* list, until a run that
        reported it is announced: at once with ``announce`` (the caller shows the result
        itself, as the CLI does), else by ``announced(scope, run_id)`` once the post went out.
        A post that failed thus loses nothing: the next run reports the same news again."""
        now, scope = _iso(run.ran_at), run.scope
        conn = self.db
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                recorded = self._apply(conn, run, now, scope, gaps, compared)
                conn.execute(
                    "INSERT INTO drift_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run.run_id,
                        scope,
                        now,
                        run.seconds,
                        run.storefront,
                        run.erp,
                        run.measure,
                        run.threshold,
                        run.compared,
                        len(recorded.flagged),
                        sum(t.status == "new" for t in recorded.flagged),
                        len(recorded.resolved),
                        len(recorded.unverified),
                    ],
                )
                if announce:
                    self._announce(conn, scope, run.run_id)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not record the drift run in {self.path}: {exc}") from None
        return recorded

    def announced(self, scope: str, run_id: str) -> None:
        """Run ``run_id``'s post went out: its new gaps are open from now on, and the
        resolutions it reported are not reported again."""
        conn = self.db
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._announce(conn, scope, run_id)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not record the drift post in {self.path}: {exc}") from None

    @staticmethod
    def _announce(conn: sqlite3.Connection, scope: str, run_id: str) -> None:
        conn.execute(
            "UPDATE drift_episodes SET announced = 1"
            " WHERE scope = ? AND last_run = ? AND announced = 0",
            [scope, run_id],
        )
        conn.execute(
            "UPDATE drift_episodes SET resolution_announced = 1"
            " WHERE scope = ? AND resolution_run = ? AND resolution_announced = 0",
            [scope, run_id],
        )

    def _apply(
        self,
        conn: sqlite3.Connection,
        run: RunSummary,
        now: str,
        scope: str,
        gaps: Iterable[Pair],
        compared: Callable[[list[str]], dict[str, Pair]],
    ) -> Recorded:
        previous = conn.execute(
            "SELECT max(ran_at) FROM drift_runs WHERE scope = ?", [scope]
        ).fetchone()[0]
        open_ = {
            sku: (first, last, bool(announced))
            for sku, first, last, announced in conn.execute(
                "SELECT sku, first_seen, last_seen, announced FROM drift_episodes"
                " WHERE scope = ? AND resolved_at IS NULL",
                [scope],
            )
        }
        flagged: list[Tracked] = []
        updates, inserts = [], []
        for pair in gaps:
            figures = (pair.storefront, pair.erp, pair.storefront_record, pair.erp_record)
            if pair.sku in open_:
                first, _last, announced = open_.pop(pair.sku)
                updates.append((now, run.run_id, *figures, scope, pair.sku))
                status: Literal["new", "open"] = "open" if announced else "new"
                flagged.append(Tracked(pair, status, _time(first), run.ran_at))
            else:
                inserts.append((scope, pair.sku, now, now, run.run_id, run.run_id, *figures))
                flagged.append(Tracked(pair, "new", run.ran_at, run.ran_at))
        conn.executemany(
            "UPDATE drift_episodes SET last_seen = ?, last_run = ?, storefront = ?, erp = ?,"
            " storefront_record = ?, erp_record = ?"
            " WHERE scope = ? AND sku = ? AND resolved_at IS NULL",
            updates,
        )
        conn.executemany(
            "INSERT INTO drift_episodes (scope, sku, first_seen, last_seen, first_run, last_run,"
            " storefront, erp, storefront_record, erp_record, announced, resolution_announced)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
            inserts,
        )
        # Open episodes this run did not flag: resolved if it compared them, else unverified.
        now_agreeing = compared(sorted(open_))
        resolved = [
            Tracked(now_agreeing[sku], "resolved", _time(first), _time(last))
            for sku, (first, last, announced) in sorted(open_.items())
            if sku in now_agreeing and announced
        ]
        conn.executemany(
            "UPDATE drift_episodes SET resolved_at = ?, storefront = ?, erp = ?"
            " WHERE scope = ? AND sku = ? AND resolved_at IS NULL",
            [
                (now, now_agreeing[sku].storefront, now_agreeing[sku].erp, scope, sku)
                for sku in sorted(open_)
                if sku in now_agreeing
            ],
        )
        # A gap that closed before it was ever announced is no news; one announced as open
        # whose resolution was not announced yet (that post failed) is reported again, unless
        # the SKU is flagged again in this run.
        conn.execute(
            "UPDATE drift_episodes SET resolution_announced = 1 WHERE scope = ?"
            " AND resolved_at IS NOT NULL AND resolution_announced = 0 AND announced = 0",
            [scope],
        )
        flagged_now = {t.pair.sku for t in flagged}
        earlier = [
            Tracked(Pair(sku, sf, erp, sf_rec, erp_rec), "resolved", _time(first), _time(last))
            for sku, sf, erp, sf_rec, erp_rec, first, last in conn.execute(
                "SELECT sku, storefront, erp, storefront_record, erp_record, first_seen,"
                " last_seen FROM drift_episodes WHERE scope = ? AND resolved_at IS NOT NULL"
                " AND resolved_at < ? AND resolution_announced = 0 ORDER BY sku",
                [scope, now],
            )
            if sku not in flagged_now
        ]
        conn.execute(
            "UPDATE drift_episodes SET resolution_announced = 1 WHERE scope = ?"
            " AND resolved_at IS NOT NULL AND resolved_at < ? AND resolution_announced = 0"
            " AND sku IN (SELECT sku FROM drift_episodes WHERE scope = ? AND resolved_at IS NULL)",
            [scope, now, scope],
        )
        resolved = sorted([*earlier, *resolved], key=lambda t: t.pair.sku)
        conn.executemany(
            "UPDATE drift_episodes SET resolution_run = ?"
            " WHERE scope = ? AND sku = ? AND resolved_at IS NOT NULL AND resolution_announced = 0",
            [(run.run_id, scope, t.pair.sku) for t in resolved],
        )
        unverified = sorted(sku for sku in open_ if sku not in now_agreeing)
        return Recorded(
            flagged=flagged,
            resolved=resolved,
            unverified=unverified,
            previous_run_at=_time(previous) if previous else None,
        )
