"""Shopify: requested query cost by the documented rules, page sizes refused at config load, the
actual cost logged, the API version configurable (and warned about before Shopify retires it),
and partial data kept when a GraphQL error concerns a field the triage can do without."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.adapters.test_shopify import Tap, adapter, snapshot
from tools.errors import AdapterError
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.storefront.shopify import (
    API_VERSION,
    PageSizes,
    ShopifyStorefront,
    version_retirement,
    version_warning,
)
from tools.storefront.shopify_graphql import (
    INVENTORY_LEVELS_PAGE,
    STOREFRONT_SKU,
    VARIANTS_PAGE,
    WEBHOOKS_PAGE,
    requested_cost,
)
from tools.vendors import VendorConfigError, validate_entry


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    return validate_entry("shopify", "storefront", ["shopify"], options, {})[0]


LEVELS = [
    {"location_id": f"gid://shopify/Location/{n}", "name": f"L{n}", "available": 1}
    for n in range(1, 8)
]


def test_the_issues_page_sizes_cost_what_shopify_said() -> None:
    # variants 10 × (itself, product, item, three metafields + levels 2 + 50 × 3) + webhooks
    # 2 + 25 × 2: the MAX_COST_EXCEEDED the old formula (an inventory level at 1) let through.
    sizes = {"variants": 10, "levels": 50, "webhooks": 25}
    assert requested_cost(STOREFRONT_SKU, sizes) == 1634
    assert requested_cost(STOREFRONT_SKU, {"variants": 5, "levels": 25, "webhooks": 25}) == 469


@pytest.mark.parametrize(
    "sizes", [PageSizes(), PageSizes(variants=1, levels=1, webhooks=1), PageSizes(levels=40)]
)
async def test_computed_cost_is_what_the_emulator_charges(sizes: PageSizes) -> None:
    # The emulator works each operation's cost out by hand from the same published rules.
    many = snapshot(locations=LEVELS, available=7, on_hand=7)
    tap = Tap(ShopifyEmulator(many))
    await adapter(tap, pages=PageSizes(sizes.variants, sizes.levels, sizes.webhooks)).read_sku(
        "SKU-T1"
    )
    documents = {
        "StorefrontSku": STOREFRONT_SKU,
        "VariantsPage": VARIANTS_PAGE,
        "InventoryLevelsPage": INVENTORY_LEVELS_PAGE,
        "WebhooksPage": WEBHOOKS_PAGE,
    }
    for body, answer in tap.exchanges:
        ours = requested_cost(documents[body["operationName"]], body["variables"])
        assert ours == answer["extensions"]["cost"]["requestedQueryCost"], body["operationName"]


def test_page_sizes_over_the_single_query_maximum_are_refused_with_the_largest_that_fits() -> None:
    with pytest.raises(ValueError) as caught:
        PageSizes(variants=10, levels=50)
    message = str(caught.value)
    assert "StorefrontSku cost 1634, over Shopify's single-query maximum of 1000" in message
    fits = int(message.rsplit("at most ", 1)[1])
    assert requested_cost(STOREFRONT_SKU, {"variants": 10, "levels": fits, "webhooks": 25}) <= 1000
    assert (
        requested_cost(STOREFRONT_SKU, {"variants": 10, "levels": fits + 1, "webhooks": 25}) > 1000
    )
    with pytest.raises(VendorConfigError, match="single-query maximum"):
        parse_options({"shop": "acme", "page_sizes": {"levels": 250}})


async def test_the_largest_accepted_sizes_are_served_without_max_cost_exceeded() -> None:
    fits = int(str(_refusal(variants=10, levels=250)).rsplit("at most ", 1)[1])
    got = await adapter(
        ShopifyEmulator(snapshot(locations=LEVELS)), pages=PageSizes(variants=10, levels=fits)
    ).read_sku("SKU-T1")
    assert got.sku == "SKU-T1"


def _refusal(**sizes: int) -> ValueError:
    try:
        PageSizes(**sizes)
    except ValueError as exc:
        return exc
    raise AssertionError("accepted")


async def test_the_actual_cost_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tools.storefront.shopify")
    await adapter(ShopifyEmulator(snapshot())).read_sku("SKU-T1")
    [line] = [r.getMessage() for r in caplog.records if "cost:" in r.getMessage()]
    assert line.startswith("shopify StorefrontSku cost: requested 469 (computed 469), actual ")
    assert "of 2000.0 left" in line


# --- the API version ---------------------------------------------------------------------------


async def test_the_api_version_is_configurable_and_used_in_every_path() -> None:
    emulator = ShopifyEmulator(snapshot())
    shop = ShopifyStorefront.from_settings(
        options={"shop": "oos-sandbox", "api_version": "2026-07"},
        credentials={"access_token": "SHOPIFY_TEST_TOKEN"},
        transport=emulator,
    )
    shop._environ = {"SHOPIFY_TEST_TOKEN": emulator.token}
    got = await shop.read_sku("SKU-T1")
    assert {r.url.path for r in emulator.requests} == {"/admin/api/2026-07/graphql.json"}
    assert "/admin/api/2026-07/graphql.json" in got.source.endpoint
    await shop.aclose()


@pytest.mark.parametrize("version", ["2026-02", "26-10", "unstable", "2026-10-01"])
def test_a_version_that_is_not_a_release_is_refused_at_load(version: str) -> None:
    with pytest.raises(VendorConfigError, match="api_version"):
        parse_options({"shop": "acme", "api_version": version})


def test_retirement_is_derived_from_the_version_and_the_clock() -> None:
    assert version_retirement("2026-10") == datetime(2027, 10, 1, tzinfo=UTC)
    assert version_retirement("2025-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert version_warning("2026-10", datetime(2027, 6, 1, tzinfo=UTC)) is None
    near = version_warning("2026-10", datetime(2027, 8, 15, tzinfo=UTC))
    assert near is not None and "is retired about 2027-10-01" in near
    gone = version_warning("2025-01", datetime(2026, 12, 4, tzinfo=UTC))
    assert gone is not None and "was retired about 2026-01-01" in gone
    # the default is supported at the time it was chosen
    assert version_warning(API_VERSION, datetime(2026, 12, 4, tzinfo=UTC)) is None


def test_config_warnings_use_the_injected_clock() -> None:
    shop = ShopifyStorefront("acme", api_version="2025-07")
    assert shop.config_warnings(datetime(2026, 1, 1, tzinfo=UTC)) == []
    [warning] = shop.config_warnings(datetime(2026, 5, 1, tzinfo=UTC))
    assert "2025-07 is retired about 2026-07-01" in warning


# --- partial data ------------------------------------------------------------------------------


async def test_an_error_on_a_metafield_keeps_the_rest_of_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = snapshot(holds=["bulk edit in progress"])
    tap = Tap(ShopifyEmulator(held, field_errors={"holds": "ACCESS_DENIED"}))
    got = await adapter(tap).read_sku("SKU-T1")
    _, answer = tap.exchanges[0]
    assert answer["errors"][0]["path"] == ["productVariants", "nodes", 0, "holds"]
    assert got.available == 5 and got.holds == []
    assert any("kept the partial answer" in r.getMessage() for r in caplog.records)


async def test_an_error_on_webhooks_keeps_the_variant() -> None:
    emulator = ShopifyEmulator(snapshot(), field_errors={"webhookSubscriptions": "ACCESS_DENIED"})
    got = await adapter(emulator).read_sku("SKU-T1")
    assert got.available == 5 and got.webhooks == []


@pytest.mark.parametrize("field", ["inventoryItem", "product"])
async def test_an_error_on_a_field_the_triage_needs_fails_the_read(field: str) -> None:
    emulator = ShopifyEmulator(snapshot(), field_errors={field: "ACCESS_DENIED"})
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    assert caught.value.kind == "auth"
    assert f"Access denied for {field} field" in caught.value.message
