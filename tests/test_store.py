"""The SQLite store: saves, finds by thread and user, survives a crash mid-write."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.compose import sandbox_target
from bot.engine import triage
from bot.report import Report
from bot.store import SCHEMA_VERSION, StoreError, TriageStore


@pytest.fixture(scope="module")
def report() -> Report:
    target = sandbox_target("SKU-3101")
    return asyncio.run(triage("SKU-3101", target.stack, now=target.clock))


def test_a_saved_report_comes_back_whole(tmp_path: Path, report: Report) -> None:
    store = TriageStore(tmp_path / "t.db")
    triage_id = store.save(report, origin="slack", user="U1", channel="C1", thread_ts="171.1")
    found = store.get(triage_id)
    assert found is not None
    row, back = found
    assert back == report
    assert (row["user"], row["channel"], row["thread_ts"], row["cause"]) == (
        "U1",
        "C1",
        "171.1",
        "L3.flow_suspended",
    )
    assert store.by_thread("C1", "171.1") is not None and store.by_thread("C1", "nope") is None


def test_recent_filters_by_user_newest_first(tmp_path: Path, report: Report) -> None:
    store = TriageStore(tmp_path / "t.db")
    later = report.model_copy(update={"started_at": report.started_at + timedelta(days=400)})
    store.save(report, user="U1")
    store.save(later, user="U1")
    store.save(report, user="U2")
    rows = store.recent(user="U1")
    assert [r["started_at"] for r in rows] == [
        later.started_at.isoformat(),
        report.started_at.isoformat(),
    ]
    assert "report" not in rows[0]


def test_a_crash_mid_write_loses_nothing_already_saved(tmp_path: Path, report: Report) -> None:
    db = tmp_path / "t.db"
    TriageStore(db).save(report)
    crash = textwrap.dedent(
        f"""
        import os, sqlite3
        conn = sqlite3.connect({str(db)!r})
        conn.execute("BEGIN")
        conn.execute("INSERT INTO triages (id, sku, started_at, report) VALUES ('x', 'S', 'now', '{{')")
        os._exit(9)  # dies inside the transaction
        """
    )
    proc = subprocess.run([sys.executable, "-c", crash], check=False)
    assert proc.returncode == 9
    store = TriageStore(db)
    assert store.count() == 1
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.save(report)
    assert store.count() == 2


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="Move the file aside"):
        TriageStore(db)


# --- schema version 2: resolved_at / resolved_by ------------------------------------------------

V1_SCHEMA = """
CREATE TABLE "triages" (
   "id" TEXT PRIMARY KEY,
   "sku" TEXT NOT NULL,
   "pattern" TEXT,
   "cause" TEXT,
   "layer" TEXT,
   "confidence" TEXT,
   "started_at" TEXT NOT NULL,
   "seconds" REAL,
   "origin" TEXT,
   "user" TEXT,
   "channel" TEXT,
   "thread_ts" TEXT,
   "report" TEXT NOT NULL
);
CREATE INDEX "idx_triages_sku_started_at" ON "triages" ("sku", "started_at");
CREATE INDEX "idx_triages_channel_thread_ts" ON "triages" ("channel", "thread_ts");
PRAGMA user_version=1;
"""


def make_v1_database(path: Path, report: Report) -> None:
    """A store file as version 1 wrote it: the v1 columns only, two saved triages."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    rows = [
        ("old1", "U1", "C1", "171.1", report.started_at.isoformat()),
        ("old2", "U2", "C2", "172.2", (report.started_at + timedelta(days=400)).isoformat()),
    ]
    with conn:
        conn.executemany(
            "insert into triages (id, sku, pattern, cause, layer, confidence, started_at, seconds,"
            " origin, user, channel, thread_ts, report) values (?, ?, ?, ?, ?, ?, ?, ?, 'slack',"
            " ?, ?, ?, ?)",
            [
                (
                    triage_id,
                    report.sku,
                    report.pattern,
                    report.verdict.cause,
                    str(report.verdict.layer),
                    report.verdict.confidence,
                    started_at,
                    report.seconds,
                    user,
                    channel,
                    thread_ts,
                    report.model_dump_json(),
                )
                for triage_id, user, channel, thread_ts, started_at in rows
            ],
        )
    conn.close()


def columns(store: TriageStore) -> list[str]:
    return [str(r[1]) for r in store.db.execute("PRAGMA table_info(triages)").fetchall()]


def user_version(store: TriageStore) -> int:
    return int(store.db.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_store_is_at_schema_version_2(tmp_path: Path) -> None:
    store = TriageStore(tmp_path / "t.db")
    assert user_version(store) == SCHEMA_VERSION == 2
    assert columns(store)[-2:] == ["resolved_at", "resolved_by"]


def test_a_v1_database_is_migrated_to_v2_without_losing_rows(
    tmp_path: Path, report: Report
) -> None:
    db = tmp_path / "v1.db"
    make_v1_database(db, report)

    store = TriageStore(db)

    assert user_version(store) == 2
    assert columns(store) == [
        "id",
        "sku",
        "pattern",
        "cause",
        "layer",
        "confidence",
        "started_at",
        "seconds",
        "origin",
        "user",
        "channel",
        "thread_ts",
        "report",
        "resolved_at",
        "resolved_by",
    ]
    assert store.count() == 2
    found = store.get("old1")
    assert found is not None
    row, back = found
    assert back == report
    assert (row["user"], row["channel"], row["thread_ts"]) == ("U1", "C1", "171.1")
    assert (row["resolved_at"], row["resolved_by"]) == (None, None)
    assert [r["id"] for r in store.recent()] == ["old2", "old1"]
    assert all(r["resolved_at"] is None and r["resolved_by"] is None for r in store.recent())
    indexes = {r[1] for r in store.db.execute("PRAGMA index_list(triages)").fetchall()}
    assert {"idx_triages_sku_started_at", "idx_triages_channel_thread_ts"} <= indexes
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # The migrated store works like a new one, and opening it again changes nothing.
    assert store.mark_resolved("old1", "U9")
    new_id = store.save(report, user="U1")
    store.close()
    again = TriageStore(db)
    assert user_version(again) == 2 and again.count() == 3
    assert columns(again).count("resolved_at") == 1
    assert again.get(new_id) is not None
    resolved = again.get("old1")
    assert resolved is not None and resolved[0]["resolved_by"] == "U9"


def test_a_database_from_a_newer_release_keeps_its_version(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    TriageStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=3")
    conn.close()
    assert user_version(TriageStore(db)) == 3


def test_mark_resolved_records_who_and_when_and_shows_in_recent(
    tmp_path: Path, report: Report
) -> None:
    store = TriageStore(tmp_path / "t.db")
    triage_id = store.save(report, origin="slack", user="U1", channel="C1", thread_ts="171.1")
    other = store.save(report, origin="slack", user="U1", channel="C1", thread_ts="171.2")
    at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

    assert store.mark_resolved(triage_id, "U5", at=at) is True

    found = store.get(triage_id)
    assert found is not None
    row, back = found
    assert (row["resolved_by"], row["resolved_at"]) == ("U5", "2024-05-01T12:30:00+00:00")
    assert back == report, "resolving changes the row's state, never the saved report"
    by_id = {r["id"]: r for r in store.recent(user="U1")}
    assert (by_id[triage_id]["resolved_by"], by_id[triage_id]["resolved_at"]) == (
        "U5",
        "2024-05-01T12:30:00+00:00",
    )
    assert (by_id[other]["resolved_by"], by_id[other]["resolved_at"]) == (None, None)


def test_mark_resolved_keeps_the_first_resolution(tmp_path: Path, report: Report) -> None:
    store = TriageStore(tmp_path / "t.db")
    triage_id = store.save(report, user="U1")
    first = datetime(2024, 5, 1, tzinfo=UTC)

    assert store.mark_resolved(triage_id, "U5", at=first)
    assert store.mark_resolved(triage_id, "U6") is False

    found = store.get(triage_id)
    assert found is not None
    assert (found[0]["resolved_by"], found[0]["resolved_at"]) == ("U5", first.isoformat())


def test_mark_resolved_of_an_unknown_triage_is_false(tmp_path: Path) -> None:
    store = TriageStore(tmp_path / "t.db")
    assert store.mark_resolved("deadbeef0000", "U5") is False
    assert store.count() == 0


def test_mark_resolved_uses_now_in_utc_by_default(tmp_path: Path, report: Report) -> None:
    store = TriageStore(tmp_path / "t.db")
    triage_id = store.save(report)
    before = datetime.now(UTC)
    assert store.mark_resolved(triage_id, "U5")
    after = datetime.now(UTC)
    found = store.get(triage_id)
    assert found is not None
    at = datetime.fromisoformat(found[0]["resolved_at"])
    assert at.utcoffset() == timedelta(0)
    assert before <= at <= after


def test_a_migration_that_fails_halfway_leaves_the_v1_file_as_it_was(
    tmp_path: Path, report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v1.db"
    make_v1_database(db, report)
    real_add_column = sqlite_utils.db.Table.add_column

    def add_column(self: sqlite_utils.db.Table, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "resolved_by":
            raise sqlite3.OperationalError("disk I/O error")
        return real_add_column(self, name, *args, **kwargs)

    monkeypatch.setattr(sqlite_utils.db.Table, "add_column", add_column)
    with pytest.raises(StoreError):
        TriageStore(db)
    monkeypatch.undo()

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    names = [r[1] for r in conn.execute("PRAGMA table_info(triages)").fetchall()]
    assert "resolved_at" not in names and "resolved_by" not in names
    assert conn.execute("select count(*) from triages").fetchone()[0] == 2
    conn.close()

    store = TriageStore(db)  # the next open migrates it
    assert user_version(store) == 2 and store.count() == 2
