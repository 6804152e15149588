"""Layer 2: the marketplace listing."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.checks.base import (
    Outcome,
    channel_flows,
    check,
    disagrees,
    failed,
    listable,
    listing_state_unsynced,
    passed,
    skipped,
    storefront_of,
    units,
    unknown,
    unread,
    when,
)
from bot.facts import Facts, ref
from tools.models import (
    ChannelListing,
    Flow,
    StorefrontSnapshot,
)


def _suppressed(ch: ChannelListing) -> bool:
    """Enforced issues on a listing that has (or may have: unknown) quantity."""
    has_quantity = ch.quantity is None or ch.quantity > 0
    return has_quantity and any(i.enforcement for i in ch.issues)


def _fed_by_third_party(ch: ChannelListing) -> bool:
    """Fed by a repricer or channel manager: not the storefront, not the ERP through the
    connector, and not the marketplace's own warehouse (FBA, WFS: nobody's feed)."""
    return ch.fulfilled_by == "seller" and ch.feed_source not in ("storefront", "erp")


def _third_party(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    """A third-party feed is a suspect only where the listing disagrees with the storefront."""
    return _fed_by_third_party(ch) and disagrees(ch, sf)


def _upstream(ch: ChannelListing, facts: Facts) -> tuple[str, int | None, datetime | None] | None:
    """What feeds the listing's quantity: (who, its quantity, when it last changed). None when
    no feed does (marketplace-fulfilled) or the feeder is a third party we cannot read."""
    if ch.fulfilled_by == "marketplace" or _fed_by_third_party(ch):
        return None
    if ch.feed_source == "erp":
        erp = facts.erp
        if erp is None:
            return None
        changed = max((t.at for t in erp.transactions), default=erp.last_inventory_update_at)
        return "the ERP", erp.available, changed
    sf = storefront_of(facts)
    return (
        "the storefront",
        listable(sf),
        sf.last_inventory_sync_at or facts.last_storefront_change(),
    )


def _upstream_flows(ch: ChannelListing, facts: Facts) -> list[Flow]:
    hop = "erp_to_marketplace" if ch.feed_source == "erp" else "storefront_to_marketplace"
    return [f for f in channel_flows(facts, ch.channel) if f.hop == hop] or channel_flows(
        facts, ch.channel
    )


def _buffered(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    return ch.buffer > 0 and 0 < sf.available <= ch.buffer and ch.out_of_stock


def _feed_lag(ch: ChannelListing, facts: Facts) -> timedelta | None:
    """How far the channel's last feed trails its own upstream (the storefront, or the ERP for
    an ERP-fed listing), when that lag is the story."""
    upstream = _upstream(ch, facts)
    if upstream is None:
        return None
    _, quantity, reference = upstream
    if ch.last_inventory_feed_at is None or reference is None:
        return None
    if quantity is None or ch.quantity is None or ch.quantity == max(quantity, 0):
        return None
    lag = reference - ch.last_inventory_feed_at
    if lag <= timedelta(minutes=facts.thresholds.latency_minutes):
        return None
    for flow in _upstream_flows(ch, facts):
        if flow.status != "active":
            return None  # a stopped flow explains it: L3.flow_status
        if (
            flow.trigger != "event"
            and flow.interval_minutes
            and lag <= timedelta(minutes=flow.interval_minutes)
        ):
            return None  # still inside the polling window: B.poll_window
    return lag


def _erp_suppresses(facts: Facts) -> bool:
    erp = facts.erp
    return erp is not None and (erp.item.do_not_stock or not erp.item.available_to_fulfil)


@check("L2.listing_status")
def listing_status(facts: Facts) -> Outcome:
    bad = [ch for ch in facts.channels if _suppressed(ch)]
    cites = [ref(f"{ch.channel}.issues", ch.issues, ch) for ch in facts.channels]
    if bad:
        words = "; ".join(
            f"{ch.channel}: {ch.status}, qty {units(ch.quantity)}, "
            + ", ".join(
                f"{i.enforcement or i.code} ({i.message})" for i in ch.issues if i.enforcement
            )
            for ch in bad
        )
        return failed(f"suppressed while in stock — {words}", *cites)
    return passed("no listing with quantity is suppressed", *cites)


@check("L2.feed_source")
def feed_source(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
    cites = [ref(f"{ch.channel}.feed_source", ch.feed_source, ch) for ch in facts.channels]
    bad = [ch for ch in facts.channels if _third_party(ch, sf)]
    if bad:
        words = "; ".join(
            f"{ch.channel} is fed by {ch.feed_source} (qty {units(ch.quantity)}, storefront {sf.available})"
            for ch in bad
        )
        return failed(words, *cites, ref("storefront.available", sf.available, sf))
    return passed(
        "every listing is fed by the storefront or the ERP, fulfilled by the marketplace, "
        "or agrees with the storefront",
        *cites,
    )


@check("L2.buffer")
def buffer(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
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
    sf = storefront_of(facts)
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
    erp_fed = [ch.channel for ch in facts.channels if ch.feed_source == "erp"]
    if erp_fed and facts.erp is None:
        return unknown(
            f"{', '.join(erp_fed)} is fed by the ERP, which could not be read: "
            f"{unread(facts, 'erp') or 'not read'}"
        )
    lagging = [(ch, lag) for ch in facts.channels if (lag := _feed_lag(ch, facts)) is not None]
    if lagging:
        words = "; ".join(
            f"{ch.channel} last fed {when(ch.last_inventory_feed_at)} ({lag.total_seconds() / 60:.0f} min behind {_upstream_name(ch)}), shows {units(ch.quantity)}"
            for ch, lag in lagging
        )
        # without the connector, a stopped flow or a polling window cannot be ruled out
        return failed(
            words, *cites, confidence="likely" if facts.middleware is None else "confirmed"
        )
    # a channel that shows the storefront's quantity has kept up, whether or not it says when;
    # one fulfilled by the marketplace or fed by a third party has no feed of ours to lag
    behind = [
        ch
        for ch in facts.channels
        if disagrees(ch, sf) and not (ch.fulfilled_by == "marketplace" or _fed_by_third_party(ch))
    ]
    unreported = [ch.channel for ch in behind if ch.last_inventory_feed_at is None]
    if unreported and len(unreported) == len(behind):
        return unknown(f"{', '.join(unreported)} report no last inventory feed time")
    return passed("every marketplace feed keeps up with the storefront", *cites)


def _upstream_name(ch: ChannelListing) -> str:
    return "the ERP" if ch.feed_source == "erp" else "the storefront"


@check("L2.channel_state")
def channel_state(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
    oos = [ch for ch in facts.channels if ch.out_of_stock]
    cites = [
        ref(
            f"{ch.channel}.state",
            {
                "status": ch.status,
                "buyable": ch.buyable,
                "quantity": ch.quantity,
                "fulfilled_by": ch.fulfilled_by,
            },
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
            or listing_state_unsynced(ch, facts)
            or _erp_suppresses(facts)
            or any(f.status != "active" for f in channel_flows(facts, ch.channel))
        )
    ]
    if unexplained:
        words = "; ".join(
            f"{ch.channel} shows {ch.status} (qty {units(ch.quantity)}, buyable {ch.buyable})"
            for ch in unexplained
        )
        # What is left when nothing more specific fits is proven only when every more specific
        # explanation could be weighed: the connector and the ERP read, the listing's quantity
        # and feed time known.
        partial = (
            facts.middleware is None
            or facts.erp is None
            or any(
                ch.quantity is None
                or (ch.last_inventory_feed_at is None and ch.quantity != listable(sf))
                for ch in unexplained
            )
        )
        return failed(
            f"{words} while the storefront sells {sf.available}",
            *cites,
            ref("storefront.available", sf.available, sf),
            confidence="likely" if partial else "confirmed",
        )
    return passed("each out-of-stock channel is explained by a more specific check", *cites)
