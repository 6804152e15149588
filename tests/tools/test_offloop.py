"""``in_worker_loop``: long work on a loop of its own, in another thread; its result, its error,
and cancellation reaching the work."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tools.offloop import in_worker_loop


async def test_the_work_runs_on_another_loop_in_another_thread() -> None:
    caller = (asyncio.get_running_loop(), threading.get_ident())

    async def work() -> tuple[asyncio.AbstractEventLoop, int]:
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), threading.get_ident()

    loop, thread = await in_worker_loop(work)
    assert loop is not caller[0] and thread != caller[1]


async def test_its_error_is_raised_to_the_caller() -> None:
    async def work() -> None:
        raise ValueError("the scan could not run")

    with pytest.raises(ValueError, match="could not run"):
        await in_worker_loop(work)


async def test_cancelling_the_caller_cancels_the_work() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(in_worker_loop(work))
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set(), "the work was cancelled in its own loop, not left running"


async def test_the_caller_loop_keeps_serving_while_the_work_runs() -> None:
    release = threading.Event()
    ticks = 0

    async def work() -> str:
        await asyncio.to_thread(release.wait, 10)  # busy elsewhere until released
        return "done"

    scan = asyncio.create_task(in_worker_loop(work))
    while ticks < 20:  # the caller's loop turns freely meanwhile
        await asyncio.sleep(0)
        ticks += 1
    assert not scan.done()
    release.set()
    assert await scan == "done"
