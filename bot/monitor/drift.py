"""The daily drift check: every SKU's storefront quantity against its ERP quantity.

``run_drift(target, store, now)`` is the one entry point (the CLI, the daily Slack post and
``/oos drift`` all call it). It streams both catalogs through the adapters' bulk paths
(``bot.monitor.scan``), flags every SKU whose quantities differ by more than the threshold, and
records each flagged SKU's first-seen / last-seen in the store (``bot.monitor.state``), so a
``DriftResult`` says truthfully which gaps are new since the previous run, which are still open
(and for how many days) and which resolved — across restarts.

Fields the daily post uses: ``compared``, ``counts`` (flagged / new / open / resolved),
``worst(n)`` (the largest gaps), ``flagged`` and ``resolved`` (``DriftItem``: SKU, quantity per
system, gap, status, first / last seen, days open) and ``not_compared`` (SKUs only one system
lists, untracked variants, duplicate storefront SKUs). ``write_csv`` writes the full list.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, computed_field

from bot.config import ConfigError, StackConfig, load_config, require_env
from bot.monitor.scan import CompareRule, Counts, scan_catalogs
from bot.monitor.state import DriftState, Recorded, RunSummary, Tracked
from bot.outside_text import outside
from bot.settings import default_store_path
from bot.store import TriageStore
from tools.clock import utc_now
from tools.erp.netsuite import NetSuiteErp
from tools.erp.netsuite_config import NetSuiteConfig
from tools.errors import AdapterError
from tools.models import QuantityKind
from tools.protocols import CatalogSource
from tools.registry import UnknownVendor, factory
from tools.retry import RetryPolicy
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.storefront.shopify import DEFAULT_TOKEN_ENV, ShopifyStorefront

Status = Literal["new", "open", "resolved"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DriftItem(_Frozen):
    """One SKU whose storefront and ERP quantities disagree (or did, until this run).

    ``gap`` is storefront − ERP: positive means the storefront offers more than the ERP holds
    (oversell risk), negative that it hides stock the ERP has (lost sales). ``first_seen`` is
    the first run of this episode that flagged it, ``last_seen`` the latest; ``days_open`` whole
    days from ``first_seen`` to this run. A ``resolved`` item shows this run's (agreeing)
    quantities; a SKU flagged again after resolving starts a new episode (status ``new``).
    """

    sku: str
    storefront: int
    erp: int
    gap: int
    status: Status
    first_seen: datetime
    last_seen: datetime
    days_open: int
    storefront_record: str | None = None  # the storefront's id for it (Shopify variant gid)
    erp_record: str | None = None  # the ERP's id for it (NetSuite item internal id)


class NotCompared(_Frozen):
    """Rows a run could not compare, by reason (none of them is a gap)."""

    storefront_only: int = 0  # a storefront SKU the ERP does not list (check the SKU mapping)
    erp_only: int = 0  # an ERP item no storefront variant carries (often on purpose)
    untracked: int = 0  # storefront variants that do not track inventory: no stock signal
    duplicate_skus: int = 0  # SKUs on several storefront variants: which one syncs is ambiguous


class DriftCounts(_Frozen):
    compared: int
    flagged: int
    new: int
    open: int
    resolved: int


class DriftResult(_Frozen):
    """What one drift run found. JSON (``model_dump_json``) is the ``oos drift --json`` output.

    ``flagged`` holds every SKU over the threshold this run (status new or open), largest gap
    first; ``resolved`` the SKUs flagged before that agree now. ``unverified`` lists open SKUs
    this run could not compare (gone from one system, untracked): neither flagged nor resolved,
    they stay open. ``scope`` keeps state apart per stack (the config's ``name``, or the
    sandbox catalog's). The scan itself is flat in catalog size; this result holds the flagged
    and resolved SKUs, so it grows with the drift found, not with the catalog.
    """

    run_id: str
    scope: str
    ran_at: datetime
    previous_run_at: datetime | None
    seconds: float
    storefront: str  # the storefront system read, e.g. "shopify"
    erp: str  # the ERP read, e.g. "netsuite"
    measure: QuantityKind
    threshold: int
    storefront_locations: list[str] | None  # None: every location
    erp_locations: list[str] | None
    compared: int
    flagged: list[DriftItem]
    resolved: list[DriftItem]
    unverified: list[str] = []
    not_compared: NotCompared = NotCompared()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> DriftCounts:
        return DriftCounts(
            compared=self.compared,
            flagged=len(self.flagged),
            new=sum(i.status == "new" for i in self.flagged),
            open=sum(i.status == "open" for i in self.flagged),
            resolved=len(self.resolved),
        )

    def worst(self, n: int = 10) -> list[DriftItem]:
        """The ``n`` flagged SKUs with the largest gaps (either direction)."""
        return self.flagged[:n]


class DriftError(RuntimeError):
    """The drift check could not run (a system could not be read): nothing was recorded, and
    nothing may be reported as in sync. The message is one line an operator can act on."""

    def __init__(self, message: str, *, system: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.system = system
        self.kind = kind


# --- what is compared ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sources:
    storefront: CatalogSource
    erp: CatalogSource
    rule: CompareRule
    scope: str


def sandbox_transports(catalog: GeneratedCatalog, day: int) -> dict[str, httpx.AsyncBaseTransport]:
    """The emulators a sandbox drift run reads (Shopify with ``catalog.storefront(day)``,
    NetSuite with ``catalog.erp()``); pass them to ``run_drift`` to count their requests."""
    return {
        "storefront": ShopifyEmulator([], catalog=catalog.storefront(day), bulk_polls=0),
        "erp": NetSuiteEmulator([], catalog=catalog.erp()),
    }


def _sandbox_sources(
    catalog: GeneratedCatalog,
    transports: Mapping[str, httpx.AsyncBaseTransport],
    closing: AsyncExitStack,
) -> _Sources:
    shop = transports["storefront"]
    if not isinstance(shop, ShopifyEmulator):
        raise TypeError("a sandbox drift run reads a ShopifyEmulator (see sandbox_transports)")
    storefront = ShopifyStorefront(
        shop.shop,
        transport=shop,
        retry=RetryPolicy.scan(),
        environ={DEFAULT_TOKEN_ENV: shop.token},  # the emulator's; os.environ is never read
    )
    erp = NetSuiteErp(
        NetSuiteConfig(account_id="1234567"),
        transport=transports["erp"],
        retry=RetryPolicy.scan(),
        environ=sandbox_environ(),
    )
    closing.push_async_callback(storefront.aclose)
    closing.push_async_callback(erp.aclose)
    rule = CompareRule(
        measure=catalog.measure,
        threshold=catalog.threshold,
        storefront_locations=catalog.storefront_locations,
        erp_locations=catalog.erp_locations,
    )
    return _Sources(storefront, erp, rule, catalog.scope)


def _catalog_source(
    config: StackConfig,
    layer: Literal["storefront", "erp"],
    transport: httpx.AsyncBaseTransport | None,
    closing: AsyncExitStack,
) -> CatalogSource:
    entry = config.storefront if layer == "storefront" else config.erp
    missing = entry.missing_secrets()
    if missing:
        raise ConfigError(
            f"{layer} ({entry.vendor}): environment variable {', '.join(missing)} is not set"
        )
    try:
        make = factory(layer, entry.vendor)
        adapter: Any = make(
            base_url=entry.base_url,
            credentials=entry.credentials,
            options=dict(entry.options),
            transport=transport,
            retry=RetryPolicy.scan(),
        )
    except UnknownVendor as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"{layer} ({entry.vendor}): {exc}") from None
    closing.push_async_callback(adapter.aclose)
    if not isinstance(adapter, CatalogSource):
        raise ConfigError(
            f"{layer} ({entry.vendor}): this adapter has no bulk catalog read yet, "
            "so the drift check cannot scan it"
        )
    return adapter


@asynccontextmanager
async def _sources(
    target: StackConfig | GeneratedCatalog,
    day: int,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None,
) -> AsyncIterator[_Sources]:
    async with AsyncExitStack() as closing:
        if isinstance(target, GeneratedCatalog):
            yield _sandbox_sources(target, transports or sandbox_transports(target, day), closing)
            return
        transports = transports or {}
        yield _Sources(
            storefront=_catalog_source(target, "storefront", transports.get("storefront"), closing),
            erp=_catalog_source(target, "erp", transports.get("erp"), closing),
            rule=target.drift.rule(target.thresholds.drift_units),
            scope=target.name,
        )


# --- the run -------------------------------------------------------------------------------------


async def run_drift(
    target: StackConfig | GeneratedCatalog,
    store: TriageStore | DriftState,
    now: datetime | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    announce: bool = True,
) -> DriftResult:
    """Compare every SKU of ``target`` once and record the run in ``store``'s drift tables.

    ``target`` is a stack config (its storefront and ERP, compared as its ``[drift]`` table and
    ``[thresholds] drift_units`` say) or a sandbox catalog (``tools.sandbox.catalog``; it
    shows the gaps of ``now``'s day). ``now`` (default: the current time) stamps first / last
    seen. ``transports`` (by "storefront" / "erp") replace the network, as in ``open_stack``.
    ``announce`` says the caller shows the result itself (the CLI); a Slack post passes False
    and calls ``DriftState.announced`` once the post went out, so a failed post loses nothing.

    Raises ``DriftError`` when a system cannot be read (nothing is recorded: the previous
    state stands), ``ConfigError`` for a config the check cannot use, ``StoreError`` when the
    store cannot be written. Never returns a partial comparison.
    """
    started = time.monotonic()
    now = (now or utc_now()).astimezone(UTC)
    day = target.day(now) if isinstance(target, GeneratedCatalog) else 0
    async with _sources(target, day, transports) as sources:
        try:
            scan = await scan_catalogs(sources.storefront, sources.erp, sources.rule)
        except AdapterError as exc:
            raise DriftError(
                f"the drift check could not run: {exc.describe()}",
                system=exc.system,
                kind=exc.kind,
            ) from None
    with scan:
        counts = scan.counts()
        state = store if isinstance(store, DriftState) else DriftState.of(store)
        try:
            summary = RunSummary(
                run_id=uuid.uuid4().hex[:12],
                scope=sources.scope,
                ran_at=now,
                seconds=time.monotonic() - started,
                storefront=sources.storefront.system,
                erp=sources.erp.system,
                measure=sources.rule.measure,
                threshold=sources.rule.threshold,
                compared=counts.compared,
            )
            recorded = state.record(summary, scan.gaps(), scan.pairs, announce=announce)
        finally:
            if state is not store:
                state.close()
    return _result(summary, sources.rule, counts, recorded, time.monotonic() - started)


def _item(tracked: Tracked, now: datetime) -> DriftItem:
    pair = tracked.pair
    return DriftItem(
        sku=pair.sku,
        storefront=pair.storefront,
        erp=pair.erp,
        gap=pair.gap,
        status=tracked.status,
        first_seen=tracked.first_seen,
        last_seen=tracked.last_seen,
        days_open=max(0, (now - tracked.first_seen).days),
        storefront_record=pair.storefront_record,
        erp_record=pair.erp_record,
    )


def _result(
    run: RunSummary, rule: CompareRule, counts: Counts, recorded: Recorded, seconds: float
) -> DriftResult:
    return DriftResult(
        run_id=run.run_id,
        scope=run.scope,
        ran_at=run.ran_at,
        previous_run_at=recorded.previous_run_at,
        seconds=round(seconds, 3),
        storefront=run.storefront,
        erp=run.erp,
        measure=rule.measure,
        threshold=rule.threshold,
        storefront_locations=None
        if rule.storefront_locations is None
        else list(rule.storefront_locations),
        erp_locations=None if rule.erp_locations is None else list(rule.erp_locations),
        compared=counts.compared,
        flagged=[_item(t, run.ran_at) for t in recorded.flagged],
        resolved=[_item(t, run.ran_at) for t in recorded.resolved],
        unverified=recorded.unverified,
        not_compared=NotCompared(
            storefront_only=counts.storefront_only,
            erp_only=counts.erp_only,
            untracked=counts.untracked,
            duplicate_skus=counts.duplicate_skus,
        ),
    )


# --- the full list as CSV, and as terminal text --------------------------------------------------

CSV_COLUMNS = (
    "sku",
    "status",
    "storefront",
    "erp",
    "gap",
    "first_seen",
    "last_seen",
    "days_open",
    "storefront_record",
    "erp_record",
)


def write_csv(result: DriftResult, out: IO[str]) -> int:
    """Every flagged SKU (largest gap first), then the resolved ones; returns the rows written.
    Quantities are the measure compared (``result.measure``); times are ISO 8601 UTC."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for item in [*result.flagged, *result.resolved]:
        writer.writerow(
            [
                item.sku,
                item.status,
                item.storefront,
                item.erp,
                item.gap,
                item.first_seen.astimezone(UTC).isoformat(),
                item.last_seen.astimezone(UTC).isoformat(),
                item.days_open,
                item.storefront_record or "",
                item.erp_record or "",
            ]
        )
        rows += 1
    return rows


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _where(locations: list[str] | None) -> str:
    return "every location" if locations is None else "locations " + ", ".join(locations)


def render_text(result: DriftResult, worst: int = 15) -> str:
    """The run for a terminal: summary first, then the worst offenders and what resolved."""
    c = result.counts
    lines = [
        f"Drift check · {result.scope} · {_when(result.ran_at)}",
        "",
        f"Compared     {c.compared:,} SKUs: {result.storefront} {result.measure} "
        f"({_where(result.storefront_locations)}) vs {result.erp} {result.measure} "
        f"({_where(result.erp_locations)}); flagged when they differ by more than "
        f"{result.threshold} units",
        f"Flagged      {c.flagged:,} · new {c.new:,} · still open {c.open:,} · "
        f"resolved {c.resolved:,}"
        + (
            f" (since the previous run, {_when(result.previous_run_at)})"
            if result.previous_run_at
            else " (first run)"
        ),
    ]
    nc = result.not_compared
    skipped = [
        (nc.storefront_only, "only on the storefront"),
        (nc.erp_only, "only in the ERP"),
        (nc.untracked, "untracked on the storefront"),
        (nc.duplicate_skus, "on several storefront variants"),
    ]
    if any(n for n, _ in skipped):
        lines.append("Not compared " + ", ".join(f"{n:,} {why}" for n, why in skipped if n))
    if result.unverified:
        shown = ", ".join(result.unverified[:5]) + ("…" if len(result.unverified) > 5 else "")
        lines.append(
            f"Unverified   {len(result.unverified):,} open SKU(s) could not be compared this run "
            f"and stay open: {shown}"
        )
    if result.flagged:
        lines += ["", f"Worst offenders ({min(worst, c.flagged)} of {c.flagged:,})"]
        lines.append(f"  {'SKU':<20} {'storefront':>10} {'erp':>8} {'gap':>7}  status  open")
        for item in result.worst(worst):
            lines.append(
                f"  {item.sku:<20} {item.storefront:>10,} {item.erp:>8,} {item.gap:>+7,}  "
                f"{item.status:<6}  {item.days_open} d"
            )
    else:
        lines += ["", f"No SKU differs by more than {result.threshold} units."]
    if result.resolved:
        lines += ["", f"Resolved since the previous run ({c.resolved:,})"]
        for item in result.resolved[:worst]:
            lines.append(
                f"  {item.sku:<20} now {item.storefront:,} / {item.erp:,}, "
                f"open {item.days_open} d since {_when(item.first_seen)}"
            )
    return "\n".join(lines) + "\n"


# --- the `oos drift` command ---------------------------------------------------------------------


def add_drift_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``oos drift`` on the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "drift",
        help="compare every SKU's storefront and ERP quantity; new / open / resolved gaps",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--sandbox", action="store_true", help="a generated sandbox catalog (see --size, --seed)"
    )
    where.add_argument("--config", metavar="stack.toml", help="a stack config naming live systems")
    p.add_argument("--size", type=int, default=10_000, help="sandbox catalog size (default 10000)")
    p.add_argument("--seed", type=int, default=7, help="sandbox catalog seed (default 7)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write the full list as CSV")
    p.add_argument(
        "--db",
        type=Path,
        help="the store (default: $OOS_DB or ~/.local/state/oos-triage/triage.db)",
    )
    p.set_defaults(run=_cmd_drift)
    return p


def _cmd_drift(args: argparse.Namespace) -> int:
    target: StackConfig | GeneratedCatalog
    if args.config:
        target = load_config(Path(args.config))
        require_env(target, args.config, only=("storefront", "erp"))
    else:
        if not 1 <= args.size <= 10_000_000:
            print("oos: --size is 1 to 10,000,000 SKUs", file=sys.stderr)
            return 2
        target = GeneratedCatalog(args.size, args.seed)
    if args.csv and not args.csv.parent.is_dir():
        print(f"oos: cannot write {args.csv}: no directory {args.csv.parent}", file=sys.stderr)
        return 2
    store = TriageStore(args.db or default_store_path(sandbox=not args.config))
    try:
        result = asyncio.run(run_drift(target, store))
    except DriftError as exc:
        print(f"oos: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.csv:
        try:
            with args.csv.open("w", encoding="utf-8", newline="") as out:
                write_csv(result, out)
        except OSError as exc:
            print(f"oos: could not write {args.csv}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(outside(render_text(result), "terminal"))  # vendor SKUs are data
        if args.csv:
            sys.stdout.write(f"\nFull list: {args.csv}\n")
    return 0
