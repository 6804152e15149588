"""Time-to-ack of ``/oos SKU`` on the real HTTP endpoint while the vendors are slow.

Slack drops a slash command that is not acknowledged within 3 seconds. The app acks first and
triages in the background, so the ack should not depend on how slow the vendors are. This
benchmark checks that end to end:

* a fake Slack Web API (``tests/slack/fake_slack.py``) starts on 127.0.0.1, and records when
  each thread's verdict is posted;
* ``oos [-v] serve --sandbox --sandbox-latency S`` starts as a separate process on 127.0.0.1
  (on a free port; ready once ``GET /healthz`` answers), with ``SLACK_API_URL`` pointing at the
  fake and a throwaway store, so every sandbox vendor call takes ``S`` seconds (default 2.0: a
  triage takes at least that long); ``-v`` runs it verbose (every vendor request logged, and
  redacted, as ``oos -v serve`` does);
* ``N`` correctly signed ``/oos SKU`` slash commands are sent one after another (each once the
  previous one is acked), then, once their verdicts are in, ``M`` at the same instant. Each
  request uses a channel of its own, so its thread and verdict are found without guessing.

For each phase it prints the count, the time-to-ack (request sent → HTTP response received)
p50/p95/p99/max in ms, the fraction of acks under 3 s, and the time from the request to the
thread's final verdict at the fake API (p50/p95 in s), next to the injected latency; then the
server's peak RSS (``VmHWM``).
Percentiles are nearest-rank. Every wait is bounded; the server is stopped with SIGTERM (killed
if it does not stop) and the fake and the store are removed, whatever happens.

    python bench/slack_ack.py --help
    python bench/slack_ack.py                         # 50 sequential, 20 concurrent, 2.0 s
    python bench/slack_ack.py -n 100 -c 50 --latency 5 --sku SKU-3101
    python bench/slack_ack.py -n 1 -c 200 [-v]        # the 200-at-once figure, quiet / verbose

Exit status: 0 when every request was acked (HTTP 200) and every thread got its verdict, 1 if
any was refused, failed or missing, 2 if the server could not start. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import math
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.parse
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/slack_ack.py` puts bench/, not the repo, first
    sys.path.insert(0, str(ROOT))

from bot.slack.blocks.verdict import ACTION_RERUN  # noqa: E402
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack  # noqa: E402

SLACK_ACK_LIMIT = 3.0
SIGNING_SECRET = "bench-signing-secret"


def sign(body: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _is_verdict(blocks: Any) -> bool:
    return isinstance(blocks, list) and any(
        b.get("type") == "actions"
        and any(e.get("action_id") == ACTION_RERUN for e in b.get("elements", []))
        for b in blocks
        if isinstance(b, dict)
    )


@dataclass
class TimedFakeSlack(FakeSlack):
    """The test suite's fake Web API, noting when each request reached its final message: the
    verdict (``ok``), the error that ends a failed triage, or an ephemeral refusal sent to the
    request's response URL (named after its channel)."""

    final_at: dict[str, tuple[float, bool]] = field(default_factory=dict)

    async def _respond(self, request: web.Request) -> web.Response:
        self.final_at.setdefault(request.match_info["name"], (time.perf_counter(), False))
        return await super()._respond(request)

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        answer = super()._answer(method, p)
        if method == "chat.postMessage" and answer.get("ok") and p.get("thread_ts"):
            channel = str(p["channel"])
            if _is_verdict(p.get("blocks")):
                self.final_at.setdefault(channel, (time.perf_counter(), True))
            elif "could not finish" in str(p.get("text") or ""):
                self.final_at.setdefault(channel, (time.perf_counter(), False))
        return answer


@dataclass
class Sent:
    channel: str
    started: float  # perf_counter when the request was sent
    ack: float | None = None  # seconds to the HTTP response; None if there was none
    status: int | None = None
    error: str | None = None


@dataclass
class Server:
    """``oos serve --sandbox`` in a process of its own, with its log drained in the background."""

    proc: asyncio.subprocess.Process
    url: str
    log: deque[str]
    drain: asyncio.Task[None]

    @property
    def problems(self) -> list[str]:
        return [line for line in self.log if " WARNING " in line or " ERROR " in line]

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident set (``VmHWM``), read while it still runs."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float) -> None:
    """Until ``GET /healthz`` answers 200 (bounded); RuntimeError if the process exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"oos serve exited with status {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError


async def start_server(
    api_url: str,
    db: Path,
    latency: float,
    timeout: float,
    *,
    verbose: bool = False,
    extra: Sequence[str] = (),
) -> Server:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "OOS_TRIAGE_TIMEOUT": str(max(120.0, 20 * latency)),
    }
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *(["-v"] if verbose else []),
        "serve",
        "--sandbox",
        "--sandbox-latency",
        str(latency),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(db),
        *extra,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    log: deque[str] = deque(maxlen=2000)

    async def drain() -> None:
        while line := await stderr.readline():
            log.append(line.decode(errors="replace").rstrip())
        await proc.wait()

    task = asyncio.create_task(drain())
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/healthz", proc, timeout)
    except BaseException as exc:  # also on Ctrl-C: never leave the process behind
        await stop_server(Server(proc, "", log, task))
        if not isinstance(exc, TimeoutError | RuntimeError):
            raise
        why = str(exc) or f"GET /healthz did not answer within {timeout:g} s"
        tail = "\n".join(list(log)[-20:])
        raise RuntimeError(f"the server did not start: {why}\n{tail}".rstrip()) from None
    return Server(proc, f"{base}/slack/events", log, task)


async def stop_server(server: Server, grace: float = 20.0) -> int | None:
    proc = server.proc
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(server.drain, 5)
    return proc.returncode


def command_body(sku: str, channel: str, response_url: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": channel,
            "user_id": "UBENCH",
            "command": "/oos",
            "text": sku,
            "response_url": response_url,
            "trigger_id": "trig",
            "api_app_id": "A1",
        }
    )


async def send(
    session: aiohttp.ClientSession, url: str, sku: str, channel: str, response_url: str
) -> Sent:
    body = command_body(sku, channel, response_url)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    sent = Sent(channel=channel, started=time.perf_counter())
    try:
        async with session.post(url, data=body.encode(), headers=headers) as resp:
            text = await resp.text()
            sent.ack = time.perf_counter() - sent.started
            sent.status = resp.status
            if resp.status != 200 or text:
                sent.error = f"HTTP {resp.status}: {text[:200]}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        sent.error = f"{type(exc).__name__}: {exc}"
    return sent


async def wait_final(fake: TimedFakeSlack, channels: Sequence[str], timeout: float) -> None:
    """Until every channel's thread has its final message, or ``timeout`` (bounded poll: the
    times themselves are taken by the fake when each message arrives)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not all(c in fake.final_at for c in channels):
        await asyncio.sleep(0.05)


@dataclass
class Phase:
    name: str
    sent: list[Sent]
    fake: TimedFakeSlack

    @property
    def acks(self) -> list[float]:
        return [s.ack for s in self.sent if s.ack is not None and s.status == 200]

    @property
    def verdicts(self) -> list[float]:
        out = []
        for s in self.sent:
            final = self.fake.final_at.get(s.channel)
            if final is not None and final[1]:
                out.append(final[0] - s.started)
        return out

    @property
    def failed(self) -> int:
        return sum(1 for s in self.sent if s.channel in self.fake.final_at) - len(self.verdicts)

    @property
    def missing(self) -> int:
        return sum(1 for s in self.sent if s.error is None and s.channel not in self.fake.final_at)

    @property
    def errors(self) -> list[str]:
        return [f"{s.channel}: {s.error}" for s in self.sent if s.error]

    @property
    def under_limit(self) -> int:
        return sum(1 for a in self.acks if a < SLACK_ACK_LIMIT)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed and not self.missing


async def run_phase(
    name: str,
    fake: TimedFakeSlack,
    session: aiohttp.ClientSession,
    url: str,
    sku: str,
    count: int,
    *,
    concurrent: bool,
    timeout: float,
) -> Phase:
    channels = [f"C{name[:3].upper()}{i:05d}" for i in range(count)]
    if concurrent:
        sent = list(
            await asyncio.gather(
                *(send(session, url, sku, c, fake.response_url(c)) for c in channels)
            )
        )
    else:
        sent = [await send(session, url, sku, c, fake.response_url(c)) for c in channels]
    await wait_final(fake, [s.channel for s in sent if s.error is None], timeout)
    return Phase(name, sent, fake)


def report(phases: Sequence[Phase], latency: float, sku: str, url: str, verbose: bool) -> None:
    print(
        f"/oos {sku} against {url} (a separate `oos {'-v ' if verbose else ''}serve --sandbox` "
        "process), "
        f"injected vendor latency {latency:.2f} s per call, Slack's ack limit {SLACK_ACK_LIMIT:.0f} s"
    )
    print()
    print(
        f"{'phase':<12}{'count':>6}{'ack p50 ms':>12}{'ack p95 ms':>12}{'ack p99 ms':>12}"
        f"{'ack max ms':>12}"
        f"{'acks < 3 s':>16}{'verdict p50 s':>15}{'verdict p95 s':>15}{'failed':>8}{'missing':>9}"
    )
    for ph in phases:
        acks_ms = [a * 1e3 for a in ph.acks]
        n = len(ph.sent)
        share = f"{ph.under_limit}/{n} ({ph.under_limit / n:.0%})" if n else "-"
        print(
            f"{ph.name:<12}{n:>6}{percentile(acks_ms, 50):>12.1f}{percentile(acks_ms, 95):>12.1f}"
            f"{percentile(acks_ms, 99):>12.1f}{max(acks_ms, default=math.nan):>12.1f}{share:>16}"
            f"{percentile(ph.verdicts, 50):>15.2f}{percentile(ph.verdicts, 95):>15.2f}"
            f"{ph.failed:>8}{ph.missing:>9}"
        )
    print()
    for ph in phases:
        for error in ph.errors[:10]:
            print(f"{ph.name}: request refused or lost: {error}")
    if any(ph.failed for ph in phases) and phases[0].fake.responses:
        print(f"a refusal said: {phases[0].fake.responses[0].get('text')}")


async def bench(args: argparse.Namespace) -> int:
    # SIGTERM unwinds like Ctrl-C, through the ``finally`` blocks that stop the server.
    main_task = asyncio.current_task()
    if main_task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    fake = TimedFakeSlack()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix="oos-slack-ack-") as tmp:
            try:
                server = await start_server(
                    fake.api_url,
                    Path(tmp) / "bench.db",
                    args.latency,
                    args.startup_timeout,
                    verbose=args.verbose,
                )
            except RuntimeError as exc:
                print(f"slack_ack: {exc}", file=sys.stderr)
                return 2
            phases: list[Phase] = []
            try:
                client_timeout = aiohttp.ClientTimeout(total=max(30.0, 4 * SLACK_ACK_LIMIT))
                connector = aiohttp.TCPConnector(limit=0)  # no client-side queueing
                async with aiohttp.ClientSession(
                    timeout=client_timeout, connector=connector
                ) as session:
                    for name, count, concurrent in (
                        ("sequential", args.requests, False),
                        ("concurrent", args.concurrency, True),
                    ):
                        if count > 0:
                            phases.append(
                                await run_phase(
                                    name,
                                    fake,
                                    session,
                                    server.url,
                                    args.sku,
                                    count,
                                    concurrent=concurrent,
                                    timeout=args.timeout,
                                )
                            )
            finally:
                rss = server.peak_rss_mb()
                code = await stop_server(server)
            report(phases, args.latency, args.sku, server.url, args.verbose)
            print(f"server peak RSS: {rss:.0f} MB" if rss is not None else "server peak RSS: n/a")
            problems = server.problems
            print(
                f"server: exited {code} after SIGTERM; "
                f"{len(problems)} warning/error lines in its log"
            )
            for line in problems[:10]:
                print(f"  {line}")
            return 0 if all(ph.ok for ph in phases) else 1
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/slack_ack.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-n", "--requests", type=int, default=50, help="sequential /oos commands (default 50)"
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=20,
        help="/oos commands sent at the same instant afterwards (default 20)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="injected latency of every sandbox vendor call (--sandbox-latency; default 2.0)",
    )
    parser.add_argument(
        "--sku", default="SKU-3101", help="sandbox SKU to triage (default SKU-3101)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="run the server verbose (`oos -v serve`: every vendor request logged and redacted)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="per phase, how long to wait for the verdicts after the last ack (default 120)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the server may take to start (default 30)",
    )
    args = parser.parse_args(argv)
    if args.requests < 0 or args.concurrency < 0 or args.latency < 0:
        parser.error("counts and latency must not be negative")
    try:
        return asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("slack_ack: interrupted (server stopped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
