"""Low stock: SKUs whose available quantity is under 2 × their average daily sell-through.

The input, per SKU, is a ``tools.models.SellThrough``: ``available`` now, and ``sold`` — units
sold over the trailing ``days`` (default 28) — so the average daily sell-through is
``sold / days``. A SKU is low when ``available < factor × daily`` (factor 2: less than two
days of cover). A SKU that sold nothing is never low by this rule, however little it holds.

Where the rows come from:

    a ``SellThroughSource``      a system that knows stock and sales together streams every
                                 SKU (``find_low_stock`` keeps only the low ones, so memory is
                                 flat in catalog size). The sandbox catalog is one; NetSuite
                                 (``NetSuiteErp.sell_through``) is the live one
    storefront snapshots         ``from_storefront``: the SKU's inventory history, counting
                                 adjustments with reason ``sale`` inside the window (for SKUs
                                 read one at a time, e.g. in a triage)
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterable, Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from tools.models import SellThrough, StorefrontSnapshot

FACTOR = 2.0
WINDOW_DAYS = 28


class LowStockItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    available: int
    sold: int
    days: float
    daily: float  # average units sold per day
    cover_days: float  # how many days ``available`` lasts at that rate (0 when none left)


class LowStock(BaseModel):
    """What a low-stock pass found: how many SKUs were looked at, how many are low, and the
    ``worst`` of them (least cover first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checked: int
    low: int
    factor: float
    worst: list[LowStockItem]


def is_low(row: SellThrough, factor: float = FACTOR) -> bool:
    return row.sold > 0 and row.available < factor * row.daily


def item(row: SellThrough) -> LowStockItem:
    daily = row.daily
    return LowStockItem(
        sku=row.sku,
        available=row.available,
        sold=row.sold,
        days=row.days,
        daily=round(daily, 2),
        cover_days=round(max(row.available, 0) / daily, 2) if daily else 0.0,
    )


class _Tally:
    """Keeps the count and the ``keep`` lowest-cover items of a stream."""

    def __init__(self, factor: float, keep: int) -> None:
        self.factor = factor
        self.keep = keep
        self.checked = 0
        self.low = 0
        self._heap: list[tuple[float, str, LowStockItem]] = []

    def add(self, row: SellThrough) -> None:
        self.checked += 1
        if not is_low(row, self.factor):
            return
        self.low += 1
        found = item(row)
        # A max-heap on cover (negated) holding the ``keep`` lowest covers seen so far.
        entry = (-found.cover_days, found.sku, found)
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def result(self) -> LowStock:
        worst = sorted((e[2] for e in self._heap), key=lambda i: (i.cover_days, i.sku))
        return LowStock(checked=self.checked, low=self.low, factor=self.factor, worst=worst)


def find_low_stock(
    rows: Iterable[SellThrough], *, factor: float = FACTOR, keep: int = 1000
) -> LowStock:
    tally = _Tally(factor, keep)
    for row in rows:
        tally.add(row)
    return tally.result()


async def scan_low_stock(
    rows: AsyncIterable[SellThrough], *, factor: float = FACTOR, keep: int = 1000
) -> LowStock:
    """``find_low_stock`` over a stream (a ``SellThroughSource``)."""
    tally = _Tally(factor, keep)
    async for row in rows:
        tally.add(row)
    return tally.result()


def from_storefront(
    sf: StorefrontSnapshot, *, now: datetime, days: int = WINDOW_DAYS
) -> SellThrough:
    """One SKU's sell-through from its storefront inventory history (sale adjustments)."""
    start = now - timedelta(days=days)
    sold = sum(
        -a.delta for a in sf.adjustments if a.reason == "sale" and a.at >= start and a.delta < 0
    )
    return SellThrough(
        source=sf.source,
        read_at=sf.read_at,
        sku=sf.sku,
        available=sf.available,
        sold=sold,
        days=float(days),
    )
