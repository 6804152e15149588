"""Work that runs after the ack: the tasks of one kind (triages, monitoring commands), kept so
they can be waited for or shut down, and the reference ids that tie what a user is told about a
failure to the details in the log."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from typing import Any

from bot.slack.acks import ACKS


def new_reference() -> str:
    """A short id shown to the user and logged with the details, to find one from the other."""
    return secrets.token_hex(4)


async def _after_acks(work: Coroutine[Any, Any, None]) -> None:
    """``work``, once the Slack requests being answered are answered (``bot.slack.acks``)."""
    try:
        await ACKS.settled()
    except BaseException:
        work.close()  # cancelled before it started: no "never awaited" coroutine
        raise
    await work


class BackgroundTasks:
    """Running tasks, each forgotten as it ends."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(_after_acks(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for every running task, and for any it starts meanwhile."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Give running tasks ``grace`` seconds, then cancel them and give them as long again to
        unwind (a cancelled triage still says so in its thread)."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(list(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace)
