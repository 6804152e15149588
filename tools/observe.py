"""Outbound calls, reported as they happen to whoever listens (metrics, the log, readiness).

The HTTP layer (``tools.http``) reports every vendor attempt, the Slack client every rate-limit
retry. With no listener a report costs a loop over an empty list; a listener that fails is
logged and never breaks the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VendorCall:
    """One HTTP attempt to a vendor: its status, or the transport error that ended it."""

    system: str
    endpoint: str  # "GET /flows" (redacted)
    status: int | None
    error: str | None  # the transport exception's name when there is no status
    seconds: float


@dataclass(frozen=True)
class SlackRetry:
    """Slack answered ``status`` (429: rate limited) to ``method``; the call is retried."""

    method: str
    status: int


Event = VendorCall | SlackRetry
Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Hear every event from now on; call the returned function to stop."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe


def report(event: Event) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("a listener failed on %s", type(event).__name__)
