"""Listeners, one module per Slack surface, each with ``register(app, services)``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond

from bot.slack.background import new_reference
from bot.slack.blocks import common, notices
from bot.slack.services import Services

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]


def at_the_edge(what: str) -> Callable[[Listener], Listener]:
    """Catch anything a listener raises after its ack: log it with a reference id and tell the
    user (ephemeral, via ``respond`` when the listener takes it) — never a traceback."""

    def wrap(listener: Listener) -> Listener:
        @functools.wraps(listener)  # Bolt injects arguments by the wrapped function's names
        async def guarded(**kwargs: Any) -> None:
            try:
                await listener(**kwargs)
            except Exception:
                ref = new_reference()
                log.exception("%s failed (ref %s)", what, ref)
                respond = kwargs.get("respond")
                if respond is not None:
                    message = notices.notice(
                        f":warning: {what} failed. Reference `{ref}` (the details are in the server log)."
                    )
                    try:
                        await tell(respond, message)
                    except Exception:
                        log.warning("could not tell the user about failure %s", ref)

        return guarded

    return wrap


def ephemeral(message: common.Message) -> dict[str, Any]:
    """Keyword arguments for ``ack``/``respond`` that only the requester sees."""
    return {"response_type": "ephemeral", "text": message.text, "blocks": message.blocks}


async def tell(respond: AsyncRespond, message: common.Message) -> None:
    """Answer only the requester, after the ack, leaving the message they acted on as it was."""
    await respond(**ephemeral(message), replace_original=False)


async def admitted(
    services: Services, respond: AsyncRespond, user: str, channel: str, *, change: bool = False
) -> bool:
    """The full access check (it may ask Slack, so it runs after the ack); a refusal is told to
    the user."""
    refusal = await services.access.check(user, channel, change=change)
    if refusal is not None:
        await tell(respond, notices.refusal(refusal.reason))
    return refusal is None


def register_all(app: AsyncApp, services: Services) -> None:
    from bot.slack.listeners import actions, commands, events, home

    for surface in (commands, actions, events, home):
        surface.register(app, services)
