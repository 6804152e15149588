"""Triage wall time against the vendors' call latencies (issue target: ≤ 1.5 × the slowest call).

Every system of a sandbox scenario answers after an injected latency (different per system, as
real vendors do); the engine should cost about the slowest call, not the sum of them.

    python bench/triage_latency.py            # every scenario of the library, 5 runs each
    python bench/triage_latency.py SKU-3101 --runs 20 --latency-ms 200
    python bench/triage_latency.py --emulated # the real vendor adapters over their emulators

With ``--emulated`` the latency is injected per HTTP request inside each vendor emulator, so a
vendor that needs dependent requests (NetSuite: the item first, then its transactions) costs
several round trips; the figure to compare is then wall time against that vendor's chain.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace
from typing import Any

from bot.engine import triage
from tools.protocols import Stack
from tools.sandbox.emulated import open_emulated_stack
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import load_library


class Delayed:
    """Wraps an adapter so each of its reads takes ``seconds`` longer."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self._inner, self._seconds = inner, seconds
        self.system = inner.system
        self.channel = getattr(inner, "channel", None)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def delayed(*args: Any) -> Any:
            await asyncio.sleep(self._seconds)
            return await method(*args)

        return delayed


def delayed_stack(stack: Stack, base: float) -> tuple[Stack, list[float]]:
    """Storefront base×0.6, marketplaces base×0.8, middleware base×0.9, ERP base, WMS base×0.5."""
    latencies: list[float] = []

    def wrap(adapter: Any, factor: float) -> Any:
        latencies.append(base * factor)
        return Delayed(adapter, base * factor)

    wrapped = replace(
        stack,
        storefront=wrap(stack.storefront, 0.6),
        middleware=wrap(stack.middleware, 0.9),
        erp=wrap(stack.erp, 1.0),
        marketplaces=tuple(wrap(m, 0.8) for m in stack.marketplaces),
        wms=wrap(stack.wms, 0.5) if stack.wms else None,
    )
    return wrapped, latencies


async def measure(skus: list[str], runs: int, base: float) -> None:
    library = load_library()
    ratios: list[float] = []
    print(
        f"{'sku':<10} {'calls':>5} {'sum ms':>8} {'max ms':>8} {'wall ms (median)':>17} {'wall/max':>9}"
    )
    for sku in skus:
        scenario = library[sku]
        walls = []
        for _ in range(runs):
            stack, latencies = delayed_stack(memory_stack(scenario), base)
            t0 = time.perf_counter()
            await triage(sku, stack, now=scenario.clock)
            walls.append(time.perf_counter() - t0)
        wall = statistics.median(walls)
        ratio = wall / max(latencies)
        ratios.append(ratio)
        print(
            f"{sku:<10} {len(latencies):>5} {sum(latencies) * 1e3:>8.0f} {max(latencies) * 1e3:>8.0f} {wall * 1e3:>17.1f} {ratio:>9.3f}"
        )
    print()
    print(f"scenarios: {len(skus)}, runs each: {runs}, slowest call: {base * 1e3:.0f} ms")
    print(
        f"wall / slowest call: median {statistics.median(ratios):.3f}, worst {max(ratios):.3f} (target ≤ 1.5)"
    )


async def measure_emulated(skus: list[str], runs: int, latency: float) -> None:
    library = load_library()
    walls: list[float] = []
    for sku in skus:
        scenario = library[sku]
        for _ in range(runs):
            async with open_emulated_stack(scenario, latency) as stack:
                t0 = time.perf_counter()
                await triage(sku, stack, now=scenario.clock)
                walls.append(time.perf_counter() - t0)
    walls.sort()
    print(f"real adapters over emulators, {latency * 1e3:.0f} ms per HTTP request")
    print(f"scenarios: {len(skus)}, runs each: {runs}, triages: {len(walls)}")
    print(
        f"wall: median {statistics.median(walls) * 1e3:.0f} ms ({statistics.median(walls) / latency:.2f} round trips), "
        f"p95 {walls[int(0.95 * (len(walls) - 1))] * 1e3:.0f} ms, max {walls[-1] * 1e3:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("skus", nargs="*", help="scenario SKUs (default: the whole library)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--latency-ms", type=float, default=200.0, help="latency of the slowest system"
    )
    parser.add_argument(
        "--emulated", action="store_true", help="real vendor adapters over their emulators"
    )
    args = parser.parse_args()
    skus = args.skus or sorted(load_library())
    if args.emulated:
        asyncio.run(measure_emulated(skus, args.runs, args.latency_ms / 1e3))
    else:
        asyncio.run(measure(skus, args.runs, args.latency_ms / 1e3))


if __name__ == "__main__":
    main()
