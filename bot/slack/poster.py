"""One way out to Slack for the messages of a thread: posts paced per channel and in order,
edits best effort and coalesced.

Slack allows about one ``chat.postMessage`` per second per channel, with short bursts; past
that it answers 429 with ``Retry-After``. A busy channel (twenty ``/oos`` at once) must not turn
into a storm of 429s, and a thread must read root → progress → verdict → ticket. So every post
of the process goes through one ``SlackPoster``:

* **Posts** join their channel's queue and leave it at the channel's pace (a token bucket:
  ``rate`` per second, ``burst`` at once). Replies in open threads go first, then new threads'
  roots, each first in, first out. ``enqueue`` fixes the order when it is called, so a reply
  enqueued later (a ticket notice) lands after one enqueued earlier (the verdict) whatever
  finishes first. A 429 is waited out by the Web API client
  (``bot.slack.app.RetryAfterHandler``) up to its deadline while the channel's queue waits too.
* **Edits** (``chat.update``) never wait behind posts and never hold one up: the latest wanted
  state of each message is sent by a task of its own, at the pace of one workspace-wide budget
  (Slack's tier 3), and states asked for while one waits or is in flight collapse into the
  newest. An edit that fails (``message_not_found``: the message was
  deleted; 429 past the deadline) is logged and reported to whoever waits, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.background import BackgroundTasks
from bot.slack.blocks.common import Message
from bot.slack.errors import slack_error

log = logging.getLogger(__name__)

POSTS_PER_SECOND = 1.0
POST_BURST = 3
# chat.update is Slack's tier 3 (50+ a minute for the workspace): edits share one budget,
# so twenty busy threads wait their turn (their newest state only) instead of bouncing off 429s.
EDITS_PER_SECOND = 45 / 60
EDIT_BURST = 10


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``take`` waits for one."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def take(self) -> None:
        self._refill()
        while self._tokens < 1.0:
            await self._sleep((1.0 - self._tokens) / self.rate)
            self._refill()
        self._tokens -= 1.0


def _forget_failure(future: asyncio.Future[Any]) -> None:
    # A caller that stopped waiting (shutdown) must not leave "exception never retrieved" noise.
    if not future.cancelled():
        future.exception()


@dataclass
class _Post:
    kwargs: dict[str, Any]
    future: asyncio.Future[str]


@dataclass
class _ChannelQueue:
    """A channel's posts: replies in threads already open go before new threads' roots, each
    kind first in, first out. A thread's own posts keep their order (its replies are queued
    only once its root is out), and a finished walk's verdict is not stuck behind the roots of
    every command typed after it."""

    replies: deque[_Post] = field(default_factory=deque)
    roots: deque[_Post] = field(default_factory=deque)

    def next(self) -> _Post | None:
        if self.replies:
            return self.replies.popleft()
        if self.roots:
            return self.roots.popleft()
        return None


@dataclass
class _Edit:
    """The newest state wanted for one message, and who waits to hear whether it got there."""

    kwargs: dict[str, Any] | None = None
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)


class SlackPoster:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        rate: float = POSTS_PER_SECOND,
        burst: int = POST_BURST,
        edit_rate: float = EDITS_PER_SECOND,
        edit_burst: int = EDIT_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._edit_bucket = TokenBucket(edit_rate, edit_burst, clock=clock, sleep=sleep)
        self._queues: dict[str, _ChannelQueue] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._edits: dict[tuple[str, str], _Edit] = {}
        self._tasks = BackgroundTasks()

    # --- posts -----------------------------------------------------------------------------------

    def enqueue(
        self, channel: str, message: Message, *, thread_ts: str | None = None, **extra: Any
    ) -> asyncio.Future[str]:
        """Queue a ``chat.postMessage``; the future gives its ``ts``, or the Web API's error.
        The place in the channel's queue is taken now, before anything is awaited."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_forget_failure)
        kwargs = {**message.kwargs(), **extra}
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = _ChannelQueue()
            self._tasks.start(self._send_posts(channel, queue), name=f"posts to {channel}")
        (queue.replies if thread_ts is not None else queue.roots).append(_Post(kwargs, future))
        return future

    async def post(
        self, channel: str, message: Message, *, thread_ts: str | None = None, **extra: Any
    ) -> str:
        """Post in order and at the channel's pace; returns the message's ``ts``."""
        return await self.enqueue(channel, message, thread_ts=thread_ts, **extra)

    def _bucket(self, channel: str) -> TokenBucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, clock=self._clock, sleep=self._sleep)
            self._buckets[channel] = bucket
        return bucket

    async def _send_posts(self, channel: str, queue: _ChannelQueue) -> None:
        bucket = self._bucket(channel)
        try:
            while (post := queue.next()) is not None:
                if post.future.done():
                    continue
                await bucket.take()
                try:
                    response = await self.client.chat_postMessage(channel=channel, **post.kwargs)
                except Exception as exc:  # handed to the caller, who decides what it means
                    if not post.future.done():
                        post.future.set_exception(exc)
                else:
                    if not post.future.done():
                        post.future.set_result(str(response["ts"]))
        finally:
            for post in (*queue.replies, *queue.roots):
                if not post.future.done():
                    post.future.set_exception(ConnectionAbortedError("the poster was stopped"))
            self._queues.pop(channel, None)

    # --- edits -----------------------------------------------------------------------------------

    def edit(self, channel: str, ts: str, message: Message) -> asyncio.Future[bool]:
        """Ask for ``ts`` to read ``message``; the future says whether it (or a newer state
        asked for since) got there. Never raises."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        key = (channel, ts)
        slot = self._edits.get(key)
        if slot is None:
            slot = self._edits[key] = _Edit()
            self._tasks.start(self._send_edits(key, slot), name=f"edits of {ts}")
        slot.kwargs = message.kwargs()
        slot.waiters.append(future)
        return future

    async def _send_edits(self, key: tuple[str, str], slot: _Edit) -> None:
        channel, ts = key
        try:
            while slot.kwargs is not None:
                await self._edit_bucket.take()  # states asked for meanwhile collapse into one
                kwargs, waiters = slot.kwargs, slot.waiters
                slot.kwargs, slot.waiters = None, []
                ok = await self._update(channel, ts, kwargs)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(ok)
        finally:
            for waiter in slot.waiters:
                if not waiter.done():
                    waiter.set_result(False)
            self._edits.pop(key, None)

    async def _update(self, channel: str, ts: str, kwargs: dict[str, Any]) -> bool:
        try:
            await self.client.chat_update(channel=channel, ts=ts, **kwargs)
        except SlackApiError as exc:
            log.warning("editing message %s in %s failed: %s", ts, channel, slack_error(exc))
            return False
        except Exception as exc:  # Slack unreachable: an edit is best effort, never a failure
            log.warning("editing message %s in %s failed: %s", ts, channel, type(exc).__name__)
            return False
        return True

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Channels with posts queued plus messages with edits pending."""
        return len(self._queues) + len(self._edits)

    async def drain(self) -> None:
        """Wait until every queued post and edit was sent (tests, benchmarks, shutdown)."""
        await self._tasks.drain()

    async def shutdown(self, grace: float = 10.0) -> None:
        await self._tasks.shutdown(grace)
