"""A ticket-system emulator served over HTTP on 127.0.0.1, for tests that run the ticket service
in other processes (two servers on one database; a worker killed by a signal).

``Loopback(emulator)`` forwards each request to the emulator (an ``httpx`` transport) from a
thread of its own and answers with what it says. ``hold_creates`` makes the next create go
through in the emulator and then hold its answer until ``release``: the moment a worker can be
killed with the ticket made and its answer not yet received.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
from aiohttp import web

from tests.threaded_server import ThreadedServer
from tools.sandbox.emulators.ticketing import TicketEmulator


class Loopback:
    def __init__(self, emulator: TicketEmulator) -> None:
        self.emulator = emulator
        self.hold_creates = False
        self.create_arrived = threading.Event()
        self._release = threading.Event()
        self._server = ThreadedServer(
            self._forward, name="the loopback ticket system", client_max_size=64 * 1024**2
        )

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def release(self) -> None:
        self._release.set()

    def call(self, fn: object) -> None:
        """Run ``fn()`` on the server's loop (the emulator is not thread-safe) and wait."""
        done = threading.Event()

        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            finally:
                done.set()

        self._server.loop.call_soon_threadsafe(run)
        done.wait(30)

    def __enter__(self) -> Loopback:
        self._server.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._server.__exit__(None, None, None)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        forwarded = httpx.Request(
            request.method,
            f"https://emulated{request.path_qs}",
            headers=[(k, v) for k, v in request.headers.items() if k.lower() != "host"],
            content=body,
        )
        try:
            response = await self.emulator.handle_async_request(forwarded)
        except httpx.TimeoutException:
            return web.Response(status=504, text="emulated timeout")
        await response.aread()
        is_create = request.method == "POST" and request.path == self.emulator.create_path
        if is_create and self.hold_creates:
            self.hold_creates = False
            self.create_arrived.set()
            while not self._release.is_set():
                await asyncio.sleep(0.01)
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        }
        return web.Response(status=response.status_code, body=response.content, headers=headers)
