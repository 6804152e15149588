"""Monitoring posts in Slack: the daily drift post, the weekly health post, latency alerts and
the trigger-chain map — scheduled, or on demand with ``/oos drift | health | map``.

``MonitorPoster`` runs a check (``bot.monitor.sources.Monitor``) and posts what it found with
the builders of ``bot.slack.blocks.monitoring``:

    drift     the summary with the worst offenders (a Triage button each) and low stock; the
              full list as CSV in the post's thread. A run that could not compare says so —
              never an all clear it cannot back. Its new gaps and resolutions stay news until
              the post went out: after a failed post the next run announces them again
    health    every flow's status and error rate against the 0.5 % bar
    latency   one post per alert the latency state hands out (a breach, a change of band, a
              recovery), each marked posted only once Slack accepted it
    map       the PNG, uploaded with Slack's external upload flow and a text summary

A scheduled post carries its slot's lease: right before each Web API call it checks the lease
is still held (``LeaseLost`` otherwise), so an instance that lost its slot posts nothing more.
``MonitorCommands`` runs the on-demand commands after the ack, in tasks of their own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError
from bot.monitor.drift import DriftError, write_csv
from bot.monitor.latency import LatencyState
from bot.monitor.lease import Lease, LeaseStore
from bot.monitor.lowstock import LowStock
from bot.monitor.map import render_png
from bot.monitor.schedule import Cron, ScheduledJob, Scheduler
from bot.monitor.sources import Monitor
from bot.slack.background import BackgroundTasks, new_reference
from bot.slack.blocks import common, notices
from bot.slack.blocks import monitoring as monitoring_blocks
from bot.store import StoreError

log = logging.getLogger(__name__)


_OnError = Callable[[common.Message], Awaitable[None]]


class _Run(Protocol):
    async def __call__(self, channel: str, *, lease: Lease | None = None) -> str: ...


def low_stock_csv(low: LowStock) -> str:
    """The low-stock SKUs, least cover first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("sku", "available", "sold", "days", "daily", "cover_days"))
    for item in low.worst:
        writer.writerow(
            (item.sku, item.available, item.sold, item.days, item.daily, item.cover_days)
        )
    return out.getvalue()


class LeaseLost(RuntimeError):
    """The slot's lease was taken over: this instance must not post."""


@dataclass
class MonitorPoster:
    client: AsyncWebClient
    monitor: Monitor

    @staticmethod
    def _fence(lease: Lease | None) -> None:
        if lease is not None and not lease.held():
            raise LeaseLost(f"lease on {lease.job} {lease.slot.isoformat()} lost")

    async def _post(self, channel: str, message: common.Message, lease: Lease | None) -> str:
        self._fence(lease)
        reply = await self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, unfurl_links=False
        )
        return str(reply["ts"])

    # --- drift ----------------------------------------------------------------------------------

    async def drift(self, channel: str, *, lease: Lease | None = None) -> str:
        try:
            result = await self.monitor.drift(announce=False)
        except (DriftError, ConfigError, StoreError) as exc:
            await self._post(
                channel,
                notices.notice(
                    f":warning: *The drift check could not run*, so nothing is known about "
                    f"drift this time: {common.esc(str(exc))}"
                ),
                lease,
            )
            return f"not run: {exc}"
        low = await self.monitor.low_stock()
        day = f"{result.ran_at:%Y-%m-%d}"
        name = f"drift-{day}-{result.run_id}.csv"
        low_name = f"low-stock-{day}.csv" if low is not None and low.low else None
        message = monitoring_blocks.drift_post(
            result, worst=self.monitor.settings.worst, low=low, csv_name=name, low_csv_name=low_name
        )
        ts = await self._post(channel, message, lease)
        self.monitor.drift_announced(result)
        out = io.StringIO()
        rows = write_csv(result, out)
        files = [{"filename": name, "content": out.getvalue(), "title": name}]
        comment = f"Every flagged and resolved SKU of run {result.run_id} ({rows:,} rows)"
        if low is not None and low_name is not None:
            files.append({"filename": low_name, "content": low_stock_csv(low), "title": low_name})
            shown = "" if len(low.worst) == low.low else f", the {len(low.worst):,} least covered"
            comment += f"; the SKUs low on stock ({low.low:,}{shown})"
        self._fence(lease)
        await self.client.files_upload_v2(
            file_uploads=files, channel=channel, thread_ts=ts, initial_comment=comment + "."
        )
        c = result.counts
        return f"compared {c.compared}, flagged {c.flagged}, new {c.new}, resolved {c.resolved}"

    # --- health --------------------------------------------------------------------------------

    async def health(self, channel: str, *, lease: Lease | None = None) -> str:
        try:
            report = await self.monitor.health()
        except ConfigError as exc:
            await self._post(
                channel,
                notices.notice(
                    f":warning: *Connector health could not be checked:* {common.esc(str(exc))}"
                ),
                lease,
            )
            return f"not run: {exc}"
        await self._post(channel, monitoring_blocks.health_post(report), lease)
        return (
            "unreadable"
            if report.error
            else f"{len(report.flagged)} of {len(report.flows)} flagged"
        )

    # --- latency -------------------------------------------------------------------------------

    async def latency(self, channel: str, *, lease: Lease | None = None) -> str:
        reading = await self.monitor.latency()
        if reading.unread:
            log.warning("latency check: could not read %s", "; ".join(reading.unread[:5]))
        state = LatencyState(self.monitor.db_path, scope=self.monitor.scope)
        try:
            alerts = state.record(reading, threshold=self.monitor.thresholds.latency_minutes)
            for alert in alerts:
                await self._post(channel, monitoring_blocks.latency_post(alert), lease)
                state.posted(alert)
        finally:
            state.close()
        return f"{len(reading.lags)} lag(s) seen, {len(alerts)} alert(s) posted"

    # --- map -----------------------------------------------------------------------------------

    async def trigger_map(self, channel: str, *, thread_ts: str | None = None) -> str:
        m = await self.monitor.trigger_map()
        png = render_png(m)
        name = f"trigger-chain-{m.drawn_at:%Y%m%d-%H%M}.png"
        await self.client.files_upload_v2(
            file_uploads=[{"filename": name, "content": png, "title": f"Trigger chain · {m.name}"}],
            channel=channel,
            thread_ts=thread_ts,
            initial_comment=monitoring_blocks.map_comment(m),
        )
        return name

    # --- schedules -----------------------------------------------------------------------------

    def jobs(self) -> list[ScheduledJob]:
        """The scheduled posts the config asks for (none without a channel)."""
        settings = self.monitor.settings
        channel = settings.channel
        if not channel:
            return []
        tz = settings.timezone

        def job(name: str, cron: str, run: _Run) -> ScheduledJob | None:
            if not cron:
                return None

            async def go(lease: Lease) -> str | None:
                return await run(channel, lease=lease)

            return ScheduledJob(name=name, cron=Cron(cron, tz), run=go)

        found = [
            job("daily_drift", settings.daily_drift, self.drift),
            job("weekly_health", settings.weekly_health, self.health),
            job("latency_check", settings.latency_check, self.latency),
        ]
        return [j for j in found if j is not None]


class MonitorCommands:
    """Runs ``/oos drift | health | map`` after the ack, posting in the channel it was typed in."""

    def __init__(self, poster: MonitorPoster) -> None:
        self.poster = poster
        self._tasks = BackgroundTasks()

    def start(
        self,
        command: str,
        *,
        channel: str,
        on_error: _OnError,
        admitted: Callable[[], Awaitable[bool]] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``command`` in the background (the listener has acked); ``admitted`` is the
        access check that needs the Web API, ``on_error`` tells the user what went wrong."""
        return self._tasks.start(
            self._run(command, channel, on_error, admitted), name=f"/oos {command}"
        )

    async def _run(
        self,
        command: str,
        channel: str,
        on_error: _OnError,
        admitted: Callable[[], Awaitable[bool]] | None,
    ) -> None:
        try:
            if admitted is not None and not await admitted():
                return
            if command == "drift":
                await self.poster.drift(channel)
            elif command == "health":
                await self.poster.health(channel)
            else:
                await self.poster.trigger_map(channel)
        except Exception:
            ref = new_reference()
            log.exception("/oos %s failed (ref %s)", command, ref)
            try:
                await on_error(monitoring_blocks.monitor_failed(command, ref))
            except Exception:
                log.warning("could not tell the user about failure %s", ref)

    async def drain(self) -> None:
        await self._tasks.drain()

    async def shutdown(self, grace: float = 10.0) -> None:
        await self._tasks.shutdown(grace)


def start_schedules(
    commands: MonitorCommands | None, db_path: Path, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """Run the configured scheduled posts until ``stop`` (None when there are none), with the
    leases in ``db_path`` (the triage store's file) so several instances post each slot once."""
    if commands is None:
        return None
    jobs = commands.poster.jobs()
    if not jobs:
        return None
    settings = commands.poster.monitor.settings
    log.info(
        "monitoring: %s to %s (%s)",
        ", ".join(f"{j.name} {j.cron.expression!r}" for j in jobs),
        settings.channel,
        settings.timezone,
    )
    scheduler = Scheduler(jobs, LeaseStore(db_path))
    return asyncio.create_task(scheduler.run(stop), name="monitoring schedules")
