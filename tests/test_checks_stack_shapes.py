"""Check tables for the stack shapes DESIGN §2.5 says the checks must not assume away (issue 10):
retries that healed, order-driven stacks, connector-side evidence of an ERP refusal, explicit
connector errors, credential rotation, secondary causes that are mere consequences,
marketplace-fulfilled and ERP-fed listings, items without a quantity, and unreadable systems.

Each row is one situation: the check, hand-made facts, the status it must reach and the words
an operator must read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.checks import CHECKS
from bot.engine import triage
from bot.facts import Facts
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
from tools.errors import AdapterError
from tools.models import (
    ChangeEvent,
    ErpItem,
    ErpListener,
    IntegrationUser,
    InventoryAdjustment,
    InventoryTransaction,
    ListingIssue,
    ListingStatusChange,
    LocationMapping,
    MiddlewareLogEntry,
    WebhookSubscription,
)
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import load_library


def adj(
    hours: float, before: int, after: int, reason: str = "sale", **kw: Any
) -> InventoryAdjustment:
    return InventoryAdjustment(at=ago(hours=hours), before=before, after=after, reason=reason, **kw)


def txn(hours: float, kind: str, quantity: int, **kw: Any) -> InventoryTransaction:
    return InventoryTransaction(at=ago(hours=hours), kind=kind, quantity=quantity, **kw)


SOLD_OUT = storefront(available=0, out_of_stock_since=ago(hours=3), adjustments=[adj(3, 1, 0)])
SERVICE = ErpItem(
    item_id="77", sku=SKU, name="Gift wrap", item_type="service", item_type_raw="Service"
)
SUPPRESSED = ListingIssue(code="90220", message="image missing", enforcement="LISTING_SUPPRESSED")

# --- class 7: a quantity a system does not keep is unknown, never 0 ---------------------------

NO_QUANTITY = [
    case(
        "fba-listing-without-a-quantity-agrees",
        "L2.feed_source",
        facts(channels=(listing(quantity=None, feed_source="repricer:Informed"),)),
        "pass",
    ),
    case(
        "no-quantity-buyable-is-not-behind",
        "L2.feed_freshness",
        facts(channels=(listing(quantity=None),)),
        "pass",
    ),
    case(
        "no-quantity-with-an-enforcement-is-suppressed",
        "L2.listing_status",
        facts(channels=(listing(quantity=None, buyable=False, issues=[SUPPRESSED]),)),
        "fail",
        "qty no quantity",
    ),
    case(
        "erp-keeps-no-quantity-nothing-to-broadcast",
        "B.erp_broadcast",
        facts(
            sf=storefront(available=4),
            erp_=erp(item=SERVICE, available=None, transactions=[txn(1, "sale", -1, origin="pos")]),
        ),
        "skipped",
        "no quantity",
    ),
    case(
        "erp-keeps-no-quantity-no-hop-gap",
        "B.poll_window",
        facts(sf=SOLD_OUT, erp_=erp(item=SERVICE, available=None)),
        "pass",
    ),
    case(
        "service-item-is-still-named",
        "L4.item_type",
        facts(erp_=erp(item=SERVICE, available=None)),
        "fail",
        "Service",
    ),
]


@pytest.mark.parametrize("c", NO_QUANTITY)
def test_an_unknown_quantity_is_never_zero(c: Case) -> None:
    run_case(c)


# --- builders for the connector's log and the ERP's records -------------------------------------


def entry(stage: str, minutes: float, **kw: Any) -> MiddlewareLogEntry:
    base: dict[str, Any] = {"at": ago(minutes=minutes), "flow_id": "f1", "sku": SKU, "stage": stage}
    return MiddlewareLogEntry(**{**base, **kw})


def logged(*entries: MiddlewareLogEntry, **kw: Any) -> Facts:
    mw_kw = kw.pop("mw_kw", {})
    return facts(mw=middleware(log=list(entries), **mw_kw), **kw)


LISTENER = ErpListener(id="l1", name="Inventory RESTlet", active=True)
INACTIVE = ErpListener(id="l1", name="Inventory RESTlet", active=False)
ORDERS_ONLY = flow(carries=["order_created"], listens_for=["order_created"])
USER = IntegrationUser(name="celigo", role="Celigo Integration", can_write_inventory=True)
ROTATION = ChangeEvent(
    at=ago(hours=20), system="netsuite", kind="credential_rotation", description="TBA token"
)
UNREAD_ERP = {"erp": AdapterError("netsuite", "timeout", "no answer in 10 s")}


def no_erp(f: Facts) -> Facts:
    return replace(f, erp=None, errors=UNREAD_ERP)


# --- class 1: a retry that got through is not a lost event -------------------------------------

RETRIES = [
    case(
        "503-then-delivered-same-record",
        "L3.event_delivery",
        logged(
            entry("received", 30, source_id="r1"),
            entry("error", 30, status_code=503, source_id="r1", message="Service Unavailable"),
            entry("delivered", 28, source_id="r1"),
        ),
        "pass",
        "healed",
        "do not retry",
    ),
    case(
        "timeout-then-delivery-on-the-same-flow-without-ids",
        "L3.event_delivery",
        logged(entry("error", 30, message="ETIMEDOUT"), entry("delivered", 20)),
        "pass",
        "healed",
    ),
    case(
        "timeout-but-the-erp-applied-the-record",
        "L3.event_delivery",
        logged(
            entry("error", 30, source_id="r1", message="socket hang up"),
            erp_=erp(transactions=[txn(0.4, "adjustment", -1, source_id="r1")]),
        ),
        "pass",
        "the ERP applied record r1",
    ),
    case(
        "429s-then-retries-exhausted-is-lost",
        "L3.event_delivery",
        logged(
            entry("received", 30, source_id="r1"),
            entry("rate_limited", 30, status_code=429, source_id="r1"),
            entry("error", 25, status_code=429, source_id="r1", message="Retry limit reached"),
        ),
        "fail",
        "Retry limit reached",
    ),
    case(
        "408-is-transient-not-an-erp-refusal",
        "L3.event_delivery",
        logged(entry("error", 30, status_code=408, source_id="r1", message="Request Timeout")),
        "fail",
        "HTTP 408",
    ),
    case(
        "a-healed-error-is-no-failure-marker-for-a-change",
        "L3.recent_changes",
        logged(
            entry("error", 30, status_code=503, source_id="r1"),
            entry("delivered", 28, source_id="r1"),
            mw_kw={"changes": [ROTATION]},
        ),
        "pass",
    ),
]


# --- class 2: order-driven stacks ----------------------------------------------------------------

ORDER_DRIVEN = [
    case(
        "order-driven-needs-no-inventory-listener",
        "L4.listener",
        facts(mw=middleware(flows=[ORDERS_ONLY]), erp_=erp(listeners=[])),
        "pass",
        "order-driven",
    ),
    case(
        "an-inactive-listener-an-order-driven-stack-never-calls",
        "L4.listener",
        facts(mw=middleware(flows=[ORDERS_ONLY]), erp_=erp(listeners=[INACTIVE])),
        "pass",
    ),
    case(
        "no-listener-with-a-push-flow-rests-on-an-assumption",
        "L4.listener",
        facts(erp_=erp(listeners=[])),
        "fail",
        "pushes inventory updates",
        confidence="likely",
    ),
    case(
        "no-listener-but-the-connector-delivers-directly",
        "L4.listener",
        logged(entry("delivered", 30), erp_=erp(listeners=[])),
        "pass",
        "writes directly",
    ),
    case(
        "an-inactive-listener-a-push-flow-calls-is-evidence",
        "L4.listener",
        facts(erp_=erp(listeners=[INACTIVE])),
        "fail",
        "inactive",
    ),
]


@pytest.mark.parametrize("c", RETRIES + ORDER_DRIVEN)
def test_retries_and_order_driven_stacks(c: Case) -> None:
    run_case(c)


def test_an_assumed_listener_failure_is_marked_as_such() -> None:
    outcome = CHECKS["L4.listener"](facts(erp_=erp(listeners=[])))
    assert outcome.assumed and outcome.confidence == "likely"


# --- class 3: connector-side evidence of an ERP refusal ----------------------------------------

PERMISSION_403 = entry(
    "error",
    60,
    source_id="r1",
    message="You do not have permissions to set a value for element quantity",
    error_code="INSUFFICIENT_PERMISSION",
    error_source="destination",
    job_id="j1",
    job_records=40,
    job_failed=40,
)
BAD_PAYLOAD_400 = entry(
    "error",
    60,
    source_id="r1",
    status_code=400,
    message="Invalid account reference key 618",
    error_code="INVALID_KEY_OR_REF",
    error_source="destination",
)

ERP_REFUSALS = [
    case(
        "403-in-the-connector-log-with-the-user-unreadable",
        "L4.integration_user",
        logged(
            PERMISSION_403,
            erp_=erp(not_visible=["integration_user: configure integration_user to read it"]),
        ),
        "fail",
        "INSUFFICIENT_PERMISSION",
        "40 of 40",
    ),
    case(
        "erp-unreadable-403-in-the-connector-log-is-likely",
        "L4.integration_user",
        no_erp(logged(PERMISSION_403)),
        "fail",
        "INSUFFICIENT_PERMISSION",
        confidence="likely",
    ),
    case(
        "erp-unreadable-and-no-refusal-is-unknown",
        "L4.integration_user",
        no_erp(logged(entry("delivered", 60))),
        "unknown",
        "no answer in 10 s",
    ),
    case(
        "a-4xx-seen-only-in-the-connector-log",
        "L4.webhook_log",
        logged(BAD_PAYLOAD_400, erp_=erp(listeners=[LISTENER])),
        "fail",
        "seen in the connector's log",
        "INVALID_KEY_OR_REF",
    ),
    case(
        "a-4xx-from-an-endpoint-that-is-off-is-the-listener",
        "L4.webhook_log",
        logged(BAD_PAYLOAD_400, erp_=erp(listeners=[INACTIVE])),
        "skipped",
        "L4.listener",
    ),
    case(
        "a-destination-code-without-a-status-is-a-refusal-not-a-drop",
        "L3.event_delivery",
        logged(
            entry(
                "error",
                60,
                message="That Suitelet is invalid, disabled, or no longer exists.",
                error_code="SSS_INVALID_SCRIPTLET_ID",
                error_source="destination",
            )
        ),
        "pass",
        "a refusal, not a connector drop",
    ),
]


# --- class 4: explicit connector errors are evidence --------------------------------------------

MAPPING_ERRORS = [
    case(
        "no-item-mapping-from-a-lookup",
        "L3.sku_mapping",
        logged(
            entry(
                "error",
                60,
                message="No item mapping found for SKU-T1 (lookup returned 0 results)",
                error_code="NO_ITEM_MAPPING",
                error_source="connector",
                job_id="j9",
                job_records=500,
                job_failed=1,
            )
        ),
        "fail",
        "NO_ITEM_MAPPING",
        "1 of 500",
    ),
    case(
        "location-not-mapped",
        "L3.location_mapping",
        logged(
            entry(
                "error",
                60,
                message="Location not mapped: gid://shopify/Location/9",
                error_code="LOCATION_NOT_MAPPED",
                error_source="connector",
            )
        ),
        "fail",
        "Location not mapped",
    ),
    case(
        "the-delivery-check-points-at-the-mapping-not-a-generic-drop",
        "L3.event_delivery",
        logged(
            entry("received", 61, source_id="r1"),
            entry(
                "error",
                60,
                source_id="r1",
                message="No item mapping found",
                error_source="connector",
            ),
        ),
        "skipped",
        "L3.sku_mapping",
    ),
    case(
        "an-erp-saying-item-not-found-is-its-refusal-not-a-map",
        "L3.sku_mapping",
        logged(
            entry(
                "error", 60, status_code=400, message="Item not found", error_source="destination"
            )
        ),
        "skipped",
    ),
]


# --- class 5: rotation is not lost permission ---------------------------------------------------

ROTATIONS = [
    case(
        "failed-token-logins-after-a-rotation-are-the-rotation",
        "L4.integration_user",
        logged(
            entry("error", 180, status_code=401, message="INVALID_LOGIN_ATTEMPT"),
            mw_kw={"changes": [ROTATION]},
            erp_=erp(
                integration_user=USER.model_copy(
                    update={
                        "auth_errors": ["InvalidTokenOrSignature (token revoked)"],
                        "last_auth_error_at": ago(hours=3),
                    }
                )
            ),
        ),
        "pass",
        "L3.recent_changes",
    ),
    case(
        "failed-logins-with-no-rotation-are-the-user",
        "L4.integration_user",
        facts(
            erp_=erp(
                integration_user=USER.model_copy(
                    update={"auth_errors": ["Invalid password"], "last_auth_error_at": ago(hours=3)}
                )
            )
        ),
        "fail",
        "Invalid password",
    ),
    case(
        "a-password-reset-is-not-a-token-rotation",
        "L4.integration_user",
        facts(
            mw=middleware(changes=[ROTATION.model_copy(update={"kind": "password_reset"})]),
            erp_=erp(
                integration_user=USER.model_copy(
                    update={"auth_errors": ["Invalid password"], "last_auth_error_at": ago(hours=3)}
                )
            ),
        ),
        "fail",
    ),
    case(
        "the-connector-refusing-a-webhook-signature-is-not-the-erp-user",
        "L4.integration_user",
        logged(
            entry(
                "error",
                60,
                status_code=401,
                message="X-Shopify-Hmac-Sha256 does not match",
                error_code="HMAC_VERIFICATION_FAILED",
                error_source="connector",
            ),
            erp_=erp(integration_user=USER),
        ),
        "pass",
    ),
]


@pytest.mark.parametrize("c", ERP_REFUSALS + MAPPING_ERRORS + ROTATIONS)
def test_connector_evidence(c: Case) -> None:
    run_case(c)


# --- class 6: a secondary cause is evidenced on its own -----------------------------------------

MAPPED_ONLY_DC = middleware(
    location_mappings=[LocationMapping(storefront_location_id="dc", erp_location_id="1")]
)
FBA_DISAGREEING = listing(quantity=40, fulfilled_by="marketplace", feed_source="repricer:Informed")
ERP_FED = listing(
    channel="walmart", quantity=8, feed_source="erp", last_inventory_feed_at=ago(hours=5)
)
ERP_FED_FLOW = flow(id="w1", hop="erp_to_marketplace", channel="walmart")

CONSEQUENCES = [
    case(
        "no-feed-behind-a-hold",
        "L1.feed_fired",
        facts(sf=SOLD_OUT.model_copy(update={"holds": ["Matrixify bulk edit"]})),
        "skipped",
        "L1.inventory_hold",
    ),
    case(
        "no-feed-behind-a-stale-scheduled-sync",
        "L1.feed_fired",
        facts(
            sf=SOLD_OUT.model_copy(
                update={"last_inventory_sync_at": ago(hours=6), "sync_interval_minutes": 60}
            )
        ),
        "skipped",
        "L1.sync_freshness",
    ),
    case(
        "no-feed-behind-an-unmapped-location",
        "L1.feed_fired",
        facts(
            sf=storefront(
                available=0,
                out_of_stock_since=ago(hours=3),
                adjustments=[adj(3, 1, 0, location_id="store-2")],
            ),
            mw=MAPPED_ONLY_DC,
        ),
        "skipped",
        "L3.location_mapping",
    ),
    case(
        "silence-after-the-connector-ran-is-confirmed",
        "L1.feed_fired",
        facts(sf=SOLD_OUT, mw=middleware(flows=[flow(last_run_at=ago(minutes=20))])),
        "fail",
        "although",
    ),
    case(
        "marketplace-fulfilled-is-no-third-party-feed",
        "L2.feed_source",
        facts(channels=(FBA_DISAGREEING,)),
        "pass",
    ),
    case(
        "erp-fed-is-no-third-party-feed",
        "L2.feed_source",
        facts(channels=(listing(quantity=3, feed_source="erp"),)),
        "pass",
    ),
    case(
        "erp-fed-lag-is-measured-against-the-erp",
        "L2.feed_freshness",
        facts(
            sf=storefront(available=8),
            erp_=erp(available=0, last_inventory_update_at=ago(hours=1)),
            channels=(ERP_FED,),
            mw=middleware(flows=[flow(), ERP_FED_FLOW]),
        ),
        "fail",
        "behind the ERP",
    ),
    case(
        "erp-fed-and-agreeing-with-the-erp-is-no-lag",
        "L2.feed_freshness",
        facts(
            sf=storefront(available=0),
            erp_=erp(available=8, last_inventory_update_at=ago(hours=1)),
            channels=(ERP_FED,),
            mw=middleware(flows=[flow(), ERP_FED_FLOW]),
        ),
        "pass",
    ),
    case(
        "a-storefront-fed-listing-state-is-the-channels-own",
        "L3.listing_state_sync",
        facts(
            channels=(
                listing(
                    buyable=False,
                    status="UNPUBLISHED",
                    status_history=[
                        ListingStatusChange(at=ago(hours=4), status="UNPUBLISHED", buyable=False)
                    ],
                ),
            ),
            mw=middleware(
                flows=[flow(), flow(id="a1", hop="storefront_to_marketplace", channel="amazon")]
            ),
        ),
        "skipped",
    ),
    case(
        "a-fulfilment-topic-on-the-inventory-flow-is-the-subscription",
        "B.order_webhook",
        facts(
            sf=storefront(
                webhooks=[
                    WebhookSubscription(
                        topic="orders/fulfilled", kind="order_fulfilled", address="https://x.test"
                    )
                ]
            ),
            mw=middleware(flows=[flow(listens_for=["order_fulfilled"])]),
        ),
        "skipped",
        "L3.event_subscription",
    ),
]


# --- class 7 (more): an untracked storefront and a service item agree ---------------------------

SERVICE_AGREES = [
    case(
        "untracked-storefront-for-a-service-item",
        "L1.inventory_policy",
        facts(sf=storefront(tracked=False, available=0), erp_=erp(item=SERVICE, available=None)),
        "pass",
        "Service",
    ),
    case(
        "service-item-the-storefront-does-not-track-either",
        "L4.item_type",
        facts(sf=storefront(tracked=False, available=0), erp_=erp(item=SERVICE, available=None)),
        "pass",
    ),
]


# --- class 8: a check that needs a system only sometimes -----------------------------------------

ERP_ONLY_SOMETIMES = [
    case(
        "no-listing-state-change-needs-no-erp",
        "L3.listing_state_sync",
        no_erp(facts(channels=(listing(),), mw=middleware(flows=[flow(), ERP_FED_FLOW]))),
        "skipped",
    ),
    case(
        "a-listing-state-change-with-the-erp-unread-is-unknown",
        "L3.listing_state_sync",
        no_erp(
            facts(
                channels=(
                    listing(
                        channel="walmart",
                        buyable=False,
                        status="UNPUBLISHED",
                        status_history=[
                            ListingStatusChange(
                                at=ago(hours=4), status="UNPUBLISHED", buyable=False
                            )
                        ],
                    ),
                ),
                mw=middleware(flows=[flow(), ERP_FED_FLOW]),
            )
        ),
        "unknown",
        "no answer in 10 s",
    ),
    case(
        "an-erp-fed-listing-with-the-erp-unread-is-unknown",
        "L2.feed_freshness",
        no_erp(facts(channels=(ERP_FED,))),
        "unknown",
        "fed by the ERP",
    ),
]


@pytest.mark.parametrize("c", CONSEQUENCES + SERVICE_AGREES + ERP_ONLY_SOMETIMES)
def test_consequences_service_items_and_conditional_reads(c: Case) -> None:
    run_case(c)


async def test_an_unreadable_erp_gives_an_inconclusive_verdict_at_layer_4_for_the_erp_admin() -> (
    None
):
    scenario = load_library()["SKU-9101"]  # unreadable_erp_timeout
    report = await triage(scenario.sku, memory_stack(scenario), now=scenario.clock)
    assert (report.verdict.layer, report.verdict.confidence) == (4, "inconclusive")
    assert report.escalation.owner == "erp_admin" and not report.escalation.auto_escalate
