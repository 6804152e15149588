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


# --- a live stack whose ERP is NetSuite: low stock from its sales lines ----------------------------


def _ns_stack(erp_vendor: str = "netsuite", **drift: object) -> object:
    from bot.config import StackConfig
    from tools.erp.netsuite_auth import TbaEnv

    roles = ("consumer_key", "consumer_secret", "token_id", "token_secret")
    names = TbaEnv("OOS_T_NS_CK", "OOS_T_NS_CS", "OOS_T_NS_TI", "OOS_T_NS_TS").names()
    return StackConfig.model_validate(
        {
            "name": "acme-low",
            "storefront": {"vendor": "shopify", "options": {"shop": "oos-sandbox"}},
            "middleware": {"vendor": "celigo"},
            "erp": {
                "vendor": erp_vendor,
                "options": {"account_id": "1234567"} if erp_vendor == "netsuite" else {},
                "credentials": dict(zip(roles, names, strict=True))
                if erp_vendor == "netsuite"
                else {},
            },
            "drift": drift,
        }
    )


@pytest.fixture
def ns_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.erp.netsuite_auth import TbaEnv
    from tools.sandbox.emulators.netsuite import sandbox_environ

    env = TbaEnv("OOS_T_NS_CK", "OOS_T_NS_CS", "OOS_T_NS_TI", "OOS_T_NS_TS")
    for name, value in sandbox_environ(env).items():
        monkeypatch.setenv(name, value)


class _Items:
    def __init__(self, items: list[object]) -> None:
        self.items = items

    def items_after(self, item_id: int):  # type: ignore[no-untyped-def]
        return (x for x in self.items if x.item_id > item_id)  # type: ignore[attr-defined]

    def count_after(self, item_id: int, keep) -> int:  # type: ignore[no-untyped-def]
        return sum(1 for x in self.items_after(item_id) if keep(x))


async def test_a_netsuite_stack_feeds_low_stock_from_its_sales_lines(
    ns_env: None, tmp_path: object
) -> None:
    from datetime import date
    from pathlib import Path

    from bot.config import MonitoringConfig
    from bot.monitor.sources import Monitor
    from tools.erp.netsuite_queries import sell_through_query
    from tools.sandbox.emulators.netsuite import CatalogItem, CatalogLine, NetSuiteEmulator

    def sold(n: int) -> tuple[CatalogLine, ...]:
        return (CatalogLine("CashSale", date(2026, 11, 15), -n),)

    stock = (("1", 3, 3), ("2", 1, 1), ("3", 50, 50))  # 4 sellable, 50 in returns
    emulator = NetSuiteEmulator(
        [],
        catalog=_Items(
            [
                CatalogItem(1, "FAST", stock, lines=sold(140)),  # 5 a day, 4 sellable: low
                CatalogItem(2, "SLOW", stock, lines=sold(14)),  # 0.5 a day: fine
                CatalogItem(3, "IDLE", stock),  # sold nothing: never low, left out
            ]
        ),
    )
    config = _ns_stack(erp_locations=["1", "2"])
    monitor = Monitor.from_config(
        config,  # type: ignore[arg-type]
        Path(str(tmp_path)) / "m.db",
        transports={"erp": emulator},
        clock=lambda: NOW,
    )
    monitor.settings = MonitoringConfig(sell_through_days=28)
    found = await monitor.low_stock()

    assert found is not None
    assert (found.checked, found.low) == (2, 1)
    assert [(i.sku, i.available, i.sold) for i in found.worst] == [("FAST", 4, 140)]
    assert emulator.queries == [sell_through_query(0, date(2026, 10, 23), ["1", "2"])]


async def test_a_stack_without_a_sell_through_path_leaves_low_stock_out(tmp_path: object) -> None:
    from pathlib import Path

    from bot.monitor.sources import Monitor

    config = _ns_stack(erp_vendor="sap")
    monitor = Monitor.from_config(config, Path(str(tmp_path)) / "m.db")  # type: ignore[arg-type]
    assert await monitor.low_stock() is None


async def test_a_netsuite_that_cannot_be_read_leaves_low_stock_out(
    ns_env: None, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    from pathlib import Path

    from bot.monitor.sources import Monitor
    from tools.sandbox.emulators.faults import Faults
    from tools.sandbox.emulators.netsuite import NetSuiteEmulator

    emulator = NetSuiteEmulator([], Faults(expired_token=True))
    monitor = Monitor.from_config(
        _ns_stack(),  # type: ignore[arg-type]
        Path(str(tmp_path)) / "m.db",
        transports={"erp": emulator},
        clock=lambda: NOW,
    )
    assert await monitor.low_stock() is None
    assert "low stock not checked" in caplog.text
    assert len(emulator.requests) == 1  # an auth refusal is not retried


async def test_missing_netsuite_credentials_leave_low_stock_out(tmp_path: object) -> None:
    from pathlib import Path

    from bot.monitor.sources import Monitor

    monitor = Monitor.from_config(_ns_stack(), Path(str(tmp_path)) / "m.db")  # type: ignore[arg-type]
    assert await monitor.low_stock() is None
