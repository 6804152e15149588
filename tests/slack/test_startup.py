"""How the access policy is built (environment and ``[slack]`` table merged) and what ``oos
serve`` says when it starts: one line with the effective policy, a warning when anyone may press
the buttons that change state."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.compose import sandbox_target
from bot.config import SlackAccess
from bot.slack import server
from bot.slack.server import serve
from bot.slack.settings import AccessPolicy
from bot.store import TriageStore
from tests.slack.conftest import loopback_settings
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_table_adds_to_the_environment() -> None:
    table = SlackAccess(allowed_channels=["C1"], admin_users=["U9"], admin_user_groups=["S7"])
    env = {"OOS_ALLOWED_CHANNELS": "C2, C3", "OOS_ALLOWED_USERS": "U1", "OOS_ACTION_USERS": "U8"}
    policy = table.policy(env)
    assert policy == AccessPolicy(
        channels=frozenset({"C1", "C2", "C3"}),
        users=frozenset({"U1"}),
        action_users=frozenset({"U8", "U9"}),
        action_usergroups=frozenset({"S7"}),
    )
    assert not policy.anyone_may_change_state
    assert policy.describe() == (
        "/oos in C1, C2, C3 by U1; Mark resolved / Open ticket by U8, U9, group S7"
    )


@pytest.mark.parametrize(
    ("policy", "open_"),
    [
        (AccessPolicy(), True),
        (AccessPolicy(channels=frozenset({"C1"})), True),
        (AccessPolicy(usergroups=frozenset({"S1"})), False),
        (AccessPolicy(action_users=frozenset({"U1"})), False),
    ],
)
def test_who_may_change_state(policy: AccessPolicy, open_: bool) -> None:
    assert policy.anyone_may_change_state is open_


def test_serve_config_keeps_the_environment_restrictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ROOT / "examples" / "stack.toml"
    for name in re.findall(r'= "([A-Z][A-Z0-9_]+)"', config.read_text()):
        monkeypatch.setenv(name, "set-for-the-test")
    monkeypatch.setenv("OOS_ACTION_USERS", "U0ADMIN")
    monkeypatch.setenv("OOS_ALLOWED_CHANNELS", "C0OPS")
    got: list[AccessPolicy] = []

    def fake_serve_main(_args: argparse.Namespace, *, access: AccessPolicy, **_kw: Any) -> int:
        got.append(access)
        return 0

    monkeypatch.setattr("bot.cli.serve_main", fake_serve_main)
    args = build_parser().parse_args(["serve", "--config", str(config)])
    assert args.run(args) == 0
    assert got == [AccessPolicy(channels=frozenset({"C0OPS"}), action_users=frozenset({"U0ADMIN"}))]


async def _started(
    fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture, access: AccessPolicy
) -> list[logging.LogRecord]:
    """Serve until the startup line is logged, then stop; the records ``oos serve`` logged."""
    caplog.set_level(logging.INFO, logger="bot")
    settings = loopback_settings(fake_slack, access=access)
    stop = asyncio.Event()
    store = TriageStore(tmp_path / "t.db")
    task = asyncio.create_task(
        serve(settings, store=store, resolve=sandbox_target, stop=stop, mode="sandbox")
    )
    try:
        for _ in range(500):  # bounded: the line comes once the listener is up
            if any("listening on" in r.getMessage() for r in caplog.records) or task.done():
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        assert await task == 0
        store.close()
    return [r for r in caplog.records if r.name == server.__name__]


async def test_the_startup_line_says_what_serves_and_warns_when_buttons_are_open(
    fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = await _started(fake_slack, tmp_path, caplog, AccessPolicy())
    (line,) = [r.getMessage() for r in records if "listening on" in r.getMessage()]
    assert line.startswith("oos serve: sandbox · listening on http://127.0.0.1:")
    for part in (
        f"Web API {fake_slack.api_url}",
        "agent off (OPENAI_API_KEY is not set",
        "schedules none",
        "tickets none",
        "access: /oos in any channel by anyone",
    ):
        assert part in line, part
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any("anyone in any channel the bot is in may press Mark resolved" in w for w in warnings)


async def test_no_warning_once_the_buttons_are_restricted(
    fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = await _started(
        fake_slack, tmp_path, caplog, AccessPolicy(action_users=frozenset({"U1"}))
    )
    assert not [r for r in records if r.levelno >= logging.WARNING]
    assert any("Mark resolved / Open ticket by U1" in r.getMessage() for r in records)
