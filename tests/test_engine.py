"""The engine's orchestration: concurrent reads, layer order, faults turned into unknowns."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from bot.engine import triage
from bot.report import CheckResult
from bot.tree import LAYER_ORDER, Layer
from tests import factories as f
from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpListener,
    ErpSnapshot,
    MiddlewareSnapshot,
    StorefrontSnapshot,
)
from tools.protocols import Stack
from tools.sku import InvalidSku


class Rendezvous:
    """Every read waits until all of them have started: sequential reads would never finish."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.started = 0
        self.all_started = asyncio.Event()

    async def arrive(self) -> None:
        self.started += 1
        if self.started == self.expected:
            self.all_started.set()
        await self.all_started.wait()


class Storefront:
    system = "shopify"

    def __init__(self, meet: Rendezvous | None = None, fail: Exception | None = None) -> None:
        self.meet, self.fail = meet, fail

    async def read_sku(self, sku: str) -> StorefrontSnapshot:
        if self.meet:
            await self.meet.arrive()
        if self.fail:
            raise self.fail
        return f.storefront(available=8)


class Marketplace:
    system = "amazon-sp-api"
    channel = "amazon"

    def __init__(self, meet: Rendezvous | None = None) -> None:
        self.meet = meet

    async def read_listing(self, sku: str) -> ChannelListing:
        if self.meet:
            await self.meet.arrive()
        return f.listing(quantity=0, buyable=False, status="DISCOVERABLE")


class Middleware:
    system = "celigo"

    def __init__(self, meet: Rendezvous | None = None, fail: Exception | None = None) -> None:
        self.meet, self.fail = meet, fail

    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        if self.meet:
            await self.meet.arrive()
        if self.fail:
            raise self.fail
        return f.middleware()


class Erp:
    system = "netsuite"

    def __init__(self, meet: Rendezvous | None = None, fail: Exception | None = None) -> None:
        self.meet, self.fail = meet, fail

    async def read_item(self, sku: str, since: datetime) -> ErpSnapshot:
        if self.meet:
            await self.meet.arrive()
        if self.fail:
            raise self.fail
        return f.erp(
            available=8, listeners=[ErpListener(id="l1", name="Inventory RESTlet", active=True)]
        )


async def test_all_systems_are_read_at_once() -> None:
    meet = Rendezvous(expected=4)
    stack = Stack(
        storefront=Storefront(meet),
        middleware=Middleware(meet),
        erp=Erp(meet),
        marketplaces=(Marketplace(meet),),
    )
    report = await asyncio.wait_for(triage(f.SKU, stack, now=f.NOW), timeout=10)
    assert meet.started == 4
    assert all(s.ok for s in report.systems)


async def test_layers_are_reported_in_walk_order_each_with_its_checks() -> None:
    seen: list[tuple[Layer, list[CheckResult]]] = []

    async def progress(layer: Layer, checks: list[CheckResult]) -> None:
        seen.append((layer, checks))

    stack = Stack(storefront=Storefront(), middleware=Middleware(), erp=Erp())
    report = await triage(f.SKU, stack, now=f.NOW, progress=progress)
    assert [layer for layer, _ in seen] == list(LAYER_ORDER)
    assert [c for _, checks in seen for c in checks] == report.checks


@pytest.mark.parametrize(
    "error",
    [
        AdapterError("netsuite", "auth", "token expired", status=401),
        AdapterError("netsuite", "timeout", "no answer in 10 s"),
        RuntimeError("adapter bug"),
    ],
)
async def test_an_unreadable_erp_is_never_a_pass(error: Exception) -> None:
    stack = Stack(storefront=Storefront(), middleware=Middleware(), erp=Erp(fail=error))
    report = await triage(f.SKU, stack, now=f.NOW)
    erp_checks = [c for c in report.checks if c.layer == 4]
    assert erp_checks and all(c.status == "unknown" for c in erp_checks)
    assert report.verdict.confidence == "inconclusive"
    assert report.pattern == "undetermined"
    assert "netsuite" in report.verdict.summary
    erp_read = next(s for s in report.systems if s.key == "erp")
    assert not erp_read.ok and erp_read.error
    assert report.evidence[0].statement.startswith("Could not be read")


async def test_an_unreadable_middleware_names_itself_in_every_check_that_needed_it() -> None:
    error = AdapterError("celigo", "rate_limited", "429 Too Many Requests", status=429)
    stack = Stack(storefront=Storefront(), middleware=Middleware(fail=error), erp=Erp())
    report = await triage(f.SKU, stack, now=f.NOW)
    layer3 = [c for c in report.checks if c.layer == 3 and c.status != "skipped"]
    assert len(layer3) == 7
    assert all(c.status == "unknown" and "celigo kept rate-limiting us" in c.detail for c in layer3)
    assert report.verdict.confidence == "inconclusive"


async def test_the_report_is_stamped_by_the_injected_clock_and_judged_by_it() -> None:
    stack = Stack(storefront=Storefront(), middleware=Middleware(), erp=Erp())
    pinned = f.NOW.replace(year=2031)
    report = await triage(f.SKU, stack, clock=lambda: pinned)
    assert (report.started_at, report.clock) == (pinned, pinned)
    judged = await triage(f.SKU, stack, now=f.NOW, clock=lambda: pinned)
    assert (judged.started_at, judged.clock) == (pinned, f.NOW)


async def test_a_malformed_sku_is_refused_before_any_system_is_asked() -> None:
    meet = Rendezvous(expected=99)
    stack = Stack(storefront=Storefront(meet), middleware=Middleware(meet), erp=Erp(meet))
    with pytest.raises(InvalidSku):
        await triage("bad sku\n", stack)
    assert meet.started == 0


async def test_vendor_free_text_reaches_the_report_with_personal_data_and_secrets_masked() -> None:
    from tools.models import MiddlewareLogEntry

    class LeakyMiddleware(Middleware):
        async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
            entry = MiddlewareLogEntry(
                at=f.ago(hours=1),
                flow_id="f1",
                sku=f.SKU,
                stage="error",
                status_code=500,
                message="retry failed: Authorization: Bearer sk-live-CANARY123456789 for jane.doe@example.com, call +44 20 7946 0958",
            )
            return f.middleware(log=[entry])

    stack = Stack(storefront=Storefront(), middleware=LeakyMiddleware(), erp=Erp())
    report = await triage(f.SKU, stack, now=f.NOW)
    text = report.model_dump_json()
    assert report.verdict.cause == "L3.event_not_forwarded"
    assert "retry failed" in report.verdict.summary
    for leaked in ("sk-live-CANARY123456789", "jane.doe@example.com", "7946 0958"):
        assert leaked not in text
