"""Faults an emulator can inject, shared by every vendor emulator.

``Faults`` is deliberately tiny: a latency, a script of statuses for the next calls (each with an
optional ``Retry-After``), and three switches. Emulators consume ``next_status()`` once per call
and render the status with the vendor's own error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: an HTTP status and, for 429/503, an optional ``Retry-After``."""

    status: int
    retry_after: float | None = None


@dataclass
class Faults:
    latency: float = 0.0  # seconds slept inside the transport before answering
    statuses: list[Scripted] = field(default_factory=list)  # answers for the next N calls
    malformed: bool = False  # answer 200 with a body that is not JSON
    timeout: bool = False  # raise httpx.ReadTimeout
    expired_token: bool = False  # refuse the credentials as expired

    def next_status(self) -> Scripted | None:
        """The scripted answer for this call, if any is left."""
        return self.statuses.pop(0) if self.statuses else None
