"""What the engine knows about one SKU: every system's snapshot, or why it could not be read.

``Facts`` is the only input of the check functions, which makes them pure: a test builds a
``Facts`` by hand and calls a check. ``FactRef`` is one cited fact, with an id that is stable
within a report (``storefront.inventory_policy``, ``amazon.issues``, ``erp.item.item_type``…).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from bot.settings import Thresholds
from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    Flow,
    MiddlewareSnapshot,
    Snapshot,
    StorefrontSnapshot,
    WmsSnapshot,
)

SystemKey = Literal["storefront", "marketplace", "middleware", "erp", "wms"]


class FactRef(BaseModel):
    """One fact a check or evidence item rests on."""

    id: str
    value: Any
    source: str
    read_at: datetime


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude={"raw"})
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    json.dumps(value)  # fail loudly here rather than when the report is written
    return value


def ref(fact_id: str, value: Any, snapshot: Snapshot) -> FactRef:
    return FactRef(
        id=fact_id,
        value=_jsonable(value),
        source=snapshot.source.cite(),
        read_at=snapshot.read_at,
    )


@dataclass(frozen=True)
class Facts:
    """Everything read for one SKU at one moment (``now``: the clock every check judges by)."""

    sku: str
    now: datetime
    thresholds: Thresholds
    storefront: StorefrontSnapshot | None = None
    middleware: MiddlewareSnapshot | None = None
    erp: ErpSnapshot | None = None
    wms: WmsSnapshot | None = None
    channels: tuple[ChannelListing, ...] = ()
    errors: dict[str, AdapterError] = field(default_factory=dict)  # by system key or channel
    marketplaces_configured: int = 0
    wms_configured: bool = False

    # --- convenience views the checks share ------------------------------------------------

    @property
    def change_window_start(self) -> datetime:
        return self.now - timedelta(hours=self.thresholds.change_window_hours)

    def flows(self, hop: str, carrying: str | None = "inventory_update") -> list[Flow]:
        if self.middleware is None:
            return []
        return [
            f
            for f in self.middleware.flows
            if f.hop == hop and (carrying is None or carrying in f.carries)
        ]

    def event_window_start(self) -> datetime:
        """The storefront's OOS moment (less a small margin), or the change window's start."""
        if self.storefront and self.storefront.out_of_stock_since:
            return self.storefront.out_of_stock_since - timedelta(minutes=5)
        return self.change_window_start

    def last_storefront_change(self) -> datetime | None:
        """When the storefront's quantity last moved (its OOS time if it has one)."""
        sf = self.storefront
        if sf is None:
            return None
        if sf.out_of_stock_since:
            return sf.out_of_stock_since
        if sf.adjustments:
            return max(a.at for a in sf.adjustments)
        return None
