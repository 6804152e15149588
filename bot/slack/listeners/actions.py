"""The verdict's buttons: Re-run, Mark resolved, Evidence file, Open ticket — and the Triage
button of the monitoring posts, which starts ``/oos SKU`` for the SKU it lists.

Each button acks at once and then works; its value is the triage id, and the saved report is
the source of truth (the message is only its rendering). Mark resolved and Open ticket change
state, so they follow the stricter ``OOS_ACTION_*`` rule. Mark resolved is saved in the store
(``resolved_at``/``resolved_by``) before the message changes; the first resolution stands.
With a ticket system configured, Open ticket opens (or comments on) the ticket and Mark
resolved resolves it; the ticket service posts each outcome in the thread.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.report import Report
from bot.sku import InvalidSku, validate_sku
from bot.slack import blocks
from bot.slack.listeners import at_the_edge, ephemeral
from bot.slack.runner import TriageRequest, upload_evidence
from bot.slack.services import Services
from bot.slack.tickets import thread_url


def _where(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(user, channel, message ts, thread ts) of a click on a message button."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts") or message.get("ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return str(body["user"]["id"]), str(channel), message_ts, thread_ts


def register(app: AsyncApp, services: Services) -> None:
    async def gone(respond: AsyncRespond) -> None:
        await respond(
            **ephemeral(
                blocks.refusal(
                    "I no longer have that triage (it was not saved, or was made by another "
                    "server). Run `/oos SKU` again."
                )
            ),
            replace_original=False,
        )

    async def load(
        action: dict[str, Any], respond: AsyncRespond
    ) -> tuple[dict[str, Any], Report] | None:
        triage_id = str(action.get("value") or "")
        found = services.store.get(triage_id) if triage_id else None
        if found is None:
            await gone(respond)
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
        triage_id = str(row["id"])
        # The store first: the message only shows what was saved (a StoreError here leaves the
        # button as it was, and at_the_edge tells the user with a reference id).
        marked = services.store.mark_resolved(triage_id, user)
        saved = services.store.get(triage_id)
        resolution = blocks.resolution_of(saved[0]) if saved is not None else None
        if resolution is None:  # the row went away since ``load``: nothing was marked
            await gone(respond)
            return
        message = blocks.verdict_message(report, triage_id, resolution=resolution)
        if message_ts:
            await client.chat_update(channel=channel, ts=message_ts, **message.kwargs())
        if not marked:
            # Someone else was first (two clicks on a message not yet updated): say who.
            await respond(
                **ephemeral(blocks.already_resolved(resolution, report.sku)),
                replace_original=False,
            )
            return
        await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            **blocks.resolved_notice(user, report.sku).kwargs(),
        )
        if services.tickets is not None:
            # Close the loop on the ticket too; the outcome is posted in the thread.
            ticket_thread = str(row.get("thread_ts") or thread_ts)
            await services.tickets.resolve(
                report,
                triage_id,
                channel=channel,
                thread_ts=ticket_thread,
                thread_url=thread_url(services.workspace_url, channel, ticket_thread),
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
        user, channel, _ts, thread = _where(body)
        found = await load(action, respond)
        if found is None or not await admitted(respond, user, channel, change=True):
            return
        row, report = found
        if services.tickets is None:
            await respond(**ephemeral(blocks.ticket_not_configured(report)), replace_original=False)
            return
        ticket_thread = str(row.get("thread_ts") or thread)
        outcome = await services.tickets.open(
            report,
            str(row["id"]),
            channel=channel,
            thread_ts=ticket_thread,
            thread_url=thread_url(services.workspace_url, channel, ticket_thread),
        )
        if outcome.replayed or outcome.kind in ("busy", "nothing"):
            # Everything else was posted in the thread by the ticket service's notifier.
            notice = blocks.ticket_notice(outcome, sku=report.sku, cause=report.verdict.cause)
            await respond(**ephemeral(notice), replace_original=False)

    @app.action(blocks.ACTION_MONITOR_TRIAGE)
    @at_the_edge("Triage")
    async def monitor_triage(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """A monitoring post's Triage button: ``/oos SKU`` for the listed SKU, in its channel."""
        await ack()
        user, channel, _ts, _thread = _where(body)
        try:
            sku = validate_sku(str(action.get("value") or ""))
        except InvalidSku as exc:
            await respond(**ephemeral(blocks.refusal(str(exc))), replace_original=False)
            return
        if not await admitted(respond, user, channel, change=False):
            return
        services.runner.start(
            TriageRequest(
                sku=sku, channel=channel, user=user, response_url=body.get("response_url")
            )
        )
