"""``/healthz`` and ``/oos`` acks while the server scans a large catalog for drift.

A daily drift scan of a million SKUs reads, parses and compares for minutes. It runs off the
server's event loop (``tools.offloop``), so the endpoint keeps answering meanwhile. This
benchmark measures that end to end:

* a fake Slack Web API (``tests/slack/fake_slack.py``) on 127.0.0.1;
* ``oos serve --sandbox --sandbox-size N`` in a process of its own (``bench/slack_ack.py``
  starts it the same way), whose ``/oos drift`` scans the generated catalog of ``N`` SKUs
  through the Shopify and NetSuite emulators and the real adapters;
* one signed ``/oos drift``; then, until the drift post reaches the fake (or ``--timeout``),
  ``GET /healthz`` every ``--every`` seconds and a signed ``/oos SKU`` every ten of those.

It prints the scan's wall time, and p50/p99/max of ``/healthz`` and of the acks during it,
against Slack's 3 s and the 300 ms goal, and the server's peak RSS.

    python bench/healthz_scan.py                    # 1,000,000 SKUs
    python bench/healthz_scan.py --size 100000

Exit status: 0 when the drift post arrived and every probe was answered, 1 otherwise, 2 if the
server could not start. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from slack_ack import (  # noqa: E402
    SIGNING_SECRET,
    TimedFakeSlack,
    command_body,
    percentile,
    sign,
    start_server,
    stop_server,
)

GOAL_MS = 300.0


def _drift_posted(fake: TimedFakeSlack) -> bool:
    return any(
        "Catalog drift" in str(c.params.get("text") or "")
        for c in fake.calls_to("chat.postMessage")
    )


async def _timed(session: aiohttp.ClientSession, method: str, url: str, **kw: object) -> float:
    started = time.perf_counter()
    async with session.request(method, url, **kw) as resp:  # type: ignore[arg-type]
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{method} {url}: HTTP {resp.status}")
    return (time.perf_counter() - started) * 1e3


async def _command(
    session: aiohttp.ClientSession, url: str, text: str, channel: str, fake: TimedFakeSlack
) -> float:
    body = command_body(text, channel, fake.response_url(channel))
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
    return await _timed(session, "POST", url, data=body.encode(), headers=headers)


def _line(name: str, values: list[float]) -> str:
    under = sum(1 for v in values if v < GOAL_MS)
    return (
        f"{name:<22}{len(values):>7}{percentile(values, 50):>10.1f}{percentile(values, 99):>10.1f}"
        f"{max(values, default=math.nan):>10.1f}{f'{under}/{len(values)}':>14}"
    )


async def bench(args: argparse.Namespace) -> int:
    fake = TimedFakeSlack()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix="oos-healthz-") as tmp:
            try:
                server = await start_server(
                    fake.api_url,
                    Path(tmp) / "bench.db",
                    0.0,
                    args.startup_timeout,
                    extra=("--sandbox-size", str(args.size)),
                )
            except RuntimeError as exc:
                print(f"healthz_scan: {exc}", file=sys.stderr)
                return 2
            health_url = server.url.replace("/slack/events", "/healthz")
            health: list[float] = []
            acks: list[float] = []
            errors: list[str] = []
            try:
                timeout = aiohttp.ClientTimeout(total=30)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    await _command(session, server.url, "drift", "CDRIFT", fake)
                    started = time.perf_counter()
                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + args.timeout
                    tick = 0
                    while not _drift_posted(fake) and loop.time() < deadline:
                        try:
                            health.append(await _timed(session, "GET", health_url))
                            if tick % 10 == 0:
                                channel = f"CACK{tick:05d}"
                                acks.append(
                                    await _command(session, server.url, args.sku, channel, fake)
                                )
                        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                            errors.append(f"{type(exc).__name__}: {exc}")
                        tick += 1
                        await asyncio.sleep(args.every)
                    scan_s = time.perf_counter() - started
                    posted = _drift_posted(fake)
            finally:
                rss = server.peak_rss_mb()
                with contextlib.suppress(Exception):
                    await stop_server(server)
    finally:
        await fake.stop()

    print(
        f"/oos drift over a generated catalog of {args.size:,} SKUs against {server.url} "
        "(a separate `oos serve --sandbox` process)"
    )
    state = "posted" if posted else f"NOT posted within {args.timeout:g} s"
    print(f"drift scan: {scan_s:.1f} s until the drift post ({state})")
    print()
    print(
        f"{'during the scan':<22}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'< 300 ms':>14}"
    )
    print(_line("GET /healthz", health))
    print(_line(f"/oos {args.sku} ack", acks))
    print()
    print(f"server peak RSS: {rss:.0f} MB" if rss is not None else "server peak RSS: n/a")
    for error in errors[:10]:
        print(f"probe failed: {error}")
    return 0 if posted and not errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/healthz_scan.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="catalog SKUs (default 1M)")
    parser.add_argument(
        "--every", type=float, default=0.1, metavar="SECONDS", help="probe interval (default 0.1)"
    )
    parser.add_argument("--sku", default="SKU-3101", help="SKU of the /oos probes")
    parser.add_argument(
        "--timeout", type=float, default=600.0, metavar="SECONDS", help="scan limit (default 600)"
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.size < 1 or args.every <= 0:
        parser.error("--size and --every must be positive")
    try:
        return asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("healthz_scan: interrupted (server stopped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
