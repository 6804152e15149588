"""Schedules: cron in a time zone across DST, a missed run caught up once (not several
times), no burst at the first start, and the serve loop running a due slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.monitor.lease import Lease, LeaseStore
from bot.monitor.schedule import Cron, ScheduledJob, ScheduleError, Scheduler
from tests.monitor.conftest import Clock

BERLIN = "Europe/Berlin"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "now", "latest", "following"),
    [
        # 07:00 Berlin is 06:00 UTC in winter (CET) and 05:00 UTC in summer (CEST).
        ("0 7 * * *", utc(2026, 3, 28, 12, 0), utc(2026, 3, 28, 6, 0), utc(2026, 3, 29, 5, 0)),
        ("0 7 * * *", utc(2026, 10, 24, 12, 0), utc(2026, 10, 24, 5, 0), utc(2026, 10, 25, 6, 0)),
        # a slot exactly at ``now`` is the latest; the following one is strictly after it
        ("0 7 * * *", utc(2026, 11, 20, 6, 0), utc(2026, 11, 20, 6, 0), utc(2026, 11, 21, 6, 0)),
        # Monday 08:00: 2026-11-23 is a Monday
        ("0 8 * * 1", utc(2026, 11, 25, 9, 0), utc(2026, 11, 23, 7, 0), utc(2026, 11, 30, 7, 0)),
        (
            "*/15 * * * *",
            utc(2026, 11, 20, 6, 7),
            utc(2026, 11, 20, 6, 0),
            utc(2026, 11, 20, 6, 15),
        ),
    ],
)
def test_cron_slots_in_a_time_zone(
    expression: str, now: datetime, latest: datetime, following: datetime
) -> None:
    cron = Cron(expression, BERLIN)
    assert cron.latest(now) == latest
    assert cron.next_after(now) == following


@pytest.mark.parametrize(
    ("expression", "tz", "message"),
    [
        ("0 0 7 * * *", "UTC", "five fields"),
        ("61 7 * * *", "UTC", "not a valid cron"),
        ("0 7 * *", "UTC", "five fields"),
        ("0 7 * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(expression: str, tz: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Cron(expression, tz)


class Recorder:
    """A job that counts the slots it ran."""

    def __init__(self) -> None:
        self.slots: list[datetime] = []

    async def __call__(self, lease: Lease) -> str:
        self.slots.append(lease.slot)
        return "ok"


def _scheduler(db: Path, clock: Clock, job: Recorder, owner: str = "a") -> Scheduler:
    daily = ScheduledJob("daily_drift", Cron("0 7 * * *", BERLIN), job)
    return Scheduler([daily], LeaseStore(db, owner=owner, clock=clock), clock=clock)


async def test_a_missed_run_is_caught_up_once_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    clock = Clock(utc(2026, 11, 19, 6, 0, 10))  # Thursday 07:00:10 Berlin
    job = Recorder()
    assert await _scheduler(db, clock, job).tick() == ["daily_drift"]

    # The server is down from Thursday noon to Friday 09:30 Berlin, over Friday's 07:00 slot.
    clock.at = utc(2026, 11, 20, 8, 30)
    restarted = _scheduler(db, clock, job)
    assert await restarted.tick() == ["daily_drift"]
    clock.at += timedelta(minutes=15)
    assert await restarted.tick() == []
    again = _scheduler(db, clock, job, owner="b")  # and once more, before the next slot
    assert await again.tick() == []

    assert job.slots == [utc(2026, 11, 19, 6, 0), utc(2026, 11, 20, 6, 0)]


async def test_several_missed_runs_are_caught_up_once_not_several_times(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    clock = Clock(utc(2026, 11, 16, 6, 0, 5))
    job = Recorder()
    await _scheduler(db, clock, job).tick()

    clock.at = utc(2026, 11, 20, 9, 0)  # down for four days: four slots missed
    await _scheduler(db, clock, job).tick()
    await _scheduler(db, clock, job).tick()

    assert job.slots == [utc(2026, 11, 16, 6, 0), utc(2026, 11, 20, 6, 0)]
    statuses = [r["status"] for r in LeaseStore(db).runs("daily_drift")]
    assert statuses == ["done", "done"]


async def test_the_first_start_does_not_post_a_slot_long_past(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    clock = Clock(utc(2026, 11, 20, 14, 0))  # deployed at 15:00 Berlin, the slot was 07:00
    job = Recorder()
    scheduler = _scheduler(db, clock, job)
    assert await scheduler.tick() == []
    assert [r["status"] for r in scheduler.leases.runs("daily_drift")] == ["skipped"]

    clock.at = utc(2026, 11, 21, 6, 0, 20)  # the next morning
    assert await scheduler.tick() == ["daily_drift"]
    assert job.slots == [utc(2026, 11, 21, 6, 0)]


async def test_the_first_start_just_after_a_slot_runs_it(tmp_path: Path) -> None:
    clock = Clock(utc(2026, 11, 20, 6, 2))  # two minutes late: within the grace
    job = Recorder()
    assert await _scheduler(tmp_path / "t.db", clock, job).tick() == ["daily_drift"]


async def test_a_failing_job_is_recorded_and_not_rerun(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    clock = Clock(utc(2026, 11, 20, 6, 0, 30))
    calls = 0

    async def boom(_lease: Lease) -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError("Slack is down")

    scheduler = Scheduler(
        [ScheduledJob("weekly_health", Cron("0 7 * * *", BERLIN), boom)],
        LeaseStore(db, clock=clock),
        clock=clock,
    )
    assert await scheduler.tick() == ["weekly_health"]
    assert await scheduler.tick() == []
    (run,) = scheduler.leases.runs("weekly_health")
    assert calls == 1
    assert run["status"] == "failed" and str(run["detail"]).startswith("ref ")


async def test_the_serve_loop_runs_a_due_slot_and_stops(tmp_path: Path) -> None:
    clock = Clock(utc(2026, 11, 20, 6, 0, 1))
    ran = asyncio.Event()

    async def job(lease: Lease) -> str:
        ran.set()
        return "ok"

    scheduler = Scheduler(
        [ScheduledJob("latency_check", Cron("*/15 * * * *", BERLIN), job)],
        LeaseStore(tmp_path / "t.db", clock=clock),
        clock=clock,
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.run(stop))
    await asyncio.wait_for(ran.wait(), 10)
    stop.set()
    await asyncio.wait_for(loop, 10)
    assert [r["status"] for r in scheduler.leases.runs("latency_check")] == ["done"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('daily_drift = "0 25 * * *"', "monitoring.daily_drift"),
        ('timezone = "Europe/Atlantis"', "unknown time zone"),
        ('latency_check = "*/15 * * * * *"', "five fields"),
    ],
)
def test_the_monitoring_table_is_checked_when_the_config_loads(
    tmp_path: Path, table: str, message: str
) -> None:
    from bot.config import ConfigError, load_config

    example = Path(__file__).resolve().parents[2] / "examples" / "stack.toml"
    config = tmp_path / "stack.toml"
    config.write_text(example.read_text() + f'\n[monitoring]\nchannel = "C1"\n{table}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_an_empty_cron_switches_a_post_off(tmp_path: Path) -> None:
    from bot.config import MonitoringConfig
    from bot.monitor.posts import MonitorPoster
    from bot.monitor.sources import Monitor

    settings = MonitoringConfig(channel="C1", weekly_health="", latency_check="")
    poster = MonitorPoster(None, Monitor.sandbox(tmp_path / "t.db", size=10, settings=settings))  # type: ignore[arg-type]
    assert [j.name for j in poster.jobs()] == ["daily_drift"]
    assert MonitorPoster(None, Monitor.sandbox(tmp_path / "t.db", size=10)).jobs() == []  # type: ignore[arg-type]
