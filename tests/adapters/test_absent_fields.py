"""Absent is not zero: a field the vendor may leave out becomes unknown, never 0 or false.

Per adapter, an answer is stripped of every field the vendor's spec lets it omit (Amazon: the
model's own example response, keeping only each definition's ``required`` properties; Shopify:
every nullable field of the Admin schema set to null; NetSuite: every column SuiteQL may leave
out of a row, as it does with nulls), read by the adapter, and triaged in the library's in-sync
scenario in place of that vendor's read. No check may fail on the absence alone.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace as swap
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.engine import triage
from bot.report import Report
from tests.adapters.test_amazon import CANARY, LISTINGS_PATH, make, serving, spec
from tests.adapters.test_amazon import example_items as amazon_examples
from tests.adapters.test_shopify import adapter as shopify_adapter
from tools.erp.netsuite import NetSuiteErp
from tools.models import ChannelListing, ErpSnapshot, StorefrontSnapshot
from tools.sandbox.emulated import netsuite_config_for
from tools.sandbox.emulators.amazon import AmazonEmulator
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, load_library

IN_SYNC = "SKU-1000"
SHOPIFY_SCHEMA = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "specs"
    / "shopify"
    / "admin_schema_2025-01.json.gz"
)


def _scenario() -> Scenario:
    scenario = load_library()[IN_SYNC]
    assert scenario.expected.pattern == "in_sync"
    return scenario


def _failures(report: Report) -> list[str]:
    return [f"{c.id}: {c.detail}" for c in report.checks if c.status == "fail"]


async def _triage_with(scenario: Scenario, **replace: Any) -> Report:
    stack = memory_stack(scenario)
    return await triage(scenario.sku, swap(stack, **replace), now=scenario.clock)


# --- Amazon: the model's example, required properties only -------------------------------------


def strip_optional(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """``value`` with every property its Swagger 2.0 schema does not require left out."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict) and "properties" in schema:
        required = set(schema.get("required", []))
        return {
            k: strip_optional(v, schema["properties"].get(k, {}), defs)
            for k, v in value.items()
            if k in required
        }
    if isinstance(value, list) and "items" in schema:
        return [strip_optional(v, schema["items"], defs) for v in value]
    return value


def _amazon_stripped(availability: list[dict[str, Any]] | None) -> dict[str, Any]:
    swagger = spec("listingsItems_2021-08-01.json")
    item = json.loads(json.dumps(amazon_examples(swagger)[0]))
    scenario = _scenario()
    item["sku"] = scenario.sku
    recent = (scenario.clock - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    for summary in item["summaries"]:
        summary["createdDate"] = summary["lastUpdatedDate"] = recent
    schema = swagger["paths"][LISTINGS_PATH]["get"]["responses"]["200"]["schema"]
    defs = swagger["definitions"]
    stripped: dict[str, Any] = strip_optional(item, schema, defs)
    # The adapter asks for summaries (includedData), so they come; each keeps only what the
    # model requires of a summary.
    summary = {"$ref": "#/definitions/ItemSummaryByMarketplace"}
    stripped["summaries"] = [strip_optional(x, summary, defs) for x in item["summaries"]]
    if availability is not None:  # optional itself; each entry keeps its required channel code
        stripped["fulfillmentAvailability"] = availability
    return stripped


@pytest.mark.parametrize(
    "availability",
    [None, [{"fulfillmentChannelCode": "DEFAULT"}], [{"fulfillmentChannelCode": "AMAZON_NA"}]],
    ids=["no-availability", "seller-without-quantity", "fba-inventory-not-configured"],
)
async def test_amazon_a_listing_without_its_optional_fields_fails_no_check(
    availability: list[dict[str, Any]] | None,
) -> None:
    item = _amazon_stripped(availability)
    assert "quantity" not in json.dumps(item) and "issues" not in item
    assert item["summaries"][0]["status"] == ["BUYABLE"]
    fba = availability is not None and availability[0]["fulfillmentChannelCode"] != "DEFAULT"
    async with make(
        serving(item), seller_id="A1SELLER", marketplace_id="ATVPDKIKX0DER", fba_inventory=not fba
    ) as amazon:
        got = await amazon.read_listing(_scenario().sku)
    assert (got.quantity, got.buyable, got.out_of_stock) == (None, True, False)
    scenario = _scenario()
    others = [m for m in memory_stack(scenario).marketplaces if m.channel != "amazon"]
    report = await _triage_with(scenario, marketplaces=(_Fixed(got), *others))
    assert _failures(report) == []
    assert report.verdict.cause is None  # never a confirmed L2.channel_only


async def test_amazon_fba_inventory_the_role_may_not_read_is_unknown_not_zero() -> None:
    scenario = _scenario()
    listing = next(m for m in scenario.marketplaces if isinstance(m, ChannelListing))
    fba = listing.model_copy(update={"fulfilled_by": "marketplace", "sku": scenario.sku})
    emulator = AmazonEmulator([fba], credentials=CANARY)
    inner = emulator.handle_async_request

    async def deny(request: httpx.Request) -> httpx.Response:
        if "/fba/inventory/" in request.url.path:
            errors = [
                {"code": "Unauthorized", "message": "Access to requested resource is denied."}
            ]
            return httpx.Response(403, json={"errors": errors})
        return await inner(request)

    emulator.handle_async_request = deny  # type: ignore[method-assign]
    async with make(emulator, listing=fba) as amazon:
        got = await amazon.read_listing(scenario.sku)
    assert (got.quantity, got.buyable, got.fulfilled_by) == (None, True, "marketplace")
    assert got.raw is not None and "refused" in got.raw["getInventorySummaries"]


class _Fixed:
    """A marketplace adapter that answers one listing (the adapter's read of the stripped one)."""

    system = "amazon-sp-api"

    def __init__(self, listing: ChannelListing) -> None:
        self.listing = listing
        self.channel = listing.channel

    async def read_listing(self, sku: str) -> ChannelListing:
        return self.listing


# --- Shopify: every nullable field of the Admin schema null -------------------------------------


def _nullable(schema_path: Path) -> dict[str, set[str]]:
    """type name → its fields whose type is nullable (not NON_NULL) in the Admin schema."""
    if not schema_path.is_file():
        pytest.skip(f"the Shopify Admin schema is not beside the repo ({schema_path})")
    data = json.loads(gzip.decompress(schema_path.read_bytes()))
    types = data.get("data", data)["__schema"]["types"]
    return {
        t["name"]: {f["name"] for f in t.get("fields") or [] if f["type"]["kind"] != "NON_NULL"}
        for t in types
    }


# The answer's objects by the key they sit under, and their schema type.
_SHOPIFY_TYPES = {
    "nodes@productVariants": "ProductVariant",
    "product": "Product",
    "inventoryItem": "InventoryItem",
    "nodes@inventoryLevels": "InventoryLevel",
    "location": "Location",
}


def _null_optional(value: Any, nullable: dict[str, set[str]], kind: str | None, parent: str) -> Any:
    if isinstance(value, list):
        return [_null_optional(v, nullable, kind, parent) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        if kind is not None and key in nullable.get(kind, set()) and key != "sku":
            out[key] = None  # sku is the search key: without it there is nothing to triage
            continue
        child = _SHOPIFY_TYPES.get(f"{key}@{parent}") or _SHOPIFY_TYPES.get(key)
        out[key] = _null_optional(v, nullable, child, key)
    return out


async def test_shopify_a_variant_without_its_nullable_fields_fails_no_check() -> None:
    nullable = _nullable(SHOPIFY_SCHEMA)
    assert "inventoryQuantity" in nullable["ProductVariant"]
    scenario = _scenario()
    assert isinstance(scenario.storefront, StorefrontSnapshot)
    emulator = ShopifyEmulator(scenario.storefront)
    stripped: list[dict[str, Any]] = []

    class Strip(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await emulator.handle_async_request(request)
            answer = json.loads(await response.aread())
            data = answer.get("data") or {}
            if "productVariants" in data:
                answer["data"] = _null_optional(data, nullable, None, "")
                stripped.append(answer["data"])
            return httpx.Response(response.status_code, json=answer)

    got = await shopify_adapter(Strip()).read_sku(scenario.sku)
    variant = stripped[0]["productVariants"]["nodes"][0]
    assert variant["inventoryQuantity"] is None and variant["holds"] is None
    assert got.available == scenario.storefront.available  # from the levels, not 0
    report = await _triage_with(scenario, storefront=_FixedStorefront(got))
    assert _failures(report) == []


class _FixedStorefront:
    system = "shopify"

    def __init__(self, snapshot: StorefrontSnapshot) -> None:
        self.snapshot = snapshot

    async def read_sku(self, sku: str) -> StorefrontSnapshot:
        return self.snapshot


# --- NetSuite: every column SuiteQL may leave out of a row --------------------------------------

# What NetSuite always fills: keys and join keys (an outer join's null permkey or location is
# the fact "no such row"), checkboxes and selects (T/F, RELEASED/TESTING, permission levels),
# a transaction's type, time and line quantity, and quantityavailable (null there means none
# available, as NetSuite shows it). Everything else — names, on-hand and committed quantities,
# external ids, memos, approval status, origin, custom flags and custom-record columns — may be
# null, and SuiteQL leaves a null column out of the row.
_KEPT = {
    "id",
    "itemid",
    "itemtype",
    "isinactive",
    "location",
    "quantityavailable",
    "createdat",
    "lastupdate",
    "type",
    "quantity",
    "scriptid",
    "scriptinternalid",
    "script",
    "scripttype",
    "status",
    "isdeployed",
    "entityid",
    "giveaccess",
    "name",
    "permkey",
    "permlevel",
    "at",
}


async def test_netsuite_rows_without_their_nullable_columns_fail_no_check() -> None:
    scenario = _scenario()
    assert isinstance(scenario.erp, ErpSnapshot)
    config = netsuite_config_for(scenario.erp)
    emulator = NetSuiteEmulator([scenario.erp], config=config)

    class Strip(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await emulator.handle_async_request(request)
            body = json.loads(await response.aread())
            if isinstance(body.get("items"), list):
                body["items"] = [
                    {k: v for k, v in row.items() if k in _KEPT or k == "links"}
                    for row in body["items"]
                ]
            return httpx.Response(response.status_code, json=body)

    erp = NetSuiteErp(
        config,
        transport=Strip(),
        environ=sandbox_environ(config.env),
        now=lambda: scenario.clock,
    )
    try:
        got = await erp.read_item(scenario.sku, scenario.clock - timedelta(hours=72))
    finally:
        await erp.aclose()
    report = await _triage_with(scenario, erp=_FixedErp(got))
    assert _failures(report) == []


class _FixedErp:
    system = "netsuite"

    def __init__(self, snapshot: ErpSnapshot) -> None:
        self.snapshot = snapshot

    async def read_item(self, sku: str, since: Any) -> ErpSnapshot:
        return self.snapshot


async def test_netsuite_a_deployment_without_its_status_is_not_an_inactive_listener() -> None:
    scenario = _scenario()
    assert isinstance(scenario.erp, ErpSnapshot)
    config = netsuite_config_for(scenario.erp)
    emulator = NetSuiteEmulator([scenario.erp], config=config)

    class Strip(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await emulator.handle_async_request(request)
            body = json.loads(await response.aread())
            for row in body.get("items") or []:
                row.pop("isdeployed", None)
            return httpx.Response(response.status_code, json=body)

    erp = NetSuiteErp(
        config, transport=Strip(), environ=sandbox_environ(config.env), now=lambda: scenario.clock
    )
    try:
        got = await erp.read_item(scenario.sku, scenario.clock - timedelta(hours=72))
    finally:
        await erp.aclose()
    assert got.listeners == []
    [note] = [n for n in got.not_visible if n.startswith("listeners")]
    assert "did not show whether deployment(s) customdeploy_inv_sync are deployed" in note
    report = await _triage_with(scenario, erp=_FixedErp(got))
    listener = next(c for c in report.checks if c.id == "L4.listener")
    assert listener.status == "unknown"


async def test_netsuite_a_logged_call_without_its_status_code_is_not_an_accepted_call() -> None:
    scenario = _scenario()
    assert isinstance(scenario.erp, ErpSnapshot) and scenario.erp.webhook_log
    config = netsuite_config_for(scenario.erp)
    emulator = NetSuiteEmulator([scenario.erp], config=config)

    class Strip(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await emulator.handle_async_request(request)
            body = json.loads(await response.aread())
            for row in body.get("items") or []:
                row.pop("statuscode", None)
            return httpx.Response(response.status_code, json=body)

    erp = NetSuiteErp(
        config, transport=Strip(), environ=sandbox_environ(config.env), now=lambda: scenario.clock
    )
    try:
        got = await erp.read_item(scenario.sku, scenario.clock - timedelta(hours=72))
    finally:
        await erp.aclose()
    assert got.webhook_log == []
    [note] = [n for n in got.not_visible if n.startswith("webhook_log")]
    assert "1 logged call(s) carry no status code" in note
    report = await _triage_with(scenario, erp=_FixedErp(got))
    check = next(c for c in report.checks if c.id == "L4.webhook_log")
    assert check.status == "unknown"
