"""Layer 2: the marketplace listing."""

from __future__ import annotations

from datetime import timedelta

from bot.checks.base import (
    Outcome,
    channel_flows,
    check,
    failed,
    listable,
    listing_state_unsynced,
    passed,
    skipped,
    storefront_of,
    unknown,
    when,
)
from bot.facts import Facts, ref
from tools.models import (
    ChannelListing,
    StorefrontSnapshot,
)


def _suppressed(ch: ChannelListing) -> bool:
    return ch.quantity > 0 and any(i.enforcement for i in ch.issues)


def _third_party(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    """A third-party feed is a suspect only where the listing disagrees with the storefront."""
    disagrees = ch.quantity != listable(sf) or (ch.out_of_stock and sf.available > 0)
    return ch.feed_source != "storefront" and disagrees


def _buffered(ch: ChannelListing, sf: StorefrontSnapshot) -> bool:
    return ch.buffer > 0 and 0 < sf.available <= ch.buffer and ch.out_of_stock


def _feed_lag(ch: ChannelListing, facts: Facts) -> timedelta | None:
    """How far the channel's last feed trails the storefront, when that lag is the story."""
    sf = storefront_of(facts)
    reference = sf.last_inventory_sync_at or facts.last_storefront_change()
    if ch.last_inventory_feed_at is None or reference is None or ch.quantity == listable(sf):
        return None
    lag = reference - ch.last_inventory_feed_at
    if lag <= timedelta(minutes=facts.thresholds.latency_minutes):
        return None
    for flow in channel_flows(facts, ch.channel):
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
    sf = storefront_of(facts)
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
    lagging = [(ch, lag) for ch in facts.channels if (lag := _feed_lag(ch, facts)) is not None]
    if lagging:
        words = "; ".join(
            f"{ch.channel} last fed {when(ch.last_inventory_feed_at)} ({lag.total_seconds() / 60:.0f} min behind the storefront), shows {ch.quantity}"
            for ch, lag in lagging
        )
        return failed(words, *cites)
    # a channel that shows the storefront's quantity has kept up, whether or not it says when
    behind = [ch for ch in facts.channels if ch.quantity != listable(sf)]
    unreported = [ch.channel for ch in behind if ch.last_inventory_feed_at is None]
    if unreported and len(unreported) == len(behind):
        return unknown(f"{', '.join(unreported)} report no last inventory feed time")
    return passed("every marketplace feed keeps up with the storefront", *cites)


@check("L2.channel_state")
def channel_state(facts: Facts) -> Outcome:
    sf = storefront_of(facts)
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
            or listing_state_unsynced(ch, facts)
            or _erp_suppresses(facts)
            or any(f.status != "active" for f in channel_flows(facts, ch.channel))
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
