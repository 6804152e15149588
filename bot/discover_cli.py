"""``oos discover``: the argument parsing and the run (``bot.discover`` does the work)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from bot.config import ConfigError
from bot.discover import PartialConfig, discover, load_partial, partial_config, render
from bot.sandbox_stack import sandbox_systems


def sandbox_partial() -> tuple[PartialConfig, dict[str, httpx.AsyncBaseTransport]]:
    """The sandbox's partial config and its emulators; their sandbox credentials are put in
    this process's environment under ``OOS_SANDBOX_*`` names (never over a set variable)."""
    systems = sandbox_systems()
    for name, secret in systems.environ.items():
        os.environ.setdefault(name, secret)
    return partial_config(Path("<sandbox>"), systems.partial), systems.transports


def _cmd_discover(args: argparse.Namespace) -> int:
    if (args.config is None) == (not args.sandbox):
        raise ConfigError("say what to read: --config partial.toml, or --sandbox")
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    if args.sandbox:
        partial, transports = sandbox_partial()
    else:
        partial = load_partial(Path(args.config))
    missing = {s.key: names for s in partial.systems if (names := s.missing_variables(os.environ))}
    if missing:
        listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items())
        raise ConfigError(f"{partial.path}: credential variables not set ({listed}); export them")
    found = asyncio.run(discover(partial, transports=transports))
    text = render(partial, found)
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            raise ConfigError(f"{out} exists; choose another path or add --force")
        out.write_text(text, encoding="utf-8")
        print(f"oos: wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    failed = [d for d in found if d.error]
    for item in failed:
        print(f"oos: {item.system.key}: {item.error}", file=sys.stderr)
    return 1 if failed else 0


def add_discover_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "discover",
        help="read flow ids, locations, scripts and marketplaces from the live systems (read-only) and print a stack config",
    )
    p.add_argument("--config", metavar="partial.toml", help="vendors and credential variables")
    p.add_argument(
        "--sandbox", action="store_true", help="read the sandbox's emulated systems instead"
    )
    p.add_argument("--out", metavar="stack.toml", help="write the config there, not to stdout")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(run=_cmd_discover)
    return p
