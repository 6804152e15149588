"""Layer 3: the middleware connector."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.checks.base import (
    Outcome,
    ago,
    check,
    connector_hidden,
    erp_channel_flows,
    failed,
    listing_state_change,
    listing_state_unsynced,
    passed,
    skipped,
    storefront_of,
    unknown,
    unread,
    when,
)
from bot.checks.connector_log import applied_by_erp, healed, mapping_error, refusal
from bot.facts import FactRef, Facts, ref
from tools.models import (
    MiddlewareLogEntry,
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


def _mapping_errors(facts: Facts, kind: str) -> list[MiddlewareLogEntry]:
    """The connector's own errors for the SKU saying it could not map it (not healed since)."""
    assert facts.middleware is not None
    log = facts.middleware.log
    return [
        e
        for e in log
        if e.sku == facts.sku
        and e.at >= facts.change_window_start
        and mapping_error(e) == kind
        and not healed(e, log, facts.erp)
    ]


@check("L3.sku_mapping")
def sku_mapping(facts: Facts) -> Outcome:
    mw = facts.middleware
    assert mw is not None
    mapping = mw.sku_mapping
    errors = _mapping_errors(facts, "sku")
    if errors:
        # a lookup (or a table we cannot read) said so itself: the connector's words are evidence
        table = f"; mapping record {mapping.status}" if mapping else ""
        return failed(
            f"the connector could not map the SKU to an ERP item — {_describe(errors[0])}{table}",
            ref("middleware.log.mapping_errors", errors, mw),
            *([ref("middleware.sku_mapping", mapping, mw)] if mapping else []),
        )
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
    errors = _mapping_errors(facts, "location")
    if errors:
        return failed(
            f"the connector could not map the location — {_describe(errors[0])}",
            ref("middleware.log.mapping_errors", errors, mw),
            *([ref("middleware.location_mappings", maps, mw)] if maps else []),
        )
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


def _describe(e: MiddlewareLogEntry) -> str:
    code = f" (HTTP {e.status_code})" if e.status_code else ""
    vendor_code = f" [{e.error_code}]" if e.error_code else ""
    job = (
        f" — {e.job_failed} of {e.job_records} record(s) of job {e.job_id or '?'} failed"
        if e.job_failed is not None and e.job_records is not None
        else ""
    )
    return f"{e.stage} at {when(e.at)}{code}{vendor_code}: {e.message}{job}"


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
    faults = [
        e
        for e in entries
        if e.stage in ("filtered", "dropped", "error", "rate_limited") and not refusal(e)
    ]
    recovered = [(e, how) for e in faults if (how := healed(e, entries, facts.erp))]
    unmapped = [e for e in faults if mapping_error(e) and all(e is not r for r, _ in recovered)]
    lost = [
        e
        for e in faults
        if e.stage != "rate_limited"
        and not mapping_error(e)
        and all(e is not r for r, _ in recovered)
        # a rate-limit hit or transient error the connector is still retrying is not lost yet;
        # a final error after the retries (no later delivery) is
    ]
    if lost:
        first = lost[0]
        return failed(f"received the event, then {_describe(first)}", fact)
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
        and not applied_by_erp(e.source_id, facts.erp)
        and not any(x.stage in ("error", "rate_limited") and x.at >= e.at for x in entries)
    ]
    if hidden:  # what is left would pass, or find a delivery missing that was not read
        return unknown(hidden)
    if stuck:
        return failed(
            f"received at {when(stuck[0].at)} and never delivered to the ERP",
            fact,
            confidence="likely",
        )
    if unmapped:
        kind = mapping_error(unmapped[0])
        return skipped(
            f"the connector could not map the record ({_describe(unmapped[0])}): see "
            f"L3.{'location' if kind == 'location' else 'sku'}_mapping",
            fact,
        )
    delivered = sum(e.stage == "delivered" for e in entries)
    healed_words = (
        f"; {len(recovered)} transient fault(s) healed ({recovered[0][1]}) — do not retry "
        "them again, that would apply them twice"
        if recovered
        else ""
    )
    refused = [e for e in entries if refusal(e) and not healed(e, entries, facts.erp)]
    if refused:
        last = refused[-1]
        return passed(
            f"the connector passed every event on, but the ERP refused {len(refused)} call(s) "
            f"(last {_describe(last)}) — a refusal, not a connector drop: see Layer 4; "
            f"{delivered} delivered{healed_words}",
            fact,
        )
    return passed(f"{delivered} event(s) delivered to the ERP{healed_words}", fact)


@check("L3.listing_state_sync")
def listing_state_sync(facts: Facts) -> Outcome:
    cites: list[FactRef] = []
    findings = []
    if facts.erp is None:
        # the ERP is needed only to see whether a listing-state change reached it
        pending = [ch.channel for ch in facts.channels if listing_state_change(ch, facts)]
        if pending:
            return unknown(
                f"{', '.join(pending)} went unbuyable by a listing state, and whether the ERP "
                f"heard of it cannot be told: {unread(facts, 'erp') or 'the ERP was not read'}"
            )
    for ch in facts.channels:
        at = listing_state_unsynced(ch, facts)
        if at is not None:
            flows = erp_channel_flows(facts, ch.channel)
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
    if not any(erp_channel_flows(facts, ch.channel) for ch in facts.channels):
        return skipped("no integration flow connects a marketplace with the ERP")
    return passed("no listing-state change is missing from the ERP")


def _failure_markers(facts: Facts) -> list[tuple[datetime, str]]:
    """Moments something visibly broke: errors in the log, flows stopping, auth failures."""
    markers: list[tuple[datetime, str]] = []
    if facts.middleware:
        log = facts.middleware.log
        for e in log:
            if e.stage in ("error", "filtered", "dropped") and not healed(e, log, facts.erp):
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
