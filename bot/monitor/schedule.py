"""Schedules: cron expressions in a time zone, each slot run once across every instance.

A schedule is a standard five-field cron expression (minute hour day-of-month month
day-of-week, or ``@daily`` / ``@weekly`` / ``@hourly``) read in the configured IANA time zone
(``zoneinfo``): ``0 7 * * *`` in ``Europe/Berlin`` is 07:00 Berlin time on both sides of a DST
change. ``croniter`` does the calendar arithmetic.

``Scheduler`` runs each job in a loop of its own (a long drift scan never delays the latency
check). At every wake-up it takes the job's latest slot at or before now and tries to claim it
in the lease table (``bot.monitor.lease``), so:

    on time                     the slot runs once, on whichever instance claims it first
    restart over a slot         the latest missed slot runs once when the server is back; older
    (or several)                missed slots are not replayed (caught up once, not several times)
    first start here            a slot that fell due more than ``FIRST_START_GRACE`` before the
                                first start is recorded as skipped: monitoring starts with the
                                next slot rather than a burst of posts at deploy time
    run still going             a slot that comes while this instance still runs the job's
                                previous one is recorded as skipped

Between slots the loop sleeps until the next one, waking at least every ``MAX_NAP`` to notice
clock jumps (suspend, NTP). On stop, running jobs get ``grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from bot.monitor.lease import Lease, LeaseStore
from tools.clock import Clock, utc_now

log = logging.getLogger(__name__)

FIRST_START_GRACE = timedelta(minutes=5)
MAX_NAP = 60.0  # seconds
DEFAULT_TTL = timedelta(minutes=10)

JobRun = Callable[[Lease], Awaitable[str | None]]


class ScheduleError(ValueError):
    """A cron expression or time zone cannot be used; the message says which and why."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``), or ``ScheduleError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin or UTC"
        ) from None


class Cron:
    """A cron expression read in a time zone."""

    def __init__(self, expression: str, tz: str | ZoneInfo = "UTC") -> None:
        text = " ".join(expression.split())
        fields = text.split(" ")
        if not (len(fields) == 5 or (len(fields) == 1 and text.startswith("@"))):
            raise ScheduleError(
                f"cron {expression!r} must have five fields (minute hour day month weekday), "
                "e.g. '0 7 * * *' for 07:00 every day"
            )
        if not croniter.is_valid(text):
            raise ScheduleError(f"cron {expression!r} is not a valid cron expression")
        self.expression = text
        self.tz = tz if isinstance(tz, ZoneInfo) else zone(tz)

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, {self.tz.key!r})"

    def latest(self, at: datetime) -> datetime:
        """The newest slot at or before ``at`` (UTC)."""
        start = (at + timedelta(microseconds=1)).astimezone(self.tz)
        found: datetime = croniter(self.expression, start).get_prev(datetime)
        return found.astimezone(UTC)

    def next_after(self, at: datetime) -> datetime:
        """The first slot strictly after ``at`` (UTC)."""
        found: datetime = croniter(self.expression, at.astimezone(self.tz)).get_next(datetime)
        return found.astimezone(UTC)


@dataclass(frozen=True)
class ScheduledJob:
    """A job: its name in the lease table, when it runs, and what it does.

    ``run`` gets the slot's lease; it must call ``lease.held()`` right before posting and may
    return a short detail for the lease table."""

    name: str
    cron: Cron
    run: JobRun
    ttl: timedelta = DEFAULT_TTL


class Scheduler:
    def __init__(
        self,
        jobs: Sequence[ScheduledJob],
        leases: LeaseStore,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.jobs = list(jobs)
        self.leases = leases
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._started: datetime | None = None

    def start_here(self, now: datetime) -> None:
        """Record the slots that fell due before monitoring first started on this store."""
        self._started = now
        for job in self.jobs:
            due = job.cron.latest(now)
            if self.leases.latest_slot(job.name) is None and now - due > FIRST_START_GRACE:
                self.leases.skip(job.name, due, "due before monitoring started")

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Run every job whose latest slot is due and unclaimed; wait for them. Returns the
        names of the jobs this instance ran."""
        now = now or self._clock()
        if self._started is None:
            self.start_here(now)
        ran = await asyncio.gather(*(self.run_due(job, now) for job in self.jobs))
        return [job.name for job, did in zip(self.jobs, ran, strict=True) if did]

    async def run_due(self, job: ScheduledJob, now: datetime) -> bool:
        """Run ``job``'s latest slot if this instance wins it. True when it ran here."""
        slot = job.cron.latest(now)
        latest = self.leases.latest_slot(job.name)
        if latest is not None and slot < latest:
            return False
        previous = self._running.get(job.name)
        if previous is not None and not previous.done():
            if self.leases.skip(job.name, slot, "the previous run was still going"):
                log.warning(
                    "%s: skipped the %s slot, the previous run is still going", job.name, slot
                )
            return False
        lease = self.leases.claim(job.name, slot, job.ttl)
        if lease is None:
            return False
        task = asyncio.create_task(self._run(job, lease), name=f"monitor {job.name}")
        self._running[job.name] = task
        await asyncio.shield(task)
        return True

    async def _run(self, job: ScheduledJob, lease: Lease) -> None:
        log.info("%s: running the %s slot", job.name, lease.slot.isoformat())
        try:
            async with lease.keep():
                detail = await job.run(lease)
        except asyncio.CancelledError:
            # Left "running": the lease expires and the slot is taken over once, elsewhere.
            log.warning("%s: interrupted by shutdown", job.name)
            raise
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("%s: the %s run failed (ref %s)", job.name, lease.slot.isoformat(), ref)
            self.leases.finish(lease, "failed", f"ref {ref}")
        else:
            self.leases.finish(lease, "done", detail)

    async def run(self, stop: asyncio.Event, *, grace: float = 30.0) -> None:
        """Run every job's loop until ``stop`` is set, then let running jobs finish."""
        if self._started is None:
            self.start_here(self._clock())
        loops = [asyncio.create_task(self._loop(job, stop)) for job in self.jobs]
        try:
            await stop.wait()
        finally:
            running = [t for t in self._running.values() if not t.done()]
            if running:
                _done, pending = await asyncio.wait(running, timeout=grace)
                for task in pending:
                    task.cancel()
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, *self._running.values(), return_exceptions=True)

    async def _loop(self, job: ScheduledJob, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self._clock()
            try:
                await self.run_due(job, now)
            except Exception:
                log.exception("%s: could not check the schedule", job.name)
            wait = (job.cron.next_after(self._clock()) - self._clock()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(max(wait, 0.0), MAX_NAP))
