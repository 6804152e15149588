"""Listeners, one module per Slack surface, each with ``register(app, services)``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack import blocks
from bot.slack.runner import new_reference
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
                    message = blocks.notice(
                        f":warning: {what} failed. Reference `{ref}` (the details are in the server log)."
                    )
                    try:
                        await respond(
                            text=message.text,
                            blocks=message.blocks,
                            response_type="ephemeral",
                            replace_original=False,
                        )
                    except Exception:
                        log.warning("could not tell the user about failure %s", ref)

        return guarded

    return wrap


def ephemeral(message: blocks.Message) -> dict[str, Any]:
    """Keyword arguments for ``ack``/``respond`` that only the requester sees."""
    return {"response_type": "ephemeral", "text": message.text, "blocks": message.blocks}


def register_all(app: AsyncApp, services: Services) -> None:
    from bot.slack.listeners import actions, commands, events, home

    for surface in (commands, actions, events, home):
        surface.register(app, services)
