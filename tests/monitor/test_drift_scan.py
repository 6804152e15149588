"""Catalog scans through the adapters' bulk paths: Shopify's bulk-operation JSONL (streamed,
with or without inventory levels), NetSuite's keyset-paged SuiteQL, the generated sandbox
catalog behind both emulators, and the streaming merge that compares them."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.monitor.scan import CompareRule, scan_catalogs
from tools.erp.netsuite import NetSuiteConfig, NetSuiteErp, catalog_query
from tools.errors import AdapterError
from tools.models import ErpItem, ErpSnapshot, LocationQuantity, Source, StorefrontSnapshot
from tools.protocols import CatalogSource
from tools.retry import RetryPolicy
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.emulators.netsuite import CatalogItem, NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import (
    STORAGE_HOST,
    CatalogVariant,
    ShopifyEmulator,
    VariantCatalog,
)
from tools.storefront.shopify import ShopifyStorefront
from tools.storefront.shopify_graphql import CATALOG_LEVELS_BULK_QUERY

T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
TOKEN_ENV = "OOS_TEST_SHOPIFY_TOKEN"
SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "specs"
    / "shopify"
    / "admin_schema_2025-01.json.gz"
)


async def _no_sleep(_: float) -> None:
    return None


def shop(transport: httpx.AsyncBaseTransport, token: str = "shpat_sandbox_token_0000") -> Any:
    return ShopifyStorefront(
        "oos-sandbox",
        token_env=TOKEN_ENV,
        transport=transport,
        environ={TOKEN_ENV: token},
        sleep=_no_sleep,
        now=lambda: T0,
    )


def netsuite(transport: httpx.AsyncBaseTransport, **config: Any) -> NetSuiteErp:
    return NetSuiteErp(
        NetSuiteConfig(account_id="1234567", **config),
        transport=transport,
        environ=sandbox_environ(),
        retry=RetryPolicy(max_attempts=3, total_seconds=10, base_delay=0.0, max_delay=0.0),
        sleep=_no_sleep,
        now=lambda: T0,
    )


def sf_snapshot(sku: str, levels: list[tuple[int, int, int]], **kw: Any) -> StorefrontSnapshot:
    locations = [
        LocationQuantity(
            location_id=f"gid://shopify/Location/{loc}",
            name=f"L{loc}",
            available=available,
            on_hand=on_hand,
            committed=on_hand - available,
        )
        for loc, available, on_hand in levels
    ]
    return StorefrontSnapshot(
        source=Source(system="shopify", endpoint="test"),
        read_at=T0,
        sku=sku,
        available=sum(a for _, a, _ in levels),
        on_hand=sum(h for _, _, h in levels),
        committed=sum(h - a for _, a, h in levels),
        locations=locations,
        **kw,
    )


class Counting:
    """A ``VariantCatalog`` that counts how many variants have been generated so far."""

    def __init__(self, inner: VariantCatalog) -> None:
        self.inner = inner
        self.generated = 0

    def __len__(self) -> int:
        return len(self.inner)

    def variants(self) -> Iterator[CatalogVariant]:
        for variant in self.inner.variants():
            self.generated += 1
            yield variant


# --- Shopify: the bulk operation's JSONL -----------------------------------------------------------


async def test_the_bulk_file_is_parsed_while_it_streams_not_read_whole() -> None:
    catalog = GeneratedCatalog(20_000, seed=3)
    view = Counting(catalog.storefront(0))
    rows = shop(ShopifyEmulator([], catalog=view, bulk_polls=0)).catalog_stock()
    first = await anext(rows)
    assert first.sku == "SKU-0000001"
    assert view.generated < 5_000  # one chunk of the file rendered, not the whole catalog
    rest = [row async for row in rows]
    assert 1 + len(rest) == len(view) == view.generated


async def test_on_hand_summed_over_the_wanted_locations_from_level_lines() -> None:
    snaps = [
        sf_snapshot("A-1", [(1, 5, 7), (2, 3, 3), (9, 40, 40)]),
        sf_snapshot("A-2", [(2, 0, 4)]),
        sf_snapshot("A-3", [], tracked=False),
    ]
    source = shop(ShopifyEmulator(snaps, bulk_polls=0))
    wanted = ["gid://shopify/Location/1", "gid://shopify/Location/2"]
    rows = {r.sku: r async for r in source.catalog_stock(measure="on_hand", locations=wanted)}

    assert {sku: r.quantity for sku, r in rows.items()} == {"A-1": 10, "A-2": 4, "A-3": 0}
    assert [loc.location_id for loc in rows["A-1"].locations or []] == wanted
    assert rows["A-1"].measure == "on_hand"
    assert rows["A-3"].tracked is False
    available = {r.sku: r.quantity async for r in source.catalog_stock(locations=wanted[:1])}
    assert available == {"A-1": 5, "A-2": 0, "A-3": 0}
    everywhere = {r.sku: (r.quantity, r.locations) async for r in source.catalog_stock()}
    assert everywhere["A-1"] == (48, None)  # inventoryQuantity: one line per variant


class Reordered(httpx.AsyncBaseTransport):
    """Moves the bulk file's first inventory-level line before its variant's line."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.host != STORAGE_HOST:
            return response
        lines = (await response.aread()).decode().splitlines()
        lines[0], lines[1] = lines[1], lines[0]
        return httpx.Response(200, text="\n".join(lines) + "\n")


async def test_a_level_line_away_from_its_variant_is_refused_not_misattributed() -> None:
    emulator = ShopifyEmulator([sf_snapshot("A-1", [(1, 5, 7)])], bulk_polls=0)
    with pytest.raises(AdapterError) as caught:
        _ = [r async for r in shop(Reordered(emulator)).catalog_stock(measure="on_hand")]
    assert caught.value.kind == "bad_payload"
    assert "does not follow its variant" in caught.value.message


async def test_a_download_cut_off_midway_is_an_adapter_error() -> None:
    class CutOff(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield b'{"id": "gid://shopify/ProductVariant/1", "sku": "A", '
            raise httpx.RemoteProtocolError("peer closed connection")

    class Broken(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == STORAGE_HOST:
                return httpx.Response(200, stream=CutOff())
            return await self.inner.handle_async_request(request)

    emulator = ShopifyEmulator([sf_snapshot("A-1", [(1, 5, 7)])], bulk_polls=0)
    with pytest.raises(AdapterError) as caught:
        _ = [r async for r in shop(Broken(emulator)).catalog_stock()]
    assert caught.value.kind == "unreachable"
    assert "Signature" not in caught.value.message and "Signature" not in str(caught.value)


def test_the_levels_bulk_query_validates_against_the_admin_schema() -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"the Shopify Admin schema is not beside the repo ({SCHEMA_FILE})")
    from graphql import build_client_schema, parse, validate

    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as f:
        schema = build_client_schema(json.load(f)["data"])
    schema._validation_errors = []  # the published schema fails a self-check unrelated to queries
    assert validate(schema, parse(CATALOG_LEVELS_BULK_QUERY)) == []


# --- NetSuite: keyset-paged SuiteQL ----------------------------------------------------------------


def _truth(catalog: GeneratedCatalog, locations: set[str] | None, measure: int) -> dict[str, int]:
    """What NetSuite holds, straight from the generator: the measure summed at ``locations``."""
    out = {}
    for item in catalog.erp().items_after(0):
        if item.inactive or item.item_type != "InvtPart":
            continue
        counted = [s for s in item.stock if locations is None or s[0] in locations]
        out[item.sku] = sum(
            available if measure == 1 else on_hand for _, available, on_hand in counted
        )
    return out


@pytest.mark.parametrize(
    ("measure", "locations"),
    [("available", ["1", "2"]), ("on_hand", ["1", "2"]), ("available", None), ("on_hand", ["3"])],
)
async def test_every_active_inventory_item_summed_over_the_locations_asked(
    measure: Any, locations: list[str] | None
) -> None:
    catalog = GeneratedCatalog(2_500, seed=11)
    emulator = NetSuiteEmulator([], catalog=catalog.erp())
    got = {
        r.sku: r.quantity
        async for r in netsuite(emulator).catalog_stock(measure=measure, locations=locations)
    }
    wanted = None if locations is None else set(locations)
    assert got == _truth(catalog, wanted, 1 if measure == "available" else 2)
    assert len(emulator.requests) == math.ceil(len(got) / 1000)


async def test_pages_are_keyed_on_the_last_internal_id_never_offset() -> None:
    catalog = GeneratedCatalog(1_000, seed=5)
    emulator = NetSuiteEmulator([], catalog=catalog.erp())
    rows = [r async for r in netsuite(emulator, page_size=300).catalog_stock(locations=["1"])]

    assert len(emulator.requests) == math.ceil(len(rows) / 300)
    assert all(r.url.params["offset"] == "0" for r in emulator.requests)
    assert all(r.url.params["limit"] == "300" for r in emulator.requests)
    lasts = [0] + [int(rows[k].record or 0) for k in range(299, len(rows) - 1, 300)]
    assert emulator.queries == [catalog_query(last, ["1"]) for last in lasts]
    assert [int(r.record or 0) for r in rows] == sorted(int(r.record or 0) for r in rows)


async def test_an_item_stocked_nowhere_counted_shows_zero() -> None:
    snaps = [
        ErpSnapshot(
            source=Source(system="netsuite", endpoint="test"),
            read_at=T0,
            vendor="netsuite",
            item=ErpItem(item_id="101", sku="A-1", name="A"),
            available=9,
            locations=[LocationQuantity(location_id="3", name="Returns", available=9)],
        )
    ]
    rows = [r async for r in netsuite(NetSuiteEmulator(snaps)).catalog_stock(locations=["1"])]
    assert [(r.sku, r.quantity, r.record) for r in rows] == [("A-1", 0, "101")]


async def test_a_throttled_page_is_retried_and_counts_one_request_more() -> None:
    catalog = GeneratedCatalog(2_000, seed=2)
    emulator = NetSuiteEmulator(
        [], Faults(statuses=[Scripted(429, retry_after=0.0)]), catalog=catalog.erp()
    )
    rows = [r async for r in netsuite(emulator).catalog_stock()]
    assert len(rows) == len(_truth(catalog, None, 1))
    assert len(emulator.requests) == math.ceil(len(rows) / 1000) + 1


def test_the_catalog_counts_what_netsuite_would_total() -> None:
    catalog = GeneratedCatalog(3_000, seed=9)
    erp = catalog.erp()

    def active_inventory(item: CatalogItem) -> bool:
        return item.item_type == "InvtPart" and not item.inactive

    def everything(item: CatalogItem) -> bool:
        return True

    for after in (0, 1, 777, 2_999, 3_000):
        for keep in (active_inventory, everything):
            brute = sum(1 for item in erp.items_after(after) if keep(item))
            assert erp.count_after(after, keep) == brute


def test_both_adapters_are_catalog_sources() -> None:
    assert isinstance(shop(ShopifyEmulator([])), CatalogSource)
    assert isinstance(netsuite(NetSuiteEmulator([])), CatalogSource)


# --- the streaming merge ----------------------------------------------------------------------------


async def test_the_merge_finds_the_seeded_gaps_and_sorts_out_the_rest() -> None:
    catalog = GeneratedCatalog(5_000, seed=4)
    source = shop(ShopifyEmulator([], catalog=catalog.storefront(2), bulk_polls=0))
    erp = netsuite(NetSuiteEmulator([], catalog=catalog.erp()))
    rule = CompareRule(erp_locations=("1", "2"))
    with await scan_catalogs(source, erp, rule) as scan:
        counts = scan.counts()
        gaps = {p.sku: (p.storefront, p.erp) for p in scan.gaps()}
        some = sorted(gaps)[:2]
        assert set(scan.pairs([*some, "SKU-NOPE"])) == set(some)

    expected = catalog.expected_gaps(2)
    assert gaps == {sku: (g.storefront, g.erp) for sku, g in expected.items()}
    assert counts.storefront_only == sum(
        catalog.count(k) for k in ("storefront_only", "non_inventory", "inactive")
    )
    assert counts.erp_only == catalog.count("erp_only")
    assert counts.untracked == catalog.count("untracked")
    assert counts.duplicate_skus == catalog.count("duplicate")
    assert counts.compared == 5_000 - sum(
        catalog.count(k)
        for k in (
            "storefront_only",
            "non_inventory",
            "inactive",
            "erp_only",
            "untracked",
            "duplicate",
        )
    )


async def test_a_source_that_fails_stops_the_scan_and_leaves_no_spill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    catalog = GeneratedCatalog(3_000, seed=1)
    source = shop(ShopifyEmulator([], catalog=catalog.storefront(0), bulk_polls=0))
    erp = netsuite(NetSuiteEmulator([], Faults(expired_token=True), catalog=catalog.erp()))
    with pytest.raises(AdapterError) as caught:
        await scan_catalogs(source, erp, CompareRule())
    assert (caught.value.system, caught.value.kind) == ("netsuite", "auth")
    assert list(tmp_path.iterdir()) == []
