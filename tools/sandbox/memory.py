"""In-memory adapters built from a scenario: the fastest way to run the engine over it.

Each adapter answers with the scenario's snapshot for its system (or raises the scenario's
error), after an optional injected latency so benchmarks can measure the engine's fan-out.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Generic, TypeVar

from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    MiddlewareSnapshot,
    StorefrontSnapshot,
    WmsSnapshot,
)
from tools.protocols import Stack
from tools.sandbox.scenario import Scenario, Unreadable

T = TypeVar("T")


class _Memory(Generic[T]):
    def __init__(self, system: str, state: T | Unreadable, sku: str, latency: float) -> None:
        self.system = system
        self._state = state
        self._sku = sku
        self._latency = latency

    async def _answer(self, sku: str) -> T:
        if self._latency:
            await asyncio.sleep(self._latency)
        if isinstance(self._state, Unreadable):
            raise AdapterError(
                self.system, self._state.kind, self._state.message, status=self._state.status
            )
        if sku != self._sku:
            raise AdapterError(self.system, "not_found", f"no record for SKU {sku}", status=404)
        return self._state


class MemoryStorefront(_Memory[StorefrontSnapshot]):
    async def read_sku(self, sku: str) -> StorefrontSnapshot:
        return await self._answer(sku)


class MemoryMarketplace(_Memory[ChannelListing]):
    def __init__(
        self,
        system: str,
        channel: str,
        state: ChannelListing | Unreadable,
        sku: str,
        latency: float,
    ) -> None:
        super().__init__(system, state, sku, latency)
        self.channel = channel

    async def read_listing(self, sku: str) -> ChannelListing:
        return await self._answer(sku)


class MemoryMiddleware(_Memory[MiddlewareSnapshot]):
    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        return await self._answer(sku)


class MemoryErp(_Memory[ErpSnapshot]):
    async def read_item(self, sku: str, since: datetime) -> ErpSnapshot:
        return await self._answer(sku)


class MemoryWms(_Memory[WmsSnapshot]):
    async def read_sku(self, sku: str) -> WmsSnapshot:
        return await self._answer(sku)


def _system(state: object, fallback: str) -> str:
    if isinstance(state, Unreadable):
        return state.system or fallback
    source = getattr(state, "source", None)
    return source.system if source is not None else fallback


def memory_stack(scenario: Scenario, latency: float = 0.0) -> Stack:
    """A ``Stack`` of in-memory adapters answering as the scenario's systems would."""
    sku = scenario.sku
    marketplaces = []
    for i, listing in enumerate(scenario.marketplaces):
        channel = (
            listing.channel
            if isinstance(listing, ChannelListing)
            else listing.channel or f"channel-{i + 1}"
        )
        marketplaces.append(
            MemoryMarketplace(_system(listing, channel), channel, listing, sku, latency)
        )
    wms = (
        MemoryWms(_system(scenario.wms, "wms"), scenario.wms, sku, latency)
        if scenario.wms is not None
        else None
    )
    return Stack(
        storefront=MemoryStorefront(
            _system(scenario.storefront, "storefront"), scenario.storefront, sku, latency
        ),
        middleware=MemoryMiddleware(
            _system(scenario.middleware, "middleware"), scenario.middleware, sku, latency
        ),
        erp=MemoryErp(_system(scenario.erp, "erp"), scenario.erp, sku, latency),
        marketplaces=tuple(marketplaces),
        wms=wms,
    )
