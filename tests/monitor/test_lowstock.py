"""Low stock: under 2 × the average daily sell-through, streamed in flat memory, with the
seeded sandbox catalog found exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.monitor.lowstock import find_low_stock, from_storefront, is_low, scan_low_stock
from tools.models import InventoryAdjustment, SellThrough, Source, StorefrontSnapshot
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.monitoring import CatalogSellThrough

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
SRC = Source(system="test", endpoint="test")


def row(sku: str, available: int, sold: int, days: float = 28) -> SellThrough:
    return SellThrough(source=SRC, read_at=NOW, sku=sku, available=available, sold=sold, days=days)


@pytest.mark.parametrize(
    ("available", "sold", "low"),
    [
        (10, 140, False),  # 5 a day: exactly two days of cover is not under
        (9, 140, True),
        (0, 28, True),  # sold out while selling a unit a day
        (0, 0, False),  # sold nothing: never low by the rule
        (1, 0, False),
        (-3, 28, True),  # oversold
        (100, 28, False),
    ],
)
def test_the_rule(available: int, sold: int, low: bool) -> None:
    assert is_low(row("S", available, sold)) is low


def test_the_worst_are_the_least_covered_and_all_are_counted() -> None:
    rows = [row(f"S{n}", available=n, sold=28 * 10) for n in range(40)]  # 10 a day
    found = find_low_stock(rows, keep=5)
    assert found.checked == 40 and found.low == 20  # 0..19 are under 20
    assert [i.sku for i in found.worst] == ["S0", "S1", "S2", "S3", "S4"]
    assert found.worst[3].cover_days == 0.3 and found.worst[3].daily == 10


def test_sell_through_from_a_storefront_history_counts_sales_in_the_window() -> None:
    def sale(days_ago: float, units: int, reason: str = "sale") -> InventoryAdjustment:
        at = NOW - timedelta(days=days_ago)
        return InventoryAdjustment(at=at, before=100, after=100 - units, reason=reason)  # type: ignore[arg-type]

    sf = StorefrontSnapshot(
        source=SRC,
        read_at=NOW,
        sku="SKU-9",
        available=6,
        adjustments=[
            sale(1, 4),
            sale(10, 3),
            sale(40, 50),
            sale(2, 5, "manual"),
            sale(3, -2, "return"),
        ],
    )
    got = from_storefront(sf, now=NOW, days=28)
    assert (got.sold, got.available, got.days) == (7, 6, 28.0)
    assert got.daily == pytest.approx(0.25) and not is_low(got)


@pytest.mark.parametrize("seed", [7, 8])
async def test_the_sandbox_catalog_low_stock_is_found_exactly(seed: int) -> None:
    catalog = GeneratedCatalog(20_000, seed)
    source = CatalogSellThrough(catalog, NOW)
    found = await scan_low_stock(source.sell_through(), keep=10_000)
    assert {i.sku for i in found.worst} == source.expected_low()
    assert found.low == len(source.expected_low()) >= 3
    untracked = catalog.count("untracked")
    erp_only = catalog.count("erp_only")
    assert found.checked == catalog.size - untracked - erp_only
