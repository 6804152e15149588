"""Unit tables for the Layer 1, Layer 2 and hop checks: hand-made facts in, one outcome out.

Each case names the check, the facts, the status it must reach and — for the branches that
matter — the fact ids it must cite and words its detail must contain.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.checks import CHECKS
from bot.settings import Thresholds
from tests.factories import (
    SKU,
    Case,
    ago,
    case,
    erp,
    facts,
    flow,
    listing,
    middleware,
    run_case,
    storefront,
    wms,
)
from tools.models import (
    ErpItem,
    InventoryAdjustment,
    InventoryTransaction,
    ListingIssue,
    MiddlewareLogEntry,
    OutboundEvent,
    WebhookSubscription,
    WmsEvent,
)

# --- builders for the records the factories leave to the caller ----------------------------


def adj(
    hours: float, before: int, after: int, reason: str = "sale", **kw: Any
) -> InventoryAdjustment:
    return InventoryAdjustment(at=ago(hours=hours), before=before, after=after, reason=reason, **kw)


def log(minutes: float, stage: str, flow_id: str = "f1", **kw: Any) -> MiddlewareLogEntry:
    return MiddlewareLogEntry(at=ago(minutes=minutes), flow_id=flow_id, sku=SKU, stage=stage, **kw)


def txn(hours: float, kind: str, quantity: int, **kw: Any) -> InventoryTransaction:
    return InventoryTransaction(at=ago(hours=hours), kind=kind, quantity=quantity, **kw)


def hook(topic: str, kind: str) -> WebhookSubscription:
    return WebhookSubscription(topic=topic, kind=kind, address="https://connector.test/hook")


SUPPRESSED = ListingIssue(
    code="90220",
    message="'main_product_image_locator' is required but not supplied.",
    enforcement="LISTING_SUPPRESSED",
)

# a storefront that sold out three hours ago, by a sale
SOLD_OUT = storefront(available=0, out_of_stock_since=ago(hours=3), adjustments=[adj(3, 1, 0)])
POLLED_IN = flow(trigger="poll", interval_minutes=30)


# --- Layer 1 -------------------------------------------------------------------------------

L1_CASES = [
    # L1.feed_fired
    case("in-stock", "L1.feed_fired", facts(), "skipped", "not out of stock"),
    case(
        "no-oos-time",
        "L1.feed_fired",
        facts(sf=storefront(available=0)),
        "unknown",
        "no out-of-stock time",
    ),
    case(
        "no-inbound-flow",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(flows=[flow(hop="erp_to_storefront")])),
        "skipped",
        "no storefront→ERP",
    ),
    case(
        "flow-stopped",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(flows=[flow(status="suspended")])),
        "skipped",
        "suspended",
        "L3.flow_status",
    ),
    case(
        "wrong-subscription",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(flows=[flow(listens_for=["order_fulfilled"])])),
        "skipped",
        "L3.event_subscription",
    ),
    case(
        "polled-inside-window",
        "L1.feed_fired",
        facts(
            sf=storefront(available=0, out_of_stock_since=ago(minutes=12)),
            mw=middleware(flows=[POLLED_IN]),
        ),
        "skipped",
        "polls every 30 min",
        "B.poll_window",
    ),
    case(
        "polled-past-window",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(flows=[POLLED_IN])),
        "fail",
        "logged no event",
        cites=("storefront.out_of_stock_since", "middleware.log.sku"),
        confidence="likely",
    ),
    case(
        "log-too-short",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(log_window_start=ago(hours=1))),
        "unknown",
        "only reaches back",
    ),
    case(
        "event-received",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(log=[log(178, "received"), log(177, "delivered")])),
        "pass",
        "received an event",
        cites=("storefront.out_of_stock_since", "middleware.log.sku"),
    ),
    case(
        "silent",
        "L1.feed_fired",
        facts(
            sf=SOLD_OUT,
            # an event before the sell-out and one on another flow do not count
            mw=middleware(
                flows=[flow(), flow(id="f2", hop="storefront_to_marketplace", channel="amazon")],
                log=[log(600, "received"), log(170, "received", flow_id="f2")],
            ),
        ),
        "fail",
        "went out of stock at 2026-11-20 04:00 UTC",
        "Storefront → ERP inventory",
        "logged no event",
        cites=("storefront.out_of_stock_since", "middleware.log.sku"),
        confidence="likely",
    ),
    # L1.inventory_policy
    case(
        "untracked",
        "L1.inventory_policy",
        facts(sf=storefront(tracked=False)),
        "fail",
        "not tracked",
        cites=("storefront.tracked", "storefront.available"),
    ),
    case(
        "continue-at-zero",
        "L1.inventory_policy",
        facts(sf=storefront(available=-2, inventory_policy="continue")),
        "fail",
        "CONTINUE",
        "-2 available",
        cites=("storefront.inventory_policy", "storefront.available"),
    ),
    case(
        "continue-in-stock",
        "L1.inventory_policy",
        facts(sf=storefront(inventory_policy="continue")),
        "pass",
        "will oversell",
    ),
    case("deny", "L1.inventory_policy", facts(), "pass", "DENY"),
    # L1.sync_freshness
    case("event-driven", "L1.sync_freshness", facts(), "skipped", "by events"),
    case(
        "interval-without-time",
        "L1.sync_freshness",
        facts(sf=storefront(sync_interval_minutes=30)),
        "unknown",
        "does not report",
    ),
    case(
        "fresh",
        "L1.sync_freshness",
        facts(sf=storefront(last_inventory_sync_at=ago(minutes=10), sync_interval_minutes=15)),
        "pass",
        "10 min ago",
    ),
    case(
        "inside-grace",
        "L1.sync_freshness",
        facts(sf=storefront(last_inventory_sync_at=ago(minutes=19), sync_interval_minutes=15)),
        "pass",
    ),
    case(
        "stale",
        "L1.sync_freshness",
        facts(sf=storefront(last_inventory_sync_at=ago(hours=2), sync_interval_minutes=30)),
        "fail",
        "2.0 h ago",
        "interval is 30 min",
        cites=("storefront.last_inventory_sync_at", "storefront.sync_interval_minutes"),
    ),
    case(
        "stale-against-default-interval",
        "L1.sync_freshness",
        facts(
            sf=storefront(last_inventory_sync_at=ago(minutes=40)),
            thresholds=Thresholds(sync_interval_minutes=15),
        ),
        "fail",
        "interval is 15 min",
    ),
    # L1.inventory_hold
    case("no-hold", "L1.inventory_hold", facts(), "pass", cites=("storefront.holds",)),
    case(
        "frozen",
        "L1.inventory_hold",
        facts(sf=storefront(holds=["inventory freeze: stock count"])),
        "fail",
        "inventory freeze: stock count",
        cites=("storefront.holds",),
    ),
    # L1.zero_reason
    case("in-stock", "L1.zero_reason", facts(), "skipped", "not at zero"),
    case(
        "no-history",
        "L1.zero_reason",
        facts(sf=storefront(available=0)),
        "unknown",
        "no inventory history",
    ),
    case(
        "no-drop-to-zero",
        "L1.zero_reason",
        facts(sf=storefront(available=0, adjustments=[adj(5, 3, 2)])),
        "pass",
        "no adjustment to zero",
    ),
    case("sold", "L1.zero_reason", facts(sf=SOLD_OUT), "pass", "by sale"),
    case(
        "clearance",
        "L1.zero_reason",
        facts(
            sf=storefront(
                available=0,
                adjustments=[
                    adj(5, 18, 0, "clearance", actor="Merchandising", note="pulled for outlet")
                ],
            )
        ),
        "fail",
        "18 → 0",
        "by Merchandising",
        "clearance",
        "pulled for outlet",
        cites=("storefront.adjustment.to_zero",),
    ),
    case(
        "latest-drop-was-manual",
        "L1.zero_reason",
        facts(
            sf=storefront(
                available=0,
                adjustments=[adj(30, 1, 0), adj(20, 0, 6, "receipt"), adj(2, 6, 0, "manual")],
            )
        ),
        "fail",
        "6 → 0",
        "manual",
    ),
    case(
        "latest-drop-was-a-sale",
        "L1.zero_reason",
        facts(
            sf=storefront(
                available=0,
                adjustments=[adj(30, 4, 0, "promotion"), adj(20, 0, 1, "receipt"), adj(2, 1, 0)],
            )
        ),
        "pass",
        "by sale",
    ),
]


# --- Layer 2 -------------------------------------------------------------------------------

WALMART = {"channel": "walmart", "status": "PUBLISHED"}
CHANNEL_FLOW = flow(id="f-amz", hop="storefront_to_marketplace", channel="amazon")
# the storefront's quantity last moved two hours ago
RESTOCKED = storefront(available=20, adjustments=[adj(2, 0, 20, "receipt")])
STALE_AMAZON = listing(
    quantity=0, buyable=False, status="DISCOVERABLE", last_inventory_feed_at=ago(hours=6)
)

L2_CASES = [
    # L2.listing_status
    case(
        "clean", "L2.listing_status", facts(channels=(listing(),)), "pass", cites=("amazon.issues",)
    ),
    case(
        "suppressed-at-zero",
        "L2.listing_status",
        facts(channels=(listing(quantity=0, buyable=False, issues=[SUPPRESSED]),)),
        "pass",
    ),
    case(
        "warning-only",
        "L2.listing_status",
        facts(
            channels=(
                listing(
                    issues=[ListingIssue(code="8572", message="price check", severity="warning")]
                ),
            )
        ),
        "pass",
    ),
    case(
        "suppressed-with-stock",
        "L2.listing_status",
        facts(
            channels=(
                listing(quantity=8, buyable=False, status="DISCOVERABLE", issues=[SUPPRESSED]),
                listing(**WALMART),
            )
        ),
        "fail",
        "amazon: DISCOVERABLE, qty 8",
        "LISTING_SUPPRESSED",
        "main_product_image_locator",
        cites=("amazon.issues", "walmart.issues"),
    ),
    # L2.feed_source
    case(
        "storefront-fed",
        "L2.feed_source",
        facts(channels=(listing(),)),
        "pass",
        cites=("amazon.feed_source",),
    ),
    case(
        "third-party-agrees",
        "L2.feed_source",
        facts(channels=(listing(feed_source="repricer:RepricerExpress"),)),
        "pass",
    ),
    case(
        "third-party-both-at-zero",
        "L2.feed_source",
        facts(
            sf=SOLD_OUT,
            channels=(listing(quantity=0, buyable=False, feed_source="repricer:RepricerExpress"),),
        ),
        "pass",
    ),
    case(
        "third-party-disagrees",
        "L2.feed_source",
        facts(
            channels=(
                listing(quantity=0, buyable=False, feed_source="channel_manager:ChannelAdvisor"),
            )
        ),
        "fail",
        "amazon is fed by channel_manager:ChannelAdvisor",
        "qty 0, storefront 5",
        cites=("amazon.feed_source", "storefront.available"),
    ),
    # L2.buffer
    case("no-buffer", "L2.buffer", facts(channels=(listing(),)), "pass", cites=("amazon.buffer",)),
    case(
        "above-buffer",
        "L2.buffer",
        facts(sf=storefront(available=10), channels=(listing(quantity=7, buffer=3),)),
        "pass",
    ),
    case(
        "storefront-really-empty",
        "L2.buffer",
        facts(sf=SOLD_OUT, channels=(listing(quantity=0, buyable=False, buffer=3),)),
        "pass",
    ),
    case(
        "buffer-not-hiding",
        "L2.buffer",
        facts(sf=storefront(available=2), channels=(listing(quantity=2, buffer=3),)),
        "pass",
    ),
    case(
        "hidden-by-buffer",
        "L2.buffer",
        facts(
            sf=storefront(available=2),
            channels=(listing(quantity=2), listing(quantity=0, buyable=False, buffer=3, **WALMART)),
        ),
        "fail",
        "walmart hides the listing at ≤ 3",
        "storefront has 2",
        cites=("amazon.buffer", "walmart.buffer", "storefront.available"),
    ),
    # L2.feed_freshness
    case(
        "agrees",
        "L2.feed_freshness",
        facts(channels=(listing(last_inventory_feed_at=ago(days=3)),)),
        "pass",
    ),
    case(
        "behind",
        "L2.feed_freshness",
        facts(sf=RESTOCKED, channels=(STALE_AMAZON,)),
        "fail",
        "amazon last fed 2026-11-20 01:00 UTC",
        "240 min behind",
        "shows 0",
        cites=("amazon.last_inventory_feed_at", "storefront.last_inventory_sync_at"),
    ),
    case(
        "inside-latency",
        "L2.feed_freshness",
        facts(
            sf=RESTOCKED,
            channels=(listing(quantity=0, last_inventory_feed_at=ago(hours=2, minutes=10)),),
        ),
        "pass",
    ),
    case(
        "channel-flow-stopped",
        "L2.feed_freshness",
        facts(
            sf=RESTOCKED,
            channels=(STALE_AMAZON,),
            mw=middleware(flows=[flow(), CHANNEL_FLOW.model_copy(update={"status": "suspended"})]),
        ),
        "pass",
    ),
    case(
        "inside-poll-window",
        "L2.feed_freshness",
        facts(
            sf=RESTOCKED,
            channels=(listing(quantity=0, last_inventory_feed_at=ago(hours=3)),),
            mw=middleware(
                flows=[
                    flow(),
                    CHANNEL_FLOW.model_copy(update={"trigger": "poll", "interval_minutes": 120}),
                ]
            ),
        ),
        "pass",
    ),
    case(
        "differs-without-feed-time",
        "L2.feed_freshness",
        facts(sf=RESTOCKED, channels=(listing(quantity=0),)),
        "unknown",
        "amazon report no last inventory feed time",
    ),
    case(
        "the-one-behind-has-no-feed-time",
        "L2.feed_freshness",
        facts(
            sf=RESTOCKED,
            channels=(
                listing(quantity=0),
                listing(quantity=20, last_inventory_feed_at=ago(hours=2), **WALMART),
            ),
        ),
        "unknown",
        "amazon report no",
    ),
    case(
        "agrees-without-feed-time",
        "L2.feed_freshness",
        facts(channels=(listing(),)),
        "pass",
    ),
    case(
        "oversold-storefront-channel-at-zero",
        "L2.feed_freshness",
        facts(
            sf=storefront(available=-3, inventory_policy="continue", adjustments=[adj(1, -2, -3)]),
            channels=(listing(quantity=0, buyable=False, last_inventory_feed_at=ago(hours=6)),),
        ),
        "pass",
    ),
    # L2.channel_state
    case(
        "none-oos",
        "L2.channel_state",
        facts(channels=(listing(),)),
        "pass",
        cites=("amazon.state",),
    ),
    case(
        "storefront-oos",
        "L2.channel_state",
        facts(sf=SOLD_OUT, channels=(listing(quantity=0, buyable=False),)),
        "skipped",
        "storefront is out of stock too",
    ),
    case(
        "storefront-oversells-at-zero",
        "L2.channel_state",
        facts(
            sf=storefront(available=-3, inventory_policy="continue"),
            channels=(listing(quantity=0, buyable=False),),
        ),
        "skipped",
    ),
    case(
        "every-channel-oos",
        "L2.channel_state",
        facts(
            channels=(
                listing(quantity=0, buyable=False),
                listing(quantity=0, buyable=False, **WALMART),
            )
        ),
        "pass",
        "every marketplace",
    ),
    case(
        "unexplained",
        "L2.channel_state",
        facts(
            channels=(
                listing(),
                listing(channel="ebay", status="UNPUBLISHED", buyable=False),
            )
        ),
        "fail",
        "ebay shows UNPUBLISHED (qty 5, buyable False)",
        "storefront sells 5",
        cites=("amazon.state", "ebay.state", "storefront.available"),
    ),
    case(
        "explained-by-suppression",
        "L2.channel_state",
        facts(channels=(listing(buyable=False, issues=[SUPPRESSED]),)),
        "pass",
        "more specific",
    ),
    case(
        "explained-by-third-party",
        "L2.channel_state",
        facts(
            channels=(listing(quantity=0, buyable=False, feed_source="repricer:RepricerExpress"),)
        ),
        "pass",
    ),
    case(
        "explained-by-buffer",
        "L2.channel_state",
        facts(sf=storefront(available=2), channels=(listing(quantity=0, buyable=False, buffer=3),)),
        "pass",
    ),
    case(
        "explained-by-feed-lag",
        "L2.channel_state",
        facts(sf=RESTOCKED, channels=(STALE_AMAZON,)),
        "pass",
    ),
    case(
        "explained-by-stopped-flow",
        "L2.channel_state",
        facts(
            channels=(listing(buyable=False, status="DISCOVERABLE"),),
            mw=middleware(flows=[flow(), CHANNEL_FLOW.model_copy(update={"status": "disabled"})]),
        ),
        "pass",
    ),
    case(
        "explained-by-erp-flags",
        "L2.channel_state",
        facts(
            channels=(listing(buyable=False, status="UNPUBLISHED"),),
            erp_=erp(item=ErpItem(item_id="100", sku=SKU, name="Test Sock", do_not_stock=True)),
        ),
        "pass",
    ),
]


# --- hops ----------------------------------------------------------------------------------

WHOLESALE = txn(5, "sale", -14, origin="wholesale", source_id="S-SHPT1")
HEARD_2D_AGO = storefront(available=14, adjustments=[adj(48, 12, 14, "sync")])
ERP_EMPTY = {"available": 0, "transactions": [WHOLESALE]}
RECEIPT = txn(1, "receipt", 24, origin="3pl", source_id="WRO-1")
LAST_BATCH_3H = wms(
    on_hand=0,
    events=[WmsEvent(at=ago(minutes=70), kind="adjustment", quantity=-3)],
    batch_interval_minutes=240,
    last_batch_at=ago(hours=3),
)

HOP_CASES = [
    # B.erp_broadcast
    case("no-erp-sale", "B.erp_broadcast", facts(), "pass", "no ERP-side sale"),
    case(
        "web-sale-only",
        "B.erp_broadcast",
        facts(
            sf=HEARD_2D_AGO, erp_=erp(available=0, transactions=[txn(5, "sale", -14, origin="web")])
        ),
        "pass",
    ),
    case(
        "sale-before-storefront-heard",
        "B.erp_broadcast",
        facts(
            sf=storefront(available=14, adjustments=[adj(1, 12, 14, "sync")]), erp_=erp(**ERP_EMPTY)
        ),
        "pass",
    ),
    case(
        "storefront-already-lower",
        "B.erp_broadcast",
        facts(sf=storefront(available=0, adjustments=[adj(48, 1, 0)]), erp_=erp(**ERP_EMPTY)),
        "pass",
        "no more than the ERP",
    ),
    case(
        "polled-hop",
        "B.erp_broadcast",
        facts(
            sf=HEARD_2D_AGO,
            erp_=erp(**ERP_EMPTY),
            mw=middleware(
                flows=[flow(hop="erp_to_storefront", trigger="poll", interval_minutes=15)]
            ),
        ),
        "skipped",
        "every 15 min",
        "B.poll_window",
    ),
    case(
        "outbound-not-visible",
        "B.erp_broadcast",
        facts(
            sf=HEARD_2D_AGO,
            erp_=erp(**ERP_EMPTY, not_visible=["outbound_events: see the script deployment log"]),
        ),
        "unknown",
        "script deployment log",
    ),
    case(
        "announced",
        "B.erp_broadcast",
        facts(
            sf=HEARD_2D_AGO,
            erp_=erp(
                **ERP_EMPTY,
                outbound_events=[OutboundEvent(at=ago(hours=5), kind="inventory_update", sku=SKU)],
            ),
        ),
        "pass",
        "sent inventory_update",
    ),
    case(
        "silent",
        "B.erp_broadcast",
        facts(
            sf=HEARD_2D_AGO,
            erp_=erp(
                **ERP_EMPTY,
                # an event for another SKU, and one sent before the sale, do not count
                outbound_events=[
                    OutboundEvent(at=ago(hours=4), kind="inventory_update", sku="SKU-OTHER"),
                    OutboundEvent(at=ago(hours=30), kind="inventory_update", sku=SKU),
                ],
            ),
        ),
        "fail",
        "wholesale sale of 14",
        "left the ERP at 0",
        "still shows 14",
        cites=("erp.transactions.non_web_sales", "erp.outbound_events", "storefront.last_heard_at"),
    ),
    # B.restock
    case("in-stock", "B.restock", facts(), "skipped", "not out of stock"),
    case("no-oos-time", "B.restock", facts(sf=storefront(available=0)), "skipped"),
    case(
        "receipt-before-sell-out",
        "B.restock",
        facts(sf=SOLD_OUT, erp_=erp(available=24, transactions=[txn(4, "receipt", 24)])),
        "pass",
    ),
    case(
        "receipt-pending",
        "B.restock",
        facts(
            sf=SOLD_OUT,
            erp_=erp(available=24, transactions=[txn(1, "receipt", 24, status="pending_approval")]),
        ),
        "pass",
    ),
    case(
        "erp-empty-again",
        "B.restock",
        facts(
            sf=SOLD_OUT,
            erp_=erp(
                available=0, transactions=[RECEIPT, txn(0.5, "sale", -24, origin="wholesale")]
            ),
        ),
        "pass",
    ),
    case(
        "receipt-not-heard",
        "B.restock",
        facts(sf=SOLD_OUT, erp_=erp(available=24, transactions=[RECEIPT])),
        "fail",
        "took back 24 (receipt, 3pl)",
        "storefront still shows 0, ERP 24",
        cites=("erp.transactions.restock", "storefront.out_of_stock_since"),
    ),
    case(
        "return-not-heard",
        "B.restock",
        facts(sf=SOLD_OUT, erp_=erp(available=1, transactions=[txn(1, "return", 1)])),
        "fail",
        "took back 1 (return, ERP)",
    ),
    # B.wms_batch
    case("no-movement", "B.wms_batch", facts(wms_=wms()), "pass", "no WMS movement"),
    case(
        "batch-ran",
        "B.wms_batch",
        facts(wms_=LAST_BATCH_3H.model_copy(update={"last_batch_at": ago(minutes=10)})),
        "pass",
        "ran after",
    ),
    case(
        "erp-heard",
        "B.wms_batch",
        facts(wms_=LAST_BATCH_3H, erp_=erp(last_inventory_update_at=ago(minutes=30))),
        "pass",
    ),
    case(
        "batch-behind",
        "B.wms_batch",
        facts(wms_=LAST_BATCH_3H, erp_=erp(last_inventory_update_at=ago(hours=3))),
        "fail",
        "WMS adjustment of -3",
        "last WMS→ERP batch 2026-11-20 04:00 UTC",
        "every 240 min",
        cites=("wms.events.latest", "wms.last_batch_at", "erp.last_inventory_update_at"),
    ),
    case(
        "batch-never-ran",
        "B.wms_batch",
        facts(
            wms_=LAST_BATCH_3H.model_copy(
                update={"last_batch_at": None, "batch_interval_minutes": None}
            )
        ),
        "fail",
        "last WMS→ERP batch unknown time",
    ),
    # B.order_webhook
    case(
        "no-order-hook",
        "B.order_webhook",
        facts(sf=storefront(webhooks=[hook("inventory_levels/update", "inventory_update")])),
        "skipped",
    ),
    case(
        "on-creation",
        "B.order_webhook",
        facts(
            sf=storefront(
                webhooks=[
                    hook("orders/create", "order_created"),
                    hook("orders/fulfilled", "order_fulfilled"),
                ]
            )
        ),
        "pass",
        cites=("storefront.webhooks.orders",),
    ),
    case(
        "on-fulfilment",
        "B.order_webhook",
        facts(
            sf=storefront(
                available=0, committed=4, webhooks=[hook("orders/fulfilled", "order_fulfilled")]
            ),
            mw=middleware(
                flows=[flow(carries=["order_fulfilled"], listens_for=["order_fulfilled"])]
            ),
        ),
        "fail",
        "orders/fulfilled",
        "fires on fulfilment",
        "4 unit(s) sold and not yet fulfilled",
        cites=("storefront.webhooks.orders",),
    ),
    # B.duplicates
    case(
        "each-once",
        "B.duplicates",
        facts(
            erp_=erp(
                transactions=[
                    txn(2, "adjustment", -1, source_id="a"),
                    txn(1, "adjustment", -1, source_id="b"),
                    txn(1, "sale", -1),
                    txn(0.5, "sale", -1),
                ]
            )
        ),
        "pass",
        cites=("erp.transactions",),
    ),
    case(
        "applied-twice",
        "B.duplicates",
        facts(
            erp_=erp(
                transactions=[
                    txn(4, "adjustment", -6, source_id="inv-evt-1"),
                    txn(3.9, "adjustment", -6, source_id="inv-evt-1"),
                ]
            )
        ),
        "fail",
        "source inv-evt-1 applied 2 times",
        "-6 at 2026-11-20 03:00 UTC",
        cites=("erp.transactions.duplicates",),
    ),
]

# B.poll_window: the storefront sold out twenty minutes ago; Amazon still shows the last unit
JUST_SOLD_OUT = storefront(
    available=0, out_of_stock_since=ago(minutes=20), adjustments=[adj(1 / 3, 1, 0)]
)
AMAZON_ONE = listing(quantity=1)
AMAZON_POLL = CHANNEL_FLOW.model_copy(update={"trigger": "poll", "interval_minutes": 30})
POS_SALE = erp(available=0, transactions=[txn(40 / 60, "sale", -2, origin="pos")])
ERP_POLL = flow(id="f-out", hop="erp_to_storefront", trigger="poll", interval_minutes=15)

HOP_CASES += [
    case("agree", "B.poll_window", facts(), "pass", "no hop disagrees"),
    case(
        "event-hop",
        "B.poll_window",
        facts(
            sf=JUST_SOLD_OUT,
            erp_=erp(available=0),
            channels=(AMAZON_ONE,),
            mw=middleware(flows=[flow(), CHANNEL_FLOW]),
        ),
        "pass",
        "no disagreeing hop",
    ),
    case(
        "channel-inside-window",
        "B.poll_window",
        facts(
            sf=JUST_SOLD_OUT,
            erp_=erp(available=0),
            channels=(AMAZON_ONE,),
            mw=middleware(flows=[flow(), AMAZON_POLL]),
        ),
        "fail",
        "polls every 30 min",
        "20 min old",
        cites=("middleware.flow[f-amz].trigger",),
        confidence="likely",
    ),
    case(
        "channel-past-window",
        "B.poll_window",
        facts(
            sf=SOLD_OUT,
            erp_=erp(available=0),
            channels=(AMAZON_ONE,),
            mw=middleware(flows=[flow(), AMAZON_POLL]),
        ),
        "pass",
    ),
    case(
        "poll-flow-stopped",
        "B.poll_window",
        facts(
            sf=JUST_SOLD_OUT,
            erp_=erp(available=0),
            channels=(AMAZON_ONE,),
            mw=middleware(flows=[flow(), AMAZON_POLL.model_copy(update={"status": "suspended"})]),
        ),
        "pass",
    ),
    case(
        "erp-hop-throttled",
        "B.poll_window",
        facts(
            sf=storefront(available=2, adjustments=[adj(24, 3, 2, "sync")]),
            erp_=POS_SALE,
            mw=middleware(
                flows=[ERP_POLL], log=[log(25, "rate_limited", flow_id="f-out", status_code=429)]
            ),
        ),
        "fail",
        "polls every 15 min",
        "40 min old",
        "stretched by 1 rate-limit hit(s)",
        cites=("middleware.flow[f-out].trigger",),
        confidence="likely",
    ),
    case(
        "erp-hop-past-window",
        "B.poll_window",
        facts(
            sf=storefront(available=2, adjustments=[adj(24, 3, 2, "sync")]),
            erp_=POS_SALE,
            mw=middleware(flows=[ERP_POLL]),
        ),
        "pass",
    ),
    case(
        "oversold-storefront-channel-at-zero",
        "B.poll_window",
        facts(
            sf=storefront(
                available=-1, inventory_policy="continue", adjustments=[adj(1 / 6, 0, -1)]
            ),
            erp_=erp(available=-1),
            channels=(listing(quantity=0, buyable=False),),
            mw=middleware(flows=[flow(), AMAZON_POLL]),
        ),
        "pass",
    ),
]


@pytest.mark.parametrize("c", L1_CASES)
def test_layer1_checks(c: Case) -> None:
    run_case(c)


@pytest.mark.parametrize("c", L2_CASES)
def test_layer2_checks(c: Case) -> None:
    run_case(c)


@pytest.mark.parametrize("c", HOP_CASES)
def test_hop_checks(c: Case) -> None:
    run_case(c)


def test_every_check_of_these_layers_has_a_failing_and_a_passing_case() -> None:
    cases: list[Case] = [p.values[0] for p in (*L1_CASES, *L2_CASES, *HOP_CASES)]
    covered = {c.check for c in cases}
    ours = {k for k in CHECKS if k.startswith(("L1.", "L2.", "B."))}
    assert covered == ours
    for check in ours:
        statuses = {c.status for c in cases if c.check == check}
        assert {"pass", "fail"} <= statuses, (check, statuses)
