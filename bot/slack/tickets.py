"""The Slack side of escalation tickets: links to threads, and outcomes posted where they belong.

``SlackTicketNotifier`` is the ``TicketService``'s ``notify``: whichever worker does an outbox
action (the click's own request, the runner after a triage, or the background outbox pass once
the ticket system is back) posts what came of it in the thread the action came from.
``after_verdict_hook`` is what the runner calls once a verdict is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.report import Report
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.poster import SlackPoster
from bot.slack.runner import AfterVerdict
from bot.tickets.service import Outcome, TicketService
from bot.tickets.store import OutboxItem

log = logging.getLogger(__name__)

WorkspaceUrl = Callable[[], str | None]

_SYSTEM_NAMES = {"jira": "Jira", "servicenow": "ServiceNow"}


def thread_url(workspace_url: str | None, channel: str, thread_ts: str) -> str | None:
    """The permalink of a thread (``https://team.slack.com/archives/C…/p…``), once the workspace
    URL is known."""
    if not workspace_url:
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{thread_ts.replace('.', '')}"


class SlackTicketNotifier:
    def __init__(
        self, client: AsyncWebClient, system: str, *, poster: SlackPoster | None = None
    ) -> None:
        self.client = client
        self.system = _SYSTEM_NAMES.get(system, system)
        # Through the runner's poster, a notice queued after the verdict is posted after it.
        self.poster = poster

    async def __call__(self, item: OutboxItem, outcome: Outcome) -> None:
        if not item.channel or not item.thread_ts:
            return  # queued from the command line: nobody to tell in Slack
        try:
            report = Report.model_validate_json(item.report)
            sku, cause, owner = report.sku, report.verdict.cause, report.escalation.owner_name
        except ValueError:
            sku, cause, owner = "this SKU", None, None
        message = verdict_blocks.ticket_notice(
            outcome, sku=sku, cause=cause, owner_name=owner, system=self.system
        )
        if self.poster is not None:
            await self.poster.post(
                item.channel, message, thread_ts=item.thread_ts, unfurl_links=False
            )
            return
        await self.client.chat_postMessage(
            channel=item.channel, thread_ts=item.thread_ts, unfurl_links=False, **message.kwargs()
        )


def after_verdict_hook(tickets: TicketService, workspace_url: WorkspaceUrl) -> AfterVerdict:
    """What the runner does once a verdict is in its thread: auto-open per policy, or add the
    evidence to the ticket already open for the same SKU and cause. The notifier posts the
    outcome; this never raises into the runner."""

    async def after_verdict(report: Report, triage_id: str, channel: str, thread_ts: str) -> None:
        try:
            await tickets.after_triage(
                report,
                triage_id,
                channel=channel,
                thread_ts=thread_ts,
                thread_url=thread_url(workspace_url(), channel, thread_ts),
            )
        except Exception:
            log.exception("ticket escalation after the triage of %s failed", report.sku)

    return after_verdict
