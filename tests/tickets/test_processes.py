"""Real processes on one database: two ticket workers (as two ``oos serve``) racing on one SKU,
and a worker killed by SIGKILL while its create is in flight. The ticket system is the Jira
emulator served over 127.0.0.1 (``Loopback``); the workers are subprocesses."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.tickets.service import TicketService
from bot.tickets.store import TicketStore
from tests.tickets.conftest import JIRA_PROJECTS, report_for, tickets_config
from tests.tickets.loopback import Loopback
from tools.sandbox.emulators import jira as jira_emulator
from tools.sandbox.emulators.jira import JiraEmulator

ROOT = Path(__file__).resolve().parents[2]
SKU = "SKU-4101"


def _files(tmp_path: Path, base_url: str) -> tuple[Path, Path]:
    config = tmp_path / "tickets.json"
    config.write_text(tickets_config("jira", base_url=base_url).model_dump_json())
    report = tmp_path / "report.json"
    report.write_text(report_for(SKU).model_dump_json())
    return config, report


def _worker(
    tmp_path: Path, config: Path, report: Path, *, triages: int, prefix: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TEST_JIRA_EMAIL": jira_emulator.DEFAULT_EMAIL,
        "TEST_JIRA_API_TOKEN": jira_emulator.DEFAULT_TOKEN,
    }
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.tickets.worker", "--db", str(tmp_path / "triage.db"),
            "--config", str(config), "--report", str(report),
            "--triages", str(triages), "--prefix", prefix,
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _outbox(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("select state, step from ticket_outbox order by id"))
    finally:
        conn.close()


def test_two_processes_on_one_database_open_one_ticket(tmp_path: Path) -> None:
    emulator = JiraEmulator(projects=JIRA_PROJECTS)
    emulator.faults.latency = 0.02  # each request takes a moment: the workers interleave
    # The database exists before the servers start, as it does once the first one has run.
    TicketStore(tmp_path / "triage.db").close()
    with Loopback(emulator) as jira:
        config, report = _files(tmp_path, jira.url)
        workers = [_worker(tmp_path, config, report, triages=10, prefix=p) for p in ("a", "b")]
        results = [w.communicate(timeout=180) for w in workers]

    for worker, (_out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err[-2000:]
    kinds = [k for out, _err in results for k in json.loads(out)]
    assert len(emulator.issues) == 1
    assert kinds.count("opened") == 1
    assert set(kinds) <= {"opened", "commented", "busy"}
    (issue,) = emulator.issues.values()
    assert len(issue["comments"]) == 19  # every other triage's evidence, once
    assert len(issue["attachments"]) == 1
    outbox = _outbox(tmp_path / "triage.db")
    assert len(outbox) == 20 and all(state == "done" for state, _step in outbox)


async def test_a_worker_killed_mid_create_leaves_one_ticket_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_JIRA_EMAIL", jira_emulator.DEFAULT_EMAIL)
    monkeypatch.setenv("TEST_JIRA_API_TOKEN", jira_emulator.DEFAULT_TOKEN)
    emulator = JiraEmulator(projects=JIRA_PROJECTS)
    db = tmp_path / "triage.db"
    with Loopback(emulator) as jira:
        config, report = _files(tmp_path, jira.url)
        jira.hold_creates = True  # the issue is made; its answer waits
        worker = _worker(tmp_path, config, report, triages=1, prefix="k")
        try:
            assert jira.create_arrived.wait(120), "the worker never sent its create"
        finally:
            worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=60)
        assert worker.returncode == -signal.SIGKILL
        jira.release()

        assert len(emulator.issues) == 1
        assert _outbox(db) == [("pending", "creating")]
        conn = sqlite3.connect(db)
        (lease_until,) = conn.execute("select lease_until from tickets").fetchone()
        conn.close()
        service = TicketService.from_config(
            tickets_config("jira", base_url=jira.url),
            db,
            clock=lambda: datetime.fromtimestamp(lease_until + 1, UTC),
        )
        try:
            # While the dead worker's lease runs, the action is counted as held, not lost …
            held = service.store.backlog(now=datetime.fromtimestamp(lease_until - 1, UTC))
            assert (held.pending, held.held) == (1, 1)
            # … seconds later it is free, and the next worker finds the ticket the dead one made.
            outcomes = await service.drain()
        finally:
            await service.aclose()

    assert [o.kind for o in outcomes] == ["opened"]
    assert len(emulator.issues) == 1
    (issue,) = emulator.issues.values()
    assert issue["comments"] == []  # no "triaged again" on its own ticket
    assert len(issue["attachments"]) == 1
    assert _outbox(db) == [("done", "attach")]
