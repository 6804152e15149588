"""Entry patterns (DESIGN §2.1): which surfaces disagree, from the facts alone."""

from __future__ import annotations

import pytest

from bot.facts import Facts
from bot.settings import Thresholds
from bot.verdict import classify_pattern
from tests.factories import NOW, SKU, erp, facts, listing, storefront, wms
from tools.errors import AdapterError

OOS = {"quantity": 0, "buyable": False}
WALMART = {"channel": "walmart"}
SOLD_OUT = storefront(available=0)


@pytest.mark.parametrize(
    ("f", "pattern"),
    [
        pytest.param(
            facts(sf=SOLD_OUT, erp_=erp(available=9), channels=(listing(),)),
            "storefront_oos_erp_stock",
            id="storefront-oos-a-channel-still-selling",
        ),
        pytest.param(
            facts(sf=SOLD_OUT, erp_=erp(available=9)),
            "storefront_oos_erp_stock",
            id="storefront-oos-no-marketplace",
        ),
        pytest.param(
            facts(sf=storefront(status="draft"), erp_=erp(available=5)),
            "storefront_oos_erp_stock",
            id="storefront-draft-is-not-selling",
        ),
        pytest.param(
            facts(channels=(listing(), listing(**OOS, channel="ebay"))),
            "one_channel_oos",
            id="one-of-two-channels-oos",
        ),
        pytest.param(
            facts(channels=(listing(buyable=False, status="UNPUBLISHED"),)),
            "one_channel_oos",
            id="the-only-channel-unbuyable-with-quantity",
        ),
        pytest.param(
            facts(
                sf=SOLD_OUT,
                erp_=erp(available=9),
                channels=(listing(**OOS), listing(**OOS, **WALMART)),
            ),
            "all_channels_oos_erp_stock",
            id="every-channel-and-storefront-oos",
        ),
        pytest.param(
            facts(channels=(listing(**OOS), listing(**OOS, **WALMART))),
            "storefront_ok_channels_zero",
            id="storefront-sells-every-channel-zero",
        ),
        pytest.param(
            facts(erp_=erp(available=0)),
            "erp_oos_storefront_available",
            id="erp-zero-storefront-sells",
        ),
        pytest.param(
            facts(sf=SOLD_OUT, erp_=erp(available=0), channels=(listing(quantity=1),)),
            "erp_oos_storefront_available",
            id="erp-zero-a-channel-still-sells",
        ),
        pytest.param(
            facts(sf=storefront(available=-3, inventory_policy="continue"), erp_=erp(available=0)),
            "erp_oos_storefront_available",
            id="storefront-oversells-at-zero",
        ),
        pytest.param(
            facts(wms_=wms(on_hand=0)),
            "erp_oos_storefront_available",
            id="wms-zero-counts-as-erp-side",
        ),
        pytest.param(
            facts(sf=storefront(available=12), erp_=erp(available=6)),
            "quantity_mismatch",
            id="both-sell-quantities-differ",
        ),
        pytest.param(
            facts(
                sf=storefront(available=12),
                erp_=erp(available=10),
                thresholds=Thresholds(quantity_tolerance=2),
            ),
            "in_sync",
            id="difference-within-tolerance",
        ),
        pytest.param(facts(channels=(listing(), listing(**WALMART))), "in_sync", id="all-agree"),
        pytest.param(
            facts(sf=SOLD_OUT, erp_=erp(available=0), channels=(listing(**OOS),)),
            "in_sync",
            id="all-agree-at-zero",
        ),
        # An unknown quantity (None) is never zero and never "agrees".
        pytest.param(
            facts(sf=SOLD_OUT, erp_=erp(available=None), channels=(listing(**OOS),)),
            "undetermined",
            id="erp-keeps-no-quantity-storefront-oos-is-not-all-agree",
        ),
        pytest.param(
            facts(erp_=erp(available=None)),
            "undetermined",
            id="erp-keeps-no-quantity-storefront-sells-is-not-erp-oos",
        ),
        pytest.param(
            facts(channels=(listing(quantity=None),)),
            "in_sync",
            id="buyable-listing-without-a-quantity-is-not-oos",
        ),
        pytest.param(
            facts(channels=(listing(quantity=None, buyable=False, status="INACTIVE"),)),
            "one_channel_oos",
            id="unbuyable-listing-without-a-quantity-is-oos",
        ),
    ],
)
def test_classify_pattern(f: Facts, pattern: str) -> None:
    assert classify_pattern(f) == pattern


@pytest.mark.parametrize("missing", ["storefront", "erp"])
def test_pattern_is_undetermined_without_storefront_or_erp(missing: str) -> None:
    base = facts(erp_=erp(available=0))
    f = Facts(
        sku=SKU,
        now=NOW,
        thresholds=Thresholds(),
        storefront=None if missing == "storefront" else base.storefront,
        erp=None if missing == "erp" else base.erp,
        middleware=base.middleware,
        errors={missing: AdapterError(missing, "timeout", "no answer in 10 s")},
    )
    assert classify_pattern(f) == "undetermined"
