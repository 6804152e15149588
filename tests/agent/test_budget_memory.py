"""Budgets in numbers, and thread memory on the store's own SQLite file."""

from __future__ import annotations

from pathlib import Path

from bot.agent.budget import Meter
from bot.agent.memory import TABLE, ThreadMemory
from bot.store import TriageStore
from tests.agent.conftest import config


def test_each_budget_stops_the_next_call_in_words() -> None:
    meter = Meter(config(max_steps=2, max_tokens=10_000, max_cost_usd=1.0, max_output_tokens=100))
    assert meter.exhausted(next_prompt_tokens=1_000) is None
    meter.record_call(9_000, 500, estimated=False)
    assert meter.exhausted(next_prompt_tokens=1_000) == (
        "the token budget (10000 tokens) would be exceeded"
    )
    meter.record_call(0, 0, estimated=False)
    assert meter.exhausted() == "the step budget (2 model calls) is spent"


def test_cost_is_estimated_from_the_configured_prices() -> None:
    meter = Meter(config(price_per_million_input_tokens=2.5, price_per_million_output_tokens=10.0))
    meter.record_call(1_000_000, 100_000, estimated=False)
    assert meter.cost_usd == 3.5
    assert meter.usage("m").cost_usd == 3.5 and meter.usage("m").total_tokens == 1_100_000


def test_thread_turns_live_in_their_own_table_of_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "triage.db"
    store = TriageStore(path)
    memory = ThreadMemory(store.db)
    for i in range(8):
        memory.add("C1", "111.1", question=f"q{i}", answer=f"a{i}", source="agent", cites=["E4"])
    memory.add("C1", "222.2", question="other", answer="thread", source="rules")
    store.close()

    reopened = ThreadMemory.open(path)  # a new process: the turns are still there
    turns = reopened.turns("C1", "111.1", limit=3)
    assert [t.question for t in turns] == ["q5", "q6", "q7"]  # the last three, oldest first
    assert turns[0].cites == ["E4"] and turns[0].source == "agent"
    assert [t.answer for t in reopened.turns("C1", "222.2")] == ["thread"]
    assert TABLE in TriageStore(path).db.table_names()
