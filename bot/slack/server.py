"""``oos serve``: the Slack app in Socket Mode (``SLACK_APP_TOKEN`` set) or over HTTP.

HTTP mode listens on ``$PORT`` (default 3000) at ``POST /slack/events`` for slash commands,
interactions and events alike, with Slack's request signature verified by Bolt (a bad or
replayed signature gets 401), plus ``GET /healthz`` for load balancers. At startup the bot token
is checked with ``auth.test`` against ``SLACK_API_URL`` so a wrong token or URL fails at once
with one clear line instead of on the first command; in Socket Mode, so is the app token, with
``apps.connections.open`` (whose URL the connection then uses).

``--sandbox`` serves the sandbox catalog, so anyone can try the app without vendor credentials,
and escalates to an in-process Jira emulator (``bot.compose.sandbox_tickets``) through the real
Jira adapter, so Open ticket and auto-opened tickets work too (links to
``https://oos-sandbox.atlassian.net/browse/OOS-…``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.agent.agent import Agent, ThreadAnswer
from bot.agent.render import off_line
from bot.agent.setup import open_agent
from bot.compose import sandbox_target, sandbox_tickets
from bot.config import AgentConfig, MonitoringConfig
from bot.engine import triage
from bot.instances import only_instance_problem
from bot.logs import configured, log_format
from bot.metrics import Metrics
from bot.monitor.posts import start_schedules
from bot.monitor.sources import Monitor
from bot.report import Report
from bot.settings import Thresholds, default_store_path
from bot.slack.acks import ACKS
from bot.slack.app import build_app, build_client
from bot.slack.gate import http_refusal
from bot.slack.ops import Readiness, add_ops_routes
from bot.slack.runner import Engine, TargetResolver
from bot.slack.settings import AccessPolicy, SettingsError, SlackSettings
from bot.slack.startup import Startup
from bot.store import StoreError, TriageStore
from bot.tickets.config import TicketsConfig
from bot.tickets.service import TicketService
from tools.sandbox.scenario import load_library

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def make_web_app(
    app: AsyncApp, ops: Callable[[web.Application], None] | None = None
) -> web.Application:
    """The aiohttp application: one Slack endpoint and a health check."""

    async def slack_events(request: web.Request) -> web.Response:
        body = await request.read()
        refusal = http_refusal(request.headers, body)
        if refusal is not None:
            status, reason = refusal
            log.warning("refused a malformed request from Slack (%d): %s", status, reason)
            return web.Response(status=status)
        with ACKS.answering():  # work started by this request waits for its answer to go out
            response = await app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get(HEALTH_PATH, health)
    if ops is not None:
        ops(web_app)  # /readyz and /metrics (bot.slack.ops)
    return web_app


@dataclass
class HttpServer:
    """A running HTTP endpoint; ``port`` is the bound one (useful when asked for port 0)."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{EVENTS_PATH}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_http(
    app: AsyncApp, host: str, port: int, ops: Callable[[web.Application], None] | None = None
) -> HttpServer:
    runner = web.AppRunner(make_web_app(app, ops), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    return HttpServer(runner=runner, host=host, port=bound)


async def until_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first (then cancel it); True if it finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopping):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    if task.cancelled():
        return False
    task.result()
    return True


async def serve(
    settings: SlackSettings,
    *,
    store: TriageStore,
    resolve: TargetResolver,
    stop: asyncio.Event | None = None,
    engine: Engine | None = None,
    tickets: TicketService | None = None,
    agent_config: AgentConfig | None = None,
    thresholds: Thresholds | None = None,
    monitor: Monitor | None = None,
    mode: str = "live",
    systems: Sequence[str] = (),
) -> int:
    """Check the token, then serve until ``stop`` is set (or SIGINT/SIGTERM). Returns an exit code.

    With ``monitor``, ``/oos drift | health | map`` answer, and the scheduled posts its
    ``[monitoring]`` table names run in the background (leases in the store's file).

    With ``tickets``, the ticket outbox is drained in the background while the app serves.
    With ``OPENAI_API_KEY`` set, the LLM agent (``agent_config``: the config's ``[agent]``)
    explains each verdict and answers mentions; without it the log says once that it is off."""
    client = build_client(settings)
    socket_url: str | None = None
    checking = "SLACK_BOT_TOKEN"
    try:
        auth = await client.auth_test()
        if settings.app_token is not None:
            # Checked here too: the Socket Mode client would retry a refused app token forever.
            checking = "SLACK_APP_TOKEN"
            opened = await client.apps_connections_open(
                app_token=settings.app_token.get_secret_value()
            )
            socket_url = str(opened["url"])
    except SlackApiError as exc:
        hint = (
            "it starts with xoxb-"
            if checking == "SLACK_BOT_TOKEN"
            else "an app-level token, xapp-…, with connections:write, and Socket Mode on"
        )
        print(
            f"oos serve: Slack refused {checking} at {settings.api_url} "
            f"({exc.response.get('error')}). Check the token ({hint}).",
            file=sys.stderr,
        )
        return 2
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(
            f"oos serve: cannot reach the Slack Web API at {settings.api_url} ({type(exc).__name__}). "
            "Check SLACK_API_URL and the network.",
            file=sys.stderr,
        )
        return 2

    # One pool of keep-alive connections for every Web API call of the server's life: without
    # it each post opens (and closes) a TCP and TLS connection of its own, work the event loop
    # does in the middle of acking other commands.
    client.session = aiohttp.ClientSession()
    metrics = Metrics()
    metrics.watch_store(store.path)
    readiness = Readiness(store, client, metrics, systems)
    readiness.seed_slack()  # auth.test just answered
    agent_config = agent_config or AgentConfig()
    agent, off = open_agent(agent_config, thresholds=thresholds)
    if agent is None:
        log.info("oos serve: %s", off_line(off or "unknown reason"))
    else:
        meter_agent(agent, metrics)
    app, services = build_app(
        settings,
        store=store,
        resolve=resolve,
        client=client,
        engine=metered(engine or triage, metrics),
        tickets=tickets,
        agent=agent,
        monitor=monitor,
    )
    services.identity.seed(auth)
    stop = stop or asyncio.Event()
    outbox = asyncio.create_task(tickets.run(stop)) if tickets is not None else None
    schedules = start_schedules(services.monitoring, store.path, stop)
    # Verdicts Slack would not take (down, or rate limited past the deadline) go out from here.
    redelivery = asyncio.create_task(services.runner.redeliver_until(stop))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)

    who = f"@{auth.get('user')} in {auth.get('team')}"
    unsubscribe = metrics.listen()

    def announce(address: str) -> None:
        jobs = services.monitoring.poster.jobs() if services.monitoring is not None else []
        watch = services.monitoring.poster.monitor.settings if services.monitoring else None
        startup = Startup(
            mode=mode,
            address=address,
            slack=f"{who}, Web API {settings.api_url}",
            agent=f"on ({agent_config.model})" if agent is not None else f"off ({off})",
            schedules=(
                f"{', '.join(f'{j.name} {j.cron.expression!r}' for j in jobs)} to "
                f"{watch.channel} ({watch.timezone})"
                if jobs and watch is not None
                else "none (no [monitoring] channel)"
            ),
            tickets=(
                f"{tickets.config.system} {tickets.config.base_url}"
                if tickets is not None
                else "none"
            ),
            access=settings.access,
        )
        log.info("%s", startup.line())
        for warning in startup.warnings():
            log.warning("%s", warning)

    try:
        if settings.app_token is not None:
            handler = AsyncSocketModeHandler(
                app, settings.app_token.get_secret_value(), web_client=client
            )
            handler.client.wss_uri = socket_url  # the URL the startup check was handed
            try:
                # The client retries a failing connection forever; a stop still ends it.
                connect = handler.connect_async()  # type: ignore[no-untyped-call]
                if await until_stopped(connect, stop):
                    announce("Socket Mode (connected)")
                await stop.wait()
            finally:
                await handler.close_async()  # type: ignore[no-untyped-call]
        else:
            try:
                server = await start_http(
                    app,
                    settings.host,
                    settings.port,
                    ops=functools.partial(add_ops_routes, readiness=readiness, metrics=metrics),
                )
            except OSError as exc:
                print(
                    f"oos serve: cannot listen on {settings.host}:{settings.port} "
                    f"({exc.strerror or exc}); is another process using the port? "
                    "Choose another with --port or PORT.",
                    file=sys.stderr,
                )
                return 2
            announce(f"listening on {server.url}")
            try:
                await stop.wait()
            finally:
                await server.stop()
    finally:
        unsubscribe()
        stop.set()
        await redelivery
        await services.runner.shutdown()
        if outbox is not None and tickets is not None:
            stop.set()
            await outbox
            await tickets.aclose()
        if agent is not None:
            await agent.aclose()
        if schedules is not None:
            stop.set()
            await schedules
        if services.monitoring is not None:
            await services.monitoring.shutdown()
        await client.session.close()
    return 0


def metered(engine: Engine, metrics: Metrics) -> Engine:
    """``engine``, counting each report it returns (pattern, cause, confidence, seconds)."""

    async def run(sku: str, stack: Any, **when: Any) -> Report:
        report = await engine(sku, stack, **when)
        metrics.triage(report)
        return report

    return run


def meter_agent(agent: Agent, metrics: Metrics) -> None:
    """Count the model calls, tokens and cost of every explanation and answer ``agent`` gives."""
    explain, answer = agent.explain, agent.answer

    async def explained(*args: Any, **kwargs: Any) -> Report:
        report = await explain(*args, **kwargs)
        metrics.agent(report.agent.usage if report.agent else None, "explain")
        return report

    async def answered(*args: Any, **kwargs: Any) -> ThreadAnswer:
        reply = await answer(*args, **kwargs)
        metrics.agent(reply.usage, "answer")
        return reply

    setattr(agent, "explain", explained)  # noqa: B010 - an instance attribute shadows the method
    setattr(agent, "answer", answered)  # noqa: B010


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (0-65535)")
    return port


def add_serve_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``serve`` to a CLI's subcommands; ``args.func`` is ``serve_main``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack app (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)",
        description=(
            "Run the Slack app. Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode, "
            "POST /slack/events on $PORT, default 3000) or SLACK_APP_TOKEN (Socket Mode). "
            "SLACK_API_URL points the Web API client elsewhere (GovSlack, proxies, tests)."
        ),
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="serve the sandbox catalog (no vendor credentials)"
    )
    parser.add_argument(
        "--sandbox-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="slow every sandbox vendor call by this much (demos, benchmarks)",
    )
    parser.add_argument(
        "--sandbox-size",
        type=int,
        default=None,
        metavar="SKUS",
        help="SKUs in the sandbox catalog that /oos drift scans (default 10000; benchmarks)",
    )
    parser.add_argument(
        "--monitoring-channel",
        metavar="CHANNEL_ID",
        help="with --sandbox: post the drift, health and latency checks to this channel "
        "(a live stack sets [monitoring] channel in its config)",
    )
    parser.add_argument(
        "--monitoring-cron",
        default=SANDBOX_MONITORING_CRON,
        metavar="CRON",
        help=f"with --monitoring-channel: when all three run (default {SANDBOX_MONITORING_CRON!r}: "
        "see them within minutes)",
    )
    parser.add_argument("--port", type=port_number, help="HTTP port (default: $PORT or 3000)")
    parser.add_argument("--host", help="HTTP bind address (default: $OOS_HOST or 0.0.0.0)")
    parser.add_argument("--db", type=Path, help="triage store (default: $OOS_DB)")
    parser.set_defaults(func=serve_main)
    return parser


SANDBOX_MONITORING_CRON = "*/5 * * * *"
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


def _sandbox_monitoring(args: argparse.Namespace, sandbox: bool) -> MonitoringConfig | None:
    """The ``[monitoring]`` table ``--monitoring-channel`` / ``--monitoring-cron`` stand for:
    the three scheduled posts to one channel on one schedule (None without a channel)."""
    channel = getattr(args, "monitoring_channel", None)
    if channel is None:
        return None
    if not sandbox:
        raise ValueError(
            "--monitoring-channel goes with --sandbox; a live stack names its channel in "
            "the config's [monitoring] table"
        )
    if not _CHANNEL_ID.match(channel):
        raise ValueError(f"--monitoring-channel {channel!r} is not a channel id (like C0123ABCD)")
    cron = getattr(args, "monitoring_cron", SANDBOX_MONITORING_CRON)
    try:
        return MonitoringConfig(
            channel=channel, daily_drift=cron, weekly_health=cron, latency_check=cron
        )
    except ValidationError as exc:
        raise ValueError(f"--monitoring-cron {cron!r}: {exc.errors()[0]['msg']}") from None


def serve_main(
    args: argparse.Namespace,
    *,
    resolve: TargetResolver | None = None,
    engine: Engine | None = None,
    access: AccessPolicy | None = None,
    tickets: TicketsConfig | None = None,
    agent_config: AgentConfig | None = None,
    thresholds: Thresholds | None = None,
    monitor: Callable[[Path], Monitor] | None = None,
    mode: str | None = None,
    systems: Sequence[str] = (),
) -> int:
    """Entry point of ``oos serve``.

    ``monitor`` builds the stack's monitoring on the store's file (``Monitor.from_config``);
    ``--sandbox`` monitors the generated sandbox catalog.

    ``agent_config`` (the config's ``[agent]`` table) sets the LLM agent's model, endpoint and
    budgets; ``thresholds`` are the ones its checks judge by.

    ``tickets`` (the config's ``[tickets]`` table) connects the ticket system, on the same
    database file as the triage store. Without it, ``--sandbox`` escalates to the in-process
    Jira emulator (``sandbox_tickets``); a configured stack without ``[tickets]`` has no ticket
    system (Open ticket says so).

    ``resolve`` (SKU → Target) plugs in a configured stack; ``engine`` a configured triage
    (e.g. ``functools.partial(triage, thresholds=config.thresholds)``). ``--sandbox`` needs
    neither.
    """
    try:
        settings = SlackSettings.from_env()
    except SettingsError as exc:
        print(f"oos serve: {exc}", file=sys.stderr)
        return 2
    overrides = {
        k: v
        for k, v in (("port", getattr(args, "port", None)), ("host", getattr(args, "host", None)))
        if v is not None
    }
    if access is not None:
        overrides["access"] = access
    if overrides:
        settings = settings.model_copy(update=overrides)
    sandbox = bool(getattr(args, "sandbox", False))
    try:
        sandbox_monitoring = _sandbox_monitoring(args, sandbox)
    except ValueError as exc:
        print(f"oos serve: {exc}", file=sys.stderr)
        return 2
    if sandbox:
        load_library()  # parsed once now, not inside the first /oos while others wait for acks
        resolve = functools.partial(
            sandbox_target, latency=float(getattr(args, "sandbox_latency", 0.0) or 0.0)
        )
        size = getattr(args, "sandbox_size", None)
        sized = {"size": size} if size else {}
        monitor = monitor or functools.partial(
            Monitor.sandbox, settings=sandbox_monitoring, **sized
        )
    if resolve is None:
        print(
            "oos serve: no stack to triage against. Run `oos serve --sandbox` to try the app on "
            "the sandbox catalog, or `oos serve --config stack.toml` for your own systems.",
            file=sys.stderr,
        )
        return 2
    if (problem := only_instance_problem(os.environ)) is not None:
        print(f"oos serve: {problem}", file=sys.stderr)
        return 2
    try:
        store = TriageStore(getattr(args, "db", None) or default_store_path(sandbox=sandbox))
    except StoreError as exc:
        print(f"oos serve: {exc}", file=sys.stderr)
        return 2
    try:
        ticket_service: TicketService | None = None
        if tickets is not None:
            ticket_service = TicketService.from_config(tickets, store.path)
        elif sandbox:
            ticket_service = sandbox_tickets()
    except (StoreError, ValueError) as exc:
        store.close()
        print(f"oos serve: [tickets]: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            serve(
                settings,
                store=store,
                resolve=resolve,
                engine=engine,
                tickets=ticket_service,
                agent_config=agent_config,
                thresholds=thresholds,
                monitor=monitor(store.path) if monitor is not None else None,
                mode=mode or ("sandbox" if sandbox else "live"),
                systems=systems,
            )
        )
    except KeyboardInterrupt:
        return 0
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.slack.server")
    add_serve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    with configured(logging.INFO, log_format()):
        return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
