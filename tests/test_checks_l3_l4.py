"""Layer 3 (connector) and Layer 4 (ERP) checks, called directly on hand-built facts.

Each row of the table is one situation: the check, the facts, and what an operator should read —
the status, the words the detail must contain, and (for failures) the facts it must cite.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.facts import Facts
from bot.tree import load_tree
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
)
from tools.models import (
    ChangeEvent,
    ErpItem,
    ErpListener,
    IntegrationUser,
    InventoryAdjustment,
    InventoryTransaction,
    ListingStatusChange,
    LocationMapping,
    LocationQuantity,
    MiddlewareLogEntry,
    SkuMapping,
    StorefrontSnapshot,
    TriggerRule,
    WebhookLogEntry,
)

# --- builders for the rows ---------------------------------------------------------------

PROD = "https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=801"
SANDBOX = "https://1234567-sb1.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=801"


def adj(hours: float, before: int, after: int, location: str | None = None) -> InventoryAdjustment:
    return InventoryAdjustment(
        at=ago(hours=hours), before=before, after=after, reason="sale", location_id=location
    )


def sold_out(hours: float = 1, before: int = 1, **kw: Any) -> StorefrontSnapshot:
    """A storefront that sold its last ``before`` units ``hours`` ago."""
    location = kw.pop("location", None)
    return storefront(
        available=0,
        out_of_stock_since=ago(hours=hours),
        adjustments=[adj(hours, before, 0, location)],
        **kw,
    )


def entry(stage: str, hours: float, **kw: Any) -> MiddlewareLogEntry:
    base: dict[str, Any] = {"at": ago(hours=hours), "flow_id": "f1", "sku": SKU, "stage": stage}
    return MiddlewareLogEntry(**{**base, **kw})


def logged(*entries: MiddlewareLogEntry, **kw: Any) -> Facts:
    return facts(mw=middleware(log=list(entries)), **kw)


def change(hours: float, kind: str = "credential_rotation") -> ChangeEvent:
    return ChangeEvent(at=ago(hours=hours), system="netsuite", kind=kind, description="TBA token")


def item(**kw: Any) -> ErpItem:
    return ErpItem(**{"item_id": "100", "sku": SKU, "name": "Test Sock", **kw})


def user(**kw: Any) -> IntegrationUser:
    return IntegrationUser(
        **{"name": "celigo", "role": "Celigo Integration", "can_write_inventory": True, **kw}
    )


def hook(hours: float, status: int, sku: str | None = SKU, message: str = "") -> WebhookLogEntry:
    return WebhookLogEntry(at=ago(hours=hours), sku=sku, status_code=status, message=message)


def rule(min_delta: int = 10, active: bool = True) -> TriggerRule:
    return TriggerRule(id="r1", name="Min delta", min_delta=min_delta, active=active)


def posted(hours: float, status: str = "posted") -> InventoryTransaction:
    return InventoryTransaction(at=ago(hours=hours), kind="adjustment", quantity=-1, status=status)


STORES = [
    LocationQuantity(location_id="61", name="Reno FC", available=0),
    LocationQuantity(location_id="64", name="Dropship", kind="dropship", available=0),
]
LOCATION_MAP = [LocationMapping(storefront_location_id="64", erp_location_id="12")]
SOURCE_MAP = [
    LocationMapping(storefront_location_id="default", erp_location_id="1010", kind="msi_source")
]


def sourced(*codes: str, moved_at: str | None = None) -> StorefrontSnapshot:
    """A storefront whose SKU is assigned to the MSI sources ``codes``."""
    return sold_out(
        location=moved_at,
        locations=[
            LocationQuantity(location_id=c, name=c, kind="msi_source", available=0) for c in codes
        ],
    )


AMAZON_FLOW = flow(
    id="fa", name="ERP → Amazon inventory", hop="erp_to_marketplace", channel="amazon"
)
WENT_DARK = [
    ListingStatusChange(at=ago(days=30), status="BUYABLE", buyable=True),
    ListingStatusChange(at=ago(hours=6), status="DISCOVERABLE", buyable=False),
]


def dark_listing(**kw: Any) -> Facts:
    """Amazon went unbuyable six hours ago by a listing-state change; quantity unchanged."""
    flows = kw.pop("flows", [flow(), AMAZON_FLOW])
    return facts(
        channels=(listing(buyable=False, status="DISCOVERABLE", status_history=WENT_DARK),),
        mw=middleware(flows=flows),
        **kw,
    )


# --- the table ---------------------------------------------------------------------------


CASES = [
    # L3.flow_status ------------------------------------------------------------------------
    case(
        "active",
        "L3.flow_status",
        facts(),
        "pass",
        "1 inventory flow(s) active",
        cites=("middleware.flow[f1].status",),
    ),
    case(
        "suspended with reason",
        "L3.flow_status",
        facts(
            mw=middleware(
                flows=[
                    flow(
                        status="suspended",
                        status_reason="API limit breached",
                        status_since=ago(hours=5),
                    )
                ]
            )
        ),
        "fail",
        "is suspended since 2026-11-20 02:00 UTC",
        "API limit breached",
        cites=("middleware.flow[f1].status",),
    ),
    case(
        "a stopped listing-status flow counts",
        "L3.flow_status",
        facts(
            mw=middleware(
                flows=[flow(), flow(id="f2", carries=["listing_status"], status="disabled")]
            )
        ),
        "fail",
        "(f2) is disabled",
        cites=("middleware.flow[f1].status", "middleware.flow[f2].status"),
    ),
    case(
        "a stopped order flow is not an inventory flow",
        "L3.flow_status",
        facts(
            mw=middleware(flows=[flow(), flow(id="f2", carries=["order_created"], status="error")])
        ),
        "pass",
        "1 inventory flow(s) active",
    ),
    case(
        "no inventory flow",
        "L3.flow_status",
        facts(mw=middleware(flows=[flow(carries=["order_created"])])),
        "skipped",
        "no flow that carries inventory",
    ),
    # L3.event_subscription -----------------------------------------------------------------
    case(
        "listens for quantity updates",
        "L3.event_subscription",
        facts(),
        "pass",
        cites=("middleware.flow[f1].listens_for",),
    ),
    case(
        "listens for order creation",
        "L3.event_subscription",
        facts(
            mw=middleware(
                flows=[flow(listens_for=["order_created"], listens_for_raw=["orders/create"])]
            )
        ),
        "fail",
        "listens for orders/create",
        "not for quantity updates",
        cites=("middleware.flow[f1].listens_for",),
    ),
    case(
        "a polled flow has no subscription to get wrong",
        "L3.event_subscription",
        facts(
            mw=middleware(
                flows=[flow(trigger="poll", interval_minutes=15, listens_for=["order_created"])]
            )
        ),
        "pass",
    ),
    case(
        "no storefront→ERP inventory flow",
        "L3.event_subscription",
        facts(mw=middleware(flows=[flow(hop="erp_to_storefront")])),
        "skipped",
    ),
    # L3.sku_mapping ------------------------------------------------------------------------
    case(
        "mapped",
        "L3.sku_mapping",
        facts(mw=middleware(sku_mapping=SkuMapping(storefront_sku=SKU, erp_item="4417"))),
        "pass",
        "4417",
        cites=("middleware.sku_mapping",),
    ),
    case(
        "disabled",
        "L3.sku_mapping",
        facts(
            mw=middleware(
                sku_mapping=SkuMapping(
                    storefront_sku=SKU, erp_item="4417", status="disabled", note="by jo"
                )
            )
        ),
        "fail",
        "is disabled",
        "by jo",
        cites=("middleware.sku_mapping",),
    ),
    case(
        "null mapping",
        "L3.sku_mapping",
        facts(mw=middleware(sku_mapping=SkuMapping(storefront_sku=SKU, erp_item=None))),
        "fail",
        "→ nothing",
        cites=("middleware.sku_mapping",),
    ),
    case(
        "overridden to another item",
        "L3.sku_mapping",
        facts(
            mw=middleware(
                sku_mapping=SkuMapping(storefront_sku=SKU, erp_item="3870", status="overridden")
            )
        ),
        "fail",
        "→ 3870 is overridden",
        cites=("middleware.sku_mapping",),
    ),
    case(
        "connector keeps no mapping",
        "L3.sku_mapping",
        facts(),
        "skipped",
        "matches on the SKU itself",
    ),
    # L3.location_mapping -------------------------------------------------------------------
    case(
        "moved at the mapped location",
        "L3.location_mapping",
        facts(
            sf=sold_out(location="64", locations=STORES),
            mw=middleware(location_mappings=LOCATION_MAP),
        ),
        "pass",
        cites=("middleware.location_mappings", "storefront.adjustments.locations"),
    ),
    case(
        "moved at an unmapped location",
        "L3.location_mapping",
        facts(
            sf=sold_out(location="61", locations=STORES),
            mw=middleware(location_mappings=LOCATION_MAP),
        ),
        "fail",
        "quantity moved at Reno FC",
        "maps only Dropship",
        cites=("middleware.location_mappings", "storefront.adjustments.locations"),
    ),
    case(
        "no location map",
        "L3.location_mapping",
        facts(sf=sold_out(location="61", locations=STORES)),
        "skipped",
        "no location map",
    ),
    case(
        "a source map is not a location map",
        "L3.location_mapping",
        facts(sf=sold_out(location="61"), mw=middleware(location_mappings=SOURCE_MAP)),
        "skipped",
    ),
    case(
        "history names no location",
        "L3.location_mapping",
        facts(sf=sold_out(), mw=middleware(location_mappings=LOCATION_MAP)),
        "skipped",
        "names no location",
    ),
    case(
        "the only move is older than the change window",
        "L3.location_mapping",
        facts(sf=sold_out(hours=80, location="61"), mw=middleware(location_mappings=LOCATION_MAP)),
        "skipped",
    ),
    # L3.source_mapping ---------------------------------------------------------------------
    case(
        "assigned to the mapped source",
        "L3.source_mapping",
        facts(sf=sourced("default", "hamburg_dc"), mw=middleware(location_mappings=SOURCE_MAP)),
        "pass",
        cites=("storefront.sources", "middleware.source_mappings"),
    ),
    case(
        "assigned to another source",
        "L3.source_mapping",
        facts(sf=sourced("hamburg_dc"), mw=middleware(location_mappings=SOURCE_MAP)),
        "fail",
        "assigned to source(s) hamburg_dc",
        "maps default",
        cites=("storefront.sources", "middleware.source_mappings"),
    ),
    case(
        "still assigned to default, but the stock moved at the unmapped source",
        "L3.source_mapping",
        facts(
            sf=sourced("default", "hamburg_dc", moved_at="hamburg_dc"),
            mw=middleware(location_mappings=SOURCE_MAP),
        ),
        "fail",
        "quantity moved at source(s) hamburg_dc",
        "maps default",
        cites=("storefront.sources", "middleware.source_mappings"),
    ),
    case(
        "assigned to two sources, the stock moved at the mapped one",
        "L3.source_mapping",
        facts(
            sf=sourced("default", "hamburg_dc", moved_at="default"),
            mw=middleware(location_mappings=SOURCE_MAP),
        ),
        "pass",
    ),
    case(
        "storefront without MSI sources",
        "L3.source_mapping",
        facts(sf=sold_out(locations=STORES), mw=middleware(location_mappings=SOURCE_MAP)),
        "skipped",
        "no inventory sources",
    ),
    case(
        "integration without a source map",
        "L3.source_mapping",
        facts(sf=sourced("hamburg_dc"), mw=middleware(location_mappings=LOCATION_MAP)),
        "skipped",
        "no source map",
    ),
    # L3.event_delivery ---------------------------------------------------------------------
    case(
        "received and delivered",
        "L3.event_delivery",
        logged(entry("received", 2), entry("delivered", 2)),
        "pass",
        "1 event(s) delivered",
        cites=("middleware.log.sku",),
    ),
    case(
        "filtered",
        "L3.event_delivery",
        logged(entry("received", 2), entry("filtered", 2, message="qty <= 0 skipped")),
        "fail",
        "then filtered",
        "qty <= 0 skipped",
        cites=("middleware.log.sku",),
    ),
    case(
        "dropped",
        "L3.event_delivery",
        logged(entry("received", 2), entry("dropped", 2, message="map failed")),
        "fail",
        "then dropped",
        cites=("middleware.log.sku",),
    ),
    case(
        "connector error without a status",
        "L3.event_delivery",
        logged(entry("received", 2), entry("error", 2, message="read timeout")),
        "fail",
        "then error",
        "read timeout",
        cites=("middleware.log.sku",),
    ),
    case(
        "server error from the ERP is not a refusal",
        "L3.event_delivery",
        logged(entry("received", 2), entry("error", 2, status_code=503, message="busy")),
        "fail",
        "HTTP 503",
        cites=("middleware.log.sku",),
    ),
    case(
        "received, never delivered",
        "L3.event_delivery",
        logged(entry("delivered", 5), entry("received", 2)),
        "fail",
        "never delivered",
        cites=("middleware.log.sku",),
        confidence="likely",
    ),
    case(
        "matched by source id: one of two never delivered",
        "L3.event_delivery",
        logged(
            entry("received", 3, source_id="a"),
            entry("received", 2, source_id="b"),
            entry("delivered", 1, source_id="a"),
        ),
        "fail",
        "never delivered",
        cites=("middleware.log.sku",),
        confidence="likely",
    ),
    case(
        "matched by source id: all delivered",
        "L3.event_delivery",
        logged(
            entry("received", 3, source_id="a"),
            entry("received", 2, source_id="b"),
            entry("delivered", 2, source_id="b"),
            entry("delivered", 1, source_id="a"),
        ),
        "pass",
        "2 event(s) delivered",
    ),
    case(
        "ERP refusal (4xx) is passed on to Layer 4, not called a drop",
        "L3.event_delivery",
        logged(entry("received", 2), entry("error", 2, status_code=401, message="bad secret")),
        "pass",
        "the ERP refused 1 call(s)",
        "(HTTP 401): bad secret",
        "not a connector drop",
    ),
    case(
        "nothing for the SKU in the window",
        "L3.event_delivery",
        logged(entry("filtered", 80), entry("filtered", 1, sku="SKU-OTHER")),
        "skipped",
        "see L1.feed_fired",
    ),
    # L3.listing_state_sync -----------------------------------------------------------------
    case(
        "listing went dark and the integration carries only quantities",
        "L3.listing_state_sync",
        dark_listing(),
        "fail",
        "amazon became unbuyable at 2026-11-20 01:00 UTC",
        "carries only inventory_update",
        cites=("amazon.status_history", "middleware.flow[fa].carries", "erp.transactions"),
    ),
    case(
        "the integration carries listing states",
        "L3.listing_state_sync",
        dark_listing(
            flows=[flow(), flow(**{**AMAZON_FLOW.model_dump(), "carries": ["listing_status"]})]
        ),
        "pass",
    ),
    case(
        "the ERP booked something since",
        "L3.listing_state_sync",
        dark_listing(erp_=erp(transactions=[posted(hours=1)])),
        "pass",
    ),
    case(
        "no flow tied to the marketplace",
        "L3.listing_state_sync",
        dark_listing(flows=[flow()]),
        "skipped",
        "no integration flow connects a marketplace with the ERP",
    ),
    case(
        "buyable listing",
        "L3.listing_state_sync",
        facts(channels=(listing(),), mw=middleware(flows=[flow(), AMAZON_FLOW])),
        "pass",
    ),
    # L3.recent_changes ---------------------------------------------------------------------
    case(
        "no change",
        "L3.recent_changes",
        facts(),
        "pass",
        "no credential, key, app or config change in the last 72 h",
        cites=("middleware.changes.72h",),
    ),
    case(
        "change older than the window",
        "L3.recent_changes",
        facts(mw=middleware(changes=[change(hours=80)], log=[entry("error", 1)])),
        "pass",
        "no credential",
    ),
    case(
        "rotation followed by refused calls",
        "L3.recent_changes",
        facts(
            mw=middleware(
                changes=[change(hours=26)],
                log=[entry("error", 14, status_code=401, message="invalid_client")],
            )
        ),
        "fail",
        "credential rotation on netsuite",
        "first failure 12.0 h later",
        "HTTP 401 invalid_client",
        cites=("middleware.changes.72h",),
    ),
    case(
        "upgrade followed by a flow suspension",
        "L3.recent_changes",
        facts(
            mw=middleware(
                changes=[change(hours=10, kind="app_upgrade")],
                flows=[flow(status="suspended", status_since=ago(hours=9))],
            )
        ),
        "fail",
        "app upgrade",
        "60 min later",
        "suspended",
        cites=("middleware.changes.72h",),
    ),
    case(
        "password reset followed by an ERP auth error",
        "L3.recent_changes",
        facts(
            mw=middleware(changes=[change(hours=5, kind="password_reset")]),
            erp_=erp(integration_user=user(last_auth_error_at=ago(hours=4))),
        ),
        "fail",
        "password reset",
        "ERP auth error",
        cites=("middleware.changes.72h",),
    ),
    case(
        "config change followed by an ERP refusal",
        "L3.recent_changes",
        facts(
            mw=middleware(changes=[change(hours=5, kind="config_change")]),
            erp_=erp(webhook_log=[hook(3, 422)]),
        ),
        "fail",
        "ERP refused a call (HTTP 422)",
        cites=("middleware.changes.72h",),
    ),
    case(
        "the failure came before the change",
        "L3.recent_changes",
        facts(mw=middleware(changes=[change(hours=5)], log=[entry("filtered", 6)])),
        "pass",
        "none followed by a failure",
    ),
    case(
        "change with a clean aftermath",
        "L3.recent_changes",
        facts(mw=middleware(changes=[change(hours=5)], log=[entry("delivered", 4)])),
        "pass",
        "1 change(s) in the window",
    ),
    # L4.item_type --------------------------------------------------------------------------
    case(
        "inventory item",
        "L4.item_type",
        facts(erp_=erp(item=item(item_type_raw="InvtPart"))),
        "pass",
        "InvtPart",
        cites=("erp.item.item_type",),
    ),
    case(
        "non-inventory item",
        "L4.item_type",
        facts(erp_=erp(item=item(item_type="non_inventory", item_type_raw="NonInvtPart"))),
        "fail",
        "item 100 is NonInvtPart",
        "invisible to inventory triggers",
        cites=("erp.item.item_type",),
    ),
    case(
        "service item",
        "L4.item_type",
        facts(erp_=erp(item=item(item_type="service"))),
        "fail",
        "service",
        cites=("erp.item.item_type",),
    ),
    case("kit", "L4.item_type", facts(erp_=erp(item=item(item_type="kit"))), "pass"),
    # L4.item_flags -------------------------------------------------------------------------
    case("no flags", "L4.item_flags", facts(), "pass", cites=("erp.item.flags",)),
    case(
        "do not stock",
        "L4.item_flags",
        facts(erp_=erp(item=item(do_not_stock=True))),
        "fail",
        "flagged do not stock",
        cites=("erp.item.flags",),
    ),
    case(
        "not available to fulfil",
        "L4.item_flags",
        facts(erp_=erp(item=item(available_to_fulfil=False))),
        "fail",
        "flagged not available to fulfil",
        cites=("erp.item.flags",),
    ),
    case(
        "both flags",
        "L4.item_flags",
        facts(erp_=erp(item=item(do_not_stock=True, available_to_fulfil=False))),
        "fail",
        "do not stock and not available to fulfil",
        cites=("erp.item.flags",),
    ),
    # L4.listener ---------------------------------------------------------------------------
    case(
        "active at the connector's endpoint",
        "L4.listener",
        facts(
            mw=middleware(flows=[flow(target_endpoint=PROD)]),
            erp_=erp(listeners=[ErpListener(id="l1", name="RESTlet", active=True, endpoint=PROD)]),
        ),
        "pass",
        "listener RESTlet is active",
        cites=("erp.listeners",),
    ),
    case(
        "active, endpoints not reported",
        "L4.listener",
        facts(erp_=erp(listeners=[ErpListener(id="l1", name="RESTlet", active=True)])),
        "pass",
    ),
    case(
        "inactive",
        "L4.listener",
        facts(erp_=erp(listeners=[ErpListener(id="l1", name="RESTlet", active=False)])),
        "fail",
        "RESTlet (l1) is inactive",
        cites=("erp.listeners",),
    ),
    case(
        "pointed elsewhere than the connector delivers",
        "L4.listener",
        facts(
            mw=middleware(flows=[flow(target_endpoint=SANDBOX)]),
            erp_=erp(listeners=[ErpListener(id="l1", name="RESTlet", active=True, endpoint=PROD)]),
        ),
        "fail",
        f"is at {PROD}",
        f"delivers to {SANDBOX}",
        cites=("erp.listeners", "middleware.flows.target_endpoint"),
    ),
    case(
        "only a listener for another event",
        "L4.listener",
        facts(
            erp_=erp(
                listeners=[
                    ErpListener(id="l1", name="Orders", listens_for="order_created", active=True)
                ]
            )
        ),
        "fail",
        "no inventory listener",
        cites=("erp.listeners",),
        confidence="likely",  # that the stack needs one is an assumption (it pushes inventory)
    ),
    case(
        "none, and the ERP's API cannot show them",
        "L4.listener",
        facts(erp_=erp(not_visible=["listeners: script deployments are not exposed to the role"])),
        "unknown",
        "script deployments are not exposed",
    ),
    # L4.integration_user -------------------------------------------------------------------
    case(
        "can write",
        "L4.integration_user",
        facts(erp_=erp(integration_user=user())),
        "pass",
        "can write inventory",
        cites=("erp.integration_user",),
    ),
    case(
        "lost the permission",
        "L4.integration_user",
        facts(erp_=erp(integration_user=user(can_write_inventory=False))),
        "fail",
        "celigo (role Celigo Integration) cannot write inventory",
        cites=("erp.integration_user",),
    ),
    case(
        "auth errors on the ERP side",
        "L4.integration_user",
        facts(erp_=erp(integration_user=user(auth_errors=["INVALID_LOGIN_CREDENTIALS"]))),
        "fail",
        "being refused: INVALID_LOGIN_CREDENTIALS",
        cites=("erp.integration_user",),
    ),
    case(
        "connector refused with 403",
        "L4.integration_user",
        logged(
            entry("error", 2, status_code=403, message="INSUFFICIENT_PERMISSION"),
            erp_=erp(integration_user=user()),
        ),
        "fail",
        "being refused: HTTP 403 INSUFFICIENT_PERMISSION",
        cites=("erp.integration_user",),
    ),
    case(
        "connector refused after its credentials rotated, ERP user fine: the change, not the user",
        "L4.integration_user",
        facts(
            mw=middleware(
                log=[entry("error", 2, status_code=401, message="INVALID_LOGIN_ATTEMPT")],
                changes=[change(5)],
            ),
            erp_=erp(integration_user=user()),
        ),
        "pass",
        "the ERP logs no failed login",
        "follows a credential rotation",
        "L3.recent_changes",
        cites=("erp.integration_user",),
    ),
    case(
        "connector refused after a rotation the ERP cannot audit: still the user",
        "L4.integration_user",
        facts(
            mw=middleware(
                log=[entry("error", 2, status_code=401, message="INVALID_LOGIN_ATTEMPT")],
                changes=[change(5)],
            ),
            erp_=erp(integration_user=user(), not_visible=["login_audit: not exposed"]),
        ),
        "fail",
        "being refused: HTTP 401 INVALID_LOGIN_ATTEMPT",
        cites=("erp.integration_user",),
    ),
    case(
        "connector refused, the only change came after the first refusal",
        "L4.integration_user",
        facts(
            mw=middleware(
                log=[entry("error", 5, status_code=401, message="INVALID_LOGIN_ATTEMPT")],
                changes=[change(2)],
            ),
            erp_=erp(integration_user=user()),
        ),
        "fail",
        "being refused: HTTP 401",
        cites=("erp.integration_user",),
    ),
    case(
        "the ERP logged a 401 for the SKU",
        "L4.integration_user",
        facts(erp_=erp(integration_user=user(), webhook_log=[hook(2, 401, message="expired")])),
        "fail",
        "being refused: HTTP 401 expired",
        cites=("erp.integration_user",),
    ),
    case(
        "old refusals and other SKUs do not count",
        "L4.integration_user",
        logged(
            entry("error", 80, status_code=401),
            erp_=erp(integration_user=user(), webhook_log=[hook(2, 401, sku="SKU-OTHER")]),
        ),
        "pass",
    ),
    case(
        "no integration user reported",
        "L4.integration_user",
        facts(),
        "skipped",
        "no integration user",
    ),
    case(
        "the ERP's API cannot show the user",
        "L4.integration_user",
        facts(erp_=erp(not_visible=["integration_user: see Setup > Users"])),
        "unknown",
        "see Setup > Users",
    ),
    # L4.webhook_log ------------------------------------------------------------------------
    case(
        "accepted",
        "L4.webhook_log",
        facts(sf=sold_out(hours=2), erp_=erp(webhook_log=[hook(2, 200), hook(1, 204, sku=None)])),
        "pass",
        "2 call(s) accepted",
        cites=("erp.webhook_log.window",),
    ),
    case(
        "refused with 422",
        "L4.webhook_log",
        facts(
            sf=sold_out(hours=2), erp_=erp(webhook_log=[hook(2, 422, message="INVALID_FLD_VALUE")])
        ),
        "fail",
        "refused the call at 2026-11-20 05:00 UTC: HTTP 422 INVALID_FLD_VALUE",
        cites=("erp.webhook_log.window",),
    ),
    case(
        "an auth refusal is not a rejected payload",
        "L4.webhook_log",
        facts(sf=sold_out(hours=2), erp_=erp(webhook_log=[hook(2, 401)])),
        "pass",
        "0 call(s) accepted; 1 refused for authentication (HTTP 401)",
        "see L4.integration_user",
    ),
    case(
        "refusals before the sell-out are outside the event window",
        "L4.webhook_log",
        facts(
            sf=sold_out(hours=2), erp_=erp(webhook_log=[hook(5, 422), hook(1, 400, sku="SKU-X")])
        ),
        "skipped",
        "no inventory call for the SKU reached the ERP",
    ),
    case(
        "nothing logged, and the ERP's log is not readable",
        "L4.webhook_log",
        facts(erp_=erp(not_visible=["webhook_log: RESTlet execution log is script-side only"])),
        "unknown",
        "execution log",
    ),
    # L4.approval_queue ---------------------------------------------------------------------
    case(
        "nothing pending",
        "L4.approval_queue",
        facts(erp_=erp(transactions=[posted(1), posted(2, status="rejected")])),
        "pass",
        cites=("erp.transactions.pending",),
    ),
    case(
        "adjustment pending",
        "L4.approval_queue",
        facts(
            erp_=erp(
                transactions=[
                    InventoryTransaction(
                        at=ago(hours=2),
                        kind="adjustment",
                        quantity=-2,
                        status="pending_approval",
                        memo="INVADJ1",
                    )
                ]
            )
        ),
        "fail",
        "adjustment of -2 from 2026-11-20 05:00 UTC is waiting for approval (INVADJ1)",
        cites=("erp.transactions.pending",),
    ),
    # L4.threshold_rule ---------------------------------------------------------------------
    case(
        "no rule",
        "L4.threshold_rule",
        facts(sf=sold_out(before=5)),
        "pass",
        "no minimum-delta trigger rule",
        cites=("erp.trigger_rules",),
    ),
    case(
        "only an inactive rule",
        "L4.threshold_rule",
        facts(sf=sold_out(before=5), erp_=erp(trigger_rules=[rule(active=False)])),
        "pass",
        "no minimum-delta",
    ),
    case(
        "change below the minimum",
        "L4.threshold_rule",
        facts(sf=sold_out(before=5), erp_=erp(trigger_rules=[rule(10)])),
        "fail",
        "fires on changes of 10 or more",
        "5 → 0 (5)",
        cites=("erp.trigger_rules", "storefront.adjustment.latest"),
    ),
    case(
        "change meets the minimum",
        "L4.threshold_rule",
        facts(sf=sold_out(before=11), erp_=erp(trigger_rules=[rule(10)])),
        "pass",
        "meets every rule's minimum",
    ),
    case(
        "the ERP posted the change",
        "L4.threshold_rule",
        facts(
            sf=sold_out(hours=2, before=5),
            erp_=erp(trigger_rules=[rule(10)], transactions=[posted(1)]),
        ),
        "pass",
        "posted a transaction",
    ),
    case(
        "a pending transaction is not a posted one",
        "L4.threshold_rule",
        facts(
            sf=sold_out(hours=2, before=5),
            erp_=erp(trigger_rules=[rule(10)], transactions=[posted(1, status="pending_approval")]),
        ),
        "fail",
        "5 → 0",
        cites=("erp.trigger_rules", "storefront.adjustment.latest"),
    ),
    case(
        "the latest change is the one weighed",
        "L4.threshold_rule",
        facts(
            sf=storefront(available=0, adjustments=[adj(20, 30, 3), adj(2, 3, 0)]),
            erp_=erp(trigger_rules=[rule(10)]),
        ),
        "fail",
        "3 → 0 (3)",
        cites=("erp.trigger_rules", "storefront.adjustment.latest"),
    ),
    case(
        "no recent storefront change",
        "L4.threshold_rule",
        facts(sf=storefront(adjustments=[adj(100, 5, 0)]), erp_=erp(trigger_rules=[rule(10)])),
        "skipped",
    ),
]


@pytest.mark.parametrize("c", CASES)
def test_check(c: Case) -> None:
    run_case(c, cites_in_order=True)


# Which outcomes each check can give (unknown only where the ERP's API may hide the fact).
OUTCOMES = {
    "L3.flow_status": {"pass", "fail", "skipped"},
    "L3.event_subscription": {"pass", "fail", "skipped"},
    "L3.sku_mapping": {"pass", "fail", "skipped"},
    "L3.location_mapping": {"pass", "fail", "skipped"},
    "L3.source_mapping": {"pass", "fail", "skipped"},
    "L3.event_delivery": {"pass", "fail", "skipped"},
    "L3.listing_state_sync": {"pass", "fail", "skipped"},
    "L3.recent_changes": {"pass", "fail"},
    "L4.item_type": {"pass", "fail"},
    "L4.item_flags": {"pass", "fail"},
    "L4.listener": {"pass", "fail", "unknown"},
    "L4.integration_user": {"pass", "fail", "skipped", "unknown"},
    "L4.webhook_log": {"pass", "fail", "skipped", "unknown"},
    "L4.approval_queue": {"pass", "fail"},
    "L4.threshold_rule": {"pass", "fail", "skipped"},
}


def test_the_table_covers_every_layer_3_and_4_check_and_outcome() -> None:
    walked = {c.id for c in load_tree().checks if c.layer in (3, 4)}
    assert walked == set(OUTCOMES)
    seen: dict[str, set[str]] = {}
    for param in CASES:
        (row,) = param.values
        seen.setdefault(row.check, set()).add(row.status)
        if row.status == "fail":
            assert row.cites, f"{param.id}: state which facts the failure cites"
    assert seen == OUTCOMES
