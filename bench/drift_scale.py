"""Drift scan at catalog scale: wall time, peak memory and vendor requests against the minimum.

Each size runs in a fresh Python process (so its peak RSS is its own): a seeded sandbox catalog
served by the Shopify and NetSuite emulators, read by the real adapters through their bulk
paths (a Shopify bulk operation's JSONL file, NetSuite SuiteQL pages of 1,000), compared and
recorded by ``run_drift`` in a SQLite store, exactly as ``oos drift --sandbox`` does.

    python bench/drift_scale.py                      # 100,000 and 1,000,000 SKUs
    python bench/drift_scale.py --sizes 10000 --throttle 3   # NetSuite answers 429 three times
    python bench/drift_scale.py --measure on_hand    # Shopify's file then holds every level

Targets on a 2-core machine: 100k ≤ 15 s, 1M ≤ 150 s, peak RSS ≤ 300 MB at 1M, requests =
minimum + retries. The minimum is what the page sizes allow: Shopify 3 (start the bulk
operation, one poll that finds it complete, one download), NetSuite ⌈items / 1000⌉.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.monitor.drift import run_drift, sandbox_transports
from bot.store import TriageStore
from tools.erp.netsuite import MAX_PAGE_SIZE
from tools.models import QuantityKind
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.emulators.netsuite import NetSuiteEmulator
from tools.sandbox.emulators.shopify import ShopifyEmulator

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
TARGETS = {100_000: 15.0, 1_000_000: 150.0}
RSS_TARGET_MB = 300.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one(size: int, seed: int, throttle: int, measure: QuantityKind) -> dict[str, object]:
    """One run, in this process; returns its figures."""
    catalog = GeneratedCatalog(size, seed, measure=measure)
    transports = sandbox_transports(catalog, catalog.day(NOW))
    shop, erp = transports["storefront"], transports["erp"]
    assert isinstance(shop, ShopifyEmulator) and isinstance(erp, NetSuiteEmulator)
    erp.faults = Faults(statuses=[Scripted(429, retry_after=0.05)] * throttle)
    with tempfile.TemporaryDirectory() as tmp:
        store = TriageStore(Path(tmp) / "bench.db")
        started = time.perf_counter()
        result = asyncio.run(run_drift(catalog, store, NOW, transports=transports))
        wall = time.perf_counter() - started
        store.close()
    erp_items = size - sum(
        catalog.count(k) for k in ("storefront_only", "non_inventory", "inactive")
    )
    expected = catalog.expected_gaps(catalog.day(NOW))
    found = {i.sku: i.gap for i in result.flagged}
    return {
        "size": size,
        "wall": wall,
        "rss_mb": _peak_rss_mb(),
        "compared": result.compared,
        "flagged": len(result.flagged),
        "exact": found == {s: g.gap for s, g in expected.items()},
        "shopify_requests": len(shop.requests),
        "shopify_minimum": 3,
        "netsuite_requests": len(erp.requests),
        "netsuite_minimum": max(1, math.ceil(erp_items / MAX_PAGE_SIZE)),
        "retries": throttle,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--throttle", type=int, default=0, help="NetSuite 429s to inject")
    parser.add_argument("--measure", choices=["available", "on_hand"], default="available")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.throttle, args.measure)))
        return 0

    print(f"drift scan, {args.measure} compared, seed {args.seed}")
    print(
        f"{'SKUs':>10} {'wall s':>8} {'target':>7} {'peak RSS MB':>12} {'compared':>10} "
        f"{'flagged':>8} {'exact':>6}  requests (issued / minimum + retries)"
    )
    ok = True
    for size in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--seed",
                str(args.seed),
                "--throttle",
                str(args.throttle),
                "--measure",
                args.measure,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        target = TARGETS.get(size)
        met = (target is None or r["wall"] <= target) and (
            size < 1_000_000 or r["rss_mb"] <= RSS_TARGET_MB
        )
        requests_ok = (
            r["shopify_requests"] == r["shopify_minimum"]
            and r["netsuite_requests"] == r["netsuite_minimum"] + r["retries"]
        )
        ok = ok and met and requests_ok and r["exact"]
        print(
            f"{size:>10,} {r['wall']:>8.1f} {target or '-':>7} {r['rss_mb']:>12.0f} "
            f"{r['compared']:>10,} {r['flagged']:>8,} {r['exact']!s:>6}  "
            f"shopify {r['shopify_requests']} / {r['shopify_minimum']}, "
            f"netsuite {r['netsuite_requests']:,} / {r['netsuite_minimum']:,} + {r['retries']}"
        )
    print("all targets met" if ok else "TARGET MISSED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
