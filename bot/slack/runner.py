"""Runs a triage after the ack and keeps its thread honest.

``TriageRunner.start`` returns at once with a background task; the listener has already acked.
The task checks access, finds the SKU, posts the root message and one progress message
(edited as each layer is walked), saves the report with channel, thread and user, then posts
the rules' verdict at once. The automatic ticket starts at the same moment; the LLM agent's
explanation follows as an edit of the verdict (or a reply, if the edit fails) when it is ready.

Every post and edit goes through the process's ``SlackPoster`` (paced per channel, in order).
Progress edits are best effort: a deleted progress message or a rate-limited ``chat.update``
never stops the verdict. A saved verdict that Slack will not take is kept
(``bot.slack.pending``) and posted when Slack answers again; once the report is saved, the
thread never says the triage could not finish. Any other failure ends the thread with an error
and a reference id logged here with the details (never shown as a traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.compose import Target, UnknownSku
from bot.engine import triage
from bot.logs import triage_context
from bot.report import CheckResult, Report
from bot.slack.access import AccessControl
from bot.slack.background import BackgroundTasks, new_reference
from bot.slack.blocks import common, notices
from bot.slack.blocks import evidence as evidence_blocks
from bot.slack.blocks import progress as progress_blocks
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.errors import slack_error, status_of
from bot.slack.pending import PendingVerdicts
from bot.slack.poster import SlackPoster
from bot.store import StoreError, TriageStore
from bot.tree import Layer

if TYPE_CHECKING:
    from bot.agent.agent import Agent

log = logging.getLogger(__name__)

TargetResolver = Callable[[str], Target]
AfterVerdict = Callable[[Report, str, str, str], Awaitable[None]]

_NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}


class Engine(Protocol):
    """The shape of ``bot.engine.triage`` the runner relies on (tests inject doubles)."""

    def __call__(
        self,
        sku: str,
        stack: Any,
        *,
        now: datetime | None = ...,
        progress: Callable[[Layer, list[CheckResult]], Awaitable[None]] | None = ...,
    ) -> Awaitable[Report]: ...


@dataclass(frozen=True)
class TriageRequest:
    """Who asked for which SKU where. ``thread_ts`` set means a re-run inside that thread."""

    sku: str
    channel: str
    user: str
    thread_ts: str | None = None
    response_url: str | None = None


async def send_ephemeral(
    client: AsyncWebClient,
    *,
    channel: str,
    user: str,
    response_url: str | None,
    message: common.Message,
    thread_ts: str | None = None,
) -> None:
    """Only ``user`` sees ``message``: via the response URL when there is one, else postEphemeral
    (in ``thread_ts``'s thread when given)."""
    try:
        if response_url:
            await AsyncWebhookClient(response_url).send(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=False,
            )
        else:
            await client.chat_postEphemeral(
                channel=channel, user=user, thread_ts=thread_ts, **message.kwargs()
            )
    except Exception:  # the refusal is a courtesy; losing it must not raise into the caller
        log.warning("could not send an ephemeral message to %s in %s", user, channel, exc_info=True)


async def upload_evidence(
    client: AsyncWebClient, report: Report, triage_id: str, *, channel: str, thread_ts: str
) -> None:
    """Upload the report as JSON and Markdown into the thread, with Slack's external upload
    flow (files.getUploadURLExternal → POST to the upload URL → files.completeUploadExternal)."""
    files = evidence_blocks.evidence_files(report, triage_id)
    await client.files_upload_v2(
        file_uploads=[
            {"filename": files.json_name, "content": files.json_text, "title": files.json_name},
            {
                "filename": files.markdown_name,
                "content": files.markdown_text,
                "title": files.markdown_name,
            },
        ],
        channel=channel,
        thread_ts=thread_ts,
        initial_comment=files.comment,
    )


class _Progress:
    """The progress message: each layer shown as it is walked, by edits that never hold up the
    walk or the verdict (the poster coalesces them when Slack is slow)."""

    def __init__(self, poster: SlackPoster, request: TriageRequest, ts: str | None) -> None:
        self.poster = poster
        self.request = request
        self.ts = ts  # None: the progress message could not be posted; the walk goes on
        self.walked: dict[Layer, list[CheckResult]] = {}

    def render(self, **kwargs: Any) -> common.Message:
        r = self.request
        return progress_blocks.progress_message(
            r.sku, self.walked, user=r.user, rerun=r.thread_ts is not None, **kwargs
        )

    def show(self, **kwargs: Any) -> asyncio.Future[bool] | None:
        if self.ts is None:
            return None
        return self.poster.edit(self.request.channel, self.ts, self.render(**kwargs))

    async def on_layer(self, layer: Layer, checks: list[CheckResult]) -> None:
        self.walked[layer] = list(checks)
        self.show(state="running")


@dataclass
class _Thread:
    """What has been posted and saved so far, so a failure is reported where people look and
    a finished triage is never called a failure."""

    root_ts: str | None = None
    ts: str | None = None
    progress: _Progress | None = None
    triage_id: str | None = None  # set once the report is saved: from then on, it finished
    verdict_out: bool = False  # posted, or kept to post when Slack recovers


class _TimedOut(Exception):
    """The walk took longer than the runner's budget (distinct from any other timeout)."""


class TriageRunner:
    def __init__(
        self,
        client: AsyncWebClient,
        store: TriageStore,
        resolve: TargetResolver,
        access: AccessControl,
        *,
        engine: Engine = triage,
        timeout: float = 120.0,
        after_verdict: AfterVerdict | None = None,
        agent: Agent | None = None,
        poster: SlackPoster | None = None,
        pending: PendingVerdicts | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.resolve = resolve
        self.access = access
        self.engine = engine
        self.timeout = timeout
        # Called with (report, triage id, channel, thread ts) once the verdict is queued:
        # ticket escalation (bot.slack.tickets). It reports in the thread and never raises.
        self.after_verdict = after_verdict
        self.agent = agent  # the LLM agent (bot.agent): explains each verdict when configured
        self.poster = poster or SlackPoster(client)
        self.pending = pending or PendingVerdicts(store.db)
        self._tasks = BackgroundTasks()

    @property
    def running(self) -> int:
        return len(self._tasks)

    def start(self, request: TriageRequest) -> asyncio.Task[None]:
        """Run the triage in the background; returns at once (the ack has been sent)."""
        return self._tasks.start(self.run(request), name=f"triage {request.sku}")

    async def drain(self) -> None:
        """Wait for every running triage and everything it sent (tests, benchmarks)."""
        await self._tasks.drain()
        await self.poster.drain()

    async def shutdown(self, grace: float = 10.0) -> None:
        """Give running triages ``grace`` seconds, then interrupt them (their threads say so)."""
        await self._tasks.shutdown(grace)
        await self.poster.shutdown(grace)

    async def _ephemeral(self, request: TriageRequest, message: common.Message) -> None:
        await send_ephemeral(
            self.client,
            channel=request.channel,
            user=request.user,
            response_url=request.response_url,
            message=message,
        )

    async def run(self, request: TriageRequest) -> None:
        with triage_context(request.sku):  # every line logged for it, vendor calls included
            await self._guarded_run(request)

    async def _guarded_run(self, request: TriageRequest) -> None:
        thread = _Thread()
        try:
            await self._run(request, thread)
        except asyncio.CancelledError:
            if thread.triage_id is not None:
                self._keep_if_unsent(request, thread, "the server stopped before it was posted")
                raise
            ref = new_reference()
            log.warning("triage of %s interrupted by shutdown (ref %s)", request.sku, ref)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(
                    asyncio.shield(
                        self._fail(request, thread, ref, "the server was restarted mid-walk")
                    ),
                    5,
                )
            raise
        except _TimedOut:
            ref = new_reference()
            log.error("triage of %s timed out after %g s (ref %s)", request.sku, self.timeout, ref)
            await self._fail(request, thread, ref, f"it took longer than {self.timeout:g} s")
        except Exception:
            ref = new_reference()
            if thread.triage_id is not None:
                # The report is saved: the triage finished, whatever failed after it.
                log.exception("after the triage of %s was saved (ref %s)", request.sku, ref)
                self._keep_if_unsent(request, thread, f"internal error, ref {ref}")
                return
            log.exception(
                "triage of %s failed (ref %s, channel %s)", request.sku, ref, request.channel
            )
            await self._fail(request, thread, ref, "an internal error")

    async def _run(self, request: TriageRequest, thread: _Thread) -> None:
        refusal = await self.access.check(request.user, request.channel)
        if refusal is not None:
            await self._ephemeral(request, notices.refusal(refusal.reason))
            return
        try:
            target = self.resolve(request.sku)
        except UnknownSku as exc:
            await self._ephemeral(request, notices.refusal(str(exc)))
            return
        try:
            if not await self._open_thread(request, thread):
                return
            assert thread.ts is not None and thread.progress is not None
            progress = thread.progress
            try:
                async with asyncio.timeout(self.timeout):
                    report = await self.engine(
                        request.sku, target.stack, now=target.clock, progress=progress.on_layer
                    )
            except TimeoutError:
                raise _TimedOut from None
            triage_id = self._save(request, thread.ts, report)
            if not triage_id.startswith("unsaved-"):
                thread.triage_id = triage_id
            progress.show(state="done", seconds=report.seconds)
            explaining = self.agent is not None
            verdict = self._enqueue_verdict(request, thread.ts, report, triage_id, explaining)
            # The ticket starts now, beside the verdict: its notice is queued after the
            # verdict's post, so the thread reads in order whichever finishes first.
            ticket: asyncio.Future[None] | None = None
            if self.after_verdict is not None and thread.triage_id is not None:
                ticket = asyncio.ensure_future(
                    self.after_verdict(report, triage_id, request.channel, thread.ts)
                )
            try:
                delivered = asyncio.create_task(
                    self._deliver(request, thread, report, triage_id, verdict)
                )
                if self.agent is not None:
                    # Bounded by the agent's own budgets; it never raises and never touches the
                    # verdict, which is already on its way.
                    explained = await self.agent.explain(report, target.stack, now=target.clock)
                    await self._add_explanation(request, explained, triage_id, await delivered)
                await delivered
            finally:
                if ticket is not None:
                    await ticket
        finally:
            await target.aclose()

    def _save(self, request: TriageRequest, thread_ts: str, report: Report) -> str:
        try:
            return self.store.save(
                report,
                origin="slack",
                user=request.user,
                channel=request.channel,
                thread_ts=thread_ts,
            )
        except StoreError:
            # The verdict matters more than the history: post it anyway; its buttons will say
            # that the triage was not saved.
            triage_id = f"unsaved-{new_reference()}"
            log.exception("could not save the triage of %s (ref %s)", request.sku, triage_id)
            return triage_id

    async def _open_thread(self, request: TriageRequest, thread: _Thread) -> bool:
        channel = request.channel
        try:
            if request.thread_ts is None:
                root = progress_blocks.root_message(request.sku, request.user)
                thread.root_ts = thread.ts = await self.poster.post(channel, root)
            else:
                thread.ts = request.thread_ts
        except SlackApiError as exc:
            if slack_error(exc) in _NOT_IN_CHANNEL:
                await self._ephemeral(
                    request,
                    notices.refusal(
                        "I cannot post in this channel. Invite me (`/invite @OOS Triage`) and run the command again."
                    ),
                )
                return False
            raise
        first = progress_blocks.progress_message(
            request.sku, {}, user=request.user, rerun=request.thread_ts is not None
        )
        progress_ts: str | None = None
        try:
            progress_ts = await self.poster.post(channel, first, thread_ts=thread.ts)
        except Exception as exc:  # progress is best effort: the walk and the verdict go on
            log.warning("the progress message for %s could not be posted: %s", request.sku, exc)
        thread.progress = _Progress(self.poster, request, progress_ts)
        return True

    def _enqueue_verdict(
        self,
        request: TriageRequest,
        thread_ts: str,
        report: Report,
        triage_id: str,
        explaining: bool,
    ) -> asyncio.Future[str]:
        message = verdict_blocks.verdict_message(report, triage_id, explaining=explaining)
        return self.poster.enqueue(
            request.channel, message, thread_ts=thread_ts, unfurl_links=False
        )

    async def _deliver(
        self,
        request: TriageRequest,
        thread: _Thread,
        report: Report,
        triage_id: str,
        verdict: asyncio.Future[str],
    ) -> str | None:
        """Wait for the queued verdict; if Slack would not take it, keep it for later. Returns
        the verdict's ts, or None when it is kept (or lost: an unsaved triage cannot be kept)."""
        assert thread.ts is not None
        try:
            ts = await self._verdict_posted(request.channel, thread.ts, report, triage_id, verdict)
        except Exception as exc:
            error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            if thread.triage_id is None:
                log.error("the verdict for %s could not be posted (%s)", report.sku, error)
                return None
            log.error(
                "the verdict for %s could not be posted (%s); kept (triage %s) to post when "
                "Slack answers again",
                report.sku,
                error,
                triage_id,
            )
            self.pending.keep(
                triage_id,
                channel=request.channel,
                thread_ts=thread.ts,
                root_ts=thread.root_ts,
                error=error,
            )
            thread.verdict_out = True
            return None
        thread.verdict_out = True
        if thread.root_ts:
            self.poster.edit(
                request.channel,
                thread.root_ts,
                progress_blocks.root_message(
                    request.sku, request.user, outcome=progress_blocks.root_outcome(report)
                ),
            )
        return ts

    async def _verdict_posted(
        self,
        channel: str,
        thread_ts: str,
        report: Report,
        triage_id: str,
        verdict: asyncio.Future[str],
    ) -> str:
        try:
            ts = await verdict
        except SlackApiError as exc:
            if status_of(exc) != 200:
                raise  # rate limited past the deadline, or Slack is down: kept for later
            # Slack refused the blocks (e.g. invalid_blocks): the verdict still gets through as text.
            log.error("verdict blocks refused (%s); posting text only", slack_error(exc))
            text = common.Message(text=verdict_blocks.verdict_text(report), blocks=[])
            ts = await self.poster.post(channel, text, thread_ts=thread_ts)
        if verdict_blocks.verdict_message(report, triage_id).overflow:
            await self._attach_evidence(channel, thread_ts, report, triage_id)
        return ts

    async def _attach_evidence(
        self, channel: str, thread_ts: str, report: Report, triage_id: str
    ) -> None:
        try:
            await upload_evidence(
                self.client, report, triage_id, channel=channel, thread_ts=thread_ts
            )
        except Exception:
            # The verdict is out: a missing attachment must not turn the thread into a failure.
            ref = new_reference()
            log.exception("attaching the evidence file for %s failed (ref %s)", report.sku, ref)
            note = notices.notice(
                f":warning: The evidence file could not be attached (reference `{ref}`). "
                "Press *Evidence file* to try again."
            )
            with contextlib.suppress(Exception):
                await self.poster.post(channel, note, thread_ts=thread_ts)

    async def _add_explanation(
        self, request: TriageRequest, explained: Report, triage_id: str, verdict_ts: str | None
    ) -> None:
        """Save the explained report, then show it: an edit of the verdict, or a reply if the
        verdict cannot be edited. A verdict still kept for later is rendered from the store, so
        it will carry the explanation when it goes out."""
        if not triage_id.startswith("unsaved-"):
            try:
                self.store.replace_report(triage_id, explained)
            except StoreError:
                log.exception("could not save the explanation of triage %s", triage_id)
        if verdict_ts is None:
            return
        saved = self.store.get(triage_id) if not triage_id.startswith("unsaved-") else None
        resolution = common.resolution_of(saved[0]) if saved is not None else None
        message = verdict_blocks.verdict_message(explained, triage_id, resolution=resolution)
        if not await self.poster.edit(request.channel, verdict_ts, message):
            thread_ts = request.thread_ts or (saved[0].get("thread_ts") if saved else None)
            if thread_ts:
                with contextlib.suppress(Exception):
                    await self.poster.post(
                        request.channel,
                        verdict_blocks.explanation_reply(explained),
                        thread_ts=thread_ts,
                    )

    def _keep_if_unsent(self, request: TriageRequest, thread: _Thread, error: str) -> None:
        if thread.triage_id is None or thread.verdict_out or thread.ts is None:
            return
        with contextlib.suppress(StoreError, sqlite3.Error):
            self.pending.keep(
                thread.triage_id,
                channel=request.channel,
                thread_ts=thread.ts,
                root_ts=thread.root_ts,
                error=error,
            )
            thread.verdict_out = True

    async def redeliver(self) -> int:
        """Post the verdicts Slack would not take earlier; returns how many went out. One that
        still cannot be posted is kept for the next pass."""
        posted = 0
        for kept in self.pending.take_all():
            found = self.store.get(kept.triage_id)
            if found is None:
                log.warning("kept verdict of triage %s: the triage is gone", kept.triage_id)
                continue
            row, report = found
            message = verdict_blocks.verdict_message(
                report, kept.triage_id, resolution=common.resolution_of(row)
            )
            future = self.poster.enqueue(
                kept.channel, message, thread_ts=kept.thread_ts, unfurl_links=False
            )
            try:
                await self._verdict_posted(
                    kept.channel, kept.thread_ts, report, kept.triage_id, future
                )
            except Exception as exc:
                error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning(
                    "kept verdict of triage %s still not posted (%s)", kept.triage_id, error
                )
                self.pending.keep(
                    kept.triage_id,
                    channel=kept.channel,
                    thread_ts=kept.thread_ts,
                    root_ts=kept.root_ts,
                    error=error,
                )
                continue
            posted += 1
            log.info("kept verdict of triage %s posted", kept.triage_id)
            if kept.root_ts:
                self.poster.edit(
                    kept.channel,
                    kept.root_ts,
                    progress_blocks.root_message(
                        report.sku,
                        str(row.get("user") or ""),
                        outcome=progress_blocks.root_outcome(report),
                        resolution=common.resolution_of(row),
                    ),
                )
        return posted

    async def redeliver_until(self, stop: asyncio.Event, interval: float = 30.0) -> None:
        """``oos serve``'s background pass over kept verdicts, every ``interval`` seconds."""
        while not stop.is_set():
            try:
                await self.redeliver()
            except Exception:
                log.exception("posting kept verdicts failed; trying again in %g s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def _fail(self, request: TriageRequest, thread: _Thread, ref: str, reason: str) -> None:
        """Put the thread in its final failed state; never raises (the log has the details)."""
        try:
            message = progress_blocks.error_message(request.sku, reference=ref, reason=reason)
            if thread.ts is None:
                await self._ephemeral(request, message)
                return
            if thread.progress is not None:
                thread.progress.show(state="failed", reference=ref, reason=reason)
            await self.poster.post(request.channel, message, thread_ts=thread.ts)
            if thread.root_ts:
                self.poster.edit(
                    request.channel,
                    thread.root_ts,
                    progress_blocks.root_message(
                        request.sku,
                        request.user,
                        outcome=f":warning: could not finish (reference `{ref}`)",
                    ),
                )
        except Exception:
            log.exception("could not report failure %s in the thread", ref)
