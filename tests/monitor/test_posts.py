"""Monitoring in Slack: signed requests to the real endpoint, the fake Web API recording what
was posted — the daily drift post (counts, worst offenders with Triage buttons, the CSV in its
thread), the weekly health post, the map's PNG, the Triage button, and the schedules posting
once across two instances."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from slack_sdk.errors import SlackApiError

from bot.compose import sandbox_target
from bot.config import load_config
from bot.monitor.drift import CSV_COLUMNS, DriftResult
from bot.monitor.lease import LeaseStore
from bot.monitor.posts import MonitorPoster
from bot.monitor.schedule import Scheduler
from bot.monitor.sources import Monitor
from bot.slack.blocks import common
from bot.slack.blocks import monitoring as monitoring_blocks
from bot.slack.settings import AccessPolicy
from bot.store import TriageStore
from tests.monitor.conftest import Clock
from tests.slack.conftest import Harness, HarnessFactory, slack_settings, verdict_of
from tests.slack.fake_slack import FakeSlack, Posted
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.monitoring import CatalogSellThrough

NOW = datetime(2026, 11, 20, 6, 0, 20, tzinfo=UTC)  # 07:00:20 in Berlin
SIZE = 10_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def endpoint(make_harness: HarnessFactory) -> HarnessFactory:
    """The real endpoint with the sandbox catalog's monitoring checks, at ``NOW`` by default."""

    async def make(*, access: AccessPolicy | None = None, clock: Clock | None = None) -> Harness:
        def monitor(path: Path) -> Monitor:
            return Monitor.sandbox(path, size=SIZE, clock=clock or Clock(NOW))

        return await make_harness(access=access, monitor=monitor)

    return make


def channel_posts(fake: FakeSlack, channel: str = "C1") -> list[Posted]:
    return [m for m in fake.messages.values() if m.channel == channel and m.thread_ts is None]


def triage_buttons(message: Posted) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in message.blocks
        if b.get("accessory", {}).get("action_id") == monitoring_blocks.ACTION_MONITOR_TRIAGE
    ]


def uploaded(fake: FakeSlack) -> list[tuple[dict[str, Any], str, bytes]]:
    """Each completed upload's call parameters, its title and its bytes."""
    out = []
    for call in fake.calls_to("files.completeUploadExternal"):
        for f in call.params["files"]:
            out.append((call.params, str(f.get("title")), fake.uploads[f["id"]]))
    return out


# --- /oos drift ----------------------------------------------------------------------------------


async def test_oos_drift_posts_the_summary_worst_offenders_and_the_csv(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint()
    reply = await harness.command("drift")
    assert reply.status == 200 and "Scanning the catalog" in reply.json()["text"]

    post = await fake_slack.wait_for(
        lambda: next(iter(channel_posts(fake_slack)), None), "the drift post"
    )
    await fake_slack.wait_for(lambda: uploaded(fake_slack), "the CSV")
    catalog = GeneratedCatalog(SIZE, 7)
    expected = catalog.expected_gaps(catalog.day(NOW))
    assert len(expected) >= 2

    assert post.blocks[0]["type"] == "header" and "Catalog drift" in post.blocks[0]["text"]["text"]
    assert f"{len(expected):,} of" in post.text and "disagree by more than 5 units" in post.text
    assert len(post.blocks) <= common.MAX_BLOCKS
    buttons = triage_buttons(post)
    assert set(buttons) == set(expected), "one Triage button per listed SKU"
    gaps = sorted(expected.values(), key=lambda g: (-abs(g.gap), g.sku))
    assert buttons == [g.sku for g in gaps], "largest gap first"
    assert f"gap *{gaps[0].gap:+d}*" in post.everything

    files = {title.split("-")[0]: (params, body) for params, title, body in uploaded(fake_slack)}
    assert set(files) == {"drift", "low"}, "the full list, and the SKUs low on stock"
    params, body = files["drift"]
    assert params["channel_id"] == "C1" and params["thread_ts"] == post.ts
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_sku = {r[0]: r for r in rows[1:]}
    assert set(by_sku) == set(expected)
    for sku, gap in expected.items():
        assert by_sku[sku][1:5] == ["new", str(gap.storefront), str(gap.erp), str(gap.gap)]
    assert "in the thread" in post.everything

    low_rows = list(csv.DictReader(io.StringIO(files["low"][1].decode())))
    source = CatalogSellThrough(catalog, NOW)
    assert {r["sku"] for r in low_rows} == source.expected_low()
    covers = [float(r["cover_days"]) for r in low_rows]
    assert covers == sorted(covers) and all(c < 2 for c in covers)
    assert f"{len(low_rows)} of" in post.everything and "Low stock" in post.everything


async def test_the_next_days_post_says_what_is_new_open_and_resolved(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    clock = Clock(NOW)
    harness: Harness = await endpoint(clock=clock)
    catalog = GeneratedCatalog(SIZE, 7)
    # Two consecutive days whose gaps differ (each gap comes and goes on its own cycle).
    day = catalog.day(NOW)
    while True:
        first, second = catalog.expected_gaps(day), catalog.expected_gaps(day + 1)
        if set(first) & set(second) and set(first) - set(second) and first:
            break
        day += 1
    clock.at = NOW + timedelta(days=day - catalog.day(NOW))
    poster = harness.services.monitoring
    assert poster is not None
    await poster.poster.drift("C2")
    clock.at += timedelta(days=1)
    await poster.poster.drift("C2")

    latest = channel_posts(fake_slack, "C2")[-1]
    opened = set(second) & set(first)
    resolved = set(first) - set(second)
    new = set(second) - set(first)
    fields = next(b for b in latest.blocks if "fields" in b)["fields"]
    values = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in fields}
    assert values["*Still open*"].startswith(f"{len(opened)}")
    assert values["*Resolved*"] == str(len(resolved))
    assert next(v for k, v in values.items() if k.startswith("*New*")) == str(len(new))
    assert set(triage_buttons(latest)) == set(second)
    assert all(f"`{sku}`" in latest.everything for sku in resolved)
    assert "Low stock" in latest.everything


def test_a_drift_run_that_compared_nothing_is_no_all_clear() -> None:
    result = DriftResult(
        run_id="r1",
        scope="s",
        ran_at=NOW,
        previous_run_at=None,
        seconds=1.0,
        storefront="shopify",
        erp="netsuite",
        measure="available",
        threshold=5,
        storefront_locations=None,
        erp_locations=None,
        compared=0,
        flagged=[],
        resolved=[],
    )
    message = monitoring_blocks.drift_post(result)
    assert "No SKU could be compared" in message.text + str(message.blocks)
    assert ":large_green_circle:" not in str(message.blocks)
    clean = monitoring_blocks.drift_post(result.model_copy(update={"compared": 1200}))
    assert ":large_green_circle:" in str(clean.blocks) and "none over 5 units" in clean.text


async def test_a_drift_check_that_cannot_run_says_so_in_the_channel(
    fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_ADMIN_TOKEN", raising=False)
    config = load_config(ROOT / "examples" / "stack.toml")
    poster = MonitorPoster(fake_slack.client(), Monitor.from_config(config, tmp_path / "t.db"))
    detail = await poster.drift("C1")
    (post,) = channel_posts(fake_slack)
    assert (
        "could not run" in post.text + post.everything and "SHOPIFY_ADMIN_TOKEN" in post.everything
    )
    assert detail.startswith("not run")


# --- /oos health and /oos map --------------------------------------------------------------------


async def test_oos_health_posts_every_flow_and_names_the_stopped_one(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint()
    assert (await harness.command("health")).status == 200
    post = await fake_slack.wait_for(
        lambda: next(iter(channel_posts(fake_slack)), None), "the health post"
    )
    catalog = GeneratedCatalog(SIZE, 7)
    stopped = [f for f in catalog.flows(NOW) if f.status != "active"]
    assert "need attention" in post.text
    for flow in stopped:
        assert flow.name in post.everything and (flow.status_reason or "") in post.everything
    assert "0.50 %" in post.everything


async def test_oos_map_uploads_a_png_with_a_text_summary(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint()
    assert (await harness.command("map")).status == 200
    await fake_slack.wait_for(lambda: uploaded(fake_slack), "the map upload")
    ((params, _title, body),) = uploaded(fake_slack)
    assert params["channel_id"] == "C1"
    assert "Trigger chain" in params["initial_comment"] and "poll" in params["initial_comment"]
    (ask,) = fake_slack.calls_to("files.getUploadURLExternal")
    assert str(ask.params["filename"]).endswith(".png")
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG" and image.mode == "RGB" and image.size[0] >= 1000


async def test_monitoring_commands_follow_the_channel_rule(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint(access=AccessPolicy(channels=frozenset({"C9"})))
    reply = await harness.command("health", channel="C1")
    assert reply.status == 200 and ":no_entry:" in str(reply.json())
    assert harness.services.monitoring is not None
    await harness.services.monitoring.drain()
    assert channel_posts(fake_slack) == []


# --- the Triage button ---------------------------------------------------------------------------


async def test_the_triage_button_starts_oos_for_the_sku(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint()
    reply = await harness.click(
        monitoring_blocks.ACTION_MONITOR_TRIAGE, "SKU-3101", message_ts="1.1", thread_ts="1.1"
    )
    assert reply.status == 200
    root = await fake_slack.wait_for(
        lambda: next((m for m in channel_posts(fake_slack) if "SKU-3101" in m.text), None),
        "the root",
    )
    assert root.text.startswith("Triage for SKU-3101 started by <@U1>")
    await fake_slack.wait_for(
        lambda: any(verdict_of(m) for m in fake_slack.thread("C1", root.ts)), "the verdict"
    )
    await harness.services.runner.drain()


async def test_a_forged_triage_button_is_refused(
    endpoint: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness: Harness = await endpoint()
    await harness.click(
        monitoring_blocks.ACTION_MONITOR_TRIAGE,
        "SKU 1 <!channel>",
        message_ts="1.1",
        thread_ts="1.1",
    )
    answer = await fake_slack.wait_for(
        lambda: next(iter(fake_slack.responses), None), "the refusal"
    )
    assert "may contain letters and digits" in answer["text"] and ":no_entry:" in str(
        answer["blocks"]
    )
    assert channel_posts(fake_slack) == []


# --- the schedules -------------------------------------------------------------------------------


async def test_two_instances_post_the_daily_drift_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.config import MonitoringConfig

    store = TriageStore(tmp_path / "triage.db")
    settings = MonitoringConfig(channel="C7", timezone="Europe/Berlin")
    clock = Clock(NOW)

    def instance(owner: str) -> Scheduler:
        monitor = Monitor.sandbox(store.path, size=SIZE, settings=settings, clock=clock)
        poster = MonitorPoster(fake_slack.client(), monitor)
        return Scheduler(
            poster.jobs(), LeaseStore(store.path, owner=owner, clock=clock), clock=clock
        )

    a, b = instance("a"), instance("b")
    assert [j.name for j in a.jobs] == ["daily_drift", "weekly_health", "latency_check"]
    daily = [j for j in a.jobs if j.name == "daily_drift"]
    a.jobs, b.jobs = daily, [j for j in b.jobs if j.name == "daily_drift"]

    ran = await asyncio.gather(a.tick(), b.tick())

    assert sorted(ran) == [[], ["daily_drift"]]
    posts = channel_posts(fake_slack, "C7")
    assert len(posts) == 1 and "Catalog drift" in posts[0].text
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1
    clock.at += timedelta(minutes=30)
    assert await asyncio.gather(a.tick(), b.tick()) == [[], []], "the slot is done"
    assert len(channel_posts(fake_slack, "C7")) == 1
    store.close()


async def test_serve_runs_the_schedules_the_config_names(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.config import MonitoringConfig
    from bot.slack.server import serve

    settings = slack_settings(fake_slack)
    store = TriageStore(tmp_path / "triage.db")
    # Every minute: the current minute's slot is due at once (within the first-start grace).
    monitoring = MonitoringConfig(
        channel="C5", daily_drift="", weekly_health="* * * * *", latency_check=""
    )
    monitor = Monitor.sandbox(store.path, size=500, settings=monitoring)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve(settings, store=store, resolve=sandbox_target, stop=stop, monitor=monitor)
    )
    post = await fake_slack.wait_for(
        lambda: next(iter(channel_posts(fake_slack, "C5")), None), "the post"
    )
    stop.set()
    assert await asyncio.wait_for(serving, 20) == 0
    assert "Connector health" in post.text
    runs = LeaseStore(store.path).runs("weekly_health")
    assert runs and runs[0]["status"] == "done"
    store.close()


# --- a scheduled post that failed loses nothing --------------------------------------------------


def _days(catalog: GeneratedCatalog, start: int, want: Any) -> int:
    """The first day from ``start`` whose next days' gaps satisfy ``want``."""
    day = start
    while not want(*(set(catalog.expected_gaps(day + i)) for i in range(3))):
        day += 1
    return day


def _values(post: Posted) -> dict[str, str]:
    fields = next(b for b in post.blocks if "fields" in b)["fields"]
    return {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in fields}


async def test_gaps_of_a_failed_drift_post_are_announced_as_new_by_the_next_one(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    catalog = GeneratedCatalog(SIZE, 7)
    day = _days(catalog, catalog.day(NOW), lambda a, b, _c: a & b)
    clock = Clock(NOW + timedelta(days=day - catalog.day(NOW)))
    poster = MonitorPoster(
        fake_slack.client(), Monitor.sandbox(tmp_path / "t.db", size=SIZE, clock=clock)
    )
    first, second = catalog.expected_gaps(day), catalog.expected_gaps(day + 1)
    fake_slack.fail_once("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        await poster.drift("C1")
    assert not channel_posts(fake_slack)

    clock.at += timedelta(days=1)
    await poster.drift("C1")
    (post,) = channel_posts(fake_slack)
    values = _values(post)
    assert next(v for k, v in values.items() if k.startswith("*New*")) == str(len(second))
    assert values["*Still open*"] == "0", "nothing was announced before, so nothing is 'still'"
    assert values["*Resolved*"] == "0", "a gap nobody was told about is no news when it closes"
    assert set(first) & set(second), "the gaps both days share are among the new ones"

    clock.at += timedelta(days=1)  # this time the post went out: the shared gaps are open now
    await poster.drift("C1")
    latest = channel_posts(fake_slack)[-1]
    third = catalog.expected_gaps(day + 2)
    assert _values(latest)["*Still open*"].startswith(str(len(set(second) & set(third))))


async def test_resolutions_of_a_failed_drift_post_are_announced_by_the_next_one(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    catalog = GeneratedCatalog(SIZE, 7)
    day = _days(catalog, catalog.day(NOW), lambda a, b, c: (a - b) - c)
    clock = Clock(NOW + timedelta(days=day - catalog.day(NOW)))
    poster = MonitorPoster(
        fake_slack.client(), Monitor.sandbox(tmp_path / "t.db", size=SIZE, clock=clock)
    )
    gaps = [set(catalog.expected_gaps(day + i)) for i in range(3)]
    await poster.drift("C1")  # day 0: announced
    clock.at += timedelta(days=1)
    fake_slack.fail_once("chat.postMessage", "ratelimited")
    with pytest.raises(SlackApiError):
        await poster.drift("C1")  # day 1: its resolutions were never announced
    clock.at += timedelta(days=1)
    await poster.drift("C1")
    latest = channel_posts(fake_slack)[-1]
    resolved_then = (gaps[0] - gaps[1]) - gaps[2]
    resolved_now = (gaps[0] & gaps[1]) - gaps[2]
    assert _values(latest)["*Resolved*"] == str(len(resolved_then | resolved_now))
    assert all(f"`{sku}`" in latest.everything for sku in sorted(resolved_then)[:10])
    assert _values(latest)["*Still open*"].startswith(str(len(gaps[0] & gaps[1] & gaps[2])))
