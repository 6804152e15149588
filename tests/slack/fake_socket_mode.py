"""A fake Slack Socket Mode server on 127.0.0.1: the WebSocket end of ``apps.connections.open``.

It speaks the protocol the way Slack does: every URL it issues carries a one-time ``ticket``
(an unknown or reused ticket is refused before the upgrade); on connect it sends ``hello``; it
pushes envelopes (``slash_commands`` and ``interactive`` accept a response payload,
``events_api`` does not) and records the client's acknowledgements (``{"envelope_id": …}``,
optionally with ``payload``) in arrival order. Tests wait on acks without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = "A1"


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None


@dataclass
class Connection:
    """One accepted WebSocket; ``close_code`` is set once it has closed (by either side)."""

    ticket: str
    ws: web.WebSocketResponse
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    closed_by_client: bool = False
    close_code: int | None = None


@dataclass
class FakeSocketMode:
    connections: list[Connection] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    _tickets: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _acked: dict[str, asyncio.Future[Ack]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _stopping: bool = False

    # --- control -----------------------------------------------------------------------------

    def issue_url(self) -> str:
        """A fresh one-time WebSocket URL, as ``apps.connections.open`` hands out."""
        ticket = f"ticket-{next(self._ids)}"
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    @property
    def current(self) -> Connection:
        open_ = [c for c in self.connections if not c.ws.closed]
        if not open_:
            raise AssertionError("no client is connected to the fake Socket Mode server")
        return open_[-1]

    async def wait_connected(self, timeout: float = 10.0) -> Connection:
        await asyncio.wait_for(self._connected.wait(), timeout)
        return self.current

    async def push(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> str:
        """Send one envelope to the connected client; returns its ``envelope_id``."""
        envelope_id = f"env-{next(self._ids):04d}"
        self._acked[envelope_id] = asyncio.get_running_loop().create_future()
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = 0
            envelope["retry_reason"] = ""
        self.sent.append(envelope)
        await self.current.ws.send_json(envelope)
        return envelope_id

    async def slash_command(self, payload: dict[str, Any]) -> str:
        return await self.push("slash_commands", payload, accepts_response_payload=True)

    async def interactive(self, payload: dict[str, Any]) -> str:
        return await self.push("interactive", payload, accepts_response_payload=True)

    async def event(self, payload: dict[str, Any]) -> str:
        return await self.push("events_api", payload, accepts_response_payload=False)

    async def ack_of(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        """The client's acknowledgement of ``envelope_id``, waiting for it (bounded)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._acked[envelope_id]), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no ack for {envelope_id} within {timeout} s; acks seen: {self.acks}"
            ) from None

    def unacked(self) -> list[str]:
        return [e for e, f in self._acked.items() if not f.done()]

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping = True
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            self.refused.append(ticket)
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)  # one connection per URL, as with Slack
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Connection(ticket, ws)
        self.connections.append(conn)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self._connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
                else:  # pragma: no cover - Slack's client sends only text frames (and pings)
                    self.unexpected.append(f"{msg.type.name}: {msg.data!r}")
        finally:
            conn.closed_by_client = not self._stopping
            conn.close_code = ws.close_code
            conn.closed.set()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self.unexpected.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        future = self._acked.get(str(envelope_id))
        if future is None or future.done() or set(message) - {"envelope_id", "payload"}:
            self.unexpected.append(data)
            return
        ack = Ack(str(envelope_id), message.get("payload"))
        self.acks.append(ack)
        future.set_result(ack)
