"""The checks of the decision tree: pure functions ``Facts -> Outcome``.

Each function answers the question its entry in ``tree.yaml`` asks, citing the facts it rests
on. The engine only calls a check when every system it ``needs`` was read, so a check may
assume those snapshots are present; a fact the system does not expose makes the check
``unknown`` (never a pass), and a check that does not apply to this stack is ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bot.facts import FactRef, Facts, ref
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    Flow,
    MiddlewareLogEntry,
    StorefrontSnapshot,
    WebhookLogEntry,
)

Status = Literal["pass", "fail", "unknown", "skipped"]
Confidence = Literal["confirmed", "likely"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    facts: tuple[FactRef, ...] = ()
    confidence: Confidence = "confirmed"  # how directly the facts prove a failure


def passed(detail: str, *facts: FactRef) -> Outcome:
    return Outcome("pass", detail, facts)


def failed(detail: str, *facts: FactRef, confidence: Confidence = "confirmed") -> Outcome:
    return Outcome("fail", detail, facts, confidence)


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


@dataclass
class _Cites:
    """Collects cited facts while a check builds its detail."""

    items: list[FactRef] = field(default_factory=list)

    def add(self, fact: FactRef) -> FactRef:
        if all(f.id != fact.id for f in self.items):
            self.items.append(fact)
        return fact


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "unknown time"


def ago(now: datetime, at: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 72 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _sf(facts: Facts) -> StorefrontSnapshot:
    assert facts.storefront is not None, "engine runs this check only with the storefront read"
    return facts.storefront


def _erp(facts: Facts) -> ErpSnapshot:
    assert facts.erp is not None, "engine runs this check only with the ERP read"
    return facts.erp


# --- Layer 1 ---------------------------------------------------------------------------------


@check("L1.feed_fired")
def feed_fired(facts: Facts) -> Outcome:
    sf, mw = _sf(facts), facts.middleware
    assert mw is not None
    if not sf.out_of_stock:
        return skipped(
            f"storefront is not out of stock ({sf.available} available): no event to trace"
        )
    t = sf.out_of_stock_since
    if t is None:
        return unknown(
            "storefront reports no out-of-stock time, so the connector log cannot be matched"
        )
    inbound = facts.flows("storefront_to_erp")
    if not inbound:
        return skipped("no storefront→ERP inventory flow is configured in the connector")
    stopped = [f for f in inbound if f.status != "active"]
    if stopped:
        return skipped(f"flow {stopped[0].name} is {stopped[0].status}: see L3.flow_status")
    if not any(f.trigger != "event" or "inventory_update" in f.listens_for for f in inbound):
        return skipped("the flow does not listen for quantity updates: see L3.event_subscription")
    if all(f.trigger != "event" and f.interval_minutes for f in inbound):
        # a polled hop sends nothing until its next run: inside that window silence is expected
        window = max(f.interval_minutes or 0 for f in inbound)
        if facts.now - t <= timedelta(minutes=window + 5):
            return skipped(
                f"{inbound[0].name} polls every {window} min and the storefront sold out "
                f"{ago(facts.now, t)} ago: see B.poll_window"
            )
    since = t - timedelta(minutes=5)
    if mw.log_window_start and mw.log_window_start > since:
        return unknown(f"the connector log only reaches back to {when(mw.log_window_start)}")
    entries = [
        e
        for e in mw.log
        if e.sku == facts.sku and e.at >= since and e.flow_id in {f.id for f in inbound}
    ]
    oos = ref("storefront.out_of_stock_since", t, sf)
    log = ref("middleware.log.sku", [e.model_dump(mode="json") for e in entries], mw)
    if entries:
        first = min(entries, key=lambda e: e.at)
        return passed(f"connector received an event for the SKU at {when(first.at)}", oos, log)
    return failed(
        f"storefront went out of stock at {when(t)}; the connector ({inbound[0].name}) logged no "
        f"event for the SKU since",
        oos,
        log,
        confidence="likely",
    )


@check("L1.inventory_policy")
def inventory_policy(facts: Facts) -> Outcome:
    sf = _sf(facts)
    policy = ref("storefront.inventory_policy", sf.inventory_policy, sf)
    tracked = ref("storefront.tracked", sf.tracked, sf)
    qty = ref("storefront.available", sf.available, sf)
    if not sf.tracked:
        return failed(
            "inventory is not tracked: the storefront sends no stock signal at all", tracked, qty
        )
    if sf.inventory_policy == "continue" and sf.available <= 0:
        return failed(
            f"policy CONTINUE with {sf.available} available: the storefront keeps selling at zero",
            policy,
            qty,
        )
    if sf.inventory_policy == "continue":
        return passed(
            f"policy CONTINUE, {sf.available} in stock: will oversell once it reaches zero",
            policy,
            qty,
        )
    return passed("policy DENY: stops selling at zero", policy, tracked)


@check("L1.sync_freshness")
def sync_freshness(facts: Facts) -> Outcome:
    sf = _sf(facts)
    last = sf.last_inventory_sync_at
    if last is None:
        if sf.sync_interval_minutes is None:
            return skipped("the storefront is updated by events, not by a scheduled sync")
        return unknown("the storefront does not report when its inventory last synced")
    interval = sf.sync_interval_minutes or facts.thresholds.sync_interval_minutes
    age = facts.now - last
    cites = (
        ref("storefront.last_inventory_sync_at", last, sf),
        ref("storefront.sync_interval_minutes", interval, sf),
    )
    grace = timedelta(minutes=5)
    if age > timedelta(minutes=interval) + grace:
        return failed(
            f"last inventory sync {when(last)}, {ago(facts.now, last)} ago; interval is {interval} min",
            *cites,
        )
    return passed(
        f"last inventory sync {ago(facts.now, last)} ago, within its {interval}-min interval",
        *cites,
    )


@check("L1.inventory_hold")
def inventory_hold(facts: Facts) -> Outcome:
    sf = _sf(facts)
    holds = ref("storefront.holds", sf.holds, sf)
    if sf.holds:
        return failed(f"hold on the SKU: {', '.join(sf.holds)}", holds)
    return passed("no hold, freeze or staging flag on the SKU", holds)


_NOT_A_SALE = {"manual", "promotion", "clearance"}


@check("L1.zero_reason")
def zero_reason(facts: Facts) -> Outcome:
    sf = _sf(facts)
    if not sf.out_of_stock:
        return skipped(f"storefront is not at zero ({sf.available} available)")
    if not sf.adjustments:
        return unknown("the storefront shows no inventory history for the SKU")
    to_zero = [a for a in sf.adjustments if a.after <= 0 < a.before]
    if not to_zero:
        return passed("no adjustment to zero in the storefront's history window")
    last = max(to_zero, key=lambda a: a.at)
    fact = ref("storefront.adjustment.to_zero", last, sf)
    if last.reason in _NOT_A_SALE:
        who = f" by {last.actor}" if last.actor else ""
        note = f" ({last.note})" if last.note else ""
        return failed(
            f"set {last.before} → {last.after} at {when(last.at)}{who}: {last.reason}{note}", fact
        )
    return passed(f"reached zero by {last.reason} at {when(last.at)}", fact)


# --- Layer 2 ---------------------------------------------------------------------------------


def _listable(sf: StorefrontSnapshot) -> int:
    """What a channel should show: a marketplace cannot list a negative (oversold) quantity."""
    return max(sf.available, 0)


def _suppressed(ch: ChannelListing) -> bool:
    return ch.quantity > 0 and any(i.enforcement for i in ch.issues)


def _third_party(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    """A third-party feed is a suspect only where the listing disagrees with the storefront."""
    disagrees = ch.quantity != _listable(sf) or (ch.out_of_stock and sf.available > 0)
    return ch.feed_source != "storefront" and disagrees


def _buffered(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    return ch.buffer > 0 and 0 < sf.available <= ch.buffer and ch.out_of_stock


def _channel_flows(facts: Facts, channel: str) -> list[Flow]:
    if facts.middleware is None:
        return []
    return [f for f in facts.middleware.flows if f.channel == channel]


def _feed_lag(ch: ChannelListing, facts: Facts) -> timedelta | None:
    """How far the channel's last feed trails the storefront, when that lag is the story."""
    sf = _sf(facts)
    reference = sf.last_inventory_sync_at or facts.last_storefront_change()
    if ch.last_inventory_feed_at is None or reference is None or ch.quantity == _listable(sf):
        return None
    lag = reference - ch.last_inventory_feed_at
    if lag <= timedelta(minutes=facts.thresholds.latency_minutes):
        return None
    for flow in _channel_flows(facts, ch.channel):
        if flow.status != "active":
            return None  # a stopped flow explains it: L3.flow_status
        if (
            flow.trigger != "event"
            and flow.interval_minutes
            and lag <= timedelta(minutes=flow.interval_minutes)
        ):
            return None  # still inside the polling window: B.poll_window
    return lag


def _state_unsynced(ch: ChannelListing, facts: Facts) -> datetime | None:
    """When a listing-state change the integration cannot carry made the channel OOS."""
    changes = [c for c in ch.status_history if not c.buyable]
    flows = _channel_flows(facts, ch.channel)
    if not changes or not flows or ch.buyable or facts.erp is None:
        return None
    if any("listing_status" in f.carries for f in flows):
        return None
    at = max(c.at for c in changes)
    if any(t.at >= at for t in facts.erp.transactions):
        return None
    return at


def _erp_suppresses(facts: Facts) -> bool:
    erp = facts.erp
    return erp is not None and (erp.item.do_not_stock or not erp.item.available_to_fulfil)


@check("L2.listing_status")
def listing_status(facts: Facts) -> Outcome:
    bad = [ch for ch in facts.channels if _suppressed(ch)]
    cites = [ref(f"{ch.channel}.issues", ch.issues, ch) for ch in facts.channels]
    if bad:
        words = "; ".join(
            f"{ch.channel}: {ch.status}, qty {ch.quantity}, "
            + ", ".join(
                f"{i.enforcement or i.code} ({i.message})" for i in ch.issues if i.enforcement
            )
            for ch in bad
        )
        return failed(f"suppressed while in stock — {words}", *cites)
    return passed("no listing with quantity is suppressed", *cites)


@check("L2.feed_source")
def feed_source(facts: Facts) -> Outcome:
    sf = _sf(facts)
    cites = [ref(f"{ch.channel}.feed_source", ch.feed_source, ch) for ch in facts.channels]
    bad = [ch for ch in facts.channels if _third_party(ch, sf)]
    if bad:
        words = "; ".join(
            f"{ch.channel} is fed by {ch.feed_source} (qty {ch.quantity}, storefront {sf.available})"
            for ch in bad
        )
        return failed(words, *cites, ref("storefront.available", sf.available, sf))
    return passed("every listing is fed by the storefront feed (or agrees with it)", *cites)


@check("L2.buffer")
def buffer(facts: Facts) -> Outcome:
    sf = _sf(facts)
    cites = [ref(f"{ch.channel}.buffer", ch.buffer, ch) for ch in facts.channels]
    bad = [ch for ch in facts.channels if _buffered(ch, sf)]
    if bad:
        words = "; ".join(f"{ch.channel} hides the listing at ≤ {ch.buffer}" for ch in bad)
        return failed(
            f"{words}; storefront has {sf.available}",
            *cites,
            ref("storefront.available", sf.available, sf),
        )
    return passed("storefront quantity is above every channel buffer (or no buffer set)", *cites)


@check("L2.feed_freshness")
def feed_freshness(facts: Facts) -> Outcome:
    sf = _sf(facts)
    cites = [
        ref(f"{ch.channel}.last_inventory_feed_at", ch.last_inventory_feed_at, ch)
        for ch in facts.channels
    ]
    cites.append(
        ref(
            "storefront.last_inventory_sync_at",
            sf.last_inventory_sync_at or facts.last_storefront_change(),
            sf,
        )
    )
    lagging = [(ch, lag) for ch in facts.channels if (lag := _feed_lag(ch, facts)) is not None]
    if lagging:
        words = "; ".join(
            f"{ch.channel} last fed {when(ch.last_inventory_feed_at)} ({lag.total_seconds() / 60:.0f} min behind the storefront), shows {ch.quantity}"
            for ch, lag in lagging
        )
        return failed(words, *cites)
    # a channel that shows the storefront's quantity has kept up, whether or not it says when
    behind = [ch for ch in facts.channels if ch.quantity != _listable(sf)]
    unreported = [ch.channel for ch in behind if ch.last_inventory_feed_at is None]
    if unreported and len(unreported) == len(behind):
        return unknown(f"{', '.join(unreported)} report no last inventory feed time")
    return passed("every marketplace feed keeps up with the storefront", *cites)


@check("L2.channel_state")
def channel_state(facts: Facts) -> Outcome:
    sf = _sf(facts)
    oos = [ch for ch in facts.channels if ch.out_of_stock]
    cites = [
        ref(
            f"{ch.channel}.state",
            {"status": ch.status, "buyable": ch.buyable, "quantity": ch.quantity},
            ch,
        )
        for ch in facts.channels
    ]
    if not oos:
        return passed("no marketplace shows the SKU out of stock", *cites)
    if not sf.selling or sf.available <= 0:
        # selling at zero (oversell policy) is not stock a channel could show
        return skipped("the storefront is out of stock too: not a channel-only state", *cites)
    if len(oos) == len(facts.channels) and len(facts.channels) > 1:
        return passed("every marketplace is out of stock: not a single-channel state", *cites)
    unexplained = [
        ch
        for ch in oos
        if not (
            _suppressed(ch)
            or _third_party(ch, sf)
            or _buffered(ch, sf)
            or _feed_lag(ch, facts)
            or _state_unsynced(ch, facts)
            or _erp_suppresses(facts)
            or any(f.status != "active" for f in _channel_flows(facts, ch.channel))
        )
    ]
    if unexplained:
        words = "; ".join(
            f"{ch.channel} shows {ch.status} (qty {ch.quantity}, buyable {ch.buyable})"
            for ch in unexplained
        )
        return failed(
            f"{words} while the storefront sells {sf.available}",
            *cites,
            ref("storefront.available", sf.available, sf),
        )
    return passed("each out-of-stock channel is explained by a more specific check", *cites)


# --- Layer 3 ---------------------------------------------------------------------------------


@check("L3.flow_status")
def flow_status(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    flows = [
        f for f in mw.flows if "inventory_update" in f.carries or "listing_status" in f.carries
    ]
    if not flows:
        return skipped("the connector has no flow that carries inventory")
    cites = [
        ref(
            f"middleware.flow[{f.id}].status",
            {
                "name": f.name,
                "status": f.status,
                "reason": f.status_reason,
                "since": f.status_since,
            },
            mw,
        )
        for f in flows
    ]
    stopped = [f for f in flows if f.status != "active"]
    if stopped:
        words = "; ".join(
            f"{f.name} ({f.id}) is {f.status}"
            + (f" since {when(f.status_since)}" if f.status_since else "")
            + (f": {f.status_reason}" if f.status_reason else "")
            for f in stopped
        )
        return failed(words, *cites)
    return passed(f"{len(flows)} inventory flow(s) active", *cites)


@check("L3.event_subscription")
def event_subscription(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    inbound = facts.flows("storefront_to_erp")
    if not inbound:
        return skipped("no storefront→ERP inventory flow is configured")
    cites = [
        ref(f"middleware.flow[{f.id}].listens_for", f.listens_for_raw or f.listens_for, mw)
        for f in inbound
    ]
    wrong = [f for f in inbound if f.trigger == "event" and "inventory_update" not in f.listens_for]
    if wrong:
        words = "; ".join(
            f"{f.name} listens for {', '.join(f.listens_for_raw or f.listens_for)}" for f in wrong
        )
        return failed(f"{words} — not for quantity updates", *cites)
    return passed("the inventory flow listens for quantity updates (or polls)", *cites)


@check("L3.sku_mapping")
def sku_mapping(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    mapping = mw.sku_mapping
    if mapping is None:
        return skipped("the connector keeps no per-SKU mapping (it matches on the SKU itself)")
    fact = ref("middleware.sku_mapping", mapping, mw)
    if mapping.status != "active" or not mapping.erp_item:
        note = f": {mapping.note}" if mapping.note else ""
        return failed(
            f"mapping {mapping.storefront_sku} → {mapping.erp_item or 'nothing'} is {mapping.status}{note}",
            fact,
        )
    return passed(f"mapped to ERP item {mapping.erp_item}", fact)


def _location_names(sf: StorefrontSnapshot) -> dict[str, str]:
    return {loc.location_id: loc.name for loc in sf.locations}


@check("L3.location_mapping")
def location_mapping(facts: Facts) -> Outcome:
    sf, mw = _sf(facts), facts.middleware
    assert mw is not None
    maps = [m for m in mw.location_mappings if m.kind == "location"]
    if not maps:
        return skipped("the connector has no location map")
    moved = {
        a.location_id for a in sf.adjustments if a.location_id and a.at >= facts.change_window_start
    }
    if not moved:
        return skipped("the storefront's history names no location for recent changes")
    names = _location_names(sf)
    mapped = {m.storefront_location_id for m in maps}
    cites = (
        ref("middleware.location_mappings", maps, mw),
        ref("storefront.adjustments.locations", sorted(moved), sf),
    )
    unmapped = sorted(moved - mapped)
    if unmapped:
        return failed(
            f"quantity moved at {', '.join(names.get(i, i) for i in unmapped)}; the connector maps only "
            f"{', '.join(names.get(i, i) for i in sorted(mapped))}",
            *cites,
        )
    return passed("every location where the quantity moved is mapped", *cites)


@check("L3.source_mapping")
def source_mapping(facts: Facts) -> Outcome:
    sf, mw = _sf(facts), facts.middleware
    assert mw is not None
    assigned = {loc.location_id for loc in sf.locations if loc.kind == "msi_source"}
    if not assigned:
        return skipped("the storefront has no inventory sources (MSI) for this SKU")
    maps = [m for m in mw.location_mappings if m.kind == "msi_source"]
    if not maps:
        return skipped("the integration has no source map")
    mapped = {m.storefront_location_id for m in maps}
    cites = (
        ref("storefront.sources", sorted(assigned), sf),
        ref("middleware.source_mappings", maps, mw),
    )
    # a SKU often keeps its old 'default' assignment: judge the sources where stock moved
    moved = {
        a.location_id
        for a in sf.adjustments
        if a.location_id in assigned and a.at >= facts.change_window_start
    }
    if moved - mapped:
        return failed(
            f"quantity moved at source(s) {', '.join(sorted(moved - mapped))}; the integration "
            f"maps {', '.join(sorted(mapped))}",
            *cites,
        )
    if not assigned & mapped:
        return failed(
            f"SKU is assigned to source(s) {', '.join(sorted(assigned))}; the integration maps {', '.join(sorted(mapped))}",
            *cites,
        )
    return passed("the SKU's source is the one the integration maps", *cites)


_ERP_REFUSALS = range(400, 500)


@check("L3.event_delivery")
def event_delivery(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    entries = sorted(
        (e for e in mw.log if e.sku == facts.sku and e.at >= facts.change_window_start),
        key=lambda e: e.at,
    )
    if not entries:
        return skipped(
            "no event for the SKU reached the connector in the window: see L1.feed_fired"
        )
    fact = ref("middleware.log.sku", entries, mw)
    lost = [
        e
        for e in entries
        if e.stage in ("filtered", "dropped")
        or (e.stage == "error" and (e.status_code is None or e.status_code not in _ERP_REFUSALS))
    ]
    if lost:
        first = lost[0]
        code = f" (HTTP {first.status_code})" if first.status_code else ""
        return failed(
            f"received the event, then {first.stage} at {when(first.at)}{code}: {first.message}",
            fact,
        )
    delivered_ids = {e.source_id for e in entries if e.stage == "delivered"}
    last_delivered = max((e.at for e in entries if e.stage == "delivered"), default=None)
    stuck = [
        e
        for e in entries
        if e.stage == "received"
        and (
            e.source_id not in delivered_ids
            if e.source_id
            else (last_delivered is None or last_delivered < e.at)
        )
        and not any(x.stage == "error" and x.at >= e.at for x in entries)
    ]
    if stuck:
        return failed(
            f"received at {when(stuck[0].at)} and never delivered to the ERP",
            fact,
            confidence="likely",
        )
    delivered = sum(e.stage == "delivered" for e in entries)
    refused = [e for e in entries if e.stage == "error"]  # only ERP refusals are left here
    if refused:
        last = refused[-1]
        return passed(
            f"the connector passed every event on, but the ERP refused {len(refused)} call(s) "
            f"(last at {when(last.at)}: HTTP {last.status_code} {last.message}) — a refusal, "
            f"not a connector drop; {delivered} delivered",
            fact,
        )
    return passed(f"{delivered} event(s) delivered to the ERP", fact)


@check("L3.listing_state_sync")
def listing_state_sync(facts: Facts) -> Outcome:
    cites: list[FactRef] = []
    findings = []
    for ch in facts.channels:
        at = _state_unsynced(ch, facts)
        if at is not None:
            flows = _channel_flows(facts, ch.channel)
            assert facts.middleware is not None and facts.erp is not None
            cites += [
                ref(f"{ch.channel}.status_history", ch.status_history, ch),
                ref(f"middleware.flow[{flows[0].id}].carries", flows[0].carries, facts.middleware),
                ref("erp.transactions", facts.erp.transactions, facts.erp),
            ]
            findings.append(
                f"{ch.channel} became unbuyable at {when(at)} (a listing state); {flows[0].name} carries only {', '.join(flows[0].carries)}, and the ERP has no transaction since"
            )
    if findings:
        return failed("; ".join(findings), *cites)
    if not any(_channel_flows(facts, ch.channel) for ch in facts.channels):
        return skipped("no integration flow is tied to a marketplace")
    return passed("no listing-state change is missing from the ERP")


def _failure_markers(facts: Facts) -> list[tuple[datetime, str]]:
    """Moments something visibly broke: errors in the log, flows stopping, auth failures."""
    markers: list[tuple[datetime, str]] = []
    if facts.middleware:
        for e in facts.middleware.log:
            if e.stage in ("error", "filtered", "dropped"):
                code = f"HTTP {e.status_code}" if e.status_code else ""
                why = " ".join(x for x in (code, e.message) if x)
                markers.append(
                    (e.at, f"connector {e.stage} for {e.sku}" + (f" ({why})" if why else ""))
                )
        for f in facts.middleware.flows:
            if f.status != "active" and f.status_since:
                markers.append((f.status_since, f"flow {f.name} {f.status}"))
    if facts.erp:
        user = facts.erp.integration_user
        if user and user.last_auth_error_at:
            markers.append((user.last_auth_error_at, "ERP auth error for the integration user"))
        for w in facts.erp.webhook_log:
            if 400 <= w.status_code < 500:
                markers.append((w.at, f"ERP refused a call (HTTP {w.status_code})"))
    return sorted(markers)


@check("L3.recent_changes")
def recent_changes(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    window = timedelta(hours=facts.thresholds.change_window_hours)
    changes = sorted(
        (c for c in mw.changes if c.at >= facts.change_window_start), key=lambda c: c.at
    )
    fact = ref("middleware.changes.72h", changes, mw)
    if not changes:
        return passed(
            f"no credential, key, app or config change in the last {facts.thresholds.change_window_hours} h",
            fact,
        )
    markers = _failure_markers(facts)
    for change in changes:
        hits = [(at, what) for at, what in markers if change.at <= at <= change.at + window]
        if hits:
            at, what = hits[0]
            return failed(
                f"{change.kind.replace('_', ' ')} on {change.system} at {when(change.at)} ({change.description}); "
                f"first failure {ago(at, change.at)} later: {what}",
                fact,
            )
    return passed(f"{len(changes)} change(s) in the window, none followed by a failure", fact)


# --- Layer 4 ---------------------------------------------------------------------------------


@check("L4.item_type")
def item_type(facts: Facts) -> Outcome:
    erp = _erp(facts)
    fact = ref("erp.item.item_type", erp.item.item_type_raw or erp.item.item_type, erp)
    if erp.item.item_type in ("non_inventory", "service"):
        return failed(
            f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}: invisible to inventory triggers",
            fact,
        )
    return passed(
        f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}", fact
    )


@check("L4.item_flags")
def item_flags(facts: Facts) -> Outcome:
    erp = _erp(facts)
    fact = ref(
        "erp.item.flags",
        {
            "do_not_stock": erp.item.do_not_stock,
            "available_to_fulfil": erp.item.available_to_fulfil,
        },
        erp,
    )
    flags = [
        w
        for w, on in (
            ("do not stock", erp.item.do_not_stock),
            ("not available to fulfil", not erp.item.available_to_fulfil),
        )
        if on
    ]
    if flags:
        return failed(f"item {erp.item.item_id} is flagged {' and '.join(flags)}", fact)
    hidden = _not_visible(erp, "item_flags")
    if hidden:
        return unknown(hidden)
    return passed("no do-not-stock or not-available flag", fact)


def _not_visible(erp: ErpSnapshot, topic: str) -> str | None:
    return next((n for n in erp.not_visible if n.startswith(topic)), None)


@check("L4.listener")
def listener(facts: Facts) -> Outcome:
    erp = _erp(facts)
    listeners = [x for x in erp.listeners if x.listens_for == "inventory_update"]
    if not listeners:
        hidden = _not_visible(erp, "listeners")
        if hidden:
            return unknown(hidden)
        return failed("the ERP has no inventory listener", ref("erp.listeners", erp.listeners, erp))
    fact = ref("erp.listeners", listeners, erp)
    active = [x for x in listeners if x.active]
    if not active:
        return failed(f"listener {listeners[0].name} ({listeners[0].id}) is inactive", fact)
    targets = {f.target_endpoint for f in facts.flows("storefront_to_erp") if f.target_endpoint}
    endpoints = {x.endpoint for x in active if x.endpoint}
    if targets and endpoints and not targets & endpoints:
        assert facts.middleware is not None
        return failed(
            f"listener {active[0].name} is at {', '.join(sorted(endpoints))}; the connector delivers to {', '.join(sorted(targets))}",
            fact,
            ref("middleware.flows.target_endpoint", sorted(targets), facts.middleware),
        )
    return passed(f"listener {active[0].name} is active", fact)


@check("L4.integration_user")
def integration_user(facts: Facts) -> Outcome:
    erp = _erp(facts)
    user = erp.integration_user
    if user is None:
        hidden = _not_visible(erp, "integration_user")
        return unknown(hidden) if hidden else skipped("the ERP reports no integration user")
    fact = ref("erp.integration_user", user, erp)
    since = facts.change_window_start
    calls: list[MiddlewareLogEntry | WebhookLogEntry] = [
        *(facts.middleware.log if facts.middleware else []),
        *(w for w in erp.webhook_log if w.sku in (facts.sku, None)),
    ]
    refused = [
        f"HTTP {e.status_code} {e.message}".strip()
        for e in sorted(calls, key=lambda e: e.at)
        if e.status_code in (401, 403) and e.at >= since
    ]
    if not user.can_write_inventory:
        return failed(f"{user.name} (role {user.role}) cannot write inventory", fact)
    if user.auth_errors or refused:
        reason = user.auth_errors[0] if user.auth_errors else refused[0]
        return failed(f"{user.name} is being refused: {reason}", fact)
    return passed(f"{user.name} (role {user.role}) can write inventory", fact)


@check("L4.webhook_log")
def webhook_log(facts: Facts) -> Outcome:
    erp = _erp(facts)
    since = facts.event_window_start()
    entries = [w for w in erp.webhook_log if w.at >= since and w.sku in (facts.sku, None)]
    fact = ref("erp.webhook_log.window", entries, erp)
    if not entries:
        hidden = _not_visible(erp, "webhook_log")
        if hidden:
            return unknown(hidden)
        return skipped("no inventory call for the SKU reached the ERP in the window")
    auth = [w for w in entries if w.status_code in (401, 403)]
    refused = [w for w in entries if 400 <= w.status_code < 500 and w not in auth]
    if refused:
        w = refused[0]
        return failed(
            f"the ERP refused the call at {when(w.at)}: HTTP {w.status_code} {w.message}", fact
        )
    accepted = len(entries) - len(auth)
    if auth:  # a credential problem, not a payload the ERP rejected
        return passed(
            f"{accepted} call(s) accepted; {len(auth)} refused for authentication "
            f"(HTTP {auth[0].status_code}): see L4.integration_user",
            fact,
        )
    return passed(f"{accepted} call(s) accepted", fact)


@check("L4.approval_queue")
def approval_queue(facts: Facts) -> Outcome:
    erp = _erp(facts)
    pending = [t for t in erp.transactions if t.status == "pending_approval"]
    fact = ref("erp.transactions.pending", pending, erp)
    if pending:
        t = pending[0]
        memo = f" ({t.memo})" if t.memo else ""
        return failed(
            f"{t.kind} of {t.quantity:+d} from {when(t.at)} is waiting for approval{memo}", fact
        )
    return passed("no transaction waiting for approval", fact)


@check("L4.threshold_rule")
def threshold_rule(facts: Facts) -> Outcome:
    sf, erp = _sf(facts), _erp(facts)
    rules = [r for r in erp.trigger_rules if r.active]
    if not rules and (hidden := _not_visible(erp, "trigger_rules")):
        return unknown(hidden)
    if not rules:
        return passed(
            "no minimum-delta trigger rule", ref("erp.trigger_rules", erp.trigger_rules, erp)
        )
    recent = [a for a in sf.adjustments if a.at >= facts.change_window_start]
    if not recent:
        return skipped("no recent storefront change to weigh against the rule")
    change = max(recent, key=lambda a: a.at)
    if any(t.at >= change.at and t.status == "posted" for t in erp.transactions):
        return passed("the ERP posted a transaction for the latest change")
    cites = (ref("erp.trigger_rules", rules, erp), ref("storefront.adjustment.latest", change, sf))
    small = [r for r in rules if abs(change.delta) < r.min_delta]
    if small:
        r = small[0]
        return failed(
            f"rule {r.name} fires on changes of {r.min_delta} or more; the change was {change.before} → {change.after} ({abs(change.delta)})",
            *cites,
        )
    return passed(f"the change ({abs(change.delta)}) meets every rule's minimum", *cites)


# --- Hops between systems --------------------------------------------------------------------

_NON_WEB = {"wholesale", "pos", "edi", "manual", "b2b"}


def _storefront_heard_at(sf: StorefrontSnapshot) -> datetime | None:
    times = [t for t in (sf.last_inventory_sync_at, *(a.at for a in sf.adjustments)) if t]
    return max(times) if times else None


@check("B.erp_broadcast")
def erp_broadcast(facts: Facts) -> Outcome:
    sf, erp = _sf(facts), _erp(facts)
    heard = _storefront_heard_at(sf) or facts.change_window_start
    sales = sorted(
        (
            t
            for t in erp.transactions
            if t.kind == "sale" and (t.origin or "") in _NON_WEB and t.at > heard
        ),
        key=lambda t: t.at,
    )
    if not sales:
        return passed("no ERP-side sale since the storefront last heard from the ERP")
    if sf.available <= erp.available:
        return passed("the storefront already shows no more than the ERP")
    hop = facts.flows("erp_to_storefront")
    if hop and all(f.trigger != "event" for f in hop):
        # a polled hop pulls the ERP's quantity; no outbound event is expected of the ERP
        every = f" every {hop[0].interval_minutes} min" if hop[0].interval_minutes else ""
        return skipped(
            f"{hop[0].name} reads the ERP by {hop[0].trigger}{every}, so no outbound event "
            "is expected: see B.poll_window"
        )
    if not erp.outbound_events:
        hidden = _not_visible(erp, "outbound_events")
        if hidden:
            return unknown(hidden)
    first = sales[0]
    sent = [e for e in erp.outbound_events if e.sku == facts.sku and e.at >= first.at]
    cites = (
        ref("erp.transactions.non_web_sales", sales, erp),
        ref("erp.outbound_events", sent, erp),
        ref("storefront.last_heard_at", heard, sf),
    )
    if sent:
        return passed(f"the ERP sent {sent[0].kind} at {when(sent[0].at)}", *cites)
    return failed(
        f"{first.origin} sale of {abs(first.quantity)} at {when(first.at)} left the ERP at {erp.available}; no outbound event since, "
        f"and the storefront (last updated {when(heard)}) still shows {sf.available}",
        *cites,
    )


@check("B.restock")
def restock(facts: Facts) -> Outcome:
    sf, erp = _sf(facts), _erp(facts)
    t = sf.out_of_stock_since
    if not sf.out_of_stock or t is None:
        return skipped("the storefront is not out of stock")
    back = [
        x
        for x in erp.transactions
        if x.kind in ("receipt", "return") and x.quantity > 0 and x.status == "posted" and x.at > t
    ]
    if back and erp.available > 0:
        first = min(back, key=lambda x: x.at)
        return failed(
            f"the ERP took back {first.quantity} ({first.kind}, {first.origin or 'ERP'}) at {when(first.at)}, after the storefront sold out at {when(t)}; storefront still shows {sf.available}, ERP {erp.available}",
            ref("erp.transactions.restock", back, erp),
            ref("storefront.out_of_stock_since", t, sf),
        )
    return passed("no ERP receipt or return since the storefront sold out")


@check("B.wms_batch")
def wms_batch(facts: Facts) -> Outcome:
    wms, erp = facts.wms, _erp(facts)
    assert wms is not None
    if not wms.events:
        return passed("no WMS movement to carry")
    last = max(wms.events, key=lambda e: e.at)
    cites = (
        ref("wms.events.latest", last, wms),
        ref("wms.last_batch_at", wms.last_batch_at, wms),
        ref("erp.last_inventory_update_at", erp.last_inventory_update_at, erp),
    )
    batch_ran = wms.last_batch_at is not None and wms.last_batch_at >= last.at
    erp_heard = erp.last_inventory_update_at is not None and erp.last_inventory_update_at >= last.at
    if batch_ran or erp_heard:
        return passed("the WMS→ERP batch ran after the last WMS movement", *cites)
    every = f" (runs every {wms.batch_interval_minutes} min)" if wms.batch_interval_minutes else ""
    return failed(
        f"WMS {last.kind} of {last.quantity} at {when(last.at)}; last WMS→ERP batch {when(wms.last_batch_at)}{every}",
        *cites,
    )


@check("B.order_webhook")
def order_webhook(facts: Facts) -> Outcome:
    sf = _sf(facts)
    hooks = [w for w in sf.webhooks if w.kind in ("order_created", "order_fulfilled")]
    if not hooks:
        return skipped("the storefront reports no order webhook")
    fact = ref("storefront.webhooks.orders", hooks, sf)
    if any(w.kind == "order_created" for w in hooks):
        return passed("the order webhook fires on order creation", fact)
    pending = (
        f"; {sf.committed} unit(s) sold and not yet fulfilled are invisible to the ERP"
        if sf.committed
        else ""
    )
    return failed(
        f"the order webhook is {', '.join(w.topic for w in hooks)} — it fires on fulfilment{pending}",
        fact,
    )


@check("B.duplicates")
def duplicates(facts: Facts) -> Outcome:
    erp = _erp(facts)
    counts = Counter(t.source_id for t in erp.transactions if t.source_id)
    twice = [sid for sid, n in counts.items() if n > 1]
    if twice:
        same = [t for t in erp.transactions if t.source_id == twice[0]]
        return failed(
            f"source {twice[0]} applied {len(same)} times: "
            + ", ".join(f"{t.quantity:+d} at {when(t.at)}" for t in same),
            ref("erp.transactions.duplicates", same, erp),
        )
    return passed("every adjustment applied once", ref("erp.transactions", erp.transactions, erp))


def _gaps(facts: Facts) -> list[tuple[str, str | None, datetime]]:
    """The hops that currently disagree: (hop, channel, when the source side changed)."""
    sf, erp = _sf(facts), _erp(facts)
    gaps: list[tuple[str, str | None, datetime]] = []
    tolerance = facts.thresholds.quantity_tolerance
    sf_changed = facts.last_storefront_change()
    if abs(sf.available - erp.available) > tolerance:
        erp_changed = max((t.at for t in erp.transactions), default=erp.last_inventory_update_at)
        if erp_changed and (sf_changed is None or erp_changed >= sf_changed):
            gaps.append(("erp_to_storefront", None, erp_changed))
        elif sf_changed:
            gaps.append(("storefront_to_erp", None, sf_changed))
    for ch in facts.channels:
        if ch.quantity != _listable(sf) and sf_changed:
            gaps.append(("storefront_to_marketplace", ch.channel, sf_changed))
    return gaps


@check("B.poll_window")
def poll_window(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    gaps = _gaps(facts)
    if not gaps:
        return passed("no hop disagrees right now")
    findings: list[str] = []
    cites: list[FactRef] = []
    for hop, channel, since in gaps:
        flows = [
            f
            for f in mw.flows
            if f.hop == hop
            and (channel is None or f.channel in (None, channel))
            and "inventory_update" in f.carries
        ]
        for f in flows:
            if f.trigger == "event" or not f.interval_minutes or f.status != "active":
                continue
            lag = facts.now - since
            window = timedelta(minutes=f.interval_minutes)
            throttled = [
                e
                for e in mw.log
                if e.flow_id == f.id and e.stage == "rate_limited" and e.at >= since
            ]
            if lag <= window + timedelta(minutes=5) or throttled:
                stretched = (
                    f", stretched by {len(throttled)} rate-limit hit(s)" if throttled else ""
                )
                findings.append(
                    f"{f.name} polls every {f.interval_minutes} min; the change is {ago(facts.now, since)} old{stretched}"
                )
                cites.append(
                    ref(
                        f"middleware.flow[{f.id}].trigger",
                        {
                            "trigger": f.trigger,
                            "interval_minutes": f.interval_minutes,
                            "last_run_at": f.last_run_at,
                        },
                        mw,
                    )
                )
    if findings:
        return failed("; ".join(findings), *cites, confidence="likely")
    return passed("no disagreeing hop is waiting on a polling window")
