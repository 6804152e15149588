"""Fail-fast concurrent reads for the adapters that fan out several requests at once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

from tools.errors import AdapterError


async def gather_fail_fast(calls: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``calls`` together and return their results in order. The first failure cancels the
    others (a queued request whose answer no longer matters is never sent) and is raised.

    ``asyncio.gather`` would leave the other reads running after the first error.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failures:
        raise first_failure(failures) from None
    return [task.result() for task in tasks]


def first_failure(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first ``AdapterError`` in a (nested) exception group, else its first exception."""
    for exc in failures.exceptions:
        found = first_failure(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, AdapterError):
            return found
    first = failures.exceptions[0]
    return first_failure(first) if isinstance(first, BaseExceptionGroup) else first
