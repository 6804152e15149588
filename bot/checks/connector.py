"""Layer 3: the middleware connector."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.checks.base import (
    Outcome,
    ago,
    channel_flows,
    check,
    connector_hidden,
    failed,
    listing_state_unsynced,
    passed,
    skipped,
    storefront_of,
    unknown,
    when,
)
from bot.facts import FactRef, Facts, ref
from tools.models import (
    StorefrontSnapshot,
)


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
    if hidden := connector_hidden(facts, "flow_status"):
        return unknown(hidden)
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
    if hidden := connector_hidden(facts, "mappings"):
        return unknown(hidden)
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
    sf, mw = storefront_of(facts), facts.middleware
    assert mw is not None
    maps = [m for m in mw.location_mappings if m.kind == "location"]
    if hidden := connector_hidden(facts, "mappings"):
        return unknown(hidden)
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
    sf, mw = storefront_of(facts), facts.middleware
    assert mw is not None
    assigned = {loc.location_id for loc in sf.locations if loc.kind == "msi_source"}
    if not assigned:
        return skipped("the storefront has no inventory sources (MSI) for this SKU")
    maps = [m for m in mw.location_mappings if m.kind == "msi_source"]
    if hidden := connector_hidden(facts, "mappings"):
        return unknown(hidden)
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
    hidden = connector_hidden(facts, "log")
    if not entries:
        if hidden:
            return unknown(hidden)
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
    if hidden:  # what is left would pass, or find a delivery missing that was not read
        return unknown(hidden)
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
        at = listing_state_unsynced(ch, facts)
        if at is not None:
            flows = channel_flows(facts, ch.channel)
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
    if not any(channel_flows(facts, ch.channel) for ch in facts.channels):
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
    if hidden := connector_hidden(facts, "changes"):
        return unknown(hidden)
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
