"""``oos tickets``: see the ticket outbox, and send what it holds.

    oos tickets list  [--db PATH]                       tickets known, and outbox actions
    oos tickets retry --config stack.toml [--db PATH]   send every queued or failed action now

``retry`` makes every pending and failed action due and works them once; with
``SLACK_BOT_TOKEN`` set it posts each outcome in the Slack thread the action came from, as the
server would. It then counts what is left: actions still pending (backing off, or on a
fingerprint another live worker holds the lease of — a running ``oos serve``) and actions that
failed for good. Exit code 0 only when nothing is left; 1 while anything is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, load_config, require_env
from bot.settings import default_store_path
from bot.slack.settings import DEFAULT_API_URL
from bot.slack.tickets import SlackTicketNotifier
from bot.tickets.service import Outcome, TicketService
from bot.tickets.store import TicketStore
from tools import redact


def _line(outcome: Outcome) -> str:
    ticket = f" {outcome.ticket.key} {outcome.ticket.url}" if outcome.ticket else ""
    error = f" — {outcome.error}" if outcome.error else ""
    retry = f" (next try {outcome.retry_at:%Y-%m-%d %H:%M UTC})" if outcome.retry_at else ""
    return f"{outcome.kind:<10} {outcome.fingerprint}{ticket}{error}{retry}"


async def _retry(service: TicketService) -> int:
    token = os.environ.get("SLACK_BOT_TOKEN")
    if token:
        redact.register(token)
        client = AsyncWebClient(
            token=token, base_url=os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
        )
        service.notify = SlackTicketNotifier(client, service.config.system)
    try:
        armed = service.store.rearm(now=service.now())
        outcomes = await service.drain()
        left = service.store.backlog(now=service.now())
    finally:
        await service.aclose()
    for outcome in outcomes:
        print(_line(outcome))
    done = sum(1 for o in outcomes if o.kind not in ("queued", "failed"))
    print(f"{armed} action(s) to send: {done} done now")
    print(
        f"{left.pending} still pending ({left.held} held by a live worker's lease), "
        f"{left.failed} failed"
    )
    return 1 if left.pending or left.failed else 0


def _cmd_retry(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config))
    if config.tickets is None:
        raise ConfigError(
            f"{args.config}: no [tickets] table: there is no ticket system to send to"
        )
    require_env(config, args.config, only=("tickets",))
    service = TicketService.from_config(config.tickets, args.db or default_store_path())
    return asyncio.run(_retry(service))


def _cmd_list(args: argparse.Namespace) -> int:
    store = TicketStore(args.db or default_store_path())
    try:
        tickets = store.tickets()
        items = store.items(limit=args.limit)
    finally:
        store.close()
    print("Tickets")
    for t in tickets:
        where = f" @ {t.location}" if t.location else ""
        link = f"{t.ticket_key} {t.url}" if t.ticket_key else "(not opened yet)"
        print(f"  {t.state:<8} {t.sku}{where} · {t.cause}  {link}")
    if not tickets:
        print("  none")
    print("Outbox")
    for i in items:
        error = f" — {i.last_error}" if i.last_error and i.state != "done" else ""
        print(
            f"  #{i.id:<5} {i.state:<8} {i.action:<8} triage {i.triage_id} "
            f"attempts {i.attempts}{error}"
        )
    if not items:
        print("  empty")
    return 0


def add_tickets_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("tickets", help="the escalation ticket outbox: list, retry")
    sub = parser.add_subparsers(dest="tickets_command", required=True)
    p = sub.add_parser("list", help="tickets known and outbox actions (no network)")
    p.add_argument("--db", type=Path, help="the store (default: $OOS_DB)")
    p.add_argument("--limit", type=int, default=50, help="outbox actions to show (newest first)")
    p.set_defaults(run=_cmd_list)
    p = sub.add_parser("retry", help="send every queued or failed ticket action now")
    p.add_argument("--config", required=True, metavar="stack.toml", help="with a [tickets] table")
    p.add_argument("--db", type=Path, help="the store (default: $OOS_DB)")
    p.set_defaults(run=_cmd_retry)
    return parser
