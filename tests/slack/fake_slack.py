"""A strict fake Slack Web API on 127.0.0.1 that records every call and keeps the messages it
was sent.

It answers the methods the app uses (auth.test, chat.*, views.publish, files.* with the
external-upload flow, usergroups.users.list), the upload URLs it hands out, and response URLs.
``apps.connections.open`` (Socket Mode; the app-level token only) answers with the URL that
``socket_mode`` issues (``FakeSocketMode.issue_url``), when a test sets it.

Like Slack, it checks every message: Block Kit limits (``tests.slack.block_kit``) answer
``invalid_blocks`` with Slack's error list, a top-level ``text`` over 40,000 characters
``msg_too_long``, and ``chat.update`` of a message that is not there (``delete``)
``message_not_found``. Every such refusal is also kept in ``violations``, which the fixture
turns into a test failure: the app must never build a message Slack refuses. With
``check_escaping`` (``STRICT_ESCAPING``), raw ``& < >`` or a special mention in mrkdwn is a
violation too.

With ``limits`` (``SLACK_LIMITS``: Slack's published tiers), each method has a workspace-wide
budget and ``chat.postMessage`` one per channel (about one a second, short bursts allowed);
past it, 429 with ``Retry-After`` in whole seconds, as Slack does.
Tests can also make a method answer 429 once, fail once, or hold its calls until released.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack.block_kit import (
    MAX_MESSAGE_TEXT,
    MAX_VIEW_BLOCKS,
    block_errors,
    escaping_errors,
)

BOT_TOKEN = "xoxb-test-token"
BOT_USER = "UBOT"
APP_TOKEN = "xapp-1-A1-test-token"

# Raw `& < >` or a special mention in mrkdwn fails the test (see block_kit.escaping_errors).
# A test that must show such text reaching Slack may turn it off on its own fake.
STRICT_ESCAPING = True


@dataclass(frozen=True)
class Rate:
    """``per_second`` on average, ``burst`` at once."""

    per_second: float
    burst: int

    @classmethod
    def per_minute(cls, calls: int, burst: int | None = None) -> Rate:
        return cls(calls / 60.0, burst if burst is not None else max(1, calls // 5))


TIER_1, TIER_2, TIER_3, TIER_4 = (Rate.per_minute(n) for n in (1, 20, 50, 100))


@dataclass(frozen=True)
class Limits:
    """Workspace-wide budgets per method, and per-channel budgets for the methods that have them."""

    methods: dict[str, Rate]
    per_channel: dict[str, Rate]

    def scaled(self, factor: float) -> Limits:
        """The same shape ``factor`` times faster (keeps a test short; shapes stay Slack's)."""

        def faster(r: Rate) -> Rate:
            return Rate(r.per_second * factor, r.burst)

        return Limits(
            {m: faster(r) for m, r in self.methods.items()},
            {m: faster(r) for m, r in self.per_channel.items()},
        )


# https://api.slack.com/apis/rate-limits and each method's page: chat.postMessage is "special"
# (about 1 per second per channel, short bursts allowed); the rest are tiers.
SLACK_LIMITS = Limits(
    methods={
        "chat.update": TIER_3,
        "chat.delete": TIER_3,
        "chat.postEphemeral": TIER_4,
        "views.publish": TIER_4,
        "files.getUploadURLExternal": TIER_4,
        "files.completeUploadExternal": TIER_4,
        "usergroups.users.list": TIER_2,
        "apps.connections.open": TIER_1,
        "auth.test": TIER_4,
    },
    per_channel={"chat.postMessage": Rate(1.0, 4)},
)


class _Bucket:
    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.at = time.monotonic()

    def take(self) -> float:
        """0 if a call may go now (and counts it), else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate.per_second


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class Posted:
    """A message as it stands now (after any chat.update)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: int = 0

    @property
    def everything(self) -> str:
        """Text and block content, for "does the message say X" assertions."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, Posted] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0
    socket_mode: Callable[[], str] | None = None
    limits: Limits | None = None
    check_escaping: bool = STRICT_ESCAPING
    down: frozenset[str] = frozenset()  # methods answering 503 (an outage) until emptied
    violations: list[str] = field(default_factory=list)
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    # The bot token's scopes, sent in the ``x-oauth-scopes`` header of every answer, as Slack does.
    scopes: list[str] = field(
        default_factory=lambda: [
            "commands",
            "chat:write",
            "files:write",
            "app_mentions:read",
            "usergroups:read",
        ]
    )
    _rate_limits: dict[str, list[int]] = field(default_factory=dict)
    _failures: dict[str, list[tuple[str, Callable[[dict[str, Any]], Any]]]] = field(
        default_factory=dict
    )
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # --- control -----------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/respond/{name}"

    def client(self) -> AsyncWebClient:
        """A Web API client with the bot's token, pointed at this fake."""
        return AsyncWebClient(token=BOT_TOKEN, base_url=self.api_url)

    def rate_limit_once(self, method: str, retry_after: int = 0) -> None:
        self._rate_limits.setdefault(method, []).append(retry_after)

    def fail_once(
        self, method: str, error: str, when: Callable[[dict[str, Any]], Any] = lambda _p: True
    ) -> None:
        """The next call to ``method`` whose params satisfy ``when`` answers ``ok: false``."""
        self._failures.setdefault(method, []).append((error, when))

    def delete(self, ts: str) -> None:
        """Someone deleted the message: edits of it answer ``message_not_found`` from now on."""
        self.messages.pop(ts, None)

    def rate_limited(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 429]

    def hold(self, method: str) -> asyncio.Event:
        """Calls to ``method`` wait (unrecorded) until the returned event is set."""
        event = asyncio.Event()
        self._holds[method] = event
        return event

    # --- queries -----------------------------------------------------------------------------

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def thread(self, channel: str, root_ts: str) -> list[Posted]:
        """The thread's messages in posting order, root first, as they stand now."""
        return [
            m
            for m in self.messages.values()
            if m.channel == channel and (m.ts == root_ts or m.thread_ts == root_ts)
        ]

    def roots(self, channel: str) -> list[Posted]:
        return [m for m in self.messages.values() if m.channel == channel and m.thread_ts is None]

    async def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        """Poll ``condition`` until it is truthy (bounded); fail with the calls seen so far."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            value = condition()
            if value:
                return value
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}; calls seen: {self.methods()}")

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for event in self._holds.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for key in ("blocks", "files", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        hold = self._holds.get(method)
        if hold is not None:
            await hold.wait()
        params = await self._params(request)
        if method in self.down:
            self.calls.append(Call(method, params, status=503))
            return web.Response(status=503, text="Service Unavailable")
        if method == "apps.connections.open":
            self.calls.append(Call(method, params))
            return web.json_response(self._connections_open(request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            self.calls.append(Call(method, params))
            return web.json_response({"ok": False, "error": "invalid_auth"})
        retry_after: float | None = None
        if self._rate_limits.get(method):
            retry_after = self._rate_limits[method].pop(0)
        else:
            retry_after = self._over_limit(method, params) or None
        if retry_after is not None:
            self.calls.append(Call(method, params, status=429))
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(math.ceil(retry_after))},
            )
        self.calls.append(Call(method, params))
        for i, (error, when) in enumerate(self._failures.get(method, [])):
            if when(params):
                del self._failures[method][i]
                return web.json_response({"ok": False, "error": error})
        refusal = self._check(method, params)
        if refusal is not None:
            return web.json_response(refusal)
        return web.json_response(
            self._answer(method, params), headers={"x-oauth-scopes": ",".join(self.scopes)}
        )

    def _over_limit(self, method: str, params: dict[str, Any]) -> float:
        """Seconds to wait if this call is over Slack's limits (0: it may go)."""
        if self.limits is None:
            return 0.0
        keys: list[tuple[tuple[str, str], Any]] = []
        if method in self.limits.methods:
            keys.append(((method, ""), self.limits.methods[method]))
        if method in self.limits.per_channel:
            keys.append(((method, str(params.get("channel"))), self.limits.per_channel[method]))
        for key, rate in keys:
            bucket = self._buckets.setdefault(key, _Bucket(rate))
            wait = bucket.take()
            if wait:
                return wait
        return 0.0

    def _check(self, method: str, p: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's refusal of a malformed message (kept in ``violations``), or None."""
        if method not in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish"):
            if method == "files.completeUploadExternal" and self.check_escaping:
                self.violations += [f"{method}: {e}" for e in escaping_errors(p)]
            return None
        if method == "views.publish":
            view = p.get("view") or {}
            errors = block_errors(view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS)
        else:
            errors = block_errors(p.get("blocks"))
            if not p.get("text") and not p.get("blocks"):
                self.violations.append(f"{method}: no_text")
                return {"ok": False, "error": "no_text"}
            if len(str(p.get("text") or "")) > MAX_MESSAGE_TEXT:
                self.violations.append(f"{method}: msg_too_long")
                return {"ok": False, "error": "msg_too_long"}
        if self.check_escaping:
            self.violations += [f"{method}: {e}" for e in escaping_errors(p)]
        if errors:
            self.violations += [f"{method}: {e}" for e in errors]
            return {
                "ok": False,
                "error": "invalid_blocks",
                "errors": errors,
                "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
            }
        return None

    def _connections_open(self, authorization: str | None) -> dict[str, Any]:
        if authorization == f"Bearer {BOT_TOKEN}":
            return {"ok": False, "error": "not_allowed_token_type"}
        if authorization != f"Bearer {APP_TOKEN}":
            return {"ok": False, "error": "invalid_auth"}
        if self.socket_mode is None:
            return {"ok": False, "error": "not_allowed"}  # Socket Mode is off for the app
        return {"ok": True, "url": self.socket_mode()}

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake-workspace.slack.com/",
                "team": "Fake",
                "user": "oos",
                "team_id": "T1",
                "user_id": BOT_USER,
                "bot_id": "B1",
            }
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            self.messages[ts] = Posted(
                channel=str(p["channel"]),
                ts=ts,
                text=str(p.get("text") or ""),
                blocks=list(p.get("blocks") or []),
                thread_ts=p.get("thread_ts"),
            )
            return {
                "ok": True,
                "channel": p["channel"],
                "ts": ts,
                "message": {"text": p.get("text")},
            }
        if method == "chat.update":
            message = self.messages.get(str(p["ts"]))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.text = str(p.get("text") or "")
            message.blocks = list(p.get("blocks") or [])
            message.updates += 1
            return {"ok": True, "channel": p["channel"], "ts": p["ts"]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V1", **(p.get("view") or {})}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):04d}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {
                "ok": True,
                "files": [{"id": f["id"], "title": f.get("title")} for f in p.get("files", [])],
            }
        if method == "usergroups.users.list":
            group = str(p.get("usergroup"))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[group]}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self.uploads[file_id] = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id}))
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        errors = block_errors(body.get("blocks"))
        if self.check_escaping:
            errors += escaping_errors(body)
        self.violations += [f"response_url: {e}" for e in errors]
        self.responses.append(body)
        self.calls.append(Call("response_url", {"name": request.match_info["name"]}))
        return web.Response(text="ok")
