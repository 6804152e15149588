"""Check tables for the stack shapes DESIGN §2.5 says the checks must not assume away (issue 10):
retries that healed, order-driven stacks, connector-side evidence of an ERP refusal, explicit
connector errors, credential rotation, secondary causes that are mere consequences,
marketplace-fulfilled and ERP-fed listings, items without a quantity, and unreadable systems.

Each row is one situation: the check, hand-made facts, the status it must reach and the words
an operator must read.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import (
    SKU,
    Case,
    ago,
    case,
    erp,
    facts,
    listing,
    run_case,
    storefront,
)
from tools.models import (
    ErpItem,
    InventoryAdjustment,
    InventoryTransaction,
    ListingIssue,
)


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
