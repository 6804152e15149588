"""Sequential round trips of an adapter read, counted from the structure of its requests.

``LockStep`` wraps an emulator and answers in rounds. The first request opens a round; every
request sent while the round is open joins it; the round closes once the event loop has turned
``settle`` times without another request arriving, and only then are its requests answered
(by the wrapped emulator, together). A request that can only be sent after another's answer,
because it needs a value from it, waits for a concurrency slot it frees, or follows its next-page
link, therefore lands in a later round. ``len(rounds)`` is the number of sequential round trips:
what the read costs when every request takes the same time. No clock is involved.
"""

from __future__ import annotations

import asyncio

import httpx


class LockStep(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, *, settle: int = 50) -> None:
        self.inner = inner
        self.settle = settle
        self.rounds: list[list[httpx.Request]] = []
        self._gate: asyncio.Future[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._gate is None:
            loop = asyncio.get_running_loop()
            self._gate = loop.create_future()
            self.rounds.append([])
            closing = loop.create_task(self._close(self._gate))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        gate = self._gate
        self.rounds[-1].append(request)
        # Shielded: a request cancelled while it waits must not cancel the round for the others.
        await asyncio.shield(gate)
        return await self.inner.handle_async_request(request)

    async def _close(self, gate: asyncio.Future[None]) -> None:
        idle, size = 0, -1
        while idle < self.settle:
            await asyncio.sleep(0)
            idle = idle + 1 if len(self.rounds[-1]) == size else 0
            size = len(self.rounds[-1])
        self._gate = None
        gate.set_result(None)

    @property
    def sizes(self) -> list[int]:
        """How many requests each round held."""
        return [len(r) for r in self.rounds]
