"""Acks first: work started after an ack waits until the requests being answered are answered.

Slack drops a command not acknowledged within 3 seconds. A burst of ``/oos`` commands starts a
burst of triages, and on one event loop each triage's first steps (building its clients,
posting the thread, the first vendor calls) would be queued ahead of the acks still to be
written. ``AckGate`` counts the Slack requests the HTTP endpoint is answering; background work
(``BackgroundTasks``) starts once none is, or after ``MAX_WAIT`` at the latest, so a steady
stream of requests cannot starve the triages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

MAX_WAIT = 0.5  # seconds a triage may wait for acks to go out before it starts anyway


class AckGate:
    """How many Slack requests are being answered; who waits for none to be."""

    def __init__(self) -> None:
        self._answering = 0
        self._waiters: list[asyncio.Future[None]] = []

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request, up to its HTTP response."""
        self._answering += 1
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                waiters, self._waiters = self._waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        with contextlib.suppress(RuntimeError):  # its loop is gone
                            waiter.set_result(None)

    async def settled(self, max_wait: float = MAX_WAIT) -> None:
        """Return once no request is being answered (at once if none is), or after
        ``max_wait``."""
        if self._answering == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, max_wait)


ACKS = AckGate()
