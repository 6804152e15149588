"""The SQLite store: saves, finds by thread and user, survives a crash mid-write."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.compose import sandbox_target
from bot.engine import triage
from bot.report import Report
from bot.store import StoreError, TriageStore


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
    later = report.model_copy(update={"started_at": report.started_at.replace(year=2030)})
    store.save(report, user="U1")
    store.save(later, user="U1")
    store.save(report, user="U2")
    rows = store.recent(user="U1")
    assert [r["started_at"][:4] for r in rows] == ["2030", str(report.started_at.year)]
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
