"""``oos health`` and ``oos map``: connector health and the trigger-chain map in a terminal.

Both read a live stack (``--config stack.toml``) or the generated sandbox catalog
(``--sandbox``, sized with ``--size`` / ``--seed`` as ``oos drift`` is). Exit codes: 0 a report
was produced, whatever it says; 1 the connector could not be read (``oos health``: the report
says NOT CHECKED); 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import STACK_SYSTEMS, load_config, require_env
from bot.monitor.health import render_text as health_text
from bot.monitor.map import render_png
from bot.monitor.map import render_text as map_text
from bot.monitor.sources import SANDBOX_SIZE, Monitor
from bot.outside_text import outside
from bot.settings import default_store_path


def _common(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--sandbox", action="store_true", help="the generated sandbox catalog (see --size, --seed)"
    )
    where.add_argument("--config", metavar="stack.toml", help="a stack config naming live systems")
    p.add_argument(
        "--size",
        type=int,
        default=SANDBOX_SIZE,
        help=f"sandbox catalog size (default {SANDBOX_SIZE})",
    )
    p.add_argument("--seed", type=int, default=7, help="sandbox catalog seed (default 7)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--db",
        type=Path,
        help="the store (default: $OOS_DB or ~/.local/state/oos-triage/triage.db)",
    )


def add_monitor_parsers(sub: Any) -> None:
    """Register ``oos health`` and ``oos map`` on the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "health",
        help="every connector flow's status and error rate against the 0.5 %% bar",
    )
    _common(p)
    p.add_argument(
        "--days", type=int, default=7, help="the window the error rate covers (default 7 days)"
    )
    p.set_defaults(run=_cmd_health)

    p = sub.add_parser(
        "map",
        help="the trigger chain: each hop event / poll / batch, its interval and lag, as a PNG",
    )
    _common(p)
    p.add_argument(
        "--out", type=Path, default=Path("map.png"), help="where to write the PNG (default map.png)"
    )
    p.set_defaults(run=_cmd_map)


class _BadInput(ValueError):
    pass


def _monitor(args: argparse.Namespace, reads: tuple[str, ...]) -> Monitor:
    db = args.db or default_store_path(sandbox=not args.config)
    if args.config:
        config = load_config(Path(args.config))
        require_env(config, args.config, only=reads)
        return Monitor.from_config(config, db)
    if not 1 <= args.size <= 10_000_000:
        raise _BadInput("--size is 1 to 10,000,000 SKUs")
    return Monitor.sandbox(db, size=args.size, seed=args.seed)


def _cmd_health(args: argparse.Namespace) -> int:
    try:
        monitor = _monitor(args, reads=("middleware",))
        if not 1 <= args.days <= 90:
            raise _BadInput("--days is 1 to 90")
    except _BadInput as exc:
        print(f"oos: {exc}", file=sys.stderr)
        return 2
    report = asyncio.run(monitor.health(window=timedelta(days=args.days)))
    if args.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(outside(health_text(report), "terminal"))
    return 1 if report.error else 0


def _cmd_map(args: argparse.Namespace) -> int:
    try:
        monitor = _monitor(args, reads=STACK_SYSTEMS)
        if not args.out.parent.is_dir():
            raise _BadInput(f"cannot write {args.out}: no directory {args.out.parent}")
    except _BadInput as exc:
        print(f"oos: {exc}", file=sys.stderr)
        return 2
    m = asyncio.run(monitor.trigger_map())
    try:
        args.out.write_bytes(render_png(m))
    except OSError as exc:
        print(f"oos: could not write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(m.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(outside(map_text(m), "terminal") + f"\nPicture: {args.out}\n")
    return 0
