"""Generated sandbox catalogs: any size, seeded, with a known set of gaps, for monitoring.

``GeneratedCatalog(size, seed)`` describes a shop and its ERP without holding either: every item
is computed from ``(seed, item number, day)`` when an emulator asks for it, so a million-SKU
catalog costs a few kilobytes until it is read, and reading it streams. It plugs into the real
vendor emulators — ``storefront(day)`` is a ``VariantCatalog`` for
``tools.sandbox.emulators.shopify.ShopifyEmulator(catalog=…)``, ``erp(day)`` an ``ItemCatalog``
for ``tools.sandbox.emulators.netsuite.NetSuiteEmulator(catalog=…)`` — so scans run over the
real adapters, their bulk paths and the vendors' wire formats.

The shop (Shopify) has two locations, the ERP (NetSuite) three::

    Shopify gid://shopify/Location/1  Main warehouse   ↔  NetSuite location 1  Main warehouse
    Shopify gid://shopify/Location/2  East DC          ↔  NetSuite location 2  East DC
                                                          NetSuite location 3  Returns & damaged

so the figure to compare is the ERP's sum over locations 1 and 2 (``erp_locations``): stock in
returns is not sellable. Comparing the way the config says finds exactly the seeded gaps; the
catalog is built so that getting it wrong shows — a quarter of the items hold 6 to 35 units in
returns, and on-hand exceeds available by up to 9 committed units — while no item differs
when compared right unless it is seeded to.

Seeded items (positions drawn from ``seed``; everything else agrees exactly):

    gap          storefront available (and on hand) off by threshold + 1 to threshold + 30, in
                 either direction, on the days its cycle says (``expected_gaps(day)``): each gap
                 comes and goes on a cycle of 3 to 9 days, so consecutive days show new, still
                 open and resolved gaps — except the first, which stays open every day, so a scan
                 on any date finds at least one
    near_miss    off by 1 to ``threshold`` units: never flagged
    untracked    a storefront variant that does not track inventory, with an unrelated quantity
    non_inventory, inactive   NetSuite items the scan must leave out (NonInvtPart, isinactive)
    storefront_only, erp_only a SKU only one system lists
    duplicate    a SKU carried by two storefront variants

For connector health and latency the catalog also names its flows (one suspended, seeded),
their run counts over a window (one above the 0.5 % error bar) and each hop's observed lag (one
or two beyond 15 minutes): ``flows(now)``, ``flow_health(now, since)``, ``hop_lags(now)``.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from tools.models import Flow, FlowHealth, Hop, QuantityKind, Source
from tools.sandbox.emulators.netsuite import CatalogItem
from tools.sandbox.emulators.shopify import CatalogLevel, CatalogVariant
from tools.sandbox.memory import health_of

Kind = Literal[
    "regular",
    "gap",
    "near_miss",
    "untracked",
    "non_inventory",
    "inactive",
    "storefront_only",
    "erp_only",
    "duplicate",
]

SHOP_LOCATIONS = (
    ("gid://shopify/Location/1", "Main warehouse"),
    ("gid://shopify/Location/2", "East DC"),
)
ERP_LOCATIONS = (("1", "Main warehouse"), ("2", "East DC"), ("3", "Returns & damaged"))
SELLABLE_ERP_LOCATIONS = ("1", "2")
EPOCH = date(2026, 1, 1)  # day 0 of the gap cycles

_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash, so item n is the same on every read."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class ExpectedGap:
    """A gap a correct scan must flag: the storefront and the ERP figure for the SKU."""

    sku: str
    storefront: int
    erp: int

    @property
    def gap(self) -> int:
        return self.storefront - self.erp


@dataclass(frozen=True)
class _Cycle:
    period: int
    duration: int
    phase: int
    sign: int

    def active(self, day: int) -> bool:
        return (day + self.phase) % self.period < self.duration


@dataclass(frozen=True)
class _Stock:
    """One item's true stock: (available, on hand) at each ERP location."""

    main: tuple[int, int]
    east: tuple[int, int]
    returns: tuple[int, int]


@dataclass(frozen=True)
class ObservedLag:
    """A hop of the trigger chain as the sandbox shows it: how it is triggered, its interval,
    and the lag observed on it now (minutes)."""

    hop: Hop
    channel: str | None
    trigger: Literal["event", "poll", "batch"]
    interval_minutes: int | None
    lag_minutes: float


class GeneratedCatalog:
    """A seeded catalog of ``size`` SKUs (``SKU-0000001`` …) with a known set of gaps.

    ``threshold`` is the gap the seeded gaps exceed and the near misses stay within (the drift
    threshold, default 5). ``gap_rate`` sets how many gaps are seeded (at least three).
    ``measure``, ``erp_locations`` and ``storefront_locations`` are how its stack is meant to be
    compared (the sandbox's ``[drift]`` table); the seeded gaps are the same for either measure.
    """

    erp_locations: tuple[str, ...] = SELLABLE_ERP_LOCATIONS
    storefront_locations: tuple[str, ...] | None = None

    def __init__(
        self,
        size: int,
        seed: int = 7,
        *,
        threshold: int = 5,
        gap_rate: float = 0.001,
        measure: QuantityKind = "available",
    ) -> None:
        if size < 1:
            raise ValueError("a catalog has at least one SKU")
        if threshold < 0:
            raise ValueError("the threshold is zero or more units")
        self.size = size
        self.seed = seed
        self.measure: QuantityKind = measure
        self.threshold = threshold
        self.gaps = max(3, round(size * gap_rate))
        self._salt = _mix(seed)
        self.kinds: dict[int, Kind] = {}
        self._cycles: dict[int, _Cycle] = {}
        self._seed_specials(random.Random(seed))

    @property
    def scope(self) -> str:
        """Keeps this catalog's drift state apart from other catalogs' and live stacks'."""
        return f"sandbox:{self.size}:{self.seed}"

    def day(self, now: datetime) -> int:
        """The gap-cycle day ``now`` falls on."""
        return (now.astimezone(UTC).date() - EPOCH).days

    def sku(self, n: int) -> str:
        return f"SKU-{n:07d}"

    # --- what is seeded ----------------------------------------------------------------------

    def _seed_specials(self, rng: random.Random) -> None:
        few = max(1, self.size // 2000)
        wanted: list[tuple[Kind, int]] = [
            ("gap", self.gaps),
            ("near_miss", self.gaps),
            ("untracked", few),
            ("non_inventory", few),
            ("inactive", few),
            ("storefront_only", few),
            ("erp_only", few),
            ("duplicate", few),
        ]
        total = sum(count for _, count in wanted)
        if total > self.size:  # a tiny catalog: keep the proportions, at least one of each
            wanted = [(kind, max(1, count * self.size // total)) for kind, count in wanted]
            while sum(c for _, c in wanted) > self.size:
                wanted = [(k, c - 1) if c > 1 else (k, c) for k, c in wanted]
                if all(c == 1 for _, c in wanted):
                    wanted = wanted[: self.size]
        positions = iter(rng.sample(range(1, self.size + 1), sum(c for _, c in wanted)))
        for kind, count in wanted:
            for _ in range(count):
                n = next(positions)
                self.kinds[n] = kind
                if kind == "gap":
                    period = rng.randint(3, 9)
                    cycle = _Cycle(
                        period=period,
                        duration=rng.randint(1, period - 1),
                        phase=rng.randrange(period),
                        sign=rng.choice((1, -1)),
                    )
                    if not self._cycles:  # a gap that never closes: one to find on any date
                        cycle = replace(cycle, duration=period)
                    self._cycles[n] = cycle
        self.gaps = sum(1 for k in self.kinds.values() if k == "gap")
        self._special_ids = sorted(self.kinds)
        # For NetSuite's totalResults: ERP items by (type, inactive) class, in id order.
        self._erp_classes: dict[tuple[str, bool], list[int]] = {}
        for n, kind in sorted(self.kinds.items()):
            if kind != "storefront_only":
                self._erp_classes.setdefault(self._erp_class(kind), []).append(n)

    @staticmethod
    def _erp_class(kind: Kind) -> tuple[str, bool]:
        return ("NonInvtPart" if kind == "non_inventory" else "InvtPart", kind == "inactive")

    def count(self, kind: Kind) -> int:
        return sum(1 for k in self.kinds.values() if k == kind)

    def expected_gaps(self, day: int) -> dict[str, ExpectedGap]:
        """Every SKU a correct scan flags on ``day``, with both figures (available, summed over
        the sellable locations; on-hand figures differ by the same gap)."""
        out = {}
        for n, cycle in self._cycles.items():
            if cycle.active(day):
                stock = self._stock(n)
                erp = stock.main[0] + stock.east[0]
                out[self.sku(n)] = ExpectedGap(self.sku(n), erp + self._offset(n, day), erp)
        return out

    # --- one item ------------------------------------------------------------------------------

    def _stock(self, n: int) -> _Stock:
        h = _mix(self._salt ^ n)
        main, east = h % 60, (h >> 8) % 40
        committed_main, committed_east = (h >> 16) % 10, (h >> 20) % 4
        returns = (h >> 28) % 30 + 6 if (h >> 24) % 4 == 0 else 0
        return _Stock(
            main=(main, main + committed_main),
            east=(east, east + committed_east),
            returns=(returns, returns),
        )

    def _offset(self, n: int, day: int) -> int:
        """How far the storefront is off the ERP for item ``n`` on ``day`` (0: in sync)."""
        kind = self.kinds.get(n, "regular")
        h = _mix(self._salt ^ (n << 1) ^ 0xD1F7)
        if kind == "gap":
            cycle = self._cycles[n]
            if not cycle.active(day):
                return 0
            size = self.threshold + 1 + h % 30
            if cycle.sign < 0 and self._stock(n).main[0] < size:
                return size  # the storefront cannot go below zero: show too much instead
            return cycle.sign * size
        if kind == "near_miss" and self.threshold > 0:
            size = 1 + h % self.threshold
            return size if self._stock(n).main[0] < size or h & 1 else -size
        return 0

    def _variant(self, n: int, day: int, number: int | None = None) -> CatalogVariant:
        stock = self._stock(n)
        offset = self._offset(n, day)
        (main, main_on_hand), (east, east_on_hand) = stock.main, stock.east
        levels = (
            CatalogLevel(
                SHOP_LOCATIONS[0][0], SHOP_LOCATIONS[0][1], main + offset, main_on_hand + offset
            ),
            CatalogLevel(SHOP_LOCATIONS[1][0], SHOP_LOCATIONS[1][1], east, east_on_hand),
        )
        tracked = self.kinds.get(n) != "untracked"
        available = main + east + offset
        if not tracked:
            available = (_mix(self._salt ^ n ^ 0x5EED) % 500) + 100  # no stock signal at all
        return CatalogVariant(
            number=number or n,
            sku=self.sku(n),
            available=available,
            levels=levels,
            tracked=tracked,
        )

    def _item(self, n: int) -> CatalogItem:
        stock = self._stock(n)
        kind = self.kinds.get(n, "regular")
        item_type, inactive = self._erp_class(kind)
        if kind == "non_inventory":
            return CatalogItem(n, self.sku(n), (), item_type, inactive)
        places = (
            (ERP_LOCATIONS[0][0], *stock.main),
            (ERP_LOCATIONS[1][0], *stock.east),
            (ERP_LOCATIONS[2][0], *stock.returns),
        )
        return CatalogItem(n, self.sku(n), places, item_type, inactive)

    # --- the two systems, as the emulators read them -------------------------------------------

    def storefront(self, day: int) -> _Storefront:
        """The shop on ``day``, for ``ShopifyEmulator(catalog=…)``."""
        return _Storefront(self, day)

    def erp(self) -> _Erp:
        """The ERP (the truth: its figures do not cycle), for ``NetSuiteEmulator(catalog=…)``."""
        return _Erp(self)

    # --- connector health and latency ----------------------------------------------------------

    def flows(self, now: datetime) -> list[Flow]:
        """The connector's inventory flows; one (seeded) is suspended since a token revocation."""
        rng = random.Random(self.seed ^ 0xF10)
        flows = [
            Flow(id="flow-sf-erp", name="Shopify → NetSuite inventory", hop="storefront_to_erp"),
            Flow(
                id="flow-erp-sf",
                name="NetSuite → Shopify inventory",
                hop="erp_to_storefront",
                trigger="poll",
                interval_minutes=15,
            ),
            Flow(
                id="flow-sf-amazon",
                name="Shopify → Amazon inventory",
                hop="storefront_to_marketplace",
                channel="amazon",
                trigger="poll",
                interval_minutes=10,
            ),
            Flow(
                id="flow-wms-erp",
                name="WMS → NetSuite receipts",
                hop="wms_to_erp",
                trigger="batch",
                interval_minutes=60,
            ),
        ]
        down = rng.randrange(len(flows))
        since = now - timedelta(hours=rng.randint(2, 40))
        flows[down] = flows[down].model_copy(
            update={
                "status": "suspended",
                "status_reason": "connection offline: the NetSuite token was revoked",
                "status_since": since,
            }
        )
        return [f.model_copy(update={"last_run_at": now - timedelta(minutes=7)}) for f in flows]

    def flow_health(self, now: datetime, since: datetime) -> list[FlowHealth]:
        """Each flow's runs since ``since``; one (seeded) fails 1–3 % of its records."""
        rng = random.Random(self.seed ^ 0xBAD)
        noisy = rng.randrange(4)
        out = []
        for k, flow in enumerate(self.flows(now)):
            ok = rng.randint(2_000, 20_000)
            failed = round(ok * rng.uniform(0.01, 0.03)) if k == noisy else ok // 5_000
            out.append(
                health_of(
                    flow,
                    source=Source(system="celigo", endpoint="sandbox catalog"),
                    read_at=now,
                    window_start=since,
                    runs=rng.randint(150, 700),
                    failed_runs=1 if k == noisy else 0,
                    records_ok=ok,
                    records_failed=failed,
                )
            )
        return out

    def hop_lags(self, now: datetime) -> list[ObservedLag]:
        """Each hop's observed lag; one or two (seeded) are past 15 minutes."""
        rng = random.Random(self.seed ^ 0x1A6)
        slow = set(rng.sample(range(4), rng.randint(1, 2)))
        out = []
        for k, flow in enumerate(self.flows(now)):
            usual = (flow.interval_minutes or 1) / 2
            lag = rng.uniform(16, 90) if k in slow else rng.uniform(0.2, min(usual, 12))
            out.append(
                ObservedLag(flow.hop, flow.channel, flow.trigger, flow.interval_minutes, lag)
            )
        return out


class _Storefront:
    """``VariantCatalog``: the shop's variants on one day, generated as they are read."""

    def __init__(self, catalog: GeneratedCatalog, day: int) -> None:
        self.catalog = catalog
        self.day = day

    def __len__(self) -> int:
        c = self.catalog
        return c.size - c.count("erp_only") + c.count("duplicate")

    def variants(self) -> Iterator[CatalogVariant]:
        c, day = self.catalog, self.day
        kinds = c.kinds
        extra = c.size  # duplicate variants are numbered after the catalog's own
        for n in range(1, c.size + 1):
            kind = kinds.get(n)
            if kind == "erp_only":
                continue
            yield c._variant(n, day)
            if kind == "duplicate":
                extra += 1
                yield c._variant(n, day, number=extra)


class _Erp:
    """``ItemCatalog``: the ERP's items in internal-id order, generated as they are read."""

    def __init__(self, catalog: GeneratedCatalog) -> None:
        self.catalog = catalog

    def items_after(self, item_id: int) -> Iterator[CatalogItem]:
        c = self.catalog
        kinds = c.kinds
        for n in range(max(item_id, 0) + 1, c.size + 1):
            if kinds.get(n) != "storefront_only":
                yield c._item(n)

    def count_after(self, item_id: int, keep: Callable[[CatalogItem], bool]) -> int:
        c = self.catalog
        specials = c._special_ids
        special_after = len(specials) - bisect.bisect_right(specials, item_id)
        regular_after = max(0, c.size - max(item_id, 0) - special_after)
        total = regular_after if keep(CatalogItem(0, "", (), "InvtPart", False)) else 0
        for (item_type, inactive), ids in c._erp_classes.items():
            if keep(CatalogItem(0, "", (), item_type, inactive)):
                total += len(ids) - bisect.bisect_right(ids, item_id)
        return total
