"""What every check shares: the outcome, the registry, time formatting, and the views of the
facts more than one layer reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.facts import FactRef, Facts
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    Flow,
    StorefrontSnapshot,
)

Status = Literal["pass", "fail", "unknown", "skipped"]
Confidence = Literal["confirmed", "likely"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    facts: tuple[FactRef, ...] = ()
    confidence: Confidence = "confirmed"  # how directly the facts prove a failure
    # the failure rests on an assumption about the stack's shape (e.g. that it pushes inventory
    # to an ERP listener), not on evidence: ranked after every evidenced cause
    assumed: bool = False


def passed(detail: str, *facts: FactRef) -> Outcome:
    return Outcome("pass", detail, facts)


def failed(
    detail: str, *facts: FactRef, confidence: Confidence = "confirmed", assumed: bool = False
) -> Outcome:
    return Outcome("fail", detail, facts, "likely" if assumed else confidence, assumed)


def skipped(detail: str, *facts: FactRef) -> Outcome:
    return Outcome("skipped", detail, facts)


def unknown(detail: str, *facts: FactRef) -> Outcome:
    return Outcome("unknown", detail, facts)


CheckFn = Callable[[Facts], Outcome]
CHECKS: dict[str, CheckFn] = {}


def check(check_id: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[check_id] = fn
        return fn

    return register


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "unknown time"


def ago(now: datetime, at: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 72 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def storefront_of(facts: Facts) -> StorefrontSnapshot:
    assert facts.storefront is not None, "engine runs this check only with the storefront read"
    return facts.storefront


def erp_of(facts: Facts) -> ErpSnapshot:
    assert facts.erp is not None, "engine runs this check only with the ERP read"
    return facts.erp


def listable(sf: StorefrontSnapshot) -> int:
    """What a channel should show: a marketplace cannot list a negative (oversold) quantity."""
    return max(sf.available, 0)


def units(quantity: int | None) -> str:
    """A quantity in words: an unknown one (None) is said, never printed as 0."""
    return "no quantity" if quantity is None else str(quantity)


def disagrees(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    """Does the listing show something other than the storefront? An unknown quantity only
    disagrees by the listing being out of stock while the storefront has stock."""
    known_differs = ch.quantity is not None and ch.quantity != listable(sf)
    return known_differs or (ch.out_of_stock and sf.available > 0)


def channel_flows(facts: Facts, channel: str) -> list[Flow]:
    if facts.middleware is None:
        return []
    return [f for f in facts.middleware.flows if f.channel == channel]


def unmapped_locations(facts: Facts) -> list[str]:
    """Storefront locations where the quantity moved lately that the connector's location map
    leaves out (names where the storefront gives them). Empty without a map."""
    sf, mw = facts.storefront, facts.middleware
    if sf is None or mw is None:
        return []
    mapped = {m.storefront_location_id for m in mw.location_mappings if m.kind == "location"}
    if not mapped:
        return []
    moved = {
        a.location_id for a in sf.adjustments if a.location_id and a.at >= facts.change_window_start
    }
    names = {loc.location_id: loc.name for loc in sf.locations}
    return [names.get(i, i) for i in sorted(moved - mapped)]


def erp_channel_flows(facts: Facts, channel: str) -> list[Flow]:
    """The flows between the ERP and a channel. Only such an integration can fail to carry a
    listing state to the ERP; a channel the storefront feeds keeps its state to itself."""
    return [f for f in channel_flows(facts, channel) if f.hop == "erp_to_marketplace"]


def listing_state_change(ch: ChannelListing, facts: Facts) -> datetime | None:
    """When the listing went unbuyable by a state change its ERP integration cannot carry
    (the ERP is not consulted yet)."""
    changes = [c for c in ch.status_history if not c.buyable]
    flows = erp_channel_flows(facts, ch.channel)
    if not changes or not flows or ch.buyable:
        return None
    if any("listing_status" in f.carries for f in flows):
        return None
    return max(c.at for c in changes)


def listing_state_unsynced(ch: ChannelListing, facts: Facts) -> datetime | None:
    """When a listing-state change the integration cannot carry made the channel OOS."""
    at = listing_state_change(ch, facts)
    if at is None or facts.erp is None:
        return None
    if any(t.at >= at for t in facts.erp.transactions):
        return None
    return at


def unread(facts: Facts, key: str) -> str | None:
    """Why a system a check uses only sometimes could not be read (None: it was read)."""
    error = facts.errors.get(key)
    return error.describe() if error else None


def not_visible(erp: ErpSnapshot, topic: str) -> str | None:
    return next((n for n in erp.not_visible if n.startswith(topic)), None)


def connector_hidden(facts: Facts, topic: str) -> str | None:
    """Why the connector read could not show ``topic`` ("log", "changes", "mappings",
    "flow_status"): a route it needs was refused. A check that would pass (or find nothing)
    on what is left says unknown instead."""
    mw = facts.middleware
    if mw is None:
        return None
    return next((n for n in mw.not_visible if n.split(":", 1)[0] == topic), None)
