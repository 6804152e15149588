"""Long CPU-heavy async work on an event loop of its own, in a worker thread.

A catalog-wide drift scan parses and compares a million rows; run on the server's event loop it
would hold up every ``/oos`` ack and ``/healthz`` for its whole length. ``in_worker_loop``
runs such work to completion on a fresh loop in a thread, so the server's loop only waits for
the result. Cancelling the caller cancels the work in its loop too (a shutdown does not wait
for a scan to finish).

What ``work`` builds (HTTP clients, SQLite connections) is built, used and closed in the
worker's loop; only its result crosses back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def in_worker_loop(work: Callable[[], Awaitable[T]]) -> T:
    """``await work()`` on an event loop in a worker thread; its result or its exception."""
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]] = (
        concurrent.futures.Future()
    )

    async def main() -> T:
        task = asyncio.ensure_future(work())
        started.set_result((asyncio.get_running_loop(), task))
        return await task

    def run() -> T:
        return asyncio.run(main())

    thread = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        return await asyncio.shield(thread)
    except asyncio.CancelledError:
        if started.done():
            loop, task = started.result()
            with contextlib.suppress(RuntimeError):  # its loop already closed: it finished
                loop.call_soon_threadsafe(task.cancel)
        with contextlib.suppress(BaseException):
            await thread  # let it unwind (close its clients) before we go
        raise
