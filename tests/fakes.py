"""Test doubles shared across the suite."""

from __future__ import annotations


class FakeClock:
    """Monotonic time that moves only when something sleeps on it or a test advances ``now``.

    Pass the instance as a ``clock`` and its ``sleep`` as a ``sleep``; ``sleeps`` keeps every wait.
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
