"""The ``oos`` command line: triage a SKU, list the sandbox scenarios, serve Slack.

Exit codes: 0 a report was produced (whatever its verdict), 2 bad input (one line on stderr,
never a traceback), 1 an unexpected internal error (a reference id on stderr, details logged)
or, for ``check-config``, a system that could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, cast

import dotenv

from bot import logs
from bot.agent.render import off_line, status_line
from bot.agent.setup import open_agent
from bot.case import CaseError, read_case, record_case, replay_case, replays_identically, write_case
from bot.compose import Target, UnknownSku, sandbox_target, scenario_target
from bot.config import (
    STACK_SYSTEMS,
    AgentConfig,
    ConfigError,
    load_config,
    require_env,
    systems,
)
from bot.discover_cli import add_check_config_parser, add_discover_parser
from bot.engine import triage
from bot.init_cli import add_init_parser
from bot.live import build_stack, open_stack
from bot.logs import log_format, triage_context
from bot.monitor.cli import add_monitor_parsers
from bot.monitor.drift import add_drift_parser
from bot.monitor.sources import Monitor
from bot.render_text import render_text
from bot.report import Report
from bot.settings import default_store_path
from bot.slack.manifest import add_manifest_parser
from bot.slack.server import add_serve_parser, serve_main
from bot.store import StoreError, TriageStore
from bot.tickets.cli import add_tickets_parser
from tools.protocols import Stack
from tools.sandbox.scenario import ScenarioError, load_library, load_scenario_file
from tools.sku import InvalidSku, validate_sku

log = logging.getLogger("oos")


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line (and exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return metadata.version("oos-triage")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _load_dotenv() -> None:
    """``$OOS_ENV_FILE``, else ``./.env`` when it exists: variables the environment does not set
    already (the environment wins). Secrets may live there; it is never read into the config."""
    configured = os.environ.get("OOS_ENV_FILE")
    path = Path(configured) if configured else Path(".env")
    if not configured and not path.is_file():
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: cannot read the env file ({reason})") from None
    dotenv.load_dotenv(stream=io.StringIO(text), override=False)


def _sandbox(args: argparse.Namespace, sku: str) -> Target:
    if args.sandbox is None:
        raise UsageError(
            "say where to look: --sandbox (the built-in sandbox) or --config stack.toml"
        )
    if args.sandbox is True:
        return sandbox_target(sku, latency=args.latency)
    scenario = load_scenario_file(Path(args.sandbox))
    if scenario.sku != sku:
        raise UsageError(f"{args.sandbox} describes {scenario.sku}, not {sku}")
    return scenario_target(scenario, args.latency)


async def _explain(
    args: argparse.Namespace,
    report: Report,
    stack: Stack,
    config: AgentConfig,
    **when: Any,
) -> Report:
    """The agent's explanation when it is on; one line on stderr (never stdout, so ``--json``
    stays clean) when it is off or could not help."""
    if args.no_agent:
        return report
    agent, off = open_agent(config)
    if agent is None:
        print(f"oos: {off_line(off or 'unknown reason')}", file=sys.stderr)
        return report
    try:
        report = await agent.explain(report, stack, **when)
    finally:
        await agent.aclose()
    if (line := status_line(report.agent)) is not None:
        print(f"oos: {line}", file=sys.stderr)
    return report


async def _triage(args: argparse.Namespace, sku: str) -> Report:
    if sum((bool(args.config), args.sandbox is not None, args.replay is not None)) > 1:
        raise UsageError("choose one of --sandbox, --config or --replay")
    if args.replay is not None:
        return await _replay(args.replay, sku)
    if args.config:
        config = load_config(Path(args.config))
        require_env(config, args.config, only=STACK_SYSTEMS)
        async with open_stack(config) as stack:
            report = await triage(sku, stack, thresholds=config.thresholds)
            return await _explain(args, report, stack, config.agent, thresholds=config.thresholds)
    target = _sandbox(args, sku)
    try:
        report = await triage(sku, target.stack, now=target.clock)
        return await _explain(args, report, target.stack, AgentConfig(), now=target.clock)
    finally:
        await target.aclose()


async def _replay(path: Path, sku: str) -> Report:
    """A recorded case's answers served to the same adapters again (no network, no agent)."""
    case = read_case(path)
    if case.sku != sku:
        raise UsageError(f"{path} records {case.sku}, not {sku}")
    report = await replay_case(case)
    if replays_identically(case, report):
        print(f"oos: the replay of {path} matches the recorded report", file=sys.stderr)
    else:
        print(f"oos: the replay of {path} differs from the recorded report", file=sys.stderr)
    wanted = case.expected
    got = (report.pattern, report.verdict.cause, report.verdict.confidence)
    if wanted.confirmed and got != (wanted.pattern, wanted.cause, wanted.confidence):
        print(
            f"oos: the confirmed expected verdict is {wanted.cause or wanted.pattern} "
            f"({wanted.confidence}); this replay says {report.verdict.cause or report.pattern} "
            f"({report.verdict.confidence})",
            file=sys.stderr,
        )
    return report


def _cmd_record(args: argparse.Namespace) -> int:
    sku = validate_sku(args.sku)
    config = load_config(Path(args.config))
    require_env(config, args.config, only=STACK_SYSTEMS)
    case, report = asyncio.run(record_case(sku, config))
    try:
        write_case(case, args.out)
    except OSError as exc:
        sys.stdout.write(render_text(report))
        raise UsageError(
            f"the case was not saved: cannot write {args.out}: {exc.strerror}"
        ) from None
    if args.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    systems = len({e.system for e in case.exchanges})
    print(
        f"oos: saved {args.out}: {len(case.exchanges)} answers from {systems} systems, "
        "credentials removed and personal data masked; confirm the expected block "
        f"(recorded: {case.expected.cause or case.expected.pattern}, {case.expected.confidence}) "
        f"and replay it with: oos triage {sku} --replay {args.out}",
        file=sys.stderr,
    )
    return 0


def _cmd_triage(args: argparse.Namespace) -> int:
    sku = validate_sku(args.sku)
    with triage_context(sku):  # -v / --log-format json: every vendor call's line carries its id
        report = asyncio.run(_triage(args, sku))
    if args.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    if not args.no_save:
        try:
            sandbox = args.sandbox is not None or args.replay is not None
            store = TriageStore(args.db or default_store_path(sandbox=sandbox))
            store.save(report, origin="cli")
            store.close()
        except StoreError as exc:
            print(f"oos: warning: the report above was not saved: {exc}", file=sys.stderr)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    if args.config is None:
        return serve_main(args)
    if args.sandbox:
        raise UsageError("choose either --sandbox or --config, not both")
    config = load_config(Path(args.config))
    require_env(config, args.config)
    stack = build_stack(config)  # kept open for the server's lifetime
    access = config.slack.policy(os.environ)
    return serve_main(
        args,
        resolve=lambda _sku: Target(stack=stack, clock=None),
        engine=functools.partial(triage, thresholds=config.thresholds),
        access=access,
        tickets=config.tickets,
        agent_config=config.agent,
        thresholds=config.thresholds,
        monitor=functools.partial(Monitor.from_config, config),
        mode=f"live stack {config.name!r} ({args.config})",
        systems=[entry.vendor for _key, _layer, entry in systems(config)],
    )


def _cmd_scenarios(args: argparse.Namespace) -> int:
    library = load_library()
    if args.json:
        rows = [
            {"sku": s.sku, "name": s.name, "expected": s.expected.model_dump(exclude={"secondary"})}
            for s in library.values()
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    width = max(len(s) for s in library)
    for s in library.values():
        e = s.expected
        verdict = e.cause or ("in sync" if e.pattern == "in_sync" else e.confidence)
        print(f"{s.sku:<{width}}  {verdict:<32} {s.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="oos",
        description="Find out why a SKU went out of stock on a storefront or marketplace while the ERP never registered it.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    parser.add_argument("--version", action="version", version=f"oos {_version()}")
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        help="log lines as text (default) or one JSON object per line (also: $OOS_LOG_FORMAT)",
    )
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",  # of _Parser: one-line errors
        parser.add_subparsers(dest="command", required=True),
    )

    p = sub.add_parser("triage", help="walk the four-layer checklist for one SKU")
    p.add_argument("sku", help="the SKU to triage, e.g. SKU-3101")
    p.add_argument(
        "--sandbox",
        nargs="?",
        const=True,
        default=None,
        metavar="SCENARIO.yaml",
        help="use the built-in sandbox catalog (or one scenario file)",
    )
    p.add_argument("--config", metavar="stack.toml", help="a stack config naming live systems")
    p.add_argument(
        "--replay",
        type=Path,
        metavar="case.yaml",
        help="serve the answers `oos record` saved to the same adapters again",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (DESIGN §5)")
    p.add_argument(
        "--db",
        type=Path,
        help="the triage store (default: $OOS_DB or ~/.local/state/oos-triage/triage.db)",
    )
    p.add_argument("--no-save", action="store_true", help="do not save the report in the store")
    p.add_argument(
        "--no-agent",
        action="store_true",
        help="no LLM explanation, even when OPENAI_API_KEY is set (the rules engine alone)",
    )
    p.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    p.set_defaults(run=_cmd_triage)

    p = sub.add_parser(
        "record",
        help="triage over live systems and save every answer as a case file (to report a wrong diagnosis)",
    )
    p.add_argument("sku", help="the SKU to triage")
    p.add_argument("--config", required=True, metavar="stack.toml", help="the stack config")
    p.add_argument("--out", required=True, type=Path, metavar="case.yaml", help="where to save")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_cmd_record)

    p = add_serve_parser(sub)
    p.add_argument("--config", metavar="stack.toml", help="serve a configured live stack")
    p.set_defaults(run=_cmd_serve)

    add_check_config_parser(sub)

    p = sub.add_parser("scenarios", help="list the sandbox scenarios (one per SKU)")
    p.add_argument(
        "--json", action="store_true", help="print sku, name and expected verdict as JSON"
    )
    p.set_defaults(run=_cmd_scenarios)

    add_discover_parser(sub)
    add_init_parser(sub)
    add_drift_parser(sub)
    add_monitor_parsers(sub)
    add_tickets_parser(sub)
    add_manifest_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        fmt = log_format(args.log_format)
    except ValueError as exc:
        print(f"oos: {exc}", file=sys.stderr)
        return 2
    # A server logs what it does. A command reports in its output and its one-line messages (an
    # agent or vendor fault is in the report already), so its log says only errors unless -v.
    serving = args.command == "serve"
    with logs.configured(logging.INFO if args.verbose or serving else logging.ERROR, fmt):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    vendor_log = logging.getLogger("tools")
    previous_level = vendor_log.level
    if not args.verbose and args.command != "serve":
        # Vendor faults are in the report already (as unknown checks with their reason); the
        # adapters' retry warnings would only repeat them on stderr.
        vendor_log.setLevel(logging.ERROR)
    try:
        _load_dotenv()
        return int(args.run(args))
    except (
        UsageError,
        InvalidSku,
        UnknownSku,
        ScenarioError,
        StoreError,
        ConfigError,
        CaseError,
    ) as exc:
        print(f"oos: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        ref = uuid.uuid4().hex[:8]
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
            print(f"oos: internal error (ref {ref}); the details are above", file=sys.stderr)
        else:
            print(
                f"oos: internal error (ref {ref}); run again with -v for the details",
                file=sys.stderr,
            )
        return 1
    finally:
        vendor_log.setLevel(previous_level)


if __name__ == "__main__":
    raise SystemExit(main())
