"""One async protocol per layer. The engine talks to these and to nothing else.

A vendor adapter implements exactly one of them (``tools/<layer>/<vendor>.py``), returns the
normalized models of ``tools.models`` and raises ``tools.errors.AdapterError`` when the system
cannot be read. Adapters never decide anything: they report what the system shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tools.models import (
    CatalogStock,
    ChannelListing,
    ErpSnapshot,
    FlowHealth,
    MiddlewareSnapshot,
    QuantityKind,
    SellThrough,
    StorefrontSnapshot,
    WmsSnapshot,
)


@runtime_checkable
class StorefrontAdapter(Protocol):
    system: str

    async def read_sku(self, sku: str) -> StorefrontSnapshot:
        """The SKU's quantities, policy, sync times, holds, inventory history and webhooks."""
        ...


@runtime_checkable
class MarketplaceAdapter(Protocol):
    system: str
    channel: str

    async def read_listing(self, sku: str) -> ChannelListing:
        """The listing's quantity, buyability, issues, feed times and feed source."""
        ...


@runtime_checkable
class MiddlewareAdapter(Protocol):
    system: str

    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        """Flows, the SKU's log entries since ``since``, mappings and recent changes."""
        ...

    async def flow_health(self, since: datetime) -> list[FlowHealth]:
        """Every flow of the account: its status now, and its runs since ``since`` (runs,
        failed runs, records succeeded / failed / ignored, open errors)."""
        ...


@runtime_checkable
class ErpAdapter(Protocol):
    system: str

    async def read_item(self, sku: str, since: datetime) -> ErpSnapshot:
        """The item record, quantities, transactions and webhook log since ``since``, listeners,
        trigger rules and the integration user."""
        ...


@runtime_checkable
class WmsAdapter(Protocol):
    system: str

    async def read_sku(self, sku: str) -> WmsSnapshot:
        """On-hand quantity, recent events and the WMS→ERP batch schedule."""
        ...


@runtime_checkable
class CatalogSource(Protocol):
    """A system that can read its whole catalog's stock in bulk (storefront or ERP), for
    monitoring scans. Implemented beside the layer protocol by adapters with a bulk path.

    ``catalog_stock`` is an async generator (hence ``def``, not ``async def``): rows arrive as
    the vendor sends them, one page or file line at a time, so memory stays flat in catalog
    size. ``measure`` is the quantity to report; ``locations`` the vendor location ids to sum
    over (None: every location). The order of rows is the vendor's.
    """

    system: str

    def catalog_stock(
        self, *, measure: QuantityKind = "available", locations: Collection[str] | None = None
    ) -> AsyncIterator[CatalogStock]: ...


@runtime_checkable
class SellThroughSource(Protocol):
    """A system that knows both each SKU's stock and its recent sales (an ERP's item and
    sales-line tables, say), for low-stock monitoring. Streams like ``CatalogSource``; rows of
    SKUs that sold nothing in the window may be left out."""

    system: str

    def sell_through(self, *, days: int = 28) -> AsyncIterator[SellThrough]: ...


@dataclass(frozen=True)
class Stack:
    """The systems connected for one triage: a storefront, its marketplaces, a connector, an
    ERP and optionally a WMS."""

    storefront: StorefrontAdapter
    middleware: MiddlewareAdapter
    erp: ErpAdapter
    marketplaces: tuple[MarketplaceAdapter, ...] = field(default_factory=tuple)
    wms: WmsAdapter | None = None
