"""The one place the code reads the wall clock.

Every service takes a ``Clock`` (a function returning an aware UTC ``datetime``) and defaults
to :func:`utc_now`; the composition root builds one clock per process and hands it down, so
tests pin time by passing their own and no result depends on today's date. Monotonic time for
pacing and timeouts (``time.monotonic``) is not wall time and stays where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
