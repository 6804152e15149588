"""The operator's endpoints beside ``/slack/events``: ``GET /readyz`` and ``GET /metrics``.

``/healthz`` stays liveness (the process answers). ``/readyz`` answers 200 only when the bot can
do its work: the store takes a write, and Slack accepts the bot token (``auth.test``, asked at
most once per ``auth_ttl`` seconds and cached). It lists each vendor system's last call too —
status and age — without failing on them: a vendor outage is reported in the threads it
touches, not by pulling the bot out of service. ``/metrics`` is ``bot.metrics`` in Prometheus'
text format.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import CONTENT_TYPE, Metrics
from bot.store import TriageStore

READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


class Readiness:
    def __init__(
        self,
        store: TriageStore,
        client: AsyncWebClient,
        metrics: Metrics,
        systems: Sequence[str] = (),
        *,
        auth_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.client = client
        self.metrics = metrics
        self.systems = list(systems)
        self.auth_ttl = auth_ttl
        self._clock = clock
        self._slack: tuple[float, str | None] | None = None  # (checked at, error or None)
        self._lock = asyncio.Lock()

    def seed_slack(self, error: str | None = None) -> None:
        """The startup ``auth.test`` answered: no need to ask again for ``auth_ttl`` seconds."""
        self._slack = (self._clock(), error)

    async def _slack_error(self) -> str | None:
        async with self._lock:
            if self._slack is None or self._clock() - self._slack[0] >= self.auth_ttl:
                try:
                    await asyncio.wait_for(self.client.auth_test(), 10)
                    error = None
                except SlackApiError as exc:
                    error = f"Slack refused the bot token ({exc.response.get('error')})"
                except (OSError, TimeoutError) as exc:
                    error = f"Slack Web API unreachable ({type(exc).__name__})"
                except Exception as exc:  # aiohttp errors and the like: still not ready
                    error = f"Slack Web API unreachable ({type(exc).__name__})"
                self._slack = (self._clock(), error)
            return self._slack[1]

    async def state(self) -> tuple[bool, dict[str, Any]]:
        store_error = self.store.writable()
        slack_error = await self._slack_error()
        now = time.time()
        systems: dict[str, Any] = {}
        last = self.metrics.vendor_states()
        for name in dict.fromkeys([*self.systems, *last]):
            call = last.get(name)
            systems[name] = (
                {"last_call": "none yet"}
                if call is None
                else {
                    "ok": call.ok,
                    "last_call": call.endpoint,
                    "status": call.status if call.status is not None else call.error,
                    "seconds_ago": round(now - call.at, 1),
                }
            )
        ready = store_error is None and slack_error is None
        return ready, {
            "ready": ready,
            "store": store_error or "ok",
            "slack": slack_error or "ok",
            "systems": systems,
        }


def add_ops_routes(web_app: web.Application, readiness: Readiness, metrics: Metrics) -> None:
    async def ready(_request: web.Request) -> web.Response:
        ok, body = await readiness.state()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    web_app.router.add_get(READY_PATH, ready)
    web_app.router.add_get(METRICS_PATH, metrics_page)
