"""What one triage costs each vendor: requests and sequential round trips, over the emulators.

    python bench/vendor_requests.py            # every scenario of the library
    python bench/vendor_requests.py SKU-3101

Every scenario of the library is triaged over the real adapters and their emulators
(``tools.sandbox.emulated``); each vendor's transport is wrapped in
``tests/adapters/rounds.LockStep``, which counts the requests and the sequential round trips (a
request that needs another's answer lands in a later round; no clock is involved). Per vendor:
how many triages read it, and the mean and largest number of requests and of round trips per
triage. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import tools.sandbox.emulated as emulated  # noqa: E402
from bot.engine import triage  # noqa: E402
from tests.adapters.rounds import LockStep  # noqa: E402
from tools.sandbox.scenario import load_library  # noqa: E402

VENDORS = {
    "NetSuiteEmulator": "netsuite",
    "AmazonEmulator": "amazon",
    "ShopifyEmulator": "shopify",
    "CeligoEmulator": "celigo",
}


class Counted(LockStep):
    """A LockStep that still shows the wrapped emulator's attributes (shop, token, …)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _instrument(opened: list[Counted]) -> None:
    plain_transport = emulated._transport
    plain_shopify = emulated.shopify_emulator.emulator_for

    def transport(state: object, emulator: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        counted = Counted(plain_transport(state, emulator))
        counted.vendor = VENDORS.get(type(emulator).__name__, type(emulator).__name__)  # type: ignore[attr-defined]
        opened.append(counted)
        return counted

    def shopify(*args: Any, **kwargs: Any) -> Any:
        counted = Counted(plain_shopify(*args, **kwargs))
        counted.vendor = "shopify"  # type: ignore[attr-defined]
        opened.append(counted)
        return counted

    emulated._transport = transport  # type: ignore[assignment]
    emulated.shopify_emulator.emulator_for = shopify  # type: ignore[assignment]


async def measure(skus: list[str]) -> None:
    library = load_library()
    opened: list[Counted] = []
    _instrument(opened)
    requests: dict[str, list[int]] = defaultdict(list)
    rounds: dict[str, list[int]] = defaultdict(list)
    for sku in skus:
        scenario = library[sku]
        opened.clear()
        async with emulated.open_emulated_stack(scenario) as stack:
            await triage(sku, stack, now=scenario.clock)
        for counted in opened:
            vendor = counted.vendor  # type: ignore[attr-defined]
            if counted.rounds:
                requests[vendor].append(sum(counted.sizes))
                rounds[vendor].append(len(counted.rounds))
    print(
        f"{'vendor':<10} {'triages':>7} {'requests mean':>14} {'max':>5} {'rounds mean':>12} {'max':>5}"
    )
    for vendor in ("netsuite", "amazon", "shopify", "celigo"):
        if not requests[vendor]:
            continue
        r, t = requests[vendor], rounds[vendor]
        print(
            f"{vendor:<10} {len(r):>7} {statistics.mean(r):>14.2f} {max(r):>5} "
            f"{statistics.mean(t):>12.2f} {max(t):>5}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("skus", nargs="*", help="scenario SKUs (default: the whole library)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    asyncio.run(measure(args.skus or sorted(load_library())))


if __name__ == "__main__":
    main()
