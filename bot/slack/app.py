"""Builds the Bolt ``AsyncApp`` from settings: the one place the Slack app is put together.

Every Web API call goes through one ``AsyncWebClient`` whose ``base_url`` is ``SLACK_API_URL``
(GovSlack, proxies, tests) — Bolt's own per-request clients and its ``auth.test`` copy it.
The client retries 429s after Slack's ``Retry-After`` (bounded), so a rate-limited
chat.postMessage or chat.update is delivered late rather than lost. Nothing here touches the
network: building the app is free, the first call happens on the first request or at startup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.agent.memory import ThreadMemory
from bot.engine import triage
from bot.monitor.posts import MonitorCommands, MonitorPoster
from bot.monitor.sources import Monitor
from bot.slack import gate
from bot.slack.access import AccessControl
from bot.slack.background import new_reference
from bot.slack.listeners import register_all
from bot.slack.pending import PendingVerdicts
from bot.slack.poster import SlackPoster
from bot.slack.runner import Engine, TargetResolver, TriageRunner
from bot.slack.services import Services
from bot.slack.settings import SlackSettings
from bot.slack.tickets import SlackTicketNotifier, after_verdict_hook
from bot.store import TriageStore
from bot.tickets.service import TicketService
from tools import observe, redact

if TYPE_CHECKING:
    from bot.agent.agent import Agent

log = logging.getLogger(__name__)

WEB_API_TIMEOUT = 15
RATE_LIMIT_DEADLINE = 600.0  # seconds of Retry-After one call may wait out in all


class RetryAfterHandler(AsyncRetryHandler):
    """Waits out every 429 for as long as its ``Retry-After`` says, until the waits of one call
    add up to ``deadline`` seconds; only then does the call fail with the 429.

    Slack answers 429 before doing anything, so a retried chat.postMessage cannot post twice.
    The budget counts the waits Slack asked for (not the wall clock), so a rate-limited verdict
    is delivered minutes late rather than lost after a few tries.
    """

    def __init__(
        self,
        deadline: float = RATE_LIMIT_DEADLINE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(max_retry_count=sys.maxsize)
        self.deadline = deadline
        self._sleep = sleep

    @staticmethod
    def _retry_after(response: HttpResponse | None) -> float:
        for name, values in (response.headers if response is not None else {}).items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    return max(0.0, float(values[0]))
        return 1.0

    @staticmethod
    def _waited(state: RetryState) -> float:
        return float((state.custom_values or {}).get("waited", 0.0))

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        if self._waited(state) + self._retry_after(response) <= self.deadline:
            return True
        log.warning(
            "Slack rate limit on %s lasted past the %g s deadline: giving up this call",
            request.url.rsplit("/", 1)[-1],
            self.deadline,
        )
        return False

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = self._retry_after(response)
        state.custom_values = {**(state.custom_values or {}), "waited": self._waited(state) + wait}
        # A little jitter so a burst of threads does not come back in the same instant.
        wait += random.uniform(0, 0.25) if wait else 0.0
        method = request.url.rsplit("/", 1)[-1]
        observe.report(observe.SlackRetry(method, 429))
        log.info("Slack rate limit on %s: retrying in %.1f s", method, wait)
        await self._sleep(wait)
        state.increment_current_attempt()


class BotIdentity:
    """The bot's ``auth.test``, asked once and shared by every request.

    Bolt's single-workspace mode would call auth.test on the first request(s) before their
    ack, once per concurrent request until one answers; asking once (at startup, or under a
    lock) keeps even the first acks free of Web API calls.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._lock = asyncio.Lock()
        self._result: AuthorizeResult | None = None

    @property
    def url(self) -> str | None:
        """The workspace URL (``https://team.slack.com/``), once known."""
        return self._result.url if self._result is not None else None

    def seed(self, auth_test: AsyncSlackResponse) -> None:
        self._result = AuthorizeResult.from_auth_test_response(
            bot_token=self._client.token, auth_test_response=auth_test
        )

    async def resolve(self) -> AuthorizeResult:
        if self._result is None:
            async with self._lock:
                if self._result is None:
                    self.seed(await self._client.auth_test())
        assert self._result is not None
        return self._result


def build_client(settings: SlackSettings, *, with_token: bool = True) -> AsyncWebClient:
    """The Web API client: ``SLACK_API_URL``, the bot token, timeouts, and 429s waited out
    until ``OOS_SLACK_RATE_LIMIT_DEADLINE``. Every Slack credential is registered as a secret
    first, so an echo of it is masked."""
    for secret in (settings.bot_token, settings.signing_secret, settings.app_token):
        if secret is not None:
            redact.register(secret.get_secret_value())
    return AsyncWebClient(
        token=settings.bot_token.get_secret_value() if with_token else None,
        base_url=settings.api_url,
        timeout=WEB_API_TIMEOUT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            RetryAfterHandler(deadline=settings.rate_limit_deadline),
        ],
    )


def build_app(
    settings: SlackSettings,
    *,
    store: TriageStore,
    resolve: TargetResolver,
    client: AsyncWebClient | None = None,
    engine: Engine = triage,
    tickets: TicketService | None = None,
    agent: Agent | None = None,
    monitor: Monitor | None = None,
) -> tuple[AsyncApp, Services]:
    """The Bolt app with every listener registered, and the services they share. ``tickets``
    (the configured ticket system) turns on auto-open, Open ticket and resolving on Mark
    resolved; its outcomes are posted in the threads they came from. ``agent`` (the LLM agent)
    adds an explanation to each verdict and answers mentions in triage threads. ``monitor``
    (``bot.monitor.sources``) answers ``/oos drift | health | map``."""
    client = client or build_client(settings)
    identity = BotIdentity(client)
    poster = SlackPoster(
        client, rate=settings.posts_per_second, edit_rate=settings.edits_per_minute / 60
    )
    after_verdict = None
    if tickets is not None:
        tickets.notify = SlackTicketNotifier(client, tickets.config.system, poster=poster)
        after_verdict = after_verdict_hook(tickets, lambda: identity.url)

    async def authorize() -> AuthorizeResult:
        # A plain function: Bolt injects arguments by name and would trip over a bound ``self``.
        return await identity.resolve()

    signing_secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
    app = AsyncApp(
        # Bolt's per-request clients copy this one (base URL, retries) and take the token from
        # ``authorize``; giving it no token of its own keeps Bolt in that mode without warnings.
        client=build_client(settings, with_token=False),
        authorize=authorize,
        signing_secret=signing_secret,
        # Socket Mode has no signature; in HTTP mode the settings guarantee a secret.
        request_verification_enabled=signing_secret is not None,
        name="oos-triage",
    )
    access = AccessControl(settings.access, client)
    runner = TriageRunner(
        client,
        store,
        resolve,
        access,
        engine=engine,
        timeout=settings.triage_timeout,
        after_verdict=after_verdict,
        agent=agent,
        poster=poster,
        pending=PendingVerdicts(store.db),
    )
    services = Services(
        settings=settings,
        client=client,
        store=store,
        access=access,
        runner=runner,
        identity=identity,
        poster=poster,
        tickets=tickets,
        agent=agent,
        memory=ThreadMemory(store.db),
        monitoring=MonitorCommands(MonitorPoster(client, monitor)) if monitor else None,
    )
    gate.install(app)  # malformed requests refused, redelivered events answered once
    register_all(app, services)

    @app.error
    async def _on_error(error: Exception) -> None:
        # Bolt answers the request itself; this only makes sure the log can be matched to a user.
        log.error("unhandled error in a listener (ref %s)", new_reference(), exc_info=error)

    return app, services
