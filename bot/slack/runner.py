"""Runs a triage after the ack and keeps its thread honest.

``TriageRunner.start`` returns at once with a background task; the listener has already acked.
The task checks access, finds the SKU, posts the root message and one progress message
(updated in place as each layer is walked), saves the report with channel, thread and user,
then posts the verdict. Whatever fails, the thread ends in a final state: the verdict, or an
error with a reference id that is logged here with the details (never shown as a traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from bot.slack import blocks
from bot.slack.access import AccessControl
from bot.slack.background import BackgroundTasks, new_reference
from bot.slack.errors import slack_error, status_of
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
    message: blocks.Message,
) -> None:
    """Only ``user`` sees ``message``: via the response URL when there is one, else postEphemeral."""
    try:
        if response_url:
            await AsyncWebhookClient(response_url).send(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=False,
            )
        else:
            await client.chat_postEphemeral(channel=channel, user=user, **message.kwargs())
    except Exception:  # the refusal is a courtesy; losing it must not raise into the caller
        log.warning("could not send an ephemeral message to %s in %s", user, channel, exc_info=True)


async def upload_evidence(
    client: AsyncWebClient, report: Report, triage_id: str, *, channel: str, thread_ts: str
) -> None:
    """Upload the report as JSON and Markdown into the thread, with Slack's external upload
    flow (files.getUploadURLExternal → POST to the upload URL → files.completeUploadExternal)."""
    files = blocks.evidence_files(report, triage_id)
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
    """The progress message, updated in place. Updates are coalesced in a task of their own,
    so a slow or rate-limited chat.update never holds up the walk."""

    def __init__(self, client: AsyncWebClient, request: TriageRequest, ts: str) -> None:
        self.client = client
        self.request = request
        self.ts = ts
        self.walked: dict[Layer, list[CheckResult]] = {}
        self.state: blocks.ProgressState = "running"
        self._dirty = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._loop())

    def render(self, **kwargs: Any) -> blocks.Message:
        r = self.request
        kwargs.setdefault("state", self.state)
        return blocks.progress_message(
            r.sku, self.walked, user=r.user, rerun=r.thread_ts is not None, **kwargs
        )

    async def on_layer(self, layer: Layer, checks: list[CheckResult]) -> None:
        self.walked[layer] = list(checks)
        self._dirty.set()

    def on_explaining(self) -> None:
        """The walk is done and the agent is writing its explanation: say so while it does."""
        self.state = "explaining"
        self._dirty.set()

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            if self._closed:
                return
            self._dirty.clear()
            try:
                await self.client.chat_update(
                    channel=self.request.channel, ts=self.ts, **self.render().kwargs()
                )
            except SlackApiError as exc:
                log.warning("progress update failed: %s", slack_error(exc))

    async def close(self, grace: float = 10.0) -> None:
        """Stop updating; let an update already sent finish so it cannot land after the final one."""
        self._closed = True
        self._dirty.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()

    async def finish(self, message: blocks.Message) -> None:
        await self.close()
        await self.client.chat_update(channel=self.request.channel, ts=self.ts, **message.kwargs())


class _Thread:
    """What has been posted so far, so a failure can be reported where people look."""

    def __init__(self) -> None:
        self.root_ts: str | None = None
        self.ts: str | None = None
        self.progress: _Progress | None = None


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
    ) -> None:
        self.client = client
        self.store = store
        self.resolve = resolve
        self.access = access
        self.engine = engine
        self.timeout = timeout
        # Called with (report, triage id, channel, thread ts) once the verdict is posted:
        # ticket escalation (bot.slack.tickets). It reports in the thread and never raises.
        self.after_verdict = after_verdict
        self.agent = agent  # the LLM agent (bot.agent): explains each verdict when configured
        self._tasks = BackgroundTasks()

    @property
    def running(self) -> int:
        return len(self._tasks)

    def start(self, request: TriageRequest) -> asyncio.Task[None]:
        """Run the triage in the background; returns at once (the ack has been sent)."""
        return self._tasks.start(self.run(request), name=f"triage {request.sku}")

    async def drain(self) -> None:
        """Wait for every running triage (tests, benchmarks)."""
        await self._tasks.drain()

    async def shutdown(self, grace: float = 10.0) -> None:
        """Give running triages ``grace`` seconds, then interrupt them (their threads say so)."""
        await self._tasks.shutdown(grace)

    async def _ephemeral(self, request: TriageRequest, message: blocks.Message) -> None:
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
            log.exception(
                "triage of %s failed (ref %s, channel %s)", request.sku, ref, request.channel
            )
            await self._fail(request, thread, ref, "an internal error")

    async def _run(self, request: TriageRequest, thread: _Thread) -> None:
        refusal = await self.access.check(request.user, request.channel)
        if refusal is not None:
            await self._ephemeral(request, blocks.refusal(refusal.reason))
            return
        try:
            target = self.resolve(request.sku)
        except UnknownSku as exc:
            await self._ephemeral(request, blocks.refusal(str(exc)))
            return

        if not await self._open_thread(request, thread):
            return
        assert thread.ts is not None and thread.progress is not None
        progress = thread.progress

        try:
            async with asyncio.timeout(self.timeout):
                report = await self.engine(
                    request.sku, target.stack, now=target.clock, progress=progress.on_layer
                )
            if self.agent is not None:
                # Bounded by the agent's own budgets; it never raises and never touches the
                # verdict: at worst the report says in one line why it has no explanation.
                progress.on_explaining()
                report = await self.agent.explain(report, target.stack, now=target.clock)
        except TimeoutError:
            raise _TimedOut from None
        finally:
            await target.aclose()
        try:
            triage_id = self.store.save(
                report,
                origin="slack",
                user=request.user,
                channel=request.channel,
                thread_ts=thread.ts,
            )
        except StoreError:
            # The verdict matters more than the history: post it anyway; its buttons will say
            # that the triage was not saved.
            triage_id = f"unsaved-{new_reference()}"
            log.exception("could not save the triage of %s (ref %s)", request.sku, triage_id)

        await progress.finish(progress.render(state="done", seconds=report.seconds))
        await self._post_verdict(request, thread.ts, report, triage_id)
        if thread.root_ts:
            await self._update_root(request, thread.root_ts, blocks.root_outcome(report))
        if self.after_verdict is not None and not triage_id.startswith("unsaved-"):
            await self.after_verdict(report, triage_id, request.channel, thread.ts)

    async def _open_thread(self, request: TriageRequest, thread: _Thread) -> bool:
        channel = request.channel
        try:
            if request.thread_ts is None:
                root = await self.client.chat_postMessage(
                    channel=channel, **blocks.root_message(request.sku, request.user).kwargs()
                )
                thread.root_ts = thread.ts = str(root["ts"])
            else:
                thread.ts = request.thread_ts
        except SlackApiError as exc:
            if slack_error(exc) in _NOT_IN_CHANNEL:
                await self._ephemeral(
                    request,
                    blocks.refusal(
                        "I cannot post in this channel. Invite me (`/invite @OOS Triage`) and run the command again."
                    ),
                )
                return False
            raise
        first = blocks.progress_message(
            request.sku, {}, user=request.user, rerun=request.thread_ts is not None
        )
        posted = await self.client.chat_postMessage(
            channel=channel, thread_ts=thread.ts, **first.kwargs()
        )
        thread.progress = _Progress(self.client, request, str(posted["ts"]))
        return True

    async def _post_verdict(
        self, request: TriageRequest, thread_ts: str, report: Report, triage_id: str
    ) -> None:
        message = blocks.verdict_message(report, triage_id)
        try:
            await self.client.chat_postMessage(
                channel=request.channel, thread_ts=thread_ts, unfurl_links=False, **message.kwargs()
            )
        except SlackApiError as exc:
            if status_of(exc) == 429:
                raise
            # Slack refused the blocks (e.g. invalid_blocks): the verdict still gets through as text.
            log.error("verdict blocks refused (%s); posting text only", slack_error(exc))
            await self.client.chat_postMessage(
                channel=request.channel, thread_ts=thread_ts, text=blocks.verdict_text(report)
            )
        if message.overflow:
            try:
                await upload_evidence(
                    self.client, report, triage_id, channel=request.channel, thread_ts=thread_ts
                )
            except Exception:
                # The verdict is out: a missing attachment must not turn the thread into a failure.
                ref = new_reference()
                log.exception("attaching the evidence file for %s failed (ref %s)", report.sku, ref)
                note = blocks.notice(
                    f":warning: The evidence file could not be attached (reference `{ref}`). "
                    "Press *Evidence file* to try again."
                )
                await self.client.chat_postMessage(
                    channel=request.channel, thread_ts=thread_ts, **note.kwargs()
                )

    async def _update_root(self, request: TriageRequest, root_ts: str, outcome: str) -> None:
        try:
            await self.client.chat_update(
                channel=request.channel,
                ts=root_ts,
                **blocks.root_message(request.sku, request.user, outcome=outcome).kwargs(),
            )
        except SlackApiError as exc:
            log.warning("root message update failed: %s", slack_error(exc))

    async def _fail(self, request: TriageRequest, thread: _Thread, ref: str, reason: str) -> None:
        """Leave the thread in a final error state; each step tried on its own."""
        steps: list[Callable[[], Awaitable[Any]]] = []
        if thread.progress is not None:
            progress = thread.progress
            steps.append(
                lambda: progress.finish(
                    progress.render(state="failed", reference=ref, reason=reason)
                )
            )
        message = blocks.error_message(request.sku, reference=ref, reason=reason)
        if thread.ts is not None:
            ts = thread.ts
            steps.append(
                lambda: self.client.chat_postMessage(
                    channel=request.channel, thread_ts=ts, **message.kwargs()
                )
            )
        else:
            steps.append(lambda: self._ephemeral(request, message))
        if thread.root_ts is not None:
            root_ts = thread.root_ts
            steps.append(
                lambda: self._update_root(
                    request, root_ts, f":warning: could not finish — reference `{ref}`"
                )
            )
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("could not report failure %s in the thread", ref)
