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
from types import TracebackType

import httpx
from aiohttp import web

from tools.sandbox.emulators.ticketing import TicketEmulator


class Loopback:
    def __init__(self, emulator: TicketEmulator) -> None:
        self.emulator = emulator
        self.port = 0
        self.hold_creates = False
        self.create_arrived = threading.Event()
        self._release = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

        self._loop.call_soon_threadsafe(run)
        done.wait(30)

    def __enter__(self) -> Loopback:
        started = threading.Event()

        async def start() -> None:
            app = web.Application(client_max_size=64 * 1024**2)
            app.router.add_route("*", "/{tail:.*}", self._forward)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            assert site._server is not None
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            started.set()

        def run() -> None:
            self._loop.run_until_complete(start())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the loopback ticket system did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        loop = self._loop

        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        assert self._thread is not None
        self._thread.join(30)
        loop.close()

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
