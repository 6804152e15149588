"""Every scenario of the library, through the engine: the report matches what it expects."""

from __future__ import annotations

import pytest

from bot.engine import triage
from bot.tree import load_tree
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, load_library

LIBRARY = load_library()


@pytest.mark.parametrize("scenario", LIBRARY.values(), ids=list(LIBRARY))
async def test_scenario_report_matches_expectation(scenario: Scenario) -> None:
    report = await triage(scenario.sku, memory_stack(scenario), now=scenario.clock)
    expected = scenario.expected
    got = {
        "pattern": report.pattern,
        "layer": report.verdict.layer,
        "cause": report.verdict.cause,
        "confidence": report.verdict.confidence,
    }
    want = {
        "pattern": expected.pattern,
        "layer": expected.layer,
        "cause": expected.cause,
        "confidence": expected.confidence,
    }
    assert got == want, [
        f"{c.id}: {c.status} — {c.detail}" for c in report.checks if c.status != "pass"
    ]
    assert sorted(s.cause for s in report.secondary) == sorted(expected.secondary)


def test_library_covers_every_cause_and_the_required_situations() -> None:
    causes = {s.expected.cause for s in LIBRARY.values()}
    assert set(load_tree().causes) <= causes, sorted(set(load_tree().causes) - causes)
    assert any(s.expected.pattern == "in_sync" for s in LIBRARY.values())
    several = [s for s in LIBRARY.values() if len(s.expected.secondary) >= 1 and s.expected.cause]
    assert len(several) >= 3
    unreadable = [
        s
        for s in LIBRARY.values()
        if any(
            getattr(state, "kind", None) in ("timeout", "unreachable", "auth")
            for state in (s.storefront, s.middleware, s.erp, s.wms, *s.marketplaces)
        )
    ]
    assert len(unreadable) >= 3


def test_every_scenario_states_the_checklist_item_it_reproduces() -> None:
    for scenario in LIBRARY.values():
        assert scenario.checklist.strip(), scenario.path
