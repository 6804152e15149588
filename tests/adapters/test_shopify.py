"""Shopify adapter: contract tests against the published Admin GraphQL 2025-01 schema, the scenario
library through the emulator, pagination, metafield conventions, every fault kind, the cost
throttle, the bulk-operation catalog read, and credential canaries."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.engine import triage
from tests.fakes import FakeClock
from tools.errors import AdapterError
from tools.models import (
    InventoryAdjustment,
    LocationQuantity,
    Source,
    StorefrontSnapshot,
    WebhookSubscription,
)
from tools.protocols import StorefrontAdapter
from tools.ratelimit import ShopifyCostThrottle
from tools.retry import RetryPolicy, retry_after_spread
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.emulators.shopify import (
    STORAGE_HOST,
    ShopifyEmulator,
    emulator_for,
    stocked_locations,
)
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, Unreadable, load_library
from tools.storefront.shopify import (
    API_PATH,
    MAX_VARIANT_PAGES,
    OUT_OF_STOCK_SINCE_FIELD,
    TOKEN_HEADER,
    PageSizes,
    ShopifyStorefront,
)
from tools.storefront.shopify_graphql import (
    CATALOG_BULK_QUERY,
    DOCUMENTS,
    topic_enum,
    webhook_topic,
)

SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "specs"
    / "shopify"
    / "admin_schema_2025-01.json.gz"
)
TOKEN_ENV = "OOS_TEST_SHOPIFY_TOKEN"
CANARY = "canary-7f3a9c1e-shopify-admin-secret"
T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, total_seconds=60.0, base_delay=0.5, max_delay=4.0)

LIBRARY = load_library()
SHOPIFY_SCENARIOS = [
    s
    for s in LIBRARY.values()
    if isinstance(s.storefront, StorefrontSnapshot) and s.storefront.source.system == "shopify"
]
UNREADABLE_SHOPIFY = [
    s
    for s in LIBRARY.values()
    if isinstance(s.storefront, Unreadable) and s.storefront.system == "shopify"
]


class Tap(httpx.AsyncBaseTransport):
    """Wraps a transport: keeps every GraphQL exchange, and may rewrite answers on the way."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.inner = inner
        self.rewrite = rewrite
        self.exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != API_PATH or response.status_code != 200:
            return response
        body = json.loads(await request.aread())
        answer = json.loads(await response.aread())
        if self.rewrite is not None:
            answer = self.rewrite(answer)
        self.exchanges.append((body, answer))
        return httpx.Response(200, json=answer, headers=response.headers)


def snapshot(**kw: Any) -> StorefrontSnapshot:
    base: dict[str, Any] = {
        "source": Source(system="shopify", endpoint="test"),
        "read_at": T0,
        "sku": "SKU-T1",
        "title": "Test sock",
        "available": 5,
        "on_hand": 5,
        "committed": 0,
        "locations": [
            LocationQuantity(location_id="gid://shopify/Location/1", name="Main", available=5)
        ],
    }
    return StorefrontSnapshot(**{**base, **kw})


def adapter(
    transport: httpx.AsyncBaseTransport,
    *,
    clock: FakeClock | None = None,
    token: str = "shpat_sandbox_token_0000",
    shop: str = "oos-sandbox",
    retry: RetryPolicy = POLICY,
    pages: PageSizes | None = None,
    limiter: ShopifyCostThrottle | None = None,
) -> ShopifyStorefront:
    clock = clock or FakeClock(now=1000.0)
    return ShopifyStorefront(
        shop,
        token_env=TOKEN_ENV,
        transport=transport,
        retry=retry,
        page_sizes=pages,
        limiter=limiter or ShopifyCostThrottle(clock=clock, sleep=clock.sleep),
        environ={TOKEN_ENV: token},
        sleep=clock.sleep,
        clock=clock,
        now=lambda: T0,
    )


def engine_view(snap: StorefrontSnapshot) -> dict[str, Any]:
    """The snapshot as the engine reads it (source, read time and raw payload aside)."""
    data = snap.model_dump(exclude={"source", "read_at", "raw"})
    # The engine reads locations' ids, names and kinds, never their per-location on_hand or
    # committed; Shopify reports every quantity name at every level, so a snapshot that left a
    # location's split out cannot come back as "unknown".
    for loc in data["locations"]:
        loc.pop("on_hand")
        loc.pop("committed")
    return data


def shopify_view(scenario_snap: StorefrontSnapshot, got: StorefrontSnapshot) -> dict[str, Any]:
    """What Shopify can carry of a scenario's snapshot, field by field."""
    # A tracked variant's stock lives at a location: bare totals are the shop's one location's.
    scenario_snap = scenario_snap.model_copy(update={"locations": stocked_locations(scenario_snap)})
    want = engine_view(scenario_snap)
    # Shopify locations are plain locations or fulfillment-service (dropship) locations.
    for loc in want["locations"]:
        loc["kind"] = "dropship" if loc["kind"] == "dropship" else "location"
    want["adjustments"] = sorted(want["adjustments"], key=lambda a: a["at"])
    levels = bool(scenario_snap.locations)
    # Totals live on inventory levels: without a level there is nothing to carry them, and with
    # one Shopify always reports a number where the scenario may have said nothing.
    for total in ("on_hand", "committed"):
        if not levels or want[total] is None:
            want[total] = getattr(got, total) if levels else None
    # Shopify's only stock-out time is InventoryLevel.updatedAt, and every level has one; the
    # field name is ours whatever the scenario called it (InventoryAdjustmentGroup is
    # mutation-only in 2025-01, so no adapter can read it).
    oos_with_levels = scenario_snap.available <= 0 and levels
    if oos_with_levels and want["out_of_stock_since"] is None:
        want["out_of_stock_since"] = got.out_of_stock_since
    if not oos_with_levels:
        want["out_of_stock_since"] = None
    want["out_of_stock_since_field"] = (
        OUT_OF_STOCK_SINCE_FIELD if want["out_of_stock_since"] else None
    )
    return want


# --- contract: every document against the published schema -----------------------------------


@pytest.fixture(scope="module")
def schema() -> Any:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"the Shopify Admin schema is not beside the repo ({SCHEMA_FILE})")
    # graphql-core is a dev dependency: the contract must not be skipped silently without it.
    from graphql import build_client_schema

    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as f:
        built = build_client_schema(json.load(f)["data"])
    # The published schema fails graphql-core's own self-check on a deprecation rule that has
    # nothing to do with queries (see specs/README.md); skip that self-check.
    built._validation_errors = []
    return built


@pytest.mark.parametrize(
    "name", [*DOCUMENTS, "catalog bulk query"], ids=[*DOCUMENTS, "catalog bulk query"]
)
def test_every_document_validates_against_the_admin_schema(schema: Any, name: str) -> None:
    from graphql import parse, validate

    document = DOCUMENTS.get(name, CATALOG_BULK_QUERY)
    assert validate(schema, parse(document)) == []


async def _everything_the_adapter_sends() -> Tap:
    """A read that pages variants, levels and webhooks, then a bulk catalog read."""
    many = [
        LocationQuantity(location_id=f"gid://shopify/Location/{i}", name=f"L{i}", available=1)
        for i in range(1, 4)
    ]
    hooks = [
        WebhookSubscription(
            topic="orders/create", kind="order_created", address="https://a.test/1"
        ),
        WebhookSubscription(topic="products/update", kind="other", address="https://a.test/2"),
    ]
    catalog = [
        snapshot(sku="AB-10"),
        snapshot(sku="AB-1", available=3, locations=many, webhooks=hooks, on_hand=None),
    ]
    tap = Tap(ShopifyEmulator(catalog))
    shop = adapter(tap, pages=PageSizes(variants=1, levels=1, webhooks=1))
    await shop.read_sku("AB-1")
    assert [item async for item in shop.catalog_stock(poll_interval=1)]
    return tap


async def test_every_document_sent_validates_with_its_variables(schema: Any) -> None:
    from graphql import OperationDefinitionNode, parse, validate
    from graphql.execution.values import get_variable_values

    tap = await _everything_the_adapter_sends()
    sent = {body["operationName"] for body, _ in tap.exchanges}
    assert sent == set(DOCUMENTS)
    for body, _ in tap.exchanges:
        assert body["query"] == DOCUMENTS[body["operationName"]]
        document = parse(body["query"])
        assert validate(schema, document) == []
        (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        definitions = operation.variable_definitions or ()
        coerced = get_variable_values(schema, definitions, body["variables"])
        assert not isinstance(coerced, list), coerced  # a list holds the coercion errors
        if body["operationName"] == "RunCatalogBulkQuery":
            assert validate(schema, parse(body["variables"]["query"])) == []


async def test_the_emulators_answers_fit_the_schema(schema: Any) -> None:
    """Executing each document over the emulator's answer checks types, enums and non-nulls."""
    from graphql import execute_sync, parse

    def by_key(source: Any, info: Any, **_: Any) -> Any:
        return source.get(info.path.key) if isinstance(source, dict) else None

    tap = await _everything_the_adapter_sends()
    for body, answer in tap.exchanges:
        result = execute_sync(
            schema,
            parse(body["query"]),
            root_value=answer["data"],
            variable_values=body["variables"],
            field_resolver=by_key,
        )
        assert result.errors is None, (body["operationName"], result.errors)
        assert result.data == _selected(answer["data"], result.data)


def _selected(answer: Any, shape: Any) -> Any:
    """``answer`` cut down to the keys ``shape`` has (the emulator may send a few extra)."""
    if isinstance(shape, dict):
        return {k: _selected(answer[k], v) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_selected(a, s) for a, s in zip(answer, shape, strict=True)]
    return answer


def test_enums_the_adapter_maps_are_the_schemas(schema: Any) -> None:
    def values(name: str) -> set[str]:
        return set(schema.get_type(name).values)

    assert values("ProductVariantInventoryPolicy") == {"DENY", "CONTINUE"}
    assert values("ProductStatus") == {"ACTIVE", "ARCHIVED", "DRAFT"}
    assert {"COMPLETED", "FAILED", "CANCELED", "EXPIRED", "RUNNING"} <= values(
        "BulkOperationStatus"
    )
    topics = values("WebhookSubscriptionTopic")
    for topic in (
        "INVENTORY_LEVELS_UPDATE",
        "ORDERS_CREATE",
        "ORDERS_FULFILLED",
        "PRODUCTS_UPDATE",
    ):
        assert topic in topics
    # Every topic the schema has comes back to its enum value through our REST-style name.
    assert all(topic_enum(webhook_topic(t)[0]) == t for t in topics)
    assert webhook_topic("ORDERS_PARTIALLY_FULFILLED") == (
        "orders/partially_fulfilled",
        "order_fulfilled",
    )


def test_the_adapter_meets_the_storefront_protocol() -> None:
    assert isinstance(adapter(ShopifyEmulator([])), StorefrontAdapter)


# --- the scenario library through the emulator -------------------------------------------------


@pytest.mark.parametrize("scenario", SHOPIFY_SCENARIOS, ids=[s.sku for s in SHOPIFY_SCENARIOS])
async def test_library_snapshot_round_trips(scenario: Scenario) -> None:
    assert isinstance(scenario.storefront, StorefrontSnapshot)
    emulator = emulator_for(scenario.storefront)
    got = await adapter(emulator).read_sku(scenario.sku)
    assert engine_view(got) == shopify_view(scenario.storefront, got)
    assert got.source.system == "shopify"
    assert got.source.endpoint == f"POST {API_PATH} (productVariants)"
    assert got.source.record == "gid://shopify/ProductVariant/1"


@pytest.mark.parametrize("scenario", SHOPIFY_SCENARIOS, ids=[s.sku for s in SHOPIFY_SCENARIOS])
async def test_library_scenario_reaches_the_same_verdict_over_the_emulator(
    scenario: Scenario,
) -> None:
    assert isinstance(scenario.storefront, StorefrontSnapshot)
    stack = memory_stack(scenario)
    over_http = dataclasses.replace(stack, storefront=adapter(emulator_for(scenario.storefront)))
    memory = await triage(scenario.sku, stack, now=scenario.clock)
    report = await triage(scenario.sku, over_http, now=scenario.clock)
    assert (report.pattern, report.verdict.cause, report.verdict.confidence) == (
        memory.pattern,
        memory.verdict.cause,
        memory.verdict.confidence,
    )
    assert sorted(c.cause for c in report.secondary) == sorted(c.cause for c in memory.secondary)


@pytest.mark.parametrize("scenario", UNREADABLE_SHOPIFY, ids=[s.sku for s in UNREADABLE_SHOPIFY])
async def test_library_unreadable_storefront_fails_the_same_way(scenario: Scenario) -> None:
    assert isinstance(scenario.storefront, Unreadable)
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator_for(scenario.storefront)).read_sku(scenario.sku)
    assert caught.value.kind == scenario.storefront.kind
    if scenario.storefront.status is not None:
        assert caught.value.status == scenario.storefront.status


# --- reading one SKU ---------------------------------------------------------------------------


async def test_levels_are_paged_and_totals_add_up() -> None:
    since = T0 - timedelta(hours=3)
    locations = [
        LocationQuantity(
            location_id=f"gid://shopify/Location/{i}",
            name=f"DC {i}",
            available=0,
            on_hand=i,
            committed=i,
        )
        for i in range(1, 6)
    ]
    emulator = ShopifyEmulator(
        snapshot(
            available=0, on_hand=15, committed=15, locations=locations, out_of_stock_since=since
        )
    )
    got = await adapter(emulator, pages=PageSizes(levels=2)).read_sku("SKU-T1")
    assert [loc.location_id for loc in got.locations] == [loc.location_id for loc in locations]
    assert (got.available, got.on_hand, got.committed) == (0, 15, 15)
    assert got.out_of_stock_since == since
    assert got.out_of_stock_since_field == "InventoryLevel.updatedAt"
    assert emulator.graphql_calls == 3  # levels 1-2 with the variant, then 3-4 and 5
    assert len(got.raw["productVariant"]["inventoryItem"]["inventoryLevels"]["nodes"]) == 5  # type: ignore[index]


async def test_near_matches_are_skipped_across_variant_pages() -> None:
    catalog = [snapshot(sku="AB-1X"), snapshot(sku="AB-10"), snapshot(sku="AB-1", available=7)]
    emulator = ShopifyEmulator(catalog)
    got = await adapter(emulator, pages=PageSizes(variants=1)).read_sku("AB-1")
    assert (got.sku, got.available) == ("AB-1", 7)
    assert emulator.graphql_calls == 3


async def test_a_sku_with_no_exact_match_is_not_found() -> None:
    emulator = ShopifyEmulator([snapshot(sku="AB-10"), snapshot(sku="AB-11")])
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator, pages=PageSizes(variants=1)).read_sku("AB-1")
    assert caught.value.kind == "not_found"
    assert "AB-1" in caught.value.message


async def test_the_near_match_walk_is_bounded() -> None:
    emulator = ShopifyEmulator([snapshot(sku=f"AB-1{n:02d}") for n in range(30)])
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator, pages=PageSizes(variants=1)).read_sku("AB-1")
    assert caught.value.kind == "not_found"
    assert emulator.graphql_calls == MAX_VARIANT_PAGES


async def test_a_sku_with_quotes_is_searched_verbatim() -> None:
    tap = Tap(ShopifyEmulator(snapshot(sku='BOX "XL" 2\\3')))
    got = await adapter(tap).read_sku('BOX "XL" 2\\3')
    assert got.sku == 'BOX "XL" 2\\3'
    assert tap.exchanges[0][0]["variables"]["query"] == 'sku:"BOX \\"XL\\" 2\\\\3"'


async def test_policy_tracking_status_and_title_come_through() -> None:
    emulator = ShopifyEmulator(
        snapshot(
            inventory_policy="continue", tracked=False, status="draft", title=None, available=-2
        )
    )
    got = await adapter(emulator).read_sku("SKU-T1")
    assert (got.inventory_policy, got.tracked, got.status, got.title) == (
        "continue",
        False,
        "draft",
        None,
    )
    assert got.available == -2 and not got.selling


async def test_metafield_conventions_carry_holds_history_and_sync() -> None:
    synced = T0 - timedelta(minutes=20)
    history = [
        InventoryAdjustment(
            at=T0 - timedelta(hours=2), before=5, after=0, reason="manual", actor="ops"
        )
    ]
    emulator = ShopifyEmulator(
        snapshot(
            holds=["bulk edit in progress"],
            adjustments=history,
            last_inventory_sync_at=synced,
            sync_interval_minutes=15,
        )
    )
    got = await adapter(emulator).read_sku("SKU-T1")
    assert got.holds == ["bulk edit in progress"]
    assert got.adjustments == history
    assert (got.last_inventory_sync_at, got.sync_interval_minutes) == (synced, 15)


async def test_absent_metafields_leave_the_defaults() -> None:
    got = await adapter(ShopifyEmulator(snapshot())).read_sku("SKU-T1")
    assert (got.holds, got.adjustments, got.last_inventory_sync_at) == ([], [], None)
    assert got.sync_interval_minutes is None


async def test_shopify_adjustment_reason_names_are_mapped() -> None:
    reasons = ["received", "restock", "cycle_count_available", "shrinkage", "promotion", "weird"]

    def shopify_reasons(answer: dict[str, Any]) -> dict[str, Any]:
        node = answer["data"]["productVariants"]["nodes"][0]
        node["history"] = {
            "type": "json",
            "jsonValue": [
                {"at": f"2026-11-19T0{i}:00:00Z", "before": i, "after": i + 1, "reason": r}
                for i, r in enumerate(reasons)
            ],
        }
        return answer

    got = await adapter(Tap(ShopifyEmulator(snapshot()), shopify_reasons)).read_sku("SKU-T1")
    assert [a.reason for a in got.adjustments] == [
        "receipt",
        "return",
        "correction",
        "manual",
        "promotion",
        "other",
    ]


async def test_a_metafield_off_the_convention_is_a_bad_payload() -> None:
    def bad_holds(answer: dict[str, Any]) -> dict[str, Any]:
        answer["data"]["productVariants"]["nodes"][0]["holds"] = {
            "type": "json",
            "jsonValue": {"a": 1},
        }
        return answer

    with pytest.raises(AdapterError) as caught:
        await adapter(Tap(ShopifyEmulator(snapshot()), bad_holds)).read_sku("SKU-T1")
    assert caught.value.kind == "bad_payload"
    assert "oos_triage.holds" in caught.value.message


async def test_webhooks_of_every_endpoint_kind_are_paged() -> None:
    hooks = [
        WebhookSubscription(
            topic="orders/fulfilled", kind="order_fulfilled", address="https://x.test/o"
        ),
        WebhookSubscription(
            topic="inventory_levels/update",
            kind="inventory_update",
            address="arn:aws:events:us-east-1::event-source/aws.partner/shopify.com/1/inv",
        ),
        WebhookSubscription(
            topic="products/update", kind="other", address="pubsub://acme-proj:shopify"
        ),
    ]
    emulator = ShopifyEmulator(snapshot(webhooks=hooks))
    got = await adapter(emulator, pages=PageSizes(webhooks=1)).read_sku("SKU-T1")
    assert got.webhooks == hooks
    assert emulator.graphql_calls == 3


async def test_a_gone_product_status_or_wrong_shape_is_a_bad_payload() -> None:
    def drop_policy(answer: dict[str, Any]) -> dict[str, Any]:
        del answer["data"]["productVariants"]["nodes"][0]["inventoryPolicy"]
        return answer

    with pytest.raises(AdapterError) as caught:
        await adapter(Tap(ShopifyEmulator(snapshot()), drop_policy)).read_sku("SKU-T1")
    assert caught.value.kind == "bad_payload"
    assert "inventoryPolicy" in caught.value.message


def test_from_settings_takes_the_shop_and_the_token_variable_name() -> None:
    shop = ShopifyStorefront.from_settings(
        base_url="https://proxy.internal.test",
        credentials={"access_token": "ACME_SHOPIFY_TOKEN"},
        options={"shop": "acme", "page_sizes": {"variants": 3}},
    )
    assert (shop.shop, shop.token_env, shop.base_url) == (
        "acme",
        "ACME_SHOPIFY_TOKEN",
        "https://proxy.internal.test",
    )
    assert shop.pages.variants == 3
    default = ShopifyStorefront.from_settings(options={"shop": "acme"})
    assert (default.base_url, default.token_env) == (
        "https://acme.myshopify.com",
        "SHOPIFY_ADMIN_TOKEN",
    )
    with pytest.raises(ValueError, match=r"options\.shop"):
        ShopifyStorefront.from_settings(options={})


# --- faults ------------------------------------------------------------------------------------


async def test_5xx_is_retried_then_succeeds() -> None:
    emulator = ShopifyEmulator(snapshot(), Faults(statuses=[Scripted(503), Scripted(502)]))
    got = await adapter(emulator).read_sku("SKU-T1")
    assert got.available == 5
    assert len(emulator.requests) == 3


async def test_429_waits_for_retry_after() -> None:
    clock = FakeClock(now=1000.0)
    emulator = ShopifyEmulator(snapshot(), Faults(statuses=[Scripted(429, retry_after=2.0)]))
    await adapter(emulator, clock=clock).read_sku("SKU-T1")
    assert len(emulator.requests) == 2
    # Retry-After exactly, plus its small jitter, and no cost-bucket refill on top.
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.0 + retry_after_spread(2.0)


async def test_persistent_5xx_gives_up_within_budget_with_shopifys_message() -> None:
    emulator = ShopifyEmulator(snapshot(), down=Scripted(503))
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    error = caught.value
    assert (error.kind, error.status, error.message) == ("server_error", 503, "Service Unavailable")
    assert len(emulator.requests) == POLICY.max_attempts


async def test_persistent_429_gives_up_as_rate_limited() -> None:
    emulator = ShopifyEmulator(snapshot(), down=Scripted(429, retry_after=1.0))
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    assert (caught.value.kind, caught.value.status) == ("rate_limited", 429)
    assert "Exceeded 2 calls per second" in caught.value.message
    assert len(emulator.requests) == POLICY.max_attempts


async def test_timeouts_are_retried_then_reported() -> None:
    emulator = ShopifyEmulator(snapshot(), Faults(timeout=True))
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    assert caught.value.kind == "timeout"
    assert len(emulator.requests) == POLICY.max_attempts


async def test_malformed_body_is_a_bad_payload_and_not_retried() -> None:
    emulator = ShopifyEmulator(snapshot(), Faults(malformed=True))
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    assert caught.value.kind == "bad_payload"
    assert len(emulator.requests) == 1


async def test_expired_token_is_auth_with_shopifys_message_and_not_retried() -> None:
    emulator = ShopifyEmulator(snapshot(), Faults(expired_token=True))
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator).read_sku("SKU-T1")
    error = caught.value
    assert (error.kind, error.status) == ("auth", 401)
    assert "Invalid API key or access token" in error.message
    assert len(emulator.requests) == 1


async def test_missing_token_variable_is_auth_and_sends_nothing() -> None:
    emulator = ShopifyEmulator(snapshot())
    shop = ShopifyStorefront(emulator.shop, token_env=TOKEN_ENV, transport=emulator, environ={})
    with pytest.raises(AdapterError) as caught:
        await shop.read_sku("SKU-T1")
    assert caught.value.kind == "auth"
    assert TOKEN_ENV in caught.value.message
    assert emulator.requests == []


async def test_access_denied_is_auth() -> None:
    def denied(answer: dict[str, Any]) -> dict[str, Any]:
        message = "Access denied for productVariants field. Required access: `read_products` access scope."
        return {"errors": [{"message": message, "extensions": {"code": "ACCESS_DENIED"}}]}

    with pytest.raises(AdapterError) as caught:
        await adapter(Tap(ShopifyEmulator(snapshot()), denied)).read_sku("SKU-T1")
    assert caught.value.kind == "auth"
    assert "read_products" in caught.value.message


async def test_latency_is_slept_inside_the_transport() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    emulator = ShopifyEmulator(snapshot(), Faults(latency=0.25), sleep=record)
    await adapter(emulator).read_sku("SKU-T1")
    assert slept == [0.25]


# --- the cost throttle -------------------------------------------------------------------------


async def test_throttled_query_waits_for_the_bucket_then_succeeds() -> None:
    clock = FakeClock(now=1000.0)
    # StorefrontSku asks for 469 points; a read actually costs a few, so a second read soon
    # after finds fewer than 469 left.
    emulator = ShopifyEmulator(snapshot(), maximum=480.0, restore_rate=10.0, clock=clock)
    await adapter(emulator, clock=clock).read_sku("SKU-T1")
    tap = Tap(emulator)
    # A second client whose throttle has not seen the bucket yet: its first answer is THROTTLED.
    got = await adapter(tap, clock=clock).read_sku("SKU-T1")
    codes = [_code(answer) for _, answer in tap.exchanges]
    assert got.available == 5
    assert codes[0] == "THROTTLED" and codes[-1] is None
    assert len(codes) <= POLICY.max_attempts
    assert clock.sleeps and sum(clock.sleeps) < 5.0  # waited for the points, not a blind backoff


def _code(answer: dict[str, Any]) -> str | None:
    errors = answer.get("errors") or [{}]
    code = errors[0].get("extensions", {}).get("code")
    return str(code) if code else None


async def test_the_throttle_learns_the_shops_bucket() -> None:
    clock = FakeClock(now=1000.0)
    limiter = ShopifyCostThrottle(maximum=1000.0, restore_rate=50.0, clock=clock, sleep=clock.sleep)
    emulator = ShopifyEmulator(snapshot(), maximum=20000.0, restore_rate=1000.0, clock=clock)
    await adapter(emulator, clock=clock, limiter=limiter).read_sku("SKU-T1")
    assert (limiter.capacity, limiter.rate) == (20000.0, 1000.0)


async def test_throttled_for_good_gives_up_as_rate_limited() -> None:
    frozen = FakeClock(now=1000.0)
    emulator = ShopifyEmulator(snapshot(), maximum=480.0, restore_rate=10.0, clock=lambda: 0.0)
    await adapter(emulator, clock=frozen).read_sku("SKU-T1")
    with pytest.raises(AdapterError) as caught:
        await adapter(emulator, clock=frozen).read_sku("SKU-T1")
    assert caught.value.kind == "rate_limited"
    assert "THROTTLED" in caught.value.message
    assert emulator.graphql_calls == 1 + POLICY.max_attempts


# --- credentials never leak --------------------------------------------------------------------


async def test_the_token_never_appears_in_logs_errors_or_raw(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks = [
        WebhookSubscription(topic="orders/create", kind="order_created", address="https://x.test/o")
    ]
    emulator = ShopifyEmulator(snapshot(webhooks=hooks), token=CANARY)
    shop = adapter(emulator, token=CANARY)
    got = await shop.read_sku("SKU-T1")
    items = [item async for item in shop.catalog_stock(poll_interval=1)]
    errors: list[AdapterError] = []
    for faults in (
        Faults(expired_token=True),
        Faults(statuses=[Scripted(503)] * 5),
        Faults(timeout=True),
        Faults(malformed=True),
    ):
        failing = ShopifyEmulator(snapshot(), faults, token=CANARY)
        with pytest.raises(AdapterError) as caught:
            await adapter(failing, token=CANARY).read_sku("SKU-T1")
        errors.append(caught.value)

    assert items and got.available == 5
    assert caplog.records, "the adapter should log what it did"
    assert CANARY not in caplog.text
    assert all(CANARY not in f"{e} {e.message} {e.endpoint}" for e in errors)
    assert CANARY not in json.dumps(got.raw)
    assert CANARY not in got.model_dump_json()
    storage = [r for r in emulator.requests if r.url.host == STORAGE_HOST]
    assert storage and all(TOKEN_HEADER not in r.headers for r in storage)
    signature = storage[0].url.params["Signature"]
    assert signature not in caplog.text


# --- the whole catalog by bulk operation -------------------------------------------------------


async def test_bulk_catalog_read_over_thousands_of_variants() -> None:
    catalog = [
        snapshot(
            sku=f"SKU-{n:05d}",
            available=n % 7,
            inventory_policy="continue" if n % 50 == 0 else "deny",
            locations=[],
        )
        for n in range(3000)
    ]
    clock = FakeClock(now=1000.0)
    emulator = ShopifyEmulator(catalog, bulk_polls=3, clock=clock)
    shop = adapter(emulator, clock=clock)
    items = [item async for item in shop.catalog_stock(poll_interval=2.0)]
    assert len(items) == 3000
    assert {i.sku: i.quantity for i in items} == {s.sku: s.available for s in catalog}
    assert sum(i.inventory_policy == "continue" for i in items) == 60
    assert items[0].record == "gid://shopify/ProductVariant/1"
    assert clock.sleeps.count(2.0) == 3
    assert emulator.graphql_calls == 1 + 4  # start, then three RUNNING polls and COMPLETED


async def test_failed_bulk_operation_reports_its_error_code() -> None:
    emulator = ShopifyEmulator([snapshot()], bulk_error="INTERNAL_SERVER_ERROR")
    with pytest.raises(AdapterError) as caught:
        _ = [i async for i in adapter(emulator).catalog_stock(poll_interval=1)]
    assert caught.value.kind == "server_error"
    assert "INTERNAL_SERVER_ERROR" in caught.value.message


async def test_a_bulk_operation_that_runs_too_long_times_out_and_blocks_the_next() -> None:
    emulator = ShopifyEmulator([snapshot()], bulk_polls=100)
    shop = adapter(emulator)
    with pytest.raises(AdapterError) as slow:
        _ = [i async for i in shop.catalog_stock(poll_interval=10, max_wait=30)]
    assert slow.value.kind == "timeout"
    with pytest.raises(AdapterError) as busy:
        _ = [i async for i in shop.catalog_stock(poll_interval=10, max_wait=30)]
    assert "already in progress" in busy.value.message


async def test_an_empty_catalog_gives_no_rows() -> None:
    items = [i async for i in adapter(ShopifyEmulator([])).catalog_stock(poll_interval=1)]
    assert items == []
