"""The generated sandbox catalog (``tools.sandbox.catalog``) as the monitors read it: its
connector over the real Celigo adapter and emulator, and its sell-through.

``catalog_middleware(catalog, now)`` is a ``CeligoMiddleware`` talking to a ``CeligoEmulator``
that renders the catalog's flows (one suspended) and their runs over the window (one flow above
the 0.5 % error bar), so connector health runs the adapter's real path and Celigo's wire shapes.

``CatalogSellThrough(catalog, now)`` is a ``SellThroughSource``: each tracked storefront SKU's
available quantity (the shop on ``now``'s day) and its units sold over the last ``days``, drawn
from ``(seed, SKU)``. A seeded set of SKUs (about one in 500: ``expected_low``) sells fast
enough to have under two days of cover; every other SKU has three days or more, or sold
nothing (one with nothing available sold nothing, so it is never low by the rule).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from tools.middleware.celigo import DEFAULT_TOKEN_ENV, CeligoMiddleware
from tools.middleware.celigo_config import FlowMapping
from tools.models import MiddlewareSnapshot, SellThrough, Source
from tools.retry import RetryPolicy
from tools.sandbox.catalog import GeneratedCatalog, _mix
from tools.sandbox.emulators.celigo import CeligoEmulator

HEALTH_WINDOW = timedelta(days=7)
PAGE_SIZE = 200  # items per page the sandbox account answers with
LOW_RATE = 500  # about one SKU in this many is seeded to run low
_SANDBOX_RETRY = RetryPolicy(max_attempts=3, total_seconds=0.5, base_delay=0.01, max_delay=0.05)


def catalog_emulator(
    catalog: GeneratedCatalog, now: datetime, *, window: timedelta = HEALTH_WINDOW
) -> CeligoEmulator:
    """The catalog's integrator.io account at ``now``: its flows and their runs over ``window``
    (the health check reads all of it, the map and the latency check its last day)."""
    state = MiddlewareSnapshot(
        source=Source(system="celigo", endpoint="sandbox catalog"),
        read_at=now,
        vendor="celigo",
        flows=catalog.flows(now),
    )
    return CeligoEmulator(state, runs=catalog.flow_health(now, now - window), page_size=PAGE_SIZE)


def catalog_middleware(
    catalog: GeneratedCatalog,
    now: datetime,
    *,
    window: timedelta = HEALTH_WINDOW,
    emulator: CeligoEmulator | None = None,
) -> CeligoMiddleware:
    """The catalog's connector, as Celigo would answer at ``now`` (close it with ``aclose``)."""
    emulator = emulator or catalog_emulator(catalog, now, window=window)
    mappings = {
        f.id: FlowMapping(hop=f.hop, channel=f.channel, carries=list(f.carries))
        for f in emulator.state.flows
    }
    return CeligoMiddleware(
        mappings,
        transport=emulator,
        retry=_SANDBOX_RETRY,
        clock=lambda: now,
        environ={DEFAULT_TOKEN_ENV: emulator.token},
    )


class CatalogSellThrough:
    """``SellThroughSource`` over a generated catalog (module docstring)."""

    system = "sandbox"

    def __init__(self, catalog: GeneratedCatalog, now: datetime) -> None:
        self.catalog = catalog
        self.now = now
        rng = random.Random(catalog.seed ^ 0x10757)
        count = min(catalog.size, max(3, catalog.size // LOW_RATE))
        self._fast = set(rng.sample(range(1, catalog.size + 1), count))

    def _sold(self, n: int, available: int, days: int) -> int:
        h = _mix(self.catalog.seed ^ (n << 3) ^ 0x5A1E5)
        if n in self._fast:
            if available <= 0:
                return days * (1 + h % 5)
            cover = 0.2 + (h % 170) / 100  # 0.2 to 1.9 days
            return math.ceil(available * days / cover)
        if available <= 0 or h % 10 == 0:
            return 0
        cover = 3 + h % 58  # 3 to 60 days
        return available * days // cover

    async def sell_through(self, *, days: int = 28) -> AsyncIterator[SellThrough]:
        catalog = self.catalog
        source = Source(system="sandbox", endpoint="generated catalog sell-through")
        for variant in catalog.storefront(catalog.day(self.now)).variants():
            if not variant.tracked or variant.number > catalog.size:
                continue  # no stock signal, or the second variant of a duplicated SKU
            yield SellThrough(
                source=source,
                read_at=self.now,
                sku=variant.sku,
                available=variant.available,
                sold=self._sold(variant.number, variant.available, days),
                days=float(days),
            )

    def expected_low(self) -> set[str]:
        """The SKUs a correct low-stock pass finds: the seeded fast sellers it reads."""
        kinds = self.catalog.kinds
        return {
            self.catalog.sku(n) for n in self._fast if kinds.get(n) not in ("untracked", "erp_only")
        }
