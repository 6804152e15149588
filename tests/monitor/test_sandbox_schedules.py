"""``oos serve --sandbox --monitoring-channel C…``: a newcomer sees the scheduled drift, health
and latency posts within minutes, with no live systems and no config file."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser, main
from bot.compose import sandbox_target
from bot.monitor.sources import Monitor
from bot.slack import server
from bot.slack.server import SANDBOX_MONITORING_CRON, _sandbox_monitoring, serve
from bot.store import TriageStore
from tests.slack.conftest import SIGNING_SECRET, slack_settings
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_the_flags_stand_for_a_monitoring_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    got: list[Monitor] = []

    async def fake_serve(*_args: Any, monitor: Monitor | None = None, **kw: Any) -> int:
        assert monitor is not None
        got.append(monitor)
        if kw.get("tickets") is not None:
            await kw["tickets"].aclose()
        return 0

    monkeypatch.setattr(server, "serve", fake_serve)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    args = parse("--sandbox", "--monitoring-channel", "C0DEMO", "--db", str(tmp_path / "t.db"))
    assert args.run(args) == 0
    (monitor,) = got
    settings = monitor.settings
    assert settings.channel == "C0DEMO"
    assert (settings.daily_drift, settings.weekly_health, settings.latency_check) == (
        SANDBOX_MONITORING_CRON,
    ) * 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sandbox", "--monitoring-channel", "#ops"], "is not a channel id"),
        (
            ["--sandbox", "--monitoring-channel", "C0DEMO", "--monitoring-cron", "every day"],
            "--monitoring-cron 'every day'",
        ),
        (["--config", "x.toml", "--monitoring-channel", "C0DEMO"], "goes with --sandbox"),
    ],
)
def test_bad_monitoring_flags_are_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    if "--config" in argv:
        with pytest.raises(ValueError, match=message):
            _sandbox_monitoring(parse(*argv), sandbox=False)
        return
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    assert main(["serve", *argv, "--db", str(tmp_path / "t.db")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


async def test_the_three_posts_arrive_in_the_channel(fake_slack: FakeSlack, tmp_path: Path) -> None:
    # Every minute: the current minute's slot is due at once (within the first-start grace).
    settings = _sandbox_monitoring(
        parse("--sandbox", "--monitoring-channel", "C0DEMO", "--monitoring-cron", "* * * * *"),
        sandbox=True,
    )
    store = TriageStore(tmp_path / "t.db")
    monitor = Monitor.sandbox(store.path, size=500, settings=settings)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve(
            slack_settings(fake_slack),
            store=store,
            resolve=sandbox_target,
            stop=stop,
            monitor=monitor,
        )
    )

    def posted() -> list[str]:
        return [m.text for m in fake_slack.messages.values() if m.channel == "C0DEMO"]

    try:
        for title in ("Catalog drift", "Connector health", "latency"):
            await fake_slack.wait_for(
                lambda title=title: any(title.lower() in text.lower() for text in posted()),
                f"the {title} post",
                timeout=60,
            )
    finally:
        stop.set()
        assert await asyncio.wait_for(serving, 30) == 0
        store.close()
