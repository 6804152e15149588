"""The verdict's buttons: Re-run, Mark resolved, Evidence file, Open ticket.

Each button acks at once and then works; its value is the triage id, and the saved report is
the source of truth (the message is only its rendering). Mark resolved and Open ticket change
state, so they follow the stricter ``OOS_ACTION_*`` rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.report import Report
from bot.slack import blocks
from bot.slack.listeners import at_the_edge, ephemeral
from bot.slack.runner import TriageRequest, upload_evidence
from bot.slack.services import Services


def _where(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(user, channel, message ts, thread ts) of a click on a message button."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts") or message.get("ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return str(body["user"]["id"]), str(channel), message_ts, thread_ts


def register(app: AsyncApp, services: Services) -> None:
    async def load(
        action: dict[str, Any], respond: AsyncRespond
    ) -> tuple[dict[str, Any], Report] | None:
        triage_id = str(action.get("value") or "")
        found = services.store.get(triage_id) if triage_id else None
        if found is None:
            await respond(
                **ephemeral(
                    blocks.refusal(
                        "I no longer have that triage (it was not saved, or was made by another "
                        "server). Run `/oos SKU` again."
                    )
                ),
                replace_original=False,
            )
        return found

    async def admitted(respond: AsyncRespond, user: str, channel: str, *, change: bool) -> bool:
        refusal = await services.access.check(user, channel, change=change)
        if refusal is not None:
            await respond(**ephemeral(blocks.refusal(refusal.reason)), replace_original=False)
        return refusal is None

    @app.action(blocks.ACTION_RERUN)
    @at_the_edge("Re-run")
    async def rerun(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user, channel, _ts, thread_ts = _where(body)
        found = await load(action, respond)
        if found is None or not await admitted(respond, user, channel, change=False):
            return
        row, report = found
        services.runner.start(
            TriageRequest(
                sku=report.sku,
                channel=channel,
                user=user,
                thread_ts=row.get("thread_ts") or thread_ts,
                response_url=body.get("response_url"),
            )
        )

    @app.action(blocks.ACTION_RESOLVE)
    @at_the_edge("Mark resolved")
    async def resolve(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        user, channel, message_ts, thread_ts = _where(body)
        found = await load(action, respond)
        if found is None or not await admitted(respond, user, channel, change=True):
            return
        row, report = found
        resolution = blocks.Resolution(user=user, at=datetime.now(UTC))
        message = blocks.verdict_message(report, str(row["id"]), resolution=resolution)
        if message_ts:
            await client.chat_update(channel=channel, ts=message_ts, **message.kwargs())
        await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            **blocks.resolved_notice(user, report.sku).kwargs(),
        )

    @app.action(blocks.ACTION_EVIDENCE)
    @at_the_edge("Evidence file")
    async def evidence(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        user, channel, _ts, thread_ts = _where(body)
        found = await load(action, respond)
        if found is None or not await admitted(respond, user, channel, change=False):
            return
        row, report = found
        await upload_evidence(
            client,
            report,
            str(row["id"]),
            channel=channel,
            thread_ts=str(row.get("thread_ts") or thread_ts),
        )

    @app.action(blocks.ACTION_TICKET)
    @at_the_edge("Open ticket")
    async def ticket(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user, channel, _ts, _thread = _where(body)
        found = await load(action, respond)
        if found is None or not await admitted(respond, user, channel, change=True):
            return
        _row, report = found
        await respond(**ephemeral(blocks.ticket_not_configured(report)), replace_original=False)
