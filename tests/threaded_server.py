"""An aiohttp server on 127.0.0.1 that runs on an event loop of its own, in a thread, for tests
whose client is not on the test's loop (a CLI that runs its own loop, a subprocess).

``ThreadedServer(handler)`` answers every method and path with ``handler``; ``with`` starts it on
a free port and stops it when the block ends, so no server outlives its test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadedServer:
    def __init__(self, handler: Handler, *, name: str, client_max_size: int = 1024**2) -> None:
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._handler = handler
        self._name = name
        self._client_max_size = client_max_size
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        started = threading.Event()

        async def start() -> None:
            app = web.Application(client_max_size=self._client_max_size)
            app.router.add_route("*", "/{tail:.*}", self._handler)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            assert site._server is not None
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            started.set()

        def run() -> None:
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError(f"{self._name} did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = self.loop

        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        assert self._thread is not None
        self._thread.join(30)
        loop.close()
