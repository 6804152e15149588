"""Many ``/oos`` in one channel under Slack's rate limits: does every verdict arrive, and when?

Slack allows about one ``chat.postMessage`` per second per channel (short bursts allowed) and
answers 429 with ``Retry-After`` past that; ``chat.update`` has a workspace-wide budget (tier 3,
about 50 a minute). A busy incident channel where twenty people type ``/oos`` at once is where
verdicts used to get lost. This benchmark measures it end to end:

* the test suite's strict fake Web API (``tests/slack/fake_slack.py``) starts on 127.0.0.1
  with ``SLACK_LIMITS`` (Slack's published tiers and the per-channel limit) and notes when each
  verdict arrives;
* ``oos serve --sandbox --sandbox-latency S`` runs as a separate process, exactly as in
  ``bench/slack_ack.py`` (one process, one service);
* ``N`` signed ``/oos SKU`` commands are sent at the same instant, all in one channel.

It prints the acks, how many verdicts arrived (and how many threads said "could not finish"),
the time from the burst to the first and to the last verdict, the floor Slack's own limit sets
for that (posts needed ÷ posts per second), the 429s Slack answered per method, and whether
every thread reads root → progress → verdict.

    python bench/slack_channel.py                   # 20 commands, 2 s vendor latency
    python bench/slack_channel.py -n 10 --latency 0.5

Exit status: 0 when every command got its verdict in order, 1 otherwise, 2 if the server could
not start. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/slack_channel.py` puts bench/, not the repo, first
    sys.path.insert(0, str(ROOT))

from bench.slack_ack import _is_verdict, percentile, send, start_server, stop_server  # noqa: E402
from tests.slack.fake_slack import SLACK_LIMITS, FakeSlack  # noqa: E402

CHANNEL = "CBUSY"


@dataclass
class ChannelFake(FakeSlack):
    """The strict fake, noting when each verdict reached it."""

    verdict_at: list[float] = field(default_factory=list)
    failures: int = 0

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        answer = super()._answer(method, p)
        if method == "chat.postMessage" and answer.get("ok") and p.get("thread_ts"):
            if _is_verdict(p.get("blocks")):
                self.verdict_at.append(time.perf_counter())
            elif "could not finish" in str(p.get("text") or ""):
                self.failures += 1
        return answer

    async def _respond(self, request: web.Request) -> web.Response:
        self.failures += 1  # an ephemeral answer to a triage command is a refusal or an error
        return await super()._respond(request)


def in_order(fake: FakeSlack) -> tuple[int, int]:
    """(threads reading root → progress → verdict, threads in all)."""
    good = 0
    roots = fake.roots(CHANNEL)
    for root in roots:
        replies = fake.thread(CHANNEL, root.ts)[1:]
        kinds = ["verdict" if _is_verdict(m.blocks) else "other" for m in replies]
        if kinds[:2] == ["other", "verdict"] and "checklist" in replies[0].text:
            good += 1
    return good, len(roots)


async def bench(args: argparse.Namespace) -> int:
    fake = ChannelFake(limits=None if args.no_limits else SLACK_LIMITS)
    await fake.start()
    with tempfile.TemporaryDirectory(prefix="oos-bench-") as tmp:
        try:
            server = await start_server(fake.api_url, Path(tmp) / "triage.db", args.latency, 60)
        except RuntimeError as exc:
            await fake.stop()
            print(f"slack_channel: {exc}", file=sys.stderr)
            return 2
        try:
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                sent = await asyncio.gather(
                    *(
                        send(session, server.url, args.sku, CHANNEL, fake.response_url(f"r{i}"))
                        for i in range(args.count)
                    )
                )
                loop = asyncio.get_running_loop()
                deadline = loop.time() + args.timeout
                while loop.time() < deadline and len(fake.verdict_at) + fake.failures < args.count:
                    await asyncio.sleep(0.1)
                # Let the last edits land before reading the threads (bounded).
                await asyncio.sleep(min(5.0, args.latency + 1))
        finally:
            await stop_server(server)
            await fake.stop()

    acks = [s.ack * 1e3 for s in sent if s.ack is not None and s.status == 200]
    verdicts = sorted(t - started for t in fake.verdict_at)
    good, threads = in_order(fake)
    limited: dict[str, int] = {}
    for call in fake.calls:
        if call.status == 429:
            limited[call.method] = limited.get(call.method, 0) + 1
    posts = len(fake.calls_to("chat.postMessage", ok_only=False))
    ok_posts = len(fake.calls_to("chat.postMessage"))
    limits = (
        "none" if args.no_limits else "Slack's (1 post/s per channel, bursts of 4; tier 3 edits)"
    )
    print(
        f"{args.count} × /oos {args.sku} at once in one channel; vendor latency "
        f"{args.latency:.2f} s per call; limits: {limits}"
    )
    print(
        f"acks: {len(acks)}/{args.count} HTTP 200, p50 {percentile(acks, 50):.0f} ms, "
        f"max {max(acks, default=float('nan')):.0f} ms"
    )
    print(
        f"verdicts: {len(verdicts)}/{args.count}; threads that said 'could not finish' or were "
        f"refused: {fake.failures}"
    )
    if verdicts:
        print(
            f"time to the first verdict {verdicts[0]:.1f} s, median "
            f"{percentile(verdicts, 50):.1f} s, to the last {verdicts[-1]:.1f} s "
            f"(Slack's floor for {ok_posts} posts at 1/s after a burst of 4: "
            f"{max(0, ok_posts - 4):.0f} s)"
        )
    print(f"threads in order (root → progress → verdict): {good}/{threads}")
    print(
        f"chat.postMessage calls: {posts} ({posts - ok_posts} answered 429); 429s by method: "
        + (", ".join(f"{m} {n}" for m, n in sorted(limited.items())) or "none")
    )
    problems = [line for line in server.log if " ERROR " in line]
    if problems:
        print(f"server errors logged: {len(problems)}; first: {problems[0][:200]}")
    return 0 if len(verdicts) == args.count and good == args.count else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/slack_channel.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--count", type=int, default=20, help="commands (default 20)")
    parser.add_argument(
        "--latency", type=float, default=2.0, help="seconds per sandbox vendor call (default 2)"
    )
    parser.add_argument("--sku", default="SKU-3101", help="the SKU (default SKU-3101)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after this (default 600 s)"
    )
    parser.add_argument(
        "--no-limits", action="store_true", help="a fake Slack without rate limits (to compare)"
    )
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
