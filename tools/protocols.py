"""One async protocol per layer. The engine talks to these and to nothing else.

A vendor adapter implements exactly one of them (``tools/<layer>/<vendor>.py``), returns the
normalized models of ``tools.models`` and raises ``tools.errors.AdapterError`` when the system
cannot be read. Adapters never decide anything: they report what the system shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tools.models import (
    ChannelListing,
    ErpSnapshot,
    MiddlewareSnapshot,
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


@dataclass(frozen=True)
class Stack:
    """The systems connected for one triage: a storefront, its marketplaces, a connector, an
    ERP and optionally a WMS."""

    storefront: StorefrontAdapter
    middleware: MiddlewareAdapter
    erp: ErpAdapter
    marketplaces: tuple[MarketplaceAdapter, ...] = field(default_factory=tuple)
    wms: WmsAdapter | None = None
