"""How often the engine reaches the verdict a scenario expects, field by field.

Runs every scenario of a group through the engine (in-memory adapters, or ``--emulated``: the
real vendor adapters over their emulators) and prints, per group:

- agreement per field: pattern, layer, cause, confidence, secondary (as a multiset), and the
  scenarios right on every field;
- false alarms: a confirmed cause where the scenario expects in sync or inconclusive;
- false all-clears: in sync where the scenario expects a cause or inconclusive;
- auto-tickets to the wrong owner: the escalation policy (``bot/escalation.py``) would open a
  ticket on its own, and the owner is not the expected cause's owner (or nothing was expected).

A file the loader rejects, or a SKU the engine refuses, counts as a miss on every field.

    python bench/accuracy.py                        # the library, then its blind_* group
    python bench/accuracy.py --group blind_         # the library's files named blind_*
    python bench/accuracy.py --dir /path/to/yamls   # any directory of scenario files
    python bench/accuracy.py --dir … --misses       # also list every miss, field by field
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Measure the engine of the checkout this file is in (e.g. an older worktree), not whichever
# one the virtualenv has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine import triage
from bot.escalation import escalation_for
from bot.report import Report
from bot.tree import load_tree
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, ScenarioError, library_dir, load_scenario_file

FIELDS = ("pattern", "layer", "cause", "confidence", "secondary")


@dataclass
class Outcome:
    """One scenario's result: what was expected, what the engine said (None: never ran)."""

    file: str
    expected: dict[str, Any] | None
    got: dict[str, Any] | None
    error: str | None = None
    auto_owner: str | None = None  # the owner a ticket would open for by itself
    agree: dict[str, bool] = field(default_factory=dict)

    @property
    def fully_right(self) -> bool:
        return bool(self.agree) and all(self.agree.values())


def _fields_of_expected(s: Scenario) -> dict[str, Any]:
    e = s.expected
    return {
        "pattern": e.pattern,
        "layer": e.layer,
        "cause": e.cause,
        "confidence": e.confidence,
        "secondary": sorted(e.secondary),
    }


def _fields_of_report(r: Report) -> dict[str, Any]:
    return {
        "pattern": r.pattern,
        "layer": r.verdict.layer,
        "cause": r.verdict.cause,
        "confidence": r.verdict.confidence,
        "secondary": sorted(s.cause for s in r.secondary),
    }


async def _run(scenario: Scenario, emulated: bool) -> Report:
    if emulated:
        from tools.sandbox.emulated import open_emulated_stack

        async with open_emulated_stack(scenario) as stack:
            return await triage(scenario.sku, stack, now=scenario.clock)
    return await triage(scenario.sku, memory_stack(scenario), now=scenario.clock)


async def measure(path: Path, emulated: bool = False) -> Outcome:
    try:
        scenario = load_scenario_file(path)
    except ScenarioError as exc:
        return Outcome(path.name, None, None, error=f"rejected by the loader: {exc}")
    expected = _fields_of_expected(scenario)
    try:
        report = await _run(scenario, emulated)
    except Exception as exc:  # a refused SKU or an engine bug: a miss, and say which
        return Outcome(path.name, expected, None, error=f"{type(exc).__name__}: {exc}")
    got = _fields_of_report(report)
    escalation = escalation_for(report.verdict, load_tree())
    return Outcome(
        path.name,
        expected,
        got,
        auto_owner=escalation.owner if escalation.auto_escalate else None,
        agree={f: got[f] == expected[f] for f in FIELDS},
    )


def _expected_owner(expected: dict[str, Any]) -> str | None:
    cause = expected.get("cause")
    return load_tree().causes[cause].owner if cause in load_tree().causes else None


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    agree = Counter(f for o in outcomes for f, ok in o.agree.items() if ok)
    false_alarms, false_all_clears, wrong_owner = [], [], []
    for o in outcomes:
        if o.got is None or o.expected is None:
            continue
        expected_quiet = o.expected["cause"] is None  # in sync, or inconclusive
        if o.got["confidence"] == "confirmed" and o.got["cause"] is not None and expected_quiet:
            false_alarms.append(o.file)
        said_in_sync = o.got["cause"] is None and o.got["confidence"] != "inconclusive"
        expected_in_sync = expected_quiet and o.expected["confidence"] != "inconclusive"
        if said_in_sync and not expected_in_sync:
            false_all_clears.append(o.file)
        if o.auto_owner is not None and o.auto_owner != _expected_owner(o.expected):
            wrong_owner.append(o.file)
    primary = sum(
        1 for o in outcomes if o.agree and all(o.agree[f] for f in ("layer", "cause", "confidence"))
    )
    return {
        "scenarios": n,
        "not_run": [o.file for o in outcomes if o.got is None],
        "agreement": {f: agree[f] for f in FIELDS},
        "primary_verdict": primary,
        "fully_right": sum(o.fully_right for o in outcomes),
        "false_alarms": false_alarms,
        "false_all_clears": false_all_clears,
        "auto_tickets_wrong_owner": wrong_owner,
    }


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "0/0"


def render(name: str, summary: dict[str, Any]) -> str:
    n = summary["scenarios"]
    lines = [f"== {name}: {n} scenario(s)"]
    lines.append(f"  fully right            {_pct(summary['fully_right'], n)}")
    lines.append(
        f"  primary verdict right  {_pct(summary['primary_verdict'], n)}  (layer, cause, confidence)"
    )
    for f in FIELDS:
        lines.append(f"  {f:<22} {_pct(summary['agreement'][f], n)}")
    for key, words in (
        ("false_alarms", "false alarms (confirmed cause, expected in sync/inconclusive)"),
        ("false_all_clears", "false all-clears (in sync, expected otherwise)"),
        ("auto_tickets_wrong_owner", "auto-tickets to the wrong owner"),
        ("not_run", "not run (loader rejected the file, or the engine refused)"),
    ):
        files = summary[key]
        lines.append(f"  {words}: {len(files)}" + (f"  {', '.join(files)}" if files else ""))
    return "\n".join(lines)


def render_misses(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.fully_right:
            continue
        if o.got is None:
            lines.append(f"  {o.file}: {o.error}")
            continue
        assert o.expected is not None
        wrong = [f"{f} {o.got[f]!r} (expected {o.expected[f]!r})" for f in FIELDS if not o.agree[f]]
        lines.append(f"  {o.file}: " + "; ".join(wrong))
    return "\n".join(lines)


def _groups(args: argparse.Namespace) -> dict[str, list[Path]]:
    if args.dir:
        directory = Path(args.dir)
        return {str(directory): sorted(directory.glob("*.yaml"))}
    files = sorted(library_dir().glob("*.yaml"))
    if args.group:
        return {f"library {args.group}*": [p for p in files if p.name.startswith(args.group)]}
    blind = [p for p in files if p.name.startswith("blind_")]
    groups: dict[str, list[Path]] = {"library": [p for p in files if p not in blind]}
    if blind:
        groups["library blind_* (written without reading the engine)"] = blind
    return groups


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, paths in _groups(args).items():
        outcomes = [await measure(p, args.emulated) for p in paths]
        summary = summarize(outcomes)
        results[name] = summary
        if not args.json:
            print(render(name, summary))
            if args.misses:
                misses = render_misses(outcomes)
                print(misses if misses else "  (no misses)")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", help="a directory of scenario files (default: the library)")
    parser.add_argument("--group", help="only the library's files whose name starts with this")
    parser.add_argument("--emulated", action="store_true", help="over the vendor emulators")
    parser.add_argument("--misses", action="store_true", help="list every miss, field by field")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
