"""Builders for hand-made facts: each returns a valid snapshot with overridable fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.facts import Facts
from bot.settings import Thresholds
from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpItem,
    ErpSnapshot,
    Flow,
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
