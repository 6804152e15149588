"""``oos discover`` and ``oos check-config``: argument parsing and runs (``bot.discover`` and
``bot.check_config`` do the work)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bot.check_config import Endpoints, check_config, manifest_scopes
from bot.config import ConfigError, StackConfig, load_config
from bot.discover import PartialConfig, discover, load_partial, partial_config, render
from bot.live import SystemCheck
from bot.sandbox_stack import sandbox_systems
from tools.sandbox.emulators import models as models_emulator
from tools.sandbox.emulators import slack_auth


@contextlib.contextmanager
def sandbox_credentials(environ: dict[str, str]) -> Iterator[None]:
    """The emulators' sandbox credentials in this process's environment, under their
    ``OOS_SANDBOX_*`` names, for the run only: the adapters read credentials from the
    environment, and these are gone again (never over a variable already set) afterwards."""
    added = [name for name in environ if name not in os.environ]
    os.environ.update({name: environ[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def sandbox_partial() -> tuple[
    PartialConfig, dict[str, httpx.AsyncBaseTransport], Endpoints, dict[str, str]
]:
    """The sandbox's partial config, its emulators and their credentials (by variable name)."""
    systems = sandbox_systems()
    endpoints = Endpoints(
        slack=slack_auth.SlackAuthEmulator(manifest_scopes()),
        tickets=systems.jira,
        model=models_emulator.ModelsEmulator(["gpt-4o-mini"]),
        transports=systems.transports,
    )
    partial = partial_config(Path("<sandbox>"), systems.partial)
    return partial, systems.transports, endpoints, systems.environ


_SANDBOX_ENVIRON = {
    "SLACK_BOT_TOKEN": slack_auth.SANDBOX_BOT_TOKEN,
    "SLACK_API_URL": slack_auth.SANDBOX_API_URL,
    "OPENAI_API_KEY": models_emulator.SANDBOX_API_KEY,
    "OPENAI_BASE_URL": models_emulator.SANDBOX_BASE_URL,
}


async def _sandbox_check() -> list[SystemCheck]:
    """``oos discover --sandbox``'s config, checked against the same emulators: success."""
    partial, transports, endpoints, credentials = sandbox_partial()
    with sandbox_credentials(credentials):
        text = render(partial, await discover(partial, transports=transports))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "stack.toml"
            path.write_text(text, encoding="utf-8")
            config: StackConfig = load_config(path)
        environ = {**os.environ, **_SANDBOX_ENVIRON}
        return await check_config(config, endpoints=endpoints, environ=environ)


def _cmd_check_config(args: argparse.Namespace) -> int:
    if (args.config is None) == (not args.sandbox):
        raise ConfigError(
            "say what to check: a stack config (oos check-config stack.toml), or --sandbox"
        )
    if args.sandbox:
        results = asyncio.run(_sandbox_check())
    else:
        config = load_config(Path(args.config))
        results = asyncio.run(check_config(config))
    width = max(len(r.key) for r in results)
    for r in results:
        mark = "FAIL" if not r.ok else "WARN" if r.warning else "ok  "
        print(f"{mark}  {r.key:<{width}}  {r.vendor:<10} {r.message}")
    return 0 if all(r.ok for r in results) else 1


def _cmd_discover(args: argparse.Namespace) -> int:
    if (args.config is None) == (not args.sandbox):
        raise ConfigError("say what to read: --config partial.toml, or --sandbox")
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    credentials: dict[str, str] = {}
    if args.sandbox:
        partial, transports, _, credentials = sandbox_partial()
    else:
        partial = load_partial(Path(args.config))
    with sandbox_credentials(credentials):
        missing = {
            s.key: names for s in partial.systems if (names := s.missing_variables(os.environ))
        }
        if missing:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items())
            raise ConfigError(
                f"{partial.path}: credential variables not set ({listed}); export them"
            )
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


def add_check_config_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config",
        help="prove each capability of a stack config with one read (read-only): one line each",
    )
    p.add_argument("config", nargs="?", metavar="stack.toml")
    p.add_argument(
        "--sandbox",
        action="store_true",
        help="check the sandbox's emulated stack: what success looks like",
    )
    p.set_defaults(run=_cmd_check_config)
    return p


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
