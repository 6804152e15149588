"""Sync latency: what counts as a hop's lag, and a breach posted once, again only when its lag
changes band, and once more when it recovers — kept in SQLite across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.monitor.latency import (
    HopLag,
    LatencyReading,
    LatencyState,
    band,
    hop_key,
    lags_from_flows,
    lags_from_sku,
)
from bot.monitor.posts import MonitorPoster
from bot.monitor.sources import Monitor
from tests.slack.fake_slack import FakeSlack
from tools.models import (
    ChannelListing,
    ErpItem,
    ErpSnapshot,
    FlowHealth,
    InventoryAdjustment,
    InventoryTransaction,
    Source,
    StorefrontSnapshot,
)
from tools.sandbox.catalog import GeneratedCatalog

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
SRC = Source(system="test", endpoint="test")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("lag", "expected"),
    [(0, -1), (15, -1), (15.1, 0), (29.9, 0), (30, 1), (59, 1), (60, 2), (121, 3), (600, 5)],
)
def test_bands_double_from_the_threshold(lag: float, expected: int) -> None:
    assert band(lag, 15) == expected


# --- what counts as lag ----------------------------------------------------------------------


def storefront(available: int, changed: float, *, sync: float | None = None) -> StorefrontSnapshot:
    return StorefrontSnapshot(
        source=SRC,
        read_at=NOW,
        sku="SKU-1",
        available=available,
        adjustments=[
            InventoryAdjustment(
                at=ago(changed), before=available + 2, after=available, reason="sale"
            )
        ],
        last_inventory_sync_at=ago(sync) if sync is not None else None,
    )


def listing(quantity: int, fed: float | None, *, source: str = "storefront") -> ChannelListing:
    return ChannelListing(
        source=SRC,
        read_at=NOW,
        channel="amazon",
        sku="SKU-1",
        quantity=quantity,
        buyable=quantity > 0,
        status="BUYABLE",
        last_inventory_feed_at=ago(fed) if fed is not None else None,
        feed_source=source,
    )


def erp(available: int, changed: float) -> ErpSnapshot:
    return ErpSnapshot(
        source=SRC,
        read_at=NOW,
        vendor="netsuite",
        item=ErpItem(item_id="1", sku="SKU-1", name="Sock"),
        available=available,
        transactions=[
            InventoryTransaction(at=ago(changed), kind="sale", quantity=-1, origin="pos")
        ],
    )


def test_a_marketplace_behind_the_storefront_lags_since_the_change() -> None:
    lags, covered = lags_from_sku(storefront(3, 40), [listing(5, 55)], None, NOW)
    (lag,) = lags
    assert (lag.key, lag.lag_minutes, lag.sku) == (
        "storefront_to_marketplace:amazon",
        40.0,
        "SKU-1",
    )
    assert "amazon still 5" in lag.detail
    assert covered == ["storefront_to_marketplace:amazon"]


@pytest.mark.parametrize(
    ("listing_", "why"),
    [
        (listing(3, 55), "agrees"),
        (listing(5, 10), "fed after the change: something else keeps it different"),
        (listing(5, 55, source="repricer:X"), "fed by a third party"),
    ],
)
def test_no_lag_when_the_marketplace_is_not_behind(listing_: ChannelListing, why: str) -> None:
    lags, _covered = lags_from_sku(storefront(3, 40), [listing_], None, NOW)
    assert lags == [], why


def test_the_erp_ahead_of_the_storefront_is_erp_to_storefront_lag() -> None:
    lags, covered = lags_from_sku(storefront(7, 120, sync=90), [], erp(4, 50), NOW)
    (lag,) = lags
    assert (lag.hop, lag.lag_minutes) == ("erp_to_storefront", 50.0)
    assert {"erp_to_storefront", "storefront_to_erp"} <= set(covered)


def test_flows_that_stopped_or_are_overdue_lag_by_themselves() -> None:
    def flow(**fields: object) -> FlowHealth:
        values: dict[str, object] = {
            "source": SRC,
            "read_at": NOW,
            "flow_id": "f",
            "name": "NetSuite → Shopify",
            "hop": "erp_to_storefront",
            "window_start": ago(1440),
        }
        values.update(fields)
        return FlowHealth.model_validate(values)

    overdue = flow(trigger="poll", interval_minutes=15, last_run_at=ago(48))
    on_time = flow(flow_id="g", trigger="poll", interval_minutes=15, last_run_at=ago(9))
    stopped = flow(
        flow_id="h",
        hop="storefront_to_marketplace",
        channel="amazon",
        status="suspended",
        status_since=ago(200),
        status_reason="token revoked",
    )
    events = flow(flow_id="i", hop="storefront_to_erp")  # an event flow's lag is per SKU
    unmapped = flow(flow_id="j", hop=None, status="disabled", status_since=ago(9999))
    lags, covered = lags_from_flows([overdue, on_time, stopped, events, unmapped], NOW)
    assert sorted((lag.key, lag.lag_minutes) for lag in lags) == [
        ("erp_to_storefront", 48.0),
        ("storefront_to_marketplace:amazon", 200.0),
    ]
    assert "token revoked" in next(
        lag.detail for lag in lags if lag.via and "suspended" in lag.detail
    )
    assert "j" not in covered and len(covered) == 4


# --- the breach state ----------------------------------------------------------------------------


def reading(
    at: datetime, *lags: tuple[str, str | None, float], covered: list[str] | None = None
) -> LatencyReading:
    seen = [
        HopLag(
            hop=hop, channel=ch, lag_minutes=m, since=at - timedelta(minutes=m), detail=f"{m} min"
        )  # type: ignore[arg-type]
        for hop, ch, m in lags
    ]
    keys = covered if covered is not None else [lag.key for lag in seen]
    return LatencyReading(observed_at=at, lags=seen, covered=keys)


def post_all(state: LatencyState, r: LatencyReading) -> list[tuple[str, str, float]]:
    alerts = state.record(r)
    for alert in alerts:
        state.posted(alert)
    return [(a.kind, a.key, a.lag_minutes) for a in alerts]


def test_a_breach_is_posted_once_and_again_only_when_it_changes(tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    state = LatencyState(db, scope="acme")
    hop = ("storefront_to_marketplace", "amazon")
    t = NOW
    assert post_all(state, reading(t, (*hop, 10))) == [], "within 15 min: not a breach"
    assert post_all(state, reading(t := t + timedelta(minutes=15), (*hop, 22))) == [
        ("breach", "storefront_to_marketplace:amazon", 22)
    ]
    assert post_all(state, reading(t := t + timedelta(minutes=5), (*hop, 27))) == [], "same band"

    state.close()
    state = LatencyState(db, scope="acme")  # a restart keeps what was posted
    assert post_all(state, reading(t := t + timedelta(minutes=1), (*hop, 28))) == []
    assert post_all(state, reading(t := t + timedelta(minutes=15), (*hop, 43))) == [
        ("changed", "storefront_to_marketplace:amazon", 43)
    ]
    assert post_all(state, reading(t := t + timedelta(minutes=15), (*hop, 58))) == []
    assert post_all(state, reading(t := t + timedelta(minutes=15), (*hop, 3))) == [
        ("recovered", "storefront_to_marketplace:amazon", 58)
    ]
    assert post_all(state, reading(t := t + timedelta(minutes=15), (*hop, 2))) == []
    assert post_all(state, reading(t + timedelta(minutes=15), (*hop, 31))) == [
        ("breach", "storefront_to_marketplace:amazon", 31)
    ], "a new episode is news again"


def test_an_unposted_alert_is_handed_out_again_not_lost(tmp_path: Path) -> None:
    state = LatencyState(tmp_path / "t.db")
    first = state.record(reading(NOW, ("erp_to_storefront", None, 40)))
    assert [a.kind for a in first] == ["breach"]  # Slack was down: never marked posted
    again = state.record(reading(NOW + timedelta(minutes=15), ("erp_to_storefront", None, 44)))
    assert [(a.kind, a.lag_minutes) for a in again] == [("breach", 44)]


def test_a_hop_not_looked_at_does_not_recover(tmp_path: Path) -> None:
    state = LatencyState(tmp_path / "t.db")
    post_all(state, reading(NOW, ("erp_to_storefront", None, 40)))
    assert post_all(state, reading(NOW + timedelta(minutes=15), covered=[])) == []
    assert [k for k, _lag, _at in state.open_breaches()] == ["erp_to_storefront"]


def test_stacks_keep_their_breaches_apart(tmp_path: Path) -> None:
    a, b = LatencyState(tmp_path / "t.db", scope="a"), LatencyState(tmp_path / "t.db", scope="b")
    assert [k for k, *_ in post_all(a, reading(NOW, ("storefront_to_erp", None, 90)))] == ["breach"]
    assert b.pending() == [] and b.open_breaches() == []


def test_a_caller_can_narrow_the_alerted_hops(tmp_path: Path) -> None:
    state = LatencyState(tmp_path / "t.db")
    r = reading(NOW, ("wms_to_erp", None, 90), ("erp_to_storefront", None, 20))
    alerts = state.record(r, hops=frozenset({"erp_to_storefront"}))
    assert [a.key for a in alerts] == ["erp_to_storefront"]


# --- posted in Slack -----------------------------------------------------------------------------


async def test_the_sandbox_latency_check_posts_each_breach_once(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    clock = [NOW]
    monitor = Monitor.sandbox(tmp_path / "t.db", size=500, clock=lambda: clock[0])
    poster = MonitorPoster(fake_slack.client(), monitor)
    catalog = monitor.target
    assert isinstance(catalog, GeneratedCatalog)

    await poster.latency("C1")
    posts = [m for m in fake_slack.messages.values() if m.channel == "C1"]
    # What the catalog shows: hops observed more than 15 min behind, and each stopped flow's hop.
    behind = {hop_key(h.hop, h.channel) for h in catalog.hop_lags(NOW) if h.lag_minutes > 15}
    stopped = {hop_key(f.hop, f.channel) for f in catalog.flows(NOW) if f.status != "active"}
    assert len(posts) == len(behind | stopped) >= 1
    assert all("Sync latency" in p.text and "behind" in p.text for p in posts)

    clock[0] = NOW + timedelta(minutes=1)  # the same breaches a minute later: nothing new
    await poster.latency("C1")
    assert len([m for m in fake_slack.messages.values() if m.channel == "C1"]) == len(posts)


async def test_a_latency_alert_whose_post_failed_is_posted_by_the_next_check(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    clock = [NOW]
    monitor = Monitor.sandbox(tmp_path / "t.db", size=500, clock=lambda: clock[0])
    poster = MonitorPoster(fake_slack.client(), monitor)
    fake_slack.fail_once("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        await poster.latency("C1")
    assert not [m for m in fake_slack.messages.values() if m.channel == "C1"]

    clock[0] = NOW + timedelta(minutes=1)
    await poster.latency("C1")
    posts = [m for m in fake_slack.messages.values() if m.channel == "C1"]
    assert posts and all("Sync latency" in p.text and "behind" in p.text for p in posts)
    catalog = monitor.target
    assert isinstance(catalog, GeneratedCatalog)
    behind = {hop_key(h.hop, h.channel) for h in catalog.hop_lags(NOW) if h.lag_minutes > 15}
    stopped = {hop_key(f.hop, f.channel) for f in catalog.flows(NOW) if f.status != "active"}
    assert len(posts) == len(behind | stopped), "every breach announced, the failed one too"


# --- a live stack: per-SKU reads -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "key", "minutes"),
    [
        ("SKU-2102", "storefront_to_marketplace:amazon", 120.0),  # l2_feed_lag
        ("SKU-7101", "erp_to_storefront", 360.0),  # hop_erp_not_broadcasting
    ],
)
async def test_a_live_latency_check_reads_the_watched_skus(
    tmp_path: Path, sku: str, key: str, minutes: float
) -> None:
    from contextlib import asynccontextmanager

    from bot.config import load_config
    from tools.sandbox.memory import memory_stack
    from tools.sandbox.scenario import load_library

    scenario = load_library()[sku]
    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "stack.toml")
    config = config.model_copy(
        update={"monitoring": config.monitoring.model_copy(update={"watch_skus": [sku]})}
    )

    @asynccontextmanager
    async def opener() -> AsyncIterator[Any]:
        yield memory_stack(scenario)

    monitor = Monitor.from_config(config, tmp_path / "t.db", clock=lambda: scenario.clock)
    monitor.stack_opener = opener
    reading = await monitor.latency(flows=[])
    assert [(lag.key, lag.lag_minutes, lag.sku) for lag in reading.lags] == [(key, minutes, sku)]
    assert key in reading.covered and reading.unread == []


async def test_a_live_latency_check_says_what_it_could_not_read(tmp_path: Path) -> None:
    from bot.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "stack.toml")
    config = config.model_copy(
        update={
            "monitoring": config.monitoring.model_copy(update={"watch_skus": ["SKU-1"]}),
            "storefront": config.storefront.model_copy(update={"vendor": "nosuchshop"}),
        }
    )
    monitor = Monitor.from_config(config, tmp_path / "t.db", clock=lambda: NOW)
    reading = await monitor.latency(flows=[])
    assert reading.lags == [] and "nosuchshop" in reading.unread[0]
