"""What every request from Slack passes before a listener sees it, over HTTP and Socket Mode.

* **Well formed.** A body that is not what Slack sends (not UTF-8, not a JSON object, a slash
  command without its user or channel, an event without its id…) is refused with 400 and one
  log line, never a 500 and a traceback. ``http_refusal`` does the same for what Bolt itself
  would trip over in HTTP mode (a non-numeric ``X-Slack-Request-Timestamp`` gets 401, an
  unparsable body 400), before Bolt sees the request.
* **Answered once.** Slack delivers an event again when it did not see a 200 in time (HTTP:
  the same ``event_id`` with ``X-Slack-Retry-Num``; Socket Mode: the same payload in a new
  envelope with ``retry_attempt``). An ``event_id`` already seen is acked and dropped, so a
  question is answered once however often it arrives.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# Slack retries an event three times over about five minutes; an hour is a wide margin.
SEEN_SECONDS = 3600.0
SEEN_MAX = 50_000


class SeenEvents:
    """Event ids seen in the last ``ttl`` seconds (at most ``size`` of them, oldest dropped)."""

    def __init__(
        self,
        ttl: float = SEEN_SECONDS,
        size: int = SEEN_MAX,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time ``event_id`` is offered (and remembers it); False after."""
        now = self._clock()
        while self._seen and (
            len(self._seen) >= self.size or next(iter(self._seen.values())) < now - self.ttl
        ):
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def http_refusal(headers: Mapping[str, Any], body: bytes) -> tuple[int, str] | None:
    """(status, reason) for an HTTP request Bolt cannot even parse; None to let Bolt decide
    (signature, replay window, and everything else)."""
    timestamp = _header(headers, "x-slack-request-timestamp")
    if timestamp is not None and not timestamp.strip().isdigit():
        return 401, "X-Slack-Request-Timestamp is not a number"
    if timestamp is None or _header(headers, "x-slack-signature") is None:
        return None  # unsigned: Bolt answers 401 without reading the body
    retry = _header(headers, "x-slack-retry-num")
    if retry is not None and not retry.strip().isdigit():
        return 400, "X-Slack-Retry-Num is not a number"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "the body is not UTF-8"
    content_type = (_header(headers, "content-type") or "").split(";")[0].strip().lower()
    parsed: Any = {}
    try:
        if content_type == "application/json":
            parsed = json.loads(text) if text.strip() else {}
        elif content_type == "application/x-www-form-urlencoded":
            form = {k: v[0] for k, v in urllib.parse.parse_qs(text).items() if v}
            parsed = json.loads(form["payload"]) if "payload" in form else form
    except ValueError:
        return 400, "the body cannot be parsed"
    if not isinstance(parsed, dict):
        return 400, "the body is not a JSON object"
    # Checked here too, not only in the middleware: Bolt's own argument building would raise
    # on some of these shapes (an empty ``actions`` list) before any middleware runs.
    problem = body_problem(parsed)
    return (400, problem) if problem is not None else None


def _strings(node: Any, *paths: str) -> bool:
    """Every dotted path leads to a non-empty string."""
    for path in paths:
        value = node
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            return False
    return True


def body_problem(body: Mapping[str, Any]) -> str | None:
    """Why a parsed body is not one Slack would send, or None."""
    kind = body.get("type")
    if "command" in body:
        if not _strings(body, "command", "user_id", "channel_id"):
            return "a slash command without its user or channel"
        if not isinstance(body.get("text", ""), str):
            return "a slash command whose text is not a string"
    elif kind == "block_actions":
        actions = body.get("actions")
        if not _strings(body, "user.id") or not isinstance(actions, list) or not actions:
            return "a button click without its user or action"
        if not all(isinstance(a, dict) for a in actions):
            return "a button click with a malformed action"
    elif kind == "event_callback":
        event = body.get("event")
        if not _strings(body, "event_id") or not isinstance(event, dict) or not event.get("type"):
            return "an event without its id or type"
        if event["type"] == "app_mention" and not _strings(event, "channel", "user", "ts"):
            return "a mention without its channel, user or ts"
        if event["type"] == "app_home_opened" and not _strings(event, "user"):
            return "an app_home_opened event without its user"
    return None


def install(app: AsyncApp, seen: SeenEvents | None = None) -> SeenEvents:
    """Add the gate to ``app``'s global middleware (after Bolt's signature check)."""
    seen = seen or SeenEvents()

    async def gate(
        body: dict[str, Any],
        request: AsyncBoltRequest,
        response: BoltResponse,
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse:
        problem = body_problem(body)
        if problem is not None:
            log.warning("refused a malformed request from Slack: %s", problem)
            return BoltResponse(status=400, body="")
        event_id = body.get("event_id")
        if isinstance(event_id, str) and not seen.first_time(event_id):
            retry = _header(request.headers, "x-slack-retry-num")
            log.info(
                "event %s delivered again (retry %s): already answered",
                event_id,
                retry or (request.context.get("retry_attempt") if request.context else "?"),
            )
            return BoltResponse(status=200, body="")
        await next()
        return response

    app.middleware(gate)
    return seen
