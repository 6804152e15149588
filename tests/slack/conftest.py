"""Fixtures for the Slack scenario tests: a fake Web API, the real HTTP endpoint, signed requests.

Every server binds 127.0.0.1 on a free port and stops with its fixture. A guard fails any
connection that is not to loopback, so nothing here can reach the real Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.compose import sandbox_target
from bot.engine import triage
from bot.monitor.sources import Monitor
from bot.slack.app import build_app
from bot.slack.runner import Engine, TargetResolver
from bot.slack.server import HttpServer, start_http
from bot.slack.services import Services
from bot.slack.settings import AccessPolicy, SlackSettings
from bot.store import TriageStore
from bot.tickets.service import TicketService
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack

SIGNING_SECRET = "test-signing-secret"
SKU = "SKU-3101"
CAUSE = "L3.flow_suspended"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection that is not to 127.0.0.1 / ::1 / a unix socket."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(address: Any) -> bool:
        if isinstance(address, str | bytes):
            return True
        return str(address[0]) in ("127.0.0.1", "::1", "localhost")

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


def slack_settings(fake: FakeSlack, **overrides: Any) -> SlackSettings:
    """Settings for an app that serves 127.0.0.1 on a free port and calls ``fake``. Edits are
    not paced unless a test asks (the fake has no limits unless a test sets them)."""
    return SlackSettings(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_url=fake.api_url,
        host="127.0.0.1",
        port=0,
        **{"edits_per_minute": 60_000.0, **overrides},
    )


def sign(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Harness:
    """The real endpoint (Bolt app behind aiohttp) wired to the fake Web API."""

    fake: FakeSlack
    server: HttpServer
    services: Services
    store: TriageStore
    session: aiohttp.ClientSession

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> Reply:
        all_headers = {
            "Content-Type": content_type,
            **(headers if headers is not None else sign(body)),
        }
        async with self.session.post(
            self.server.url, data=body.encode(), headers=all_headers
        ) as resp:
            return Reply(resp.status, await resp.text())

    async def command(
        self, text: str, *, user: str = "U1", channel: str = "C1", response: str = "r1"
    ) -> Reply:
        body = urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": "T1",
                "channel_id": channel,
                "user_id": user,
                "command": "/oos",
                "text": text,
                "response_url": self.fake.response_url(response),
                "trigger_id": "trig",
                "api_app_id": "A1",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        message_ts: str,
        thread_ts: str,
        user: str = "U1",
        channel: str = "C1",
        response: str = "r1",
    ) -> Reply:
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user},
            "api_app_id": "A1",
            "channel": {"id": channel},
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
                "thread_ts": thread_ts,
            },
            "message": {
                "type": "message",
                "ts": message_ts,
                "thread_ts": thread_ts,
                "text": "verdict",
            },
            "response_url": self.fake.response_url(response),
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
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> Reply:
        """Deliver an event; ``retry`` makes it Slack's redelivery number ``retry`` (same id)."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id or f"Ev{time.monotonic_ns()}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = sign(body)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, "application/json", headers)

    async def triage(self, sku: str = SKU, *, user: str = "U1", channel: str = "C1") -> Thread:
        """Run ``/oos sku`` and wait until its verdict is in the thread."""
        reply = await self.command(sku, user=user, channel=channel)
        assert reply.status == 200
        root = await self.fake.wait_for(
            lambda: next((m for m in self.fake.roots(channel) if sku in m.text), None),
            "the root message",
        )
        await self.fake.wait_for(
            lambda: any(verdict_of(m) for m in self.fake.thread(channel, root.ts)), "the verdict"
        )
        await self.services.runner.drain()
        return Thread(self, channel, root.ts)


def verdict_of(message: Any) -> str | None:
    """The triage id on a verdict message's buttons, or None if it is not a verdict."""
    for block in message.blocks:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    return None


@dataclass
class Thread:
    h: Harness
    channel: str
    root_ts: str

    @property
    def messages(self) -> list[Any]:
        return self.h.fake.thread(self.channel, self.root_ts)

    @property
    def verdicts(self) -> list[Any]:
        return [m for m in self.messages if verdict_of(m)]

    @property
    def triage_id(self) -> str:
        found = verdict_of(self.verdicts[-1])
        assert found
        return found

    async def press(self, action_id: str, *, user: str = "U1") -> Reply:
        """Press a button of the thread's (first) verdict."""
        return await self.h.click(
            action_id,
            self.triage_id,
            message_ts=self.verdicts[0].ts,
            thread_ts=self.root_ts,
            user=user,
        )


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()
    assert not fake.violations, f"Slack would have refused or flagged: {fake.violations}"


@pytest.fixture
async def make_harness(fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    started: list[Harness] = []

    async def make(
        *,
        access: AccessPolicy | None = None,
        resolve: TargetResolver = sandbox_target,
        engine: Engine | None = None,
        timeout: float = 30.0,
        monitor: Callable[[Path], Monitor] | None = None,
        tickets: TicketService | None = None,
        **settings: Any,
    ) -> Harness:
        """``monitor`` makes the monitoring checks (``/oos drift | health | map``) on the
        harness's store file. ``tickets`` is the ticket service (closed with the harness).
        ``settings`` are further ``SlackSettings`` fields (``posts_per_second``…)."""
        slack = slack_settings(
            fake_slack, triage_timeout=timeout, access=access or AccessPolicy(), **settings
        )
        store = TriageStore(tmp_path / f"triage-{len(started)}.db")
        app, services = build_app(
            slack,
            store=store,
            resolve=resolve,
            engine=engine or triage,
            monitor=monitor(store.path) if monitor is not None else None,
            tickets=tickets,
        )
        server = await start_http(app, "127.0.0.1", 0)
        harness = Harness(fake_slack, server, services, store, aiohttp.ClientSession())
        started.append(harness)
        return harness

    yield make
    for h in started:
        if h.services.monitoring is not None:
            await h.services.monitoring.shutdown(grace=5)
        await h.services.runner.shutdown(grace=5)
        await h.server.stop()
        await h.session.close()
        if h.services.tickets is not None:
            await h.services.tickets.aclose()
        h.store.close()


@pytest.fixture
async def harness(make_harness: HarnessFactory) -> Harness:
    return await make_harness()
