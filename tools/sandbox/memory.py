"""In-memory adapters built from a scenario: the fastest way to run the engine over it.

Each adapter answers with the scenario's snapshot for its system (or raises the scenario's
error), after an optional injected latency so benchmarks can measure the engine's fan-out.

The middleware also answers ``flow_health``: the ``health`` it was given, or else what its
snapshot shows (``health_from_snapshot``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    Flow,
    FlowHealth,
    MiddlewareSnapshot,
    Source,
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

    async def _readable(self) -> T:
        """The state, after the injected latency; the scenario's error if it is unreadable."""
        if self._latency:
            await asyncio.sleep(self._latency)
        if isinstance(self._state, Unreadable):
            raise AdapterError(
                self.system, self._state.kind, self._state.message, status=self._state.status
            )
        return self._state

    async def _answer(self, sku: str) -> T:
        state = await self._readable()
        if sku != self._sku:
            raise AdapterError(self.system, "not_found", f"no record for SKU {sku}", status=404)
        return state


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
    def __init__(
        self,
        system: str,
        state: MiddlewareSnapshot | Unreadable,
        sku: str,
        latency: float,
        health: Sequence[FlowHealth] | None = None,
    ) -> None:
        super().__init__(system, state, sku, latency)
        self._health = list(health) if health is not None else None

    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        return await self._answer(sku)

    async def flow_health(self, since: datetime) -> list[FlowHealth]:
        state = await self._readable()
        if self._health is not None:
            return list(self._health)
        return health_from_snapshot(state, since)


def health_from_snapshot(state: MiddlewareSnapshot, since: datetime) -> list[FlowHealth]:
    """Each flow of ``state`` with its log since ``since`` counted the way the Celigo emulator
    renders it: one run per upstream event (``source_id``), delivered entries succeeded, error
    and rate-limited entries failed (and stay open), filtered and dropped ones ignored."""
    healths: list[FlowHealth] = []
    for flow in state.flows:
        entries = [e for e in state.log if e.flow_id == flow.id and e.at >= since]
        failed = sum(e.stage in ("error", "rate_limited") for e in entries)
        healths.append(
            health_of(
                flow,
                source=state.source,
                read_at=state.read_at,
                window_start=since,
                runs=len({e.source_id or e.at.isoformat() for e in entries}),
                failed_runs=int(flow.status == "error"),
                records_ok=sum(e.stage == "delivered" for e in entries),
                records_failed=failed,
                records_ignored=sum(e.stage in ("filtered", "dropped") for e in entries),
                open_errors=failed,
            )
        )
    return healths


def health_of(
    flow: Flow,
    *,
    source: Source,
    read_at: datetime,
    window_start: datetime,
    runs: int,
    failed_runs: int,
    records_ok: int,
    records_failed: int,
    records_ignored: int = 0,
    open_errors: int = 0,
) -> FlowHealth:
    """``flow`` as it stands now (hop, status, trigger, last run), with what its runs did since
    ``window_start``."""
    return FlowHealth(
        source=source,
        read_at=read_at,
        flow_id=flow.id,
        name=flow.name,
        hop=flow.hop,
        channel=flow.channel,
        status=flow.status,
        status_reason=flow.status_reason,
        status_since=flow.status_since,
        trigger=flow.trigger,
        interval_minutes=flow.interval_minutes,
        last_run_at=flow.last_run_at,
        window_start=window_start,
        runs=runs,
        failed_runs=failed_runs,
        records_ok=records_ok,
        records_failed=records_failed,
        records_ignored=records_ignored,
        open_errors=open_errors,
    )


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
