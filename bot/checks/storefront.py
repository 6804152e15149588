"""Layer 1: the storefront feed."""

from __future__ import annotations

from datetime import timedelta

from bot.checks.base import (
    Outcome,
    ago,
    check,
    connector_hidden,
    failed,
    passed,
    skipped,
    storefront_of,
    unknown,
    when,
)
from bot.facts import Facts, ref


@check("L1.feed_fired")
def feed_fired(facts: Facts) -> Outcome:
    sf, mw = storefront_of(facts), facts.middleware
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
    if hidden := connector_hidden(facts, "log"):
        return unknown(hidden)
    return failed(
        f"storefront went out of stock at {when(t)}; the connector ({inbound[0].name}) logged no "
        f"event for the SKU since",
        oos,
        log,
        confidence="likely",
    )


@check("L1.inventory_policy")
def inventory_policy(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
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
    sf = storefront_of(facts)
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
    sf = storefront_of(facts)
    holds = ref("storefront.holds", sf.holds, sf)
    if sf.holds:
        return failed(f"hold on the SKU: {', '.join(sf.holds)}", holds)
    return passed("no hold, freeze or staging flag on the SKU", holds)


_NOT_A_SALE = {"manual", "promotion", "clearance"}


@check("L1.zero_reason")
def zero_reason(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
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
