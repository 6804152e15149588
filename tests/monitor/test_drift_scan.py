"""Catalog scans through the adapters' bulk paths: Shopify's bulk-operation JSONL (streamed,
with or without inventory levels), NetSuite's keyset-paged SuiteQL, the generated sandbox
catalog behind both emulators, and the streaming merge that compares them."""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.monitor.scan import CompareRule, scan_catalogs
from tools.erp.netsuite import NetSuiteErp
from tools.erp.netsuite_config import NetSuiteConfig
from tools.erp.netsuite_queries import catalog_bounds_query, catalog_query, id_ranges
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


def test_the_levels_bulk_query_validates_against_the_admin_schema(
    shopify_admin_schema: Any,
) -> None:
    from graphql import parse, validate

    assert validate(shopify_admin_schema, parse(CATALOG_LEVELS_BULK_QUERY)) == []


# --- NetSuite: keyset-paged SuiteQL, the id space cut into ranges read at once ---------------------


def _ranged(ids: list[int], page: int = 1000, slots: int = 5) -> list[list[int]]:
    """The ids each range of the scan holds (``id_ranges`` over these ids)."""
    ids = sorted(ids)
    ranges = id_ranges(ids[0], ids[-1], len(ids), slots, page) if ids else []
    return [
        [i for i in ids if after < i and (until is None or i <= until)] for after, until in ranges
    ]


def _minimum(ids: list[int], page: int = 1000, slots: int = 5) -> int:
    """Requests a ranged scan needs: the bounds statement, then ⌈items / page⌉ per range (at
    least one each): at most ⌈items / page⌉ + ranges."""
    return 1 + sum(max(1, math.ceil(len(r) / page)) for r in _ranged(ids, page, slots))


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
    ids = [
        i.item_id
        for i in catalog.erp().items_after(0)
        if i.item_type == "InvtPart" and not i.inactive
    ]
    assert len(emulator.requests) == _minimum(ids) <= math.ceil(len(got) / 1000) + 3


async def test_pages_are_keyed_on_the_last_internal_id_within_each_range_never_offset() -> None:
    catalog = GeneratedCatalog(1_000, seed=5)
    emulator = NetSuiteEmulator([], catalog=catalog.erp(), concurrency=3)
    adapter = netsuite(emulator, page_size=300, concurrency=3)
    rows = [r async for r in adapter.catalog_stock(locations=["1"])]
    ids = sorted(int(r.record or 0) for r in rows)
    assert len(ids) == len(set(ids)) == len(_truth(catalog, None, 1))

    # First the one bounds statement, then per range: keyed on the range's previous page.
    bounds = id_ranges(ids[0], ids[-1], len(ids), 3, 300)
    assert len(bounds) == 3
    wanted = [catalog_bounds_query()]
    for (after, until), held in zip(bounds, _ranged(ids, 300, 3), strict=True):
        lasts = [after] + [held[k] for k in range(299, len(held) - 1, 300)]
        wanted += [catalog_query(last, ["1"], until) for last in lasts]
    assert emulator.queries[0] == catalog_bounds_query()
    assert sorted(emulator.queries) == sorted(wanted)
    assert len(emulator.requests) == len(wanted) == _minimum(ids, 300, 3)
    assert [r.url.params["limit"] for r in emulator.requests] == ["1"] + ["300"] * (len(wanted) - 1)
    assert all(r.url.params["offset"] == "0" for r in emulator.requests)
    # the last range is open-ended: an item created during the scan is still read
    assert bounds[0][0] == ids[0] - 1 and bounds[-1][1] is None
    assert "item.id <= " not in wanted[-1]


def test_the_bounds_and_ranged_statements_in_full() -> None:
    assert catalog_bounds_query() == (
        "SELECT MIN(item.id) AS minid, MAX(item.id) AS maxid, COUNT(item.id) AS items FROM item"
        " WHERE item.isinactive = 'F' AND item.itemtype IN ('InvtPart', 'Assembly')"
    )
    assert catalog_query(1200, ["2", "1"], 2400) == (
        "SELECT item.id, item.itemid, SUM(iil.quantityavailable) AS available,"
        " SUM(iil.quantityonhand) AS onhand FROM item LEFT OUTER JOIN inventoryitemlocations iil"
        " ON iil.item = item.id AND iil.location IN (1, 2)"
        " WHERE item.id > 1200 AND item.id <= 2400 AND item.isinactive = 'F'"
        " AND item.itemtype IN ('InvtPart', 'Assembly') GROUP BY item.id, item.itemid"
        " ORDER BY item.id"
    )


@pytest.mark.parametrize(
    ("lowest", "highest", "count", "slots", "page", "expected"),
    [
        (1, 100, 100, 5, 1000, [(0, None)]),  # fits one page: one range
        (
            1,
            10_000,
            10_000,
            5,
            1000,
            [(0, 2000), (2000, 4000), (4000, 6000), (6000, 8000), (8000, None)],
        ),
        (7, 9, 3, 5, 1, [(6, 7), (7, 8), (8, None)]),  # never more ranges than ids
        (5, 5, 0, 5, 1000, []),  # nothing to read
    ],
)
def test_id_ranges_are_contiguous_and_cover_the_span(
    lowest: int, highest: int, count: int, slots: int, page: int, expected: list[Any]
) -> None:
    assert id_ranges(lowest, highest, count, slots, page) == expected


class SparseCatalog:
    """An ``ItemCatalog`` over explicit, sparse internal ids (inactive and non-inventory ones
    mixed in, which the scan and its bounds must skip)."""

    def __init__(self, ids: list[int], skipped: list[int]) -> None:
        out = [CatalogItem(i, f"SP-{i}", (("1", i % 7, i % 7 + 1),)) for i in ids]
        out += [
            CatalogItem(i, f"SP-{i}", (), "NonInvtPart" if i % 2 else "InvtPart", not i % 2)
            for i in skipped
        ]
        self.items = sorted(out, key=lambda x: x.item_id)

    def items_after(self, item_id: int) -> Iterator[CatalogItem]:
        return (x for x in self.items if x.item_id > item_id)

    def count_after(self, item_id: int, keep: Any) -> int:
        return sum(1 for x in self.items_after(item_id) if keep(x))


def _sparse_ids(slots: int, page: int) -> tuple[list[int], list[int]]:
    """Sparse ids with items exactly on, just below and just above every range edge, a dense
    cluster bigger than a page, and skipped items at the ends (outside the true bounds)."""
    first, last = 17, 50_017
    edges = [after for after, _ in id_ranges(first, last, 10_000, slots, page)[1:]]
    ids = {first, last, *range(20_000, 20_000 + 3 * page + 1)}
    for edge in edges:
        ids |= {edge - 1, edge, edge + 1}
    ids |= set(range(first, last, 997))
    return sorted(ids), [3, 4, 16, 50_018, 60_000, 20_000 + 3 * page + 5]


@pytest.mark.parametrize(("slots", "page"), [(5, 1000), (3, 7), (4, 250), (1, 1000)])
async def test_sparse_ids_are_each_read_exactly_once_across_the_ranges(
    slots: int, page: int
) -> None:
    ids, skipped = _sparse_ids(slots, page)
    emulator = NetSuiteEmulator([], catalog=SparseCatalog(ids, skipped), concurrency=slots)
    adapter = netsuite(emulator, page_size=page, concurrency=slots)
    rows = [r async for r in adapter.catalog_stock(locations=["1"])]

    records = [int(r.record or 0) for r in rows]
    assert sorted(records) == ids  # no gap, no overlap at the edges, nothing skipped read
    assert {r.sku: r.quantity for r in rows} == {f"SP-{i}": i % 7 for i in ids}
    assert len(emulator.requests) == _minimum(ids, page, slots)
    assert emulator.queries[0] == catalog_bounds_query()


def test_the_emulator_bounds_bisect_the_generated_catalog() -> None:
    catalog = GeneratedCatalog(200_000, seed=3)
    emulator = NetSuiteEmulator([], catalog=catalog.erp())
    kept = [
        i.item_id
        for i in catalog.erp().items_after(0)
        if i.item_type == "InvtPart" and not i.inactive
    ]
    assert emulator.catalog_bounds(catalog_bounds_query()) == [
        {"minid": str(min(kept)), "maxid": str(max(kept)), "items": str(len(kept))}
    ]
    # MIN and MAX over no rows are null, and NetSuite leaves null columns out
    assert NetSuiteEmulator([]).catalog_bounds(catalog_bounds_query()) == [{"items": "0"}]


async def test_an_empty_catalog_costs_the_bounds_statement_only() -> None:
    emulator = NetSuiteEmulator([])
    assert [r async for r in netsuite(emulator).catalog_stock()] == []
    assert emulator.queries == [catalog_bounds_query()]


async def test_ranges_are_read_at_once_within_the_accounts_slots() -> None:
    catalog = GeneratedCatalog(6_000, seed=8)
    for slots in (1, 3, 5):
        # The emulator answers 429 to any request beyond its slots: none may happen.
        emulator = NetSuiteEmulator(
            [], Faults(latency=0.002), catalog=catalog.erp(), concurrency=slots
        )
        adapter = netsuite(emulator, concurrency=slots)
        rows = [r async for r in adapter.catalog_stock()]
        ids = [int(r.record or 0) for r in rows]
        assert len(ids) == len(set(ids)) == len(_truth(catalog, None, 1))
        assert emulator.max_in_flight == slots  # every slot used, never one more
        assert len(emulator.requests) == _minimum(ids, 1000, slots)


async def test_a_slow_consumer_holds_a_bounded_number_of_pages() -> None:
    catalog = GeneratedCatalog(40_000, seed=6)
    emulator = NetSuiteEmulator([], catalog=catalog.erp())
    stream = netsuite(emulator, page_size=100, concurrency=4).catalog_stock()
    await anext(stream)
    for _ in range(50):
        await asyncio.sleep(0)
    # one page being yielded, one queued per range, one fetched per range waiting to queue
    assert len(emulator.requests) <= 1 + 1 + 2 * 4
    await stream.aclose()  # closing early cancels the ranges: nothing more is sent
    sent = len(emulator.requests)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(emulator.requests) == sent
    assert emulator.in_flight == 0


async def test_a_page_outside_its_range_is_refused_not_read_twice() -> None:
    class Sloppy(NetSuiteEmulator):
        def _catalog_page(self, url: httpx.URL, q: str, limit: int, offset: int) -> dict[str, Any]:
            return super()._catalog_page(
                url, q.replace(" AND item.id <= ", " AND 0 <= "), limit, offset
            )

    catalog = GeneratedCatalog(3_000, seed=2)
    with pytest.raises(AdapterError) as caught:
        [r async for r in netsuite(Sloppy([], catalog=catalog.erp())).catalog_stock()]
    assert caught.value.kind == "bad_payload"
    assert "not ordered by item id within" in str(caught.value)


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
    assert len(emulator.requests) == _minimum([int(r.record or 0) for r in rows]) + 1


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
