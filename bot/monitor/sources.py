"""What the monitors read: a live stack from the stack config, or the generated sandbox catalog.

``Monitor`` is the one object the CLI (``oos health``, ``oos map``), the Slack commands and the
schedules share. It builds adapters when a check runs and closes them when it ends (a check
every 15 minutes does not hold connections in between), and keeps its state beside the triage
store (``db_path``): drift episodes, latency breaches, leases.

    check          live stack (``from_config``)            sandbox (``sandbox``)
    health         the middleware adapter's flow_health    the catalog's flows and runs over the
                                                           Celigo emulator and the real adapter
    drift          ``run_drift`` over the config           ``run_drift`` over the catalog
    latency        flow lags, plus per-SKU reads of the    flow lags, plus the lags the catalog
                   config's ``watch_skus`` and the SKUs    observes on its hops (``hop_lags``)
                   the latest drift run left open
    low stock      the ERP's ``sell_through`` when it has  ``CatalogSellThrough`` (seeded fast
                   one (NetSuite: SuiteQL sales lines,     sellers)
                   available at ``[drift] erp_locations``)
    map            the flows, and a latency reading        the same, from the catalog
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.config import ConfigError, MonitoringConfig, StackConfig
from bot.live import open_stack
from bot.monitor.drift import DriftResult, run_drift
from bot.monitor.health import HealthReport, check_health
from bot.monitor.latency import (
    HopLag,
    LatencyReading,
    hop_key,
    lags_from_flows,
    lags_from_sku,
)
from bot.monitor.lowstock import LowStock, scan_low_stock
from bot.monitor.map import Systems, TriggerMap, build_map
from bot.monitor.state import DriftState
from bot.settings import Thresholds
from tools.clock import Clock, utc_now
from tools.errors import AdapterError
from tools.models import ChannelListing, ErpSnapshot, FlowHealth, SellThrough
from tools.offloop import in_worker_loop
from tools.protocols import MiddlewareAdapter, SellThroughSource, Stack
from tools.registry import UnknownVendor, factory
from tools.retry import RetryPolicy
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.monitoring import CatalogSellThrough, catalog_middleware

log = logging.getLogger(__name__)
FLOW_WINDOW = timedelta(days=1)  # how far back the map and the latency check read flow runs
SKU_READS = 8  # concurrent per-SKU reads in a latency check
SANDBOX_SIZE = 10_000
LOW_STOCK_LISTED = 10_000  # low-stock SKUs kept for the CSV (least cover first); all are counted


def _now() -> datetime:
    return utc_now()


@dataclass
class Monitor:
    """A stack to monitor and where its monitoring state lives (module docstring)."""

    name: str
    target: StackConfig | GeneratedCatalog
    db_path: Path
    settings: MonitoringConfig = field(default_factory=MonitoringConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    clock: Clock = _now
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None
    # How the latency check opens the live stack for its per-SKU reads (tests: in memory).
    stack_opener: Callable[[], AbstractAsyncContextManager[Stack]] | None = None

    @classmethod
    def from_config(
        cls,
        config: StackConfig,
        db_path: Path,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        clock: Clock = _now,
    ) -> Monitor:
        return cls(
            name=config.name,
            target=config,
            db_path=db_path,
            settings=config.monitoring,
            thresholds=config.thresholds,
            clock=clock,
            transports=transports,
        )

    @classmethod
    def sandbox(
        cls,
        db_path: Path,
        *,
        size: int = SANDBOX_SIZE,
        seed: int = 7,
        settings: MonitoringConfig | None = None,
        clock: Clock = _now,
    ) -> Monitor:
        catalog = GeneratedCatalog(size, seed)
        return cls(
            name=f"sandbox ({size:,} SKUs)",
            target=catalog,
            db_path=db_path,
            settings=settings or MonitoringConfig(),
            thresholds=Thresholds(drift_units=catalog.threshold),
            clock=clock,
        )

    @property
    def scope(self) -> str:
        """Keeps this stack's state apart from others' (as the drift state does)."""
        target = self.target
        return target.scope if isinstance(target, GeneratedCatalog) else target.name

    @property
    def systems(self) -> Systems:
        target = self.target
        if isinstance(target, GeneratedCatalog):
            return Systems(
                storefront="shopify",
                middleware="celigo",
                erp="netsuite",
                marketplaces=[("amazon", "amazon-sp-api")],
            )
        return Systems(
            storefront=target.storefront.vendor,
            middleware=target.middleware.vendor,
            erp=target.erp.vendor,
            marketplaces=[(m.channel, m.vendor) for m in target.marketplaces],
            wms=target.wms.vendor if target.wms else None,
        )

    # --- adapters, built per check ----------------------------------------------------------

    @asynccontextmanager
    async def middleware(
        self, now: datetime, window: timedelta
    ) -> AsyncIterator[MiddlewareAdapter]:
        target = self.target
        if isinstance(target, GeneratedCatalog):
            adapter: Any = catalog_middleware(target, now, window=max(window, timedelta(days=7)))
        else:
            entry = target.middleware
            missing = entry.missing_secrets()
            if missing:
                raise ConfigError(
                    f"middleware ({entry.vendor}): environment variable "
                    f"{', '.join(missing)} is not set"
                )
            try:
                adapter = factory("middleware", entry.vendor)(
                    base_url=entry.base_url,
                    credentials=entry.credentials,
                    options=dict(entry.options),
                    transport=(self.transports or {}).get("middleware"),
                    retry=RetryPolicy.scan(),  # a background check can wait out a throttle
                )
            except UnknownVendor as exc:
                raise ConfigError(str(exc)) from None
            except ValueError as exc:
                raise ConfigError(f"middleware ({entry.vendor}): {exc}") from None
        try:
            yield adapter
        finally:
            await adapter.aclose()

    # --- the checks ---------------------------------------------------------------------------

    async def health(self, *, window: timedelta = timedelta(days=7)) -> HealthReport:
        now = self.clock()
        async with self.middleware(now, window) as middleware:
            return await check_health(middleware, now=now, window=window)

    async def drift(self, *, announce: bool = True) -> DriftResult:
        """One drift run, recorded in the drift state (``DriftError`` when it cannot run).
        ``announce=False``: its news stays news until ``drift_announced`` (the post went out)."""
        now = self.clock()

        async def scan() -> DriftResult:
            state = DriftState(self.db_path)
            try:
                return await run_drift(
                    self.target, state, now, transports=self.transports, announce=announce
                )
            finally:
                state.close()

        # Reading, parsing and comparing a whole catalog is CPU work for minutes at 1M SKUs:
        # off the server's loop, so acks and /healthz answer meanwhile.
        return await in_worker_loop(scan)

    def drift_announced(self, result: DriftResult) -> None:
        """``result``'s post went out: its new gaps and resolutions are no longer news."""
        state = DriftState(self.db_path)
        try:
            state.announced(result.scope, result.run_id)
        finally:
            state.close()

    async def low_stock(self) -> LowStock | None:
        """Low stock, when something can show sell-through (None: nothing can, or the live
        source could not be read — logged; the drift post then leaves the line out)."""

        async def scan() -> LowStock | None:
            async with self.sell_through() as source:
                if source is None:
                    return None
                return await scan_low_stock(
                    source.sell_through(days=self.settings.sell_through_days),
                    factor=self.settings.low_stock_factor,
                    keep=LOW_STOCK_LISTED,
                )

        try:
            return await in_worker_loop(scan)  # catalog-wide, as drift
        except (AdapterError, ConfigError) as exc:
            reason = exc.describe() if isinstance(exc, AdapterError) else str(exc)
            log.warning("low stock not checked: %s", reason)
            return None

    @asynccontextmanager
    async def sell_through(self) -> AsyncIterator[SellThroughSource | None]:
        """What shows sell-through: the sandbox catalog, or a live ERP adapter with a
        ``sell_through`` bulk path (NetSuite), built for this check and closed after it."""
        target = self.target
        if isinstance(target, GeneratedCatalog):
            yield CatalogSellThrough(target, self.clock())
            return
        entry = target.erp
        if entry.vendor != "netsuite":
            yield None  # no other ERP adapter has the bulk path yet
            return
        missing = entry.missing_secrets()
        if missing:
            raise ConfigError(
                f"erp ({entry.vendor}): environment variable {', '.join(missing)} is not set"
            )
        try:
            erp = factory("erp", entry.vendor)(
                base_url=entry.base_url,
                credentials=entry.credentials,
                options=dict(entry.options),
                transport=(self.transports or {}).get("erp"),
                retry=RetryPolicy.scan(),
            )
        except UnknownVendor as exc:
            raise ConfigError(str(exc)) from None
        except ValueError as exc:
            raise ConfigError(f"erp ({entry.vendor}): {exc}") from None
        try:
            yield _LocatedSellThrough(entry.vendor, erp, target.drift.erp_locations, self.clock())
        finally:
            await erp.aclose()

    async def flows(self, now: datetime) -> tuple[list[FlowHealth], list[str]]:
        """The connector's flows over the last day, and what could not be read."""
        try:
            async with self.middleware(now, FLOW_WINDOW) as middleware:
                return await middleware.flow_health(now - FLOW_WINDOW), []
        except AdapterError as exc:
            return [], [exc.describe()]
        except ConfigError as exc:
            return [], [str(exc)]

    async def latency(self, flows: Sequence[FlowHealth] | None = None) -> LatencyReading:
        """One latency reading (module docstring of ``bot.monitor.latency``)."""
        now = self.clock()
        unread: list[str] = []
        if flows is None:
            flows, unread = await self.flows(now)
        lags, covered = lags_from_flows(flows, now)
        target = self.target
        if isinstance(target, GeneratedCatalog):
            for seen in target.hop_lags(now):
                covered.append(hop_key(seen.hop, seen.channel))
                every = f" every {seen.interval_minutes} min" if seen.interval_minutes else ""
                lags.append(
                    HopLag(
                        hop=seen.hop,
                        channel=seen.channel,
                        lag_minutes=round(seen.lag_minutes, 1),
                        since=now - timedelta(minutes=seen.lag_minutes),
                        detail=f"{seen.lag_minutes:.0f} min behind ({seen.trigger}{every})",
                    )
                )
        else:
            sku_lags, sku_covered, sku_unread = await self._sku_lags(target, now)
            lags += sku_lags
            covered += sku_covered
            unread += sku_unread
        return LatencyReading(
            observed_at=now,
            lags=lags,
            covered=sorted(set(covered)),
            unread=unread,
        )

    def latency_skus(self) -> list[str]:
        """The config's watch list, then the SKUs the latest drift run left open (capped)."""
        skus = list(dict.fromkeys(self.settings.watch_skus))
        if self.settings.latency_sample:
            state = DriftState(self.db_path)
            try:
                open_skus = state.open_skus(self.scope)
            finally:
                state.close()
            extra = [s for s in open_skus if s not in skus]
            skus += extra[: self.settings.latency_sample]
        return skus

    async def _sku_lags(
        self, config: StackConfig, now: datetime
    ) -> tuple[list[HopLag], list[str], list[str]]:
        skus = self.latency_skus()
        if not skus:
            return [], [], []
        lags: list[HopLag] = []
        covered: list[str] = []
        unread: list[str] = []
        gate = asyncio.Semaphore(SKU_READS)

        async def one(stack: Stack, sku: str) -> None:
            async with gate:
                try:
                    found = await _read(stack, sku, now)
                except AdapterError as exc:
                    unread.append(f"{sku}: {exc.describe()}")
                    return
            sf, listings, erp = found
            seen, looked = lags_from_sku(sf, listings, erp, now)
            lags.extend(seen)
            covered.extend(looked)

        # The WMS has no adapter yet; the latency check reads everything else.
        without_wms = config.model_copy(update={"wms": None})
        opener = self.stack_opener or (lambda: open_stack(without_wms, transports=self.transports))
        try:
            async with opener() as stack:
                await asyncio.gather(*(one(stack, sku) for sku in skus))
        except ConfigError as exc:  # e.g. a vendor no adapter exists for
            unread.append(str(exc))
        return lags, covered, unread

    async def trigger_map(self) -> TriggerMap:
        now = self.clock()
        flows, unread = await self.flows(now)
        reading = await self.latency(flows)
        notes = [f"the connector could not be read: {u}" for u in unread]
        notes += [f"not read: {u}" for u in reading.unread[:3]]
        return build_map(
            self.systems,
            flows,
            reading,
            now=now,
            name=self.name,
            threshold_minutes=self.thresholds.latency_minutes,
            notes=notes,
        )


@dataclass
class _LocatedSellThrough:
    """An ERP adapter's ``sell_through`` with the available quantity summed over the stack's
    sellable locations (``[drift] erp_locations``, as the drift check sums them) and the
    window ending at the monitor's clock."""

    system: str
    erp: Any
    locations: Sequence[str] | None
    now: datetime

    def sell_through(self, *, days: int = 28) -> AsyncIterator[SellThrough]:
        located: AsyncIterator[SellThrough] = self.erp.sell_through(
            days=days, locations=self.locations, now=self.now
        )
        return located


async def _read(
    stack: Stack, sku: str, now: datetime
) -> tuple[Any, list[ChannelListing], ErpSnapshot | None]:
    """One SKU on the storefront, each marketplace that lists it, and the ERP (None when the
    ERP has no such item)."""
    sf = await stack.storefront.read_sku(sku)
    listings: list[ChannelListing] = []
    for marketplace in stack.marketplaces:
        try:
            listings.append(await marketplace.read_listing(sku))
        except AdapterError as exc:
            if exc.kind != "not_found":
                raise
    try:
        erp: ErpSnapshot | None = await stack.erp.read_item(sku, now - FLOW_WINDOW)
    except AdapterError as exc:
        if exc.kind != "not_found":
            raise
        erp = None
    return sf, listings, erp
