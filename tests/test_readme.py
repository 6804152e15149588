"""The README's front door cannot drift: every sandbox command it shows — in the commands table
and in its examples — runs and exits as documented, and the sample output is what a triage
prints today."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# The commands table uses placeholders; each row is run in this concrete sandbox form. A row
# added to the table without an entry here fails `test_every_table_row_has_a_concrete_run`.
TABLE: dict[str, list[str] | None] = {
    "oos triage SKU --sandbox": ["triage", "SKU-3101", "--sandbox"],
    "oos triage SKU --sandbox FILE.yaml": [
        "triage",
        "SKU-3101",
        "--sandbox",
        str(ROOT / "tools/sandbox/scenarios/l3_flow_suspended.yaml"),
    ],
    "oos triage SKU … --json": ["triage", "SKU-3101", "--sandbox", "--json"],
    "oos triage SKU … --db PATH": ["triage", "SKU-3101", "--sandbox", "--db", "{tmp}/x.db"],
    "--no-save": ["triage", "SKU-3101", "--sandbox", "--no-save"],
    "oos scenarios [--json]": ["scenarios", "--json"],
    "oos check-config stack.toml": None,  # live systems only
    "oos check-config --sandbox": ["check-config", "--sandbox"],
    "oos init [--out stack.toml]": None,  # asks questions on a terminal: its own tests
    "oos record SKU --config stack.toml --out case.yaml": None,  # live systems only
    "oos triage SKU --replay case.yaml": None,  # needs a recorded case: tests/ for record/replay
    "oos discover --config partial.toml [--out stack.toml]": None,  # live systems only
    "oos discover --sandbox": ["discover", "--sandbox"],
    "oos serve --sandbox \\| --config stack.toml": None,  # runs until stopped: tests/slack
    "oos drift --sandbox [--size N --seed S] \\| --config stack.toml [--json] [--csv PATH]": [
        "drift",
        "--sandbox",
        "--size",
        "2000",
        "--seed",
        "3",
        "--json",
        "--csv",
        "{tmp}/drift.csv",
    ],
    "oos health --sandbox \\| --config stack.toml [--json]": ["health", "--sandbox", "--json"],
    "oos map --sandbox \\| --config stack.toml [--out map.png] [--json]": [
        "map",
        "--sandbox",
        "--out",
        "{tmp}/map.png",
    ],
    "oos tickets list": ["tickets", "list"],
    "oos tickets retry --config stack.toml": None,  # a live ticket system only
    "oos -v …": ["-v", "scenarios"],
    "oos --version": ["--version"],
    "oos manifest --url https://HOST \\| --socket-mode": ["manifest", "--socket-mode"],
}
# Examples too big for a test run as written: the same command, smaller.
SMALLER = {"--size 1000000": "--size 2000"}


@pytest.fixture(autouse=True)
def _environment_as_it_was() -> Iterator[None]:
    """The commands run in this process; a sandbox command that puts its emulators'
    credentials in the environment (``oos check-config --sandbox``) leaves no trace in others."""
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)


def table_rows() -> list[str]:
    section = README[README.index("| command |", README.index("## Commands")) :]
    section = section[: section.index("\n\n")]
    rows = []
    for line in section.splitlines()[2:]:
        first = line.split("` | ")[0].removeprefix("| `")
        rows.extend(part.strip() for part in first.split("` / `"))
    return rows


def example_commands() -> list[str]:
    """Every `oos …` line of the README's shell blocks that needs no live system."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].strip()
            command = re.sub(r"^(\.venv/bin/)?", "", command.split("&& ")[-1])
            if not command.startswith("oos ") or "stack.toml" in command:
                continue  # a live stack
            if "--replay" in command:
                continue  # replays a file `oos record` wrote from a live stack
            if command.startswith("oos init"):
                continue  # asks its questions on a terminal: its own tests
            if command.startswith("oos serve") or "YOUR-" in command:
                continue  # a server (tests/slack), or a placeholder only the reader can fill
            found.append(command)
    return found


def test_every_table_row_has_a_concrete_run() -> None:
    assert sorted(table_rows()) == sorted(TABLE)


def test_the_examples_are_found() -> None:
    examples = example_commands()
    assert "oos triage SKU-3101 --sandbox" in examples
    assert "oos drift --sandbox" in examples and "oos health --sandbox" in examples


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    saved = dict(os.environ)
    try:
        code = main(argv)
    except SystemExit as done:  # --version, like any argparse action, exits
        code = int(done.code or 0)
    finally:  # a sandbox command exports its sandbox credentials: not into the next test
        os.environ.clear()
        os.environ.update(saved)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("row", [r for r, argv in TABLE.items() if argv is not None])
def test_each_table_command_exits_0(
    row: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in TABLE[row] or []]
    code, said = _run(argv, capsys)
    assert code == 0, said


@pytest.mark.parametrize("command", example_commands())
def test_each_example_exits_0(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for big, small in SMALLER.items():
        command = command.replace(big, small)
    code, said = _run(shlex.split(command)[1:], capsys)
    assert code == 0, f"{command}: {said}"


def test_the_sample_output_is_what_a_triage_prints(capsys: pytest.CaptureFixture[str]) -> None:
    start = README.index("## What a triage prints\n\n```\n") + len(
        "## What a triage prints\n\n```\n"
    )
    sample = README[start : README.index("```", start)]
    code, printed = _run(["triage", "SKU-3101", "--sandbox", "--no-save"], capsys)
    assert code == 0
    lines = printed.splitlines()
    for line in sample.splitlines():
        if line.strip() != "…":
            assert line in lines, line


def test_the_scenario_counts_it_states() -> None:
    from bot.tree import load_tree
    from tools.sandbox.scenario import load_library

    said = re.search(
        r"lists its (\d+) scenarios, which between\s+them reach all (\d+) cause codes", README
    )
    assert said, "the sentence about the sandbox catalog moved"
    library = load_library()
    reached = {s.expected.cause for s in library.values() if s.expected.cause}
    assert int(said.group(1)) == len(library)
    assert int(said.group(2)) == len(load_tree().causes) == len(reached)
