"""Socket Mode end to end: ``serve()`` with SLACK_APP_TOKEN set, over a fake Socket Mode server.

The production entry point runs unchanged: settings come from the environment variables, the
startup ``auth.test`` and ``apps.connections.open`` go to the fake Web API (SLACK_API_URL), and
the WebSocket it hands out is the fake Socket Mode server. Envelopes are pushed the way Slack
pushes them and the client's acks are recorded. Nothing waits on time: acks are awaited, and
background work by polling the fake Web API in a bounded loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.compose import sandbox_target
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.server import serve
from bot.slack.settings import SlackSettings
from bot.store import TriageStore
from tests.slack.conftest import CAUSE, SKU, verdict_of
from tests.slack.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.slack.fake_socket_mode import FakeSocketMode

# Loggers whose warnings would mean an unclean run or shutdown (unclosed sessions, tasks
# destroyed while pending, failed acks, reconnect loops).
WATCHED = ("asyncio", "aiohttp", "slack_sdk", "slack_bolt", "oos-triage", "bot")


@dataclass
class SocketApp:
    """``serve()`` running in Socket Mode as a task, and both fakes it talks to."""

    fake: FakeSlack
    socket: FakeSocketMode
    store: TriageStore
    task: asyncio.Task[int]

    async def command(
        self, text: str, *, user: str = "U1", channel: str = "C1", response: str = "r1"
    ) -> str:
        return await self.socket.slash_command(
            {
                "token": "legacy",
                "team_id": "T1",
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": "someone",
                "command": "/oos",
                "text": text,
                "api_app_id": "A1",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(response),
                "trigger_id": "trig",
            }
        )

    async def click(
        self, action_id: str, value: str, *, message_ts: str, thread_ts: str, user: str = "U1"
    ) -> str:
        return await self.socket.interactive(
            {
                "type": "block_actions",
                "team": {"id": "T1", "domain": "fake"},
                "user": {"id": user},
                "api_app_id": "A1",
                "channel": {"id": "C1"},
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": "C1",
                    "is_ephemeral": False,
                    "thread_ts": thread_ts,
                },
                "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts},
                "response_url": self.fake.response_url("r-click"),
                "trigger_id": "trig",
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "oos_verdict_actions",
                        "value": value,
                        "action_ts": "1700000001.000000",
                    }
                ],
            }
        )

    async def mention(self, text: str, *, thread_ts: str) -> str:
        return await self.socket.event(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": "Ev0001",
                "event_time": 1700000099,
                "event": {
                    "type": "app_mention",
                    "user": "U1",
                    "text": text,
                    "ts": "1700000099.000001",
                    "thread_ts": thread_ts,
                    "channel": "C1",
                },
            }
        )

    async def verdict_thread(self, channel: str = "C1") -> list[Any]:
        """Wait for the triage thread in ``channel`` to carry its verdict; its messages."""
        fake = self.fake
        root = await fake.wait_for(
            lambda: next((m for m in fake.roots(channel) if SKU in m.text), None), "the root"
        )
        await fake.wait_for(
            lambda: any(verdict_of(m) for m in fake.thread(channel, root.ts)), "the verdict"
        )
        return fake.thread(channel, root.ts)

    async def shutdown(self) -> None:
        """Cancel the server task, as asyncio.run does on Ctrl-C, and let it finish."""
        if not self.task.done():
            self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)


Start = Callable[[], Awaitable[SocketApp]]


@pytest.fixture
async def socket_mode(fake_slack: FakeSlack) -> AsyncIterator[FakeSocketMode]:
    server = FakeSocketMode()
    await server.start()
    fake_slack.socket_mode = server.issue_url
    yield server
    await server.stop()


@pytest.fixture
async def start(
    fake_slack: FakeSlack,
    socket_mode: FakeSocketMode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Start]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the LLM agent stays off
    started: list[SocketApp] = []

    async def run() -> SocketApp:
        settings = socket_settings(fake_slack)
        assert settings.socket_mode and settings.signing_secret is None
        store = TriageStore(tmp_path / "socket.db")
        task = asyncio.create_task(serve(settings, store=store, resolve=sandbox_target))
        app = SocketApp(fake_slack, socket_mode, store, task)
        started.append(app)
        waiting = asyncio.ensure_future(socket_mode.wait_connected())
        done, _ = await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in done:
            waiting.cancel()
            raise AssertionError(f"serve() ended before connecting: {task.result()!r}")
        return app

    yield run
    for app in started:
        if not app.task.done():
            app.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await app.task
        app.store.close()


async def test_connects_with_the_app_token_to_the_url_slack_hands_out(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = await start()

    # One apps.connections.open: the startup check's URL is the one the client connects to.
    assert fake_slack.methods() == ["auth.test", "apps.connections.open"]
    assert fake_slack.calls_to("apps.connections.open")[0].params == {}, "no token in the body"
    (conn,) = socket_mode.connections
    assert conn.ticket == "ticket-1" and socket_mode.refused == []
    assert not app.task.done()


async def test_oos_sku_is_acked_before_the_thread_starts_then_gets_its_verdict(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = await start()
    release = fake_slack.hold("chat.postMessage")

    envelope = await app.command(SKU)
    ack = await socket_mode.ack_of(envelope)

    # The ack arrived while the triage's first chat.postMessage was still held: it did not wait.
    assert ack.payload is None, "a triage is acked empty; the thread is the answer"
    assert "chat.postMessage" not in fake_slack.methods()
    assert app.store.count() == 0

    release.set()
    messages = await app.verdict_thread()
    root, progress, verdict = messages
    assert root.text.startswith(f"Triage for {SKU} started by <@U1>")
    assert "Checklist walked" in progress.everything
    assert CAUSE in verdict.text
    assert verdict.thread_ts == root.ts
    await fake_slack.wait_for(lambda: app.store.count() == 1, "the saved triage")
    (row,) = app.store.recent()
    assert (row["channel"], row["thread_ts"], row["user"], row["cause"]) == (
        "C1",
        root.ts,
        "U1",
        CAUSE,
    )
    assert socket_mode.unacked() == [] and socket_mode.unexpected == []


@pytest.mark.parametrize("text", ["help", ""])
async def test_help_is_answered_ephemerally_in_the_ack(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode, text: str
) -> None:
    app = await start()
    ack = await socket_mode.ack_of(await app.command(text))

    assert ack.payload is not None
    assert ack.payload["response_type"] == "ephemeral"
    assert "/oos SKU" in json.dumps(ack.payload)
    assert "chat.postMessage" not in fake_slack.methods()
    assert fake_slack.responses == []


async def test_a_button_click_is_acked_and_reruns_in_the_same_thread(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = await start()
    await socket_mode.ack_of(await app.command(SKU))
    root, _progress, verdict = await app.verdict_thread()
    triage_id = verdict_of(verdict)
    assert triage_id is not None
    await fake_slack.wait_for(lambda: app.store.count() == 1, "the saved triage")

    envelope = await app.click(
        verdict_blocks.ACTION_RERUN, triage_id, message_ts=verdict.ts, thread_ts=root.ts, user="U7"
    )
    ack = await socket_mode.ack_of(envelope)
    assert ack.payload is None

    await fake_slack.wait_for(
        lambda: sum(1 for m in fake_slack.thread("C1", root.ts) if verdict_of(m)) == 2,
        "the second verdict",
    )
    assert len(fake_slack.roots("C1")) == 1, "a re-run posts no new root message"
    assert any("re-run by <@U7>" in m.everything for m in fake_slack.thread("C1", root.ts))


async def test_a_mention_event_is_acked_and_answered_in_the_thread(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = await start()
    await socket_mode.ack_of(await app.command(SKU))
    root, *_ = await app.verdict_thread()
    await fake_slack.wait_for(lambda: app.store.count() == 1, "the saved triage")

    release = fake_slack.hold("chat.postMessage")
    ack = await socket_mode.ack_of(
        await app.mention("<@UBOT> what does the webhook log say?", thread_ts=root.ts)
    )
    assert ack.payload is None
    sent = socket_mode.sent[-1]
    assert sent["type"] == "events_api" and sent["accepts_response_payload"] is False

    release.set()
    answer = await fake_slack.wait_for(
        lambda: next(
            (m for m in fake_slack.thread("C1", root.ts) if "webhook log" in m.text.lower()),
            None,
        ),
        "the answer",
    )
    assert "E5" in answer.everything and "the ERP never received it" in answer.everything


async def test_shutdown_closes_the_websocket_and_leaves_nothing_behind(
    start: Start,
    fake_slack: FakeSlack,
    socket_mode: FakeSocketMode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        app = await start()
        await socket_mode.ack_of(await app.command(SKU))
        await app.verdict_thread()
        conn = socket_mode.current

        await app.shutdown()

        await asyncio.wait_for(conn.closed.wait(), 10)
        assert conn.closed_by_client and conn.close_code == 1000
        assert socket_mode.unacked() == [] and socket_mode.unexpected == []
        assert len(socket_mode.connections) == 1, "no reconnect while shutting down"

        # Every task the app started (the socket client's receiver, monitor and message
        # processor, Bolt's listeners, the triage) has finished: nothing is left pending.
        me = asyncio.current_task()
        await fake_slack.wait_for(
            lambda: not [t for t in asyncio.all_tasks() if t is not me and not t.done()],
            "the app's tasks to finish",
        )
        del app, conn
        gc.collect()

    problems = [
        r
        for r in caplog.records
        if r.name.split(".")[0] in WATCHED
        # The startup warning an open access policy earns on purpose (bot.slack.startup).
        and "may press Mark resolved and Open ticket" not in r.getMessage()
    ]
    assert problems == [], [f"{r.name}: {r.getMessage()}" for r in problems]
    assert [str(w.message) for w in seen] == []


async def test_a_stop_event_ends_serve_with_exit_code_0(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    settings = socket_settings(fake_slack)
    stop = asyncio.Event()
    store = TriageStore(tmp_path / "stop.db")
    try:
        task = asyncio.create_task(serve(settings, store=store, resolve=sandbox_target, stop=stop))
        conn = await socket_mode.wait_connected()
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    finally:
        store.close()
    await asyncio.wait_for(conn.closed.wait(), 10)
    assert conn.closed_by_client


# --- a refused app token, a connection that keeps failing -------------------------------------


def socket_settings(fake: FakeSlack, app_token: str = APP_TOKEN) -> SlackSettings:
    return SlackSettings.from_env(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": app_token, "SLACK_API_URL": fake.api_url}
    )


async def test_a_refused_app_token_fails_at_once_without_echoing_it(
    fake_slack: FakeSlack,
    socket_mode: FakeSocketMode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = TriageStore(tmp_path / "refused.db")
    try:
        settings = socket_settings(fake_slack, "xapp-wrong-token-value")
        code = await asyncio.wait_for(serve(settings, store=store, resolve=sandbox_target), 10)
    finally:
        store.close()

    assert code == 2
    err = capsys.readouterr().err
    assert "Slack refused SLACK_APP_TOKEN" in err and "invalid_auth" in err
    assert "wrong-token-value" not in err
    assert len(err.strip().splitlines()) == 1
    assert fake_slack.methods() == ["auth.test", "apps.connections.open"]
    assert socket_mode.connections == []


async def test_a_stop_ends_serve_while_the_websocket_keeps_failing(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    # apps.connections.open answers, but with a URL the Socket Mode server refuses: the client
    # keeps retrying (every ping interval) and never connects.
    fake_slack.socket_mode = lambda: f"ws://127.0.0.1:{socket_mode.port}/link/?ticket=stale"
    stop = asyncio.Event()
    store = TriageStore(tmp_path / "failing.db")
    try:
        task = asyncio.create_task(
            serve(socket_settings(fake_slack), store=store, resolve=sandbox_target, stop=stop)
        )
        await fake_slack.wait_for(lambda: socket_mode.refused, "the refused connection")
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    finally:
        store.close()
    assert socket_mode.connections == []


async def test_a_redelivered_event_envelope_is_acked_and_answered_once(
    start: Start, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = await start()
    await socket_mode.ack_of(await app.command(SKU))
    root, *_ = await app.verdict_thread()
    await fake_slack.wait_for(lambda: app.store.count() == 1, "the saved triage")

    # Slack sends the same payload (same event_id) in a new envelope when it missed the ack.
    first = await app.mention("<@UBOT> what does the webhook log say?", thread_ts=root.ts)
    again = await app.mention("<@UBOT> what does the webhook log say?", thread_ts=root.ts)
    assert first != again
    await socket_mode.ack_of(first)
    await socket_mode.ack_of(again)

    def answers() -> list[Any]:
        return [m for m in fake_slack.thread("C1", root.ts) if "webhook log" in m.text.lower()]

    await fake_slack.wait_for(answers, "the answer")
    # Then a new question (a new event id): posts in a channel keep their order, so once its
    # answer is in, a second answer to the redelivered one would be too.
    later = await app.socket.event(
        {
            "type": "event_callback",
            "event_id": "Ev0002",
            "event": {
                "type": "app_mention",
                "user": "U1",
                "text": "<@UBOT> who owns this?",
                "ts": "1700000099.000002",
                "thread_ts": root.ts,
                "channel": "C1",
            },
        }
    )
    await socket_mode.ack_of(later)
    await fake_slack.wait_for(
        lambda: any(
            m.thread_ts == root.ts and m.ts not in {a.ts for a in answers()} and "own" in m.text
            for m in fake_slack.thread("C1", root.ts)[3:]
        ),
        "the answer to the later question",
    )
    assert len(answers()) == 1
