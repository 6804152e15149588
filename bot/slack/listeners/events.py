"""Mentions of the bot. In a triage thread, the question is answered by the agent when it is
on (``bot.slack.followup``), else from the saved report (which evidence item or check answers
it, by keyword); elsewhere, a pointer to ``/oos``."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.background import new_reference
from bot.slack.blocks import notices, replies
from bot.slack.followup import answer_mention
from bot.slack.runner import send_ephemeral
from bot.slack.services import Services

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_mention")
    async def mention(event: dict[str, Any], client: AsyncWebClient) -> None:
        channel = str(event["channel"])
        thread_ts = event.get("thread_ts")
        reply_in = str(thread_ts or event["ts"])
        # Questions obey the same channel and user(-group) rules as /oos; a refusal is seen
        # only by the person who asked.
        refusal = await services.access.check(str(event["user"]), channel)
        if refusal is not None:
            await send_ephemeral(
                client,
                channel=channel,
                user=str(event["user"]),
                response_url=None,
                message=notices.refusal(refusal.reason),
                thread_ts=reply_in,
            )
            return
        try:
            found = services.store.by_thread(channel, str(thread_ts)) if thread_ts else None
            if found is None:
                message = replies.not_a_triage_thread()
            else:
                row, report = found
                message = await answer_mention(
                    services,
                    row,
                    report,
                    str(event.get("text") or ""),
                    channel=channel,
                    thread_ts=str(thread_ts),
                )
        except Exception:
            ref = new_reference()
            log.exception("answering a mention failed (ref %s)", ref)
            message = notices.notice(f":warning: I could not answer that. Reference `{ref}`.")
        await services.poster.post(channel, message, thread_ts=reply_in)
