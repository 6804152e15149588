"""What the scheduled checks other than drift cost: connector health, low stock, the map, and
the schedule/lease/latency bookkeeping. Prints figures; asserts nothing.

    python bench/monitor_checks.py                  # low stock at 100k and 1M SKUs
    python bench/monitor_checks.py --sizes 100000

* health: the sandbox connector over the real Celigo adapter and emulator — requests issued
  against the minimum (4 list reads + 3 per flow + 1 per open-error step of a stopped flow),
  and wall time; and one flow that runs every 10 minutes (1008 runs a week: two pages of
  ``GET /jobs`` by ``createdAt_lte``);
* low stock: a full sell-through pass over the sandbox catalog, each size in a fresh process
  so its peak RSS is its own;
* map: drawing the trigger chain as a PNG;
* bookkeeping: one scheduler tick (lease claim + finish) and one latency reading folded into
  the breach state, on the SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _low_stock(size: int) -> dict[str, float]:
    from bot.monitor.lowstock import scan_low_stock
    from tools.sandbox.catalog import GeneratedCatalog
    from tools.sandbox.monitoring import CatalogSellThrough

    source = CatalogSellThrough(GeneratedCatalog(size, 7), NOW)
    start = time.perf_counter()
    found = await scan_low_stock(source.sell_through(), keep=20)
    return {
        "size": size,
        "seconds": time.perf_counter() - start,
        "checked": found.checked,
        "low": found.low,
        "peak_rss_mb": _rss_mb(),
    }


async def _health() -> dict[str, float]:
    from bot.monitor.health import check_health
    from tools.sandbox.catalog import GeneratedCatalog
    from tools.sandbox.monitoring import catalog_emulator, catalog_middleware

    catalog = GeneratedCatalog(10_000, 7)
    emulator = catalog_emulator(catalog, NOW)
    adapter = catalog_middleware(catalog, NOW, emulator=emulator)
    start = time.perf_counter()
    report = await check_health(adapter, now=NOW)
    seconds = time.perf_counter() - start
    await adapter.aclose()
    # 4 list reads; per flow its latest job, its error summary and its jobs' pages; the open
    # step errors of a stopped flow (for its reason).
    minimum = 4 + sum(
        2 + job_pages(f.runs) + (1 if f.status in ("suspended", "error") and f.open_errors else 0)
        for f in report.flows
    )
    return {
        "flows": len(report.flows),
        "requests": len(emulator.calls),
        "minimum": minimum,
        "seconds": seconds,
    }


def job_pages(runs: int) -> int:
    """Pages of ``GET /jobs`` for ``runs`` runs: Celigo answers up to JOBS_PAGE a page, and each
    next page (asked for by ``createdAt_lte``) starts with the previous page's last run again."""
    from tools.sandbox.emulators.celigo import JOBS_PAGE

    return 1 if runs < JOBS_PAGE else 2 + (runs - JOBS_PAGE) // (JOBS_PAGE - 1)


async def _health_every(minutes: int) -> dict[str, float]:
    """Connector health over a week for one flow that runs every ``minutes``."""
    from bot.monitor.health import check_health
    from tools.middleware.celigo import DEFAULT_TOKEN_ENV, CeligoMiddleware
    from tools.models import Flow, FlowHealth, MiddlewareSnapshot, Source
    from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for

    flow = Flow(id="f-busy", name="busy", hop="storefront_to_erp", interval_minutes=minutes)
    source = Source(system="celigo", endpoint="bench")
    state = MiddlewareSnapshot(source=source, read_at=NOW, vendor="celigo", flows=[flow])
    runs = int(timedelta(days=7) / timedelta(minutes=minutes))
    health = FlowHealth(
        source=source,
        read_at=NOW,
        flow_id=flow.id,
        name=flow.name,
        window_start=NOW - timedelta(days=7),
        runs=runs,
        records_ok=runs,
    )
    emulator = CeligoEmulator(state, runs=[health], page_size=1000, bucket_size=1e9)
    adapter = CeligoMiddleware(
        flow_mappings_for(state),
        transport=emulator,
        clock=lambda: NOW,
        environ={DEFAULT_TOKEN_ENV: emulator.token},
    )
    report = await check_health(adapter, now=NOW)
    await adapter.aclose()
    (read,) = report.flows
    return {
        "runs": runs,
        "counted": read.runs,
        "complete": read.complete,
        "requests": len(emulator.calls),
        "minimum": 4 + 2 + job_pages(runs),
    }


def _map() -> dict[str, float]:
    from bot.monitor.latency import LatencyReading
    from bot.monitor.map import Systems, build_map, render_png
    from tools.sandbox.catalog import GeneratedCatalog

    catalog = GeneratedCatalog(1_000, 7)
    flows = catalog.flow_health(NOW, NOW - timedelta(days=1))
    systems = Systems(
        storefront="shopify",
        middleware="celigo",
        erp="netsuite",
        marketplaces=[("amazon", "amazon-sp-api")],
    )
    start = time.perf_counter()
    png = render_png(build_map(systems, flows, LatencyReading(observed_at=NOW), now=NOW))
    return {"seconds": time.perf_counter() - start, "bytes": len(png)}


async def _bookkeeping() -> dict[str, float]:
    from bot.monitor.latency import HopLag, LatencyReading, LatencyState
    from bot.monitor.lease import Lease, LeaseStore
    from bot.monitor.schedule import Cron, ScheduledJob, Scheduler

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "triage.db"

        async def job(_lease: Lease) -> str:
            return "ok"

        rounds = 200
        start = time.perf_counter()
        for n in range(rounds):
            at = NOW + timedelta(minutes=15 * n, seconds=5)
            scheduler = Scheduler(
                [ScheduledJob("latency_check", Cron("*/15 * * * *"), job)],
                LeaseStore(db, clock=lambda at=at: at),  # type: ignore[misc]
                clock=lambda at=at: at,  # type: ignore[misc]
            )
            await scheduler.tick()
        tick = (time.perf_counter() - start) / rounds

        state = LatencyState(db)
        start = time.perf_counter()
        for n in range(rounds):
            lag = 10 + (n % 40) * 3
            reading = LatencyReading(
                observed_at=NOW + timedelta(minutes=15 * n),
                lags=[
                    HopLag(
                        hop="erp_to_storefront",
                        lag_minutes=lag,
                        since=NOW,
                        detail="bench",
                    )
                ],
                covered=["erp_to_storefront"],
            )
            for alert in state.record(reading):
                state.posted(alert)
        record = (time.perf_counter() - start) / rounds
        state.close()
    return {"tick_ms": tick * 1000, "latency_record_ms": record * 1000}


def _child(what: str, size: int) -> None:
    result = asyncio.run(_low_stock(size)) if what == "lowstock" else {}
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return

    health = asyncio.run(_health())
    print(
        f"health      {health['flows']:.0f} flows · {health['requests']:.0f} requests "
        f"(minimum {health['minimum']:.0f}) · {health['seconds'] * 1000:.0f} ms"
    )
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "lowstock", str(size)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        r = json.loads(out.stdout)
        print(
            f"low stock   {r['size']:>9,.0f} SKUs · {r['seconds']:.2f} s · "
            f"{r['low']:,.0f} low of {r['checked']:,.0f} · peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    busy = asyncio.run(_health_every(10))
    print(
        f"health      one flow every 10 min over 7 days ({busy['runs']:.0f} runs, "
        f"{busy['counted']:.0f} counted, complete={busy['complete']}) · {busy['requests']:.0f} "
        f"requests (minimum {busy['minimum']:.0f})"
    )
    m = _map()
    print(f"map         PNG {m['bytes'] / 1024:.0f} KiB drawn in {m['seconds'] * 1000:.0f} ms")
    b = asyncio.run(_bookkeeping())
    print(
        f"bookkeeping scheduler tick (claim + run + finish) {b['tick_ms']:.2f} ms · "
        f"latency reading folded in {b['latency_record_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
