"""The hops between systems."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from bot.checks.base import (
    Outcome,
    ago,
    check,
    erp_of,
    failed,
    listable,
    not_visible,
    passed,
    skipped,
    storefront_of,
    units,
    unknown,
    when,
)
from bot.facts import FactRef, Facts, ref
from tools.models import (
    StorefrontSnapshot,
)

_NON_WEB = {"wholesale", "pos", "edi", "manual", "b2b"}


def _storefront_heard_at(sf: StorefrontSnapshot) -> datetime | None:
    times = [t for t in (sf.last_inventory_sync_at, *(a.at for a in sf.adjustments)) if t]
    return max(times) if times else None


@check("B.erp_broadcast")
def erp_broadcast(facts: Facts) -> Outcome:
    sf, erp = storefront_of(facts), erp_of(facts)
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
        if hidden := not_visible(erp, "transactions") or not_visible(erp, "origin"):
            return unknown(hidden)
        return passed("no ERP-side sale since the storefront last heard from the ERP")
    if erp.available is None:
        return skipped("the ERP keeps no quantity for the item: no stock figure to announce")
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
        hidden = not_visible(erp, "outbound_events")
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
    if facts.middleware is None:
        # whether the hop polls the ERP (no outbound event expected) cannot be told
        return failed(
            f"{first.origin} sale of {abs(first.quantity)} at {when(first.at)} left the ERP at "
            f"{erp.available}; no outbound event since (the connector could not be read: a "
            "polled hop cannot be ruled out)",
            *cites,
            confidence="likely",
        )
    return failed(
        f"{first.origin} sale of {abs(first.quantity)} at {when(first.at)} left the ERP at {erp.available}; no outbound event since, "
        f"and the storefront (last updated {when(heard)}) still shows {sf.available}",
        *cites,
    )


@check("B.restock")
def restock(facts: Facts) -> Outcome:
    sf, erp = storefront_of(facts), erp_of(facts)
    t = sf.out_of_stock_since
    if not sf.out_of_stock or t is None:
        return skipped("the storefront is not out of stock")
    back = [
        x
        for x in erp.transactions
        if x.kind in ("receipt", "return") and x.quantity > 0 and x.status == "posted" and x.at > t
    ]
    if back and (erp.available is None or erp.available > 0):
        first = min(back, key=lambda x: x.at)
        return failed(
            f"the ERP took back {first.quantity} ({first.kind}, {first.origin or 'ERP'}) at {when(first.at)}, after the storefront sold out at {when(t)}; storefront still shows {sf.available}, ERP {units(erp.available)}",
            ref("erp.transactions.restock", back, erp),
            ref("storefront.out_of_stock_since", t, sf),
        )
    if hidden := not_visible(erp, "transactions"):
        return unknown(hidden)
    return passed("no ERP receipt or return since the storefront sold out")


@check("B.wms_batch")
def wms_batch(facts: Facts) -> Outcome:
    wms, erp = facts.wms, erp_of(facts)
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
    if hidden := not_visible(erp, "last_update"):
        return unknown(hidden)
    every = f" (runs every {wms.batch_interval_minutes} min)" if wms.batch_interval_minutes else ""
    return failed(
        f"WMS {last.kind} of {last.quantity} at {when(last.at)}; last WMS→ERP batch {when(wms.last_batch_at)}{every}",
        *cites,
    )


@check("B.order_webhook")
def order_webhook(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
    hooks = [w for w in sf.webhooks if w.kind in ("order_created", "order_fulfilled")]
    if not hooks:
        return skipped("the storefront reports no order webhook")
    fact = ref("storefront.webhooks.orders", hooks, sf)
    if any(w.kind == "order_created" for w in hooks):
        return passed("the order webhook fires on order creation", fact)
    if facts.middleware is not None:
        inbound = facts.flows("storefront_to_erp", carrying=None)
        carries_orders = [
            f for f in inbound if {"order_created", "order_fulfilled"} & set(f.carries)
        ]
        if inbound and not carries_orders:
            # the fulfilment topic feeds the inventory flow: a wrong subscription of that flow,
            # not an order hop that hears of sales late
            return skipped(
                "no storefront→ERP flow carries orders; the fulfilment webhook feeds the "
                "inventory flow: see L3.event_subscription",
                fact,
            )
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
    erp = erp_of(facts)
    counts = Counter(t.source_id for t in erp.transactions if t.source_id)
    twice = [sid for sid, n in counts.items() if n > 1]
    if twice:
        same = [t for t in erp.transactions if t.source_id == twice[0]]
        return failed(
            f"source {twice[0]} applied {len(same)} times: "
            + ", ".join(f"{t.quantity:+d} at {when(t.at)}" for t in same),
            ref("erp.transactions.duplicates", same, erp),
        )
    if hidden := not_visible(erp, "transactions"):
        return unknown(hidden)
    return passed("every adjustment applied once", ref("erp.transactions", erp.transactions, erp))


def _gaps(facts: Facts) -> list[tuple[str, str | None, datetime]]:
    """The hops that currently disagree: (hop, channel, when the source side changed)."""
    sf, erp = storefront_of(facts), erp_of(facts)
    gaps: list[tuple[str, str | None, datetime]] = []
    tolerance = facts.thresholds.quantity_tolerance
    sf_changed = facts.last_storefront_change()
    erp_changed = max((t.at for t in erp.transactions), default=erp.last_inventory_update_at)
    if erp.available is not None and abs(sf.available - erp.available) > tolerance:
        if erp_changed and (sf_changed is None or erp_changed >= sf_changed):
            gaps.append(("erp_to_storefront", None, erp_changed))
        elif sf_changed:
            gaps.append(("storefront_to_erp", None, sf_changed))
    for ch in facts.channels:
        if ch.quantity is None or ch.fulfilled_by == "marketplace":
            continue  # no quantity of ours to carry: unknown, or the marketplace's own stock
        if ch.feed_source == "erp":  # its upstream is the ERP, through the connector
            if erp.available is not None and ch.quantity != max(erp.available, 0) and erp_changed:
                gaps.append(("erp_to_marketplace", ch.channel, erp_changed))
        elif ch.quantity != listable(sf) and sf_changed:
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
    proven = True  # every waiting hop ran just before the change and is not due yet
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
                ran_before = f.last_run_at is not None and f.last_run_at <= since
                not_due = f.last_run_at is not None and facts.now < f.last_run_at + window
                proven = proven and ran_before and not_due and not throttled
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
        # proven: the poll last ran before the change and its next run is not due yet; else
        # (no last run, overdue, or stretched by rate limits) the window only likely explains it
        return failed("; ".join(findings), *cites, confidence="confirmed" if proven else "likely")
    return passed("no disagreeing hop is waiting on a polling window")
