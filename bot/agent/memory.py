"""Thread memory: each triage thread's questions and answers, kept by the bot itself.

Slack limits how much thread history many apps may read, so follow-ups never re-read the
thread: every answered question is saved here — in its own table, ``agent_thread_turns``, in
the same SQLite file as the triage store — and the last few turns go back to the model with
the next question. Questions and answers are saved masked (no personal data, no secrets).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from tools.clock import utc_now

TABLE = "agent_thread_turns"
DEFAULT_TURNS = 6


@dataclass(frozen=True)
class Turn:
    at: datetime
    question: str
    answer: str
    source: str  # "agent" or "rules": who answered
    cites: list[str]


class ThreadMemory:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        if not db[TABLE].exists():
            with db.conn:
                db[TABLE].create(  # type: ignore[union-attr]
                    {
                        "id": int,
                        "channel": str,
                        "thread_ts": str,
                        "triage_id": str,
                        "at": str,
                        "question": str,
                        "answer": str,
                        "source": str,
                        "cites": str,
                        "model": str,
                        "tokens": int,
                        "cost_usd": float,
                    },
                    pk="id",
                    not_null={"channel", "thread_ts", "at", "question", "answer"},
                    if_not_exists=True,
                )
                db[TABLE].create_index(  # type: ignore[union-attr]
                    ["channel", "thread_ts", "at"], if_not_exists=True
                )

    @classmethod
    def open(cls, path: Path | str) -> ThreadMemory:
        """On its own connection to the store's file (WAL lets both write)."""
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        return cls(sqlite_utils.Database(conn))

    def add(
        self,
        channel: str,
        thread_ts: str,
        *,
        question: str,
        answer: str,
        source: str,
        cites: list[str] | None = None,
        triage_id: str | None = None,
        model: str | None = None,
        tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        with self.db.conn:
            self.db[TABLE].insert(  # type: ignore[union-attr]
                {
                    "channel": channel,
                    "thread_ts": thread_ts,
                    "triage_id": triage_id,
                    "at": utc_now().isoformat(),
                    "question": question,
                    "answer": answer,
                    "source": source,
                    "cites": json.dumps(cites or []),
                    "model": model,
                    "tokens": tokens,
                    "cost_usd": cost_usd,
                }
            )

    def turns(self, channel: str, thread_ts: str, limit: int = DEFAULT_TURNS) -> list[Turn]:
        """The thread's last ``limit`` turns, oldest first."""
        rows = list(
            self.db.query(
                f"select at, question, answer, source, cites from {TABLE} "
                "where channel = ? and thread_ts = ? order by id desc limit ?",
                [channel, thread_ts, limit],
            )
        )
        return [
            Turn(
                at=datetime.fromisoformat(r["at"]),
                question=r["question"],
                answer=r["answer"],
                source=r["source"] or "agent",
                cites=list(json.loads(r["cites"] or "[]")),
            )
            for r in reversed(rows)
        ]
