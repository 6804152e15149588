"""No false all-clear, as a property of the whole library (issue 10).

For every scenario, make any one system unreadable, or make any one fact unknown (a field whose
absence the model reads as "not known": a time, a quantity, the integration user, the log's
reach). Thinner evidence may cost confidence, never add it:

- with a system unreadable the verdict is never in sync, and it is inconclusive unless a cause
  is proven from what was read;
- a verdict that was not in sync never becomes in sync;
- a confirmed cause after the change was already a confirmed failure before it.

Every variant runs through the engine on in-memory adapters (a few milliseconds each).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.engine import triage
from bot.report import Report
from tools.models import ChannelListing, ErpSnapshot, MiddlewareSnapshot, StorefrontSnapshot
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, Unreadable, load_library

LIBRARY = load_library()

# Facts whose absence (None) means "not known" in tools/models.py.
UNKNOWABLE: dict[type, tuple[str, ...]] = {
    StorefrontSnapshot: (
        "out_of_stock_since",
        "last_inventory_sync_at",
        "on_hand",
        "committed",
    ),
    ChannelListing: ("quantity", "last_inventory_feed_at"),
    MiddlewareSnapshot: ("log_window_start", "sku_mapping"),
    ErpSnapshot: ("available", "last_inventory_update_at", "integration_user"),
}


def _unreadable(state: Any, kind: str = "timeout") -> Unreadable:
    channel = state.channel if isinstance(state, ChannelListing) else None
    return Unreadable(
        kind=kind,  # type: ignore[arg-type]
        message="did not answer in time (property test)",
        system=state.source.system,
        channel=channel,
    )


def _variants(s: Scenario) -> Iterator[tuple[str, Scenario, bool]]:
    """(what changed, the scenario after it, whether a whole system became unreadable)."""
    for key in ("storefront", "middleware", "erp", "wms"):
        state = getattr(s, key)
        if state is None or isinstance(state, Unreadable):
            continue
        yield f"{key} unreadable", s.model_copy(update={key: _unreadable(state)}), True
        for field in UNKNOWABLE.get(type(state), ()):
            if getattr(state, field) is not None:
                unknown = state.model_copy(update={field: None})
                yield f"{key}.{field} unknown", s.model_copy(update={key: unknown}), False
    for i, listing in enumerate(s.marketplaces):
        if isinstance(listing, Unreadable):
            continue
        others = list(s.marketplaces)
        others[i] = _unreadable(listing)
        yield f"{listing.channel} unreadable", s.model_copy(update={"marketplaces": others}), True
        for field in UNKNOWABLE[ChannelListing]:
            if getattr(listing, field) is not None:
                changed = list(s.marketplaces)
                changed[i] = listing.model_copy(update={field: None})
                yield (
                    f"{listing.channel}.{field} unknown",
                    s.model_copy(update={"marketplaces": changed}),
                    False,
                )


def _in_sync(report: Report) -> bool:
    return report.verdict.cause is None and report.verdict.confidence != "inconclusive"


def _confirmed(report: Report) -> set[str]:
    """Every cause the report holds as confirmed (the verdict's and the secondary ones)."""
    causes = {s.cause for s in report.secondary if s.confidence == "confirmed"}
    if report.verdict.cause and report.verdict.confidence == "confirmed":
        causes.add(report.verdict.cause)
    return causes


async def _run(s: Scenario) -> Report:
    return await triage(s.sku, memory_stack(s), now=s.clock)


async def test_thinner_evidence_never_gives_an_all_clear_or_a_new_confirmed_cause() -> None:
    broken: list[str] = []
    checked = 0
    for scenario in LIBRARY.values():
        base = await _run(scenario)
        for what, variant, system_lost in _variants(scenario):
            checked += 1
            got = await _run(variant)
            where = f"{scenario.path}: {what}: {got.verdict.cause} {got.verdict.confidence}"
            if system_lost and _in_sync(got):
                broken.append(f"{where} — in sync with a system unreadable")
            if not _in_sync(base) and _in_sync(got):
                broken.append(f"{where} — became in sync")
            new_proof = got.verdict.cause not in _confirmed(base)
            if got.verdict.cause and got.verdict.confidence == "confirmed" and new_proof:
                broken.append(f"{where} — a cause not confirmed before")
    assert checked > 5 * len(LIBRARY)
    assert not broken, "\n".join(broken)
