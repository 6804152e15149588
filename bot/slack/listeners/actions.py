"""The verdict's buttons: Re-run, Mark resolved, Evidence file, Open ticket — and the Triage
button of the monitoring posts, which starts ``/oos SKU`` for the SKU it lists.

Each button acks at once and then works; its value is the triage id, and the saved report is
the source of truth (the message is only its rendering). Mark resolved and Open ticket change
state, so they follow the stricter ``OOS_ACTION_*`` rule. Mark resolved is saved in the store
(``resolved_at``/``resolved_by``) before the message changes; the first resolution stands,
and the thread's root line in the channel says who resolved it.
With a ticket system configured, Open ticket opens (or comments on) the ticket and Mark
resolved resolves it; the ticket service posts each outcome in the thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.report import Report
from bot.slack.blocks import common, notices, progress
from bot.slack.blocks import monitoring as monitoring_blocks
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.listeners import admitted, at_the_edge, tell
from bot.slack.runner import TriageRequest, upload_evidence
from bot.slack.services import Services
from bot.slack.tickets import thread_url
from tools.sku import InvalidSku, validate_sku


def _where(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(user, channel, message ts, thread ts) of a click on a message button."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts") or message.get("ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return str(body["user"]["id"]), str(channel), message_ts, thread_ts


@dataclass(frozen=True)
class _Click:
    """A click on a verdict button: its triage found, its user admitted."""

    user: str
    channel: str
    message_ts: str | None  # the clicked message
    clicked_thread: str | None  # the thread the clicked message is in
    response_url: str | None
    row: dict[str, Any]
    report: Report

    @property
    def triage_id(self) -> str:
        return str(self.row["id"])

    @property
    def thread_ts(self) -> str | None:
        """The triage's thread: the one saved with it, else the clicked message's."""
        saved: str | None = self.row.get("thread_ts")
        return saved or self.clicked_thread


_Button = Callable[[_Click, AsyncRespond, AsyncWebClient], Awaitable[None]]


def register(app: AsyncApp, services: Services) -> None:
    async def gone(respond: AsyncRespond) -> None:
        await tell(
            respond,
            notices.refusal(
                "I no longer have that triage (it was not saved, or was made by another "
                "server). Run `/oos SKU` again."
            ),
        )

    def verdict_button(action_id: str, what: str, *, change: bool) -> Callable[[_Button], _Button]:
        """Register a verdict button: it acks at once, finds the saved triage (its value is the
        triage id) and checks the user may press it (``change``: the stricter rule), then runs
        the decorated handler; a triage gone or a user refused is told so instead."""

        def add(button: _Button) -> _Button:
            @app.action(action_id)
            @at_the_edge(what)
            async def pressed(
                ack: AsyncAck,
                body: dict[str, Any],
                action: dict[str, Any],
                respond: AsyncRespond,
                client: AsyncWebClient,
            ) -> None:
                await ack()
                user, channel, message_ts, thread_ts = _where(body)
                triage_id = str(action.get("value") or "")
                found = services.store.get(triage_id) if triage_id else None
                if found is None:
                    await gone(respond)
                    return
                if not await admitted(services, respond, user, channel, change=change):
                    return
                row, report = found
                click = _Click(
                    user, channel, message_ts, thread_ts, body.get("response_url"), row, report
                )
                await button(click, respond, client)

            return button

        return add

    def ticket_thread(click: _Click) -> dict[str, str | None]:
        """Where the ticket service posts an outcome: the triage's thread, and its link."""
        thread = str(click.thread_ts)
        return {
            "channel": click.channel,
            "thread_ts": thread,
            "thread_url": thread_url(services.workspace_url, click.channel, thread),
        }

    @verdict_button(verdict_blocks.ACTION_RERUN, "Re-run", change=False)
    async def rerun(click: _Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        services.runner.start(
            TriageRequest(
                sku=click.report.sku,
                channel=click.channel,
                user=click.user,
                thread_ts=click.thread_ts,
                response_url=click.response_url,
            )
        )

    @verdict_button(verdict_blocks.ACTION_RESOLVE, "Mark resolved", change=True)
    async def resolve(click: _Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        report, triage_id = click.report, click.triage_id
        # The store first: the message only shows what was saved (a StoreError here leaves the
        # button as it was, and at_the_edge tells the user with a reference id).
        marked = services.store.mark_resolved(triage_id, click.user)
        saved = services.store.get(triage_id)
        resolution = common.resolution_of(saved[0]) if saved is not None else None
        if resolution is None:  # the row went away since it was loaded: nothing was marked
            await gone(respond)
            return
        message = verdict_blocks.verdict_message(report, triage_id, resolution=resolution)
        if click.message_ts:
            # Best effort: a deleted verdict message must not cost the notice or the ticket.
            services.poster.edit(click.channel, click.message_ts, message)
        if click.thread_ts:
            # The channel's view of the thread says it is resolved too.
            opened = services.store.first_in_thread(click.channel, click.thread_ts)
            if opened is not None:
                root = progress.root_message(
                    report.sku,
                    str(opened.get("user") or click.user),
                    outcome=progress.root_outcome(report),
                    resolution=resolution,
                )
                services.poster.edit(click.channel, click.thread_ts, root)
        if not marked:
            # Someone else was first (two clicks on a message not yet updated): say who.
            await tell(respond, verdict_blocks.already_resolved(resolution, report.sku))
            return
        await services.poster.post(
            click.channel,
            verdict_blocks.resolved_notice(click.user, report.sku),
            thread_ts=click.clicked_thread,
        )
        if services.tickets is not None:
            # Close the loop on the ticket too; the outcome is posted in the thread.
            await services.tickets.resolve(report, triage_id, **ticket_thread(click))

    @verdict_button(verdict_blocks.ACTION_EVIDENCE, "Evidence file", change=False)
    async def evidence(click: _Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        await upload_evidence(
            client,
            click.report,
            click.triage_id,
            channel=click.channel,
            thread_ts=str(click.thread_ts),
        )

    @verdict_button(verdict_blocks.ACTION_TICKET, "Open ticket", change=True)
    async def ticket(click: _Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        report = click.report
        if services.tickets is None:
            await tell(respond, verdict_blocks.ticket_not_configured(report))
            return
        outcome = await services.tickets.open(report, click.triage_id, **ticket_thread(click))
        if outcome.replayed or outcome.kind in ("busy", "nothing"):
            # Everything else was posted in the thread by the ticket service's notifier.
            await tell(
                respond,
                verdict_blocks.ticket_notice(outcome, sku=report.sku, cause=report.verdict.cause),
            )

    @app.action(monitoring_blocks.ACTION_MONITOR_TRIAGE)
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
            await tell(respond, notices.refusal(str(exc)))
            return
        if not await admitted(services, respond, user, channel):
            return
        services.runner.start(
            TriageRequest(
                sku=sku, channel=channel, user=user, response_url=body.get("response_url")
            )
        )
