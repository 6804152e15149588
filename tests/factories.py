"""Builders for hand-made facts: each returns a valid snapshot with overridable fields.

Also the rows of the check tables (``case``) and how a row is checked (``run_case``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.checks import CHECKS, Outcome
from bot.facts import Facts
from bot.settings import Thresholds
from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpItem,
    ErpSnapshot,
    Flow,
    InventoryAdjustment,
    InventoryTransaction,
    MiddlewareSnapshot,
    Source,
    StorefrontSnapshot,
    WmsSnapshot,
)

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
SKU = "SKU-T1"


def ago(**delta: float) -> datetime:
    """``ago(hours=3)`` is three hours before ``NOW``."""
    return NOW - timedelta(**delta)


def adj(
    hours: float, before: int, after: int, reason: str = "sale", **kw: Any
) -> InventoryAdjustment:
    """A storefront adjustment ``hours`` before ``NOW``, a sale unless ``reason`` says otherwise."""
    return InventoryAdjustment(at=ago(hours=hours), before=before, after=after, reason=reason, **kw)


def txn(hours: float, kind: str, quantity: int, **kw: Any) -> InventoryTransaction:
    """An ERP inventory transaction ``hours`` before ``NOW``."""
    return InventoryTransaction(at=ago(hours=hours), kind=kind, quantity=quantity, **kw)


def _src(system: str) -> dict[str, Any]:
    return {"source": Source(system=system, endpoint="test"), "read_at": NOW}


def storefront(**kw: Any) -> StorefrontSnapshot:
    base: dict[str, Any] = {"sku": SKU, "title": "Test sock", "available": 5, **_src("shopify")}
    return StorefrontSnapshot(**{**base, **kw})


def listing(**kw: Any) -> ChannelListing:
    base: dict[str, Any] = {
        "channel": "amazon",
        "sku": SKU,
        "quantity": 5,
        "buyable": True,
        "status": "BUYABLE",
        **_src("amazon-sp-api"),
    }
    return ChannelListing(**{**base, **kw})


def flow(**kw: Any) -> Flow:
    base: dict[str, Any] = {
        "id": "f1",
        "name": "Storefront → ERP inventory",
        "hop": "storefront_to_erp",
    }
    return Flow(**{**base, **kw})


def middleware(**kw: Any) -> MiddlewareSnapshot:
    base: dict[str, Any] = {"vendor": "celigo", "flows": [flow()], **_src("celigo")}
    return MiddlewareSnapshot(**{**base, **kw})


def erp(**kw: Any) -> ErpSnapshot:
    item = kw.pop("item", None) or ErpItem(item_id="100", sku=SKU, name="Test Sock")
    base: dict[str, Any] = {"vendor": "netsuite", "item": item, "available": 5, **_src("netsuite")}
    return ErpSnapshot(**{**base, **kw})


def wms(**kw: Any) -> WmsSnapshot:
    base: dict[str, Any] = {"vendor": "wms", "on_hand": 5, **_src("wms")}
    return WmsSnapshot(**{**base, **kw})


def facts(
    *,
    sf: StorefrontSnapshot | None = None,
    mw: MiddlewareSnapshot | None = None,
    erp_: ErpSnapshot | None = None,
    channels: tuple[ChannelListing, ...] = (),
    wms_: WmsSnapshot | None = None,
    errors: dict[str, AdapterError] | None = None,
    now: datetime = NOW,
    thresholds: Thresholds | None = None,
) -> Facts:
    return Facts(
        sku=SKU,
        now=now,
        thresholds=thresholds or Thresholds(),
        storefront=sf or storefront(),
        middleware=mw or middleware(),
        erp=erp_ or erp(),
        wms=wms_,
        channels=channels,
        errors=errors or {},
        marketplaces_configured=len(channels),
        wms_configured=wms_ is not None,
    )


# --- the check tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of a check table: the check, the facts, and what an operator should read."""

    check: str
    facts: Facts
    status: str
    words: tuple[str, ...] = ()  # must all appear in the detail
    cites: tuple[str, ...] | None = None  # the cited fact ids, when given
    confidence: str = "confirmed"  # checked on failures


def case(
    name: str,
    check: str,
    given: Facts,
    status: str,
    *words: str,
    cites: tuple[str, ...] | None = None,
    confidence: str = "confirmed",
) -> Any:
    """A table row as a ``pytest.param`` with the id ``{check}:{name}``."""
    return pytest.param(Case(check, given, status, words, cites, confidence), id=f"{check}:{name}")


def run_case(c: Case, *, cites_in_order: bool = False) -> Outcome:
    """Run the row's check and assert what the row says; ``cites_in_order`` compares the cited
    fact ids as a list (order included) rather than as a set."""
    outcome = CHECKS[c.check](c.facts)
    assert outcome.status == c.status, outcome.detail
    for word in c.words:
        assert word in outcome.detail, (word, outcome.detail)
    if c.cites is not None:
        cited = [f.id for f in outcome.facts]
        if cites_in_order:
            assert cited == list(c.cites), outcome.detail
        else:
            assert sorted(cited) == sorted(c.cites), outcome.detail
    if outcome.status == "fail":
        assert outcome.confidence == c.confidence
        assert outcome.facts, "a failure must cite the facts that prove it"
    return outcome


# a storefront that sold out three hours ago, by a sale
SOLD_OUT = storefront(available=0, out_of_stock_since=ago(hours=3), adjustments=[adj(3, 1, 0)])
