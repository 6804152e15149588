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
    unmapped_locations,
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
    # Silence the connector had a reason for is that reason's consequence, not a second cause.
    if sf.holds:
        return skipped(
            f"a hold on the SKU ({sf.holds[0]}) stops its updates: see L1.inventory_hold"
        )
    if sync_overdue(facts):
        return skipped(
            "the storefront's scheduled inventory sync is overdue: see L1.sync_freshness"
        )
    unmapped = unmapped_locations(facts)
    if unmapped:
        return skipped(
            f"the quantity moved at {', '.join(unmapped)}, a location the connector does not map "
            "(it ignores those events): see L3.location_mapping"
        )
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
        why = connector_hidden(facts, "log_window")  # the connector says why, when it can
        because = f" ({why.split(':', 1)[1].strip()})" if why else ""
        return unknown(
            f"the connector log only reaches back to {when(mw.log_window_start)}{because}"
        )
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
    # The connector demonstrably ran after the sell-out (it processed other records) and still
    # logged nothing for this SKU: that proves the silence. Without a run since, the connector
    # itself may simply not have run.
    ran = [f for f in inbound if f.last_run_at is not None and f.last_run_at >= t]
    ran_words = f" although {ran[0].name} ran at {when(ran[0].last_run_at)}" if ran else ""
    return failed(
        f"storefront went out of stock at {when(t)}; the connector ({inbound[0].name}) logged no "
        f"event for the SKU since{ran_words}",
        oos,
        log,
        *(
            [ref(f"middleware.flow[{ran[0].id}].last_run_at", ran[0].last_run_at, mw)]
            if ran
            else []
        ),
        confidence="confirmed" if ran else "likely",
    )


@check("L1.inventory_policy")
def inventory_policy(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
    policy = ref("storefront.inventory_policy", sf.inventory_policy, sf)
    tracked = ref("storefront.tracked", sf.tracked, sf)
    qty = ref("storefront.available", sf.available, sf)
    if not sf.tracked:
        erp = facts.erp
        if erp is not None and erp.item.item_type in ("non_inventory", "service"):
            kind = erp.item.item_type_raw or erp.item.item_type
            return passed(
                f"inventory is not tracked, as fits the ERP's {kind} item (no stock to count)",
                tracked,
                ref("erp.item.item_type", kind, erp),
            )
        return failed(
            "inventory is not tracked: the storefront sends no stock signal at all"
            + (
                ""
                if erp
                else " (the ERP could not be read: whether the item is stocked is not known)"
            ),
            tracked,
            qty,
            confidence="confirmed" if erp else "likely",
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


def sync_overdue(facts: Facts) -> bool:
    """Is the storefront's scheduled inventory sync older than its interval (plus grace)?"""
    sf = storefront_of(facts)
    if sf.last_inventory_sync_at is None:
        return False
    interval = sf.sync_interval_minutes or facts.thresholds.sync_interval_minutes
    return facts.now - sf.last_inventory_sync_at > timedelta(minutes=interval + 5)


@check("L1.sync_freshness")
def sync_freshness(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
    last = sf.last_inventory_sync_at
    if last is None:
        if sf.sync_interval_minutes is None:
            return skipped("the storefront is updated by events, not by a scheduled sync")
        return unknown("the storefront does not report when its inventory last synced")
    interval = sf.sync_interval_minutes or facts.thresholds.sync_interval_minutes
    cites = (
        ref("storefront.last_inventory_sync_at", last, sf),
        ref("storefront.sync_interval_minutes", interval, sf),
    )
    if sync_overdue(facts):
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
