"""Sync latency: a hop more than 15 minutes behind is posted once per breach, and again only
when its lag changes band.

What counts as a hop's lag (``HopLag``), from what the adapters show:

    per SKU (``lags_from_sku``)  how long the target has been behind a change it should carry:
      storefront → marketplace   the listing's quantity differs from the storefront's, and the
                                 channel's last inventory feed is older than the storefront's
                                 last change: lag = now − that change. A listing fed by a third
                                 party, or fed after the change and still different, is not lag
      ERP → storefront           storefront and ERP quantities differ and the ERP changed after
                                 the storefront last heard from it: lag = now − the ERP change
      storefront → ERP           the reverse
    per flow (``lags_from_flows``)
      a polled / batch inventory flow that has not run for longer than its interval: lag =
      now − its last run; a suspended, disabled or erroring one: lag = now − since when

Which SKUs are read is the caller's choice (``bot.monitor.posts``: the SKUs the latest drift
run left open plus the config's ``watch_skus``, capped), so a check costs a few dozen reads,
not a catalog scan. A hop with nothing behind is *covered*: an open breach on it recovers.

Breach state lives in the ``latency_breaches`` table of the store's SQLite file, one row per
breach episode of a hop (``scope`` keeps stacks apart). Lags are posted by *band*, doubling
from the threshold (15–30, 30–60, 60–120 min, …): a breach is posted when it opens, again
when its band changes (worse or better), and once more when it recovers. What was posted is
recorded only after Slack accepted it, so a failed post is retried at the next check, and an
unchanged breach is never posted again as if it were new.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from bot.monitor.lease import connect, write
from tools.models import ChannelListing, ErpSnapshot, FlowHealth, Hop, StorefrontSnapshot

# DESIGN names storefront → marketplace and ERP → storefront; a late storefront → ERP or WMS →
# ERP hop is the silent gap itself, so every hop is alerted unless a caller narrows it.
ALERTED_HOPS: frozenset[str] = frozenset(get_args(Hop))
THRESHOLD_MINUTES = 15

AlertKind = Literal["breach", "changed", "recovered"]

_SCHEMA = """
create table if not exists latency_breaches (
    scope text not null,
    key text not null,
    opened_at text not null,
    hop text not null,
    channel text,
    status text not null,
    band integer not null,
    lag_minutes real not null,
    worst text not null,
    updated_at text not null,
    closed_at text,
    posted_status text,
    posted_band integer,
    posted_lag_minutes real,
    primary key (scope, key, opened_at)
)
"""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def hop_key(hop: str, channel: str | None) -> str:
    return f"{hop}:{channel}" if channel else hop


class HopLag(_Model):
    """How far one hop is behind, seen on one SKU or one flow."""

    hop: Hop
    channel: str | None = None
    lag_minutes: float
    since: datetime  # when the source changed (or the flow last ran / stopped)
    sku: str | None = None
    via: str | None = None  # the flow that carries the hop, when known
    detail: str

    @property
    def key(self) -> str:
        return hop_key(self.hop, self.channel)


class LatencyReading(_Model):
    """One latency check: the lags seen, the hops looked at, what could not be read."""

    observed_at: datetime
    lags: list[HopLag] = []
    covered: list[str] = []  # hop keys looked at: an open breach on one of them can recover
    unread: list[str] = []  # systems or SKUs that could not be read (those hops stay as they were)

    def worst(self) -> dict[str, HopLag]:
        """The largest lag per hop key."""
        out: dict[str, HopLag] = {}
        for lag in self.lags:
            if lag.key not in out or lag.lag_minutes > out[lag.key].lag_minutes:
                out[lag.key] = lag
        return out


class LatencyAlert(_Model):
    """A post to make: a breach opened, changed band, or recovered."""

    kind: AlertKind
    key: str
    hop: Hop
    channel: str | None
    opened_at: datetime
    lag_minutes: float
    previous_lag_minutes: float | None
    threshold_minutes: int
    worst: HopLag


def band(lag_minutes: float, threshold: float) -> int:
    """-1 within the threshold; else 0 for up to 2×, 1 up to 4×, 2 up to 8×, …"""
    if lag_minutes <= threshold:
        return -1
    return math.floor(math.log2(lag_minutes / threshold))


# --- observing ----------------------------------------------------------------------------------


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 1)


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M UTC")


def _behind(
    hop: Hop,
    since: datetime,
    now: datetime,
    detail: str,
    *,
    channel: str | None = None,
    sku: str | None = None,
    via: str | None = None,
) -> HopLag:
    """A hop behind since ``since``: its lag is now − since."""
    return HopLag(
        hop=hop,
        channel=channel,
        lag_minutes=_minutes(now - since),
        since=since,
        sku=sku,
        via=via,
        detail=detail,
    )


def _storefront_changed(sf: StorefrontSnapshot) -> datetime | None:
    times = [a.at for a in sf.adjustments]
    if not times and sf.out_of_stock_since:
        times.append(sf.out_of_stock_since)
    return max(times) if times else sf.last_inventory_sync_at


def _storefront_heard(sf: StorefrontSnapshot) -> datetime | None:
    times = [t for t in (sf.last_inventory_sync_at, *(a.at for a in sf.adjustments)) if t]
    return max(times) if times else None


def _erp_changed(erp: ErpSnapshot) -> datetime | None:
    times = [t.at for t in erp.transactions if t.status == "posted"]
    return max(times) if times else erp.last_inventory_update_at


def lags_from_sku(
    sf: StorefrontSnapshot,
    listings: Sequence[ChannelListing],
    erp: ErpSnapshot | None,
    now: datetime,
) -> tuple[list[HopLag], list[str]]:
    """The lags one SKU shows, and the hop keys it covered (module docstring)."""
    lags: list[HopLag] = []
    covered: list[str] = []
    changed = _storefront_changed(sf)
    listable = max(sf.available, 0)
    for ch in listings:
        if ch.feed_source != "storefront":
            continue  # fed by a third party: its lag is not this hop's
        covered.append(hop_key("storefront_to_marketplace", ch.channel))
        fed = ch.last_inventory_feed_at
        if ch.quantity is None or ch.fulfilled_by == "marketplace":
            continue  # no quantity of ours to lag: unknown, or the marketplace's own stock
        if ch.quantity == listable or changed is None or (fed is not None and fed >= changed):
            continue
        last_feed = f"last feed {_clock(fed)}" if fed else "no feed recorded"
        lags.append(
            _behind(
                "storefront_to_marketplace",
                changed,
                now,
                f"{sf.sku}: storefront {listable} since {_clock(changed)}, "
                f"{ch.channel} still {ch.quantity} ({last_feed})",
                channel=ch.channel,
                sku=sf.sku,
            )
        )
    if erp is None:
        return lags, covered
    covered += ["erp_to_storefront", "storefront_to_erp"]
    if erp.available is None or sf.available == erp.available:
        return lags, covered  # None: the ERP keeps no quantity, so no hop can lag on it
    erp_changed, heard = _erp_changed(erp), _storefront_heard(sf)
    if erp_changed is not None and (heard is None or erp_changed > heard):
        lags.append(
            _behind(
                "erp_to_storefront",
                erp_changed,
                now,
                f"{sf.sku}: ERP {erp.available} since {_clock(erp_changed)}, "
                f"storefront still {sf.available}",
                sku=sf.sku,
            )
        )
    elif changed is not None and (erp_changed is None or changed > erp_changed):
        lags.append(
            _behind(
                "storefront_to_erp",
                changed,
                now,
                f"{sf.sku}: storefront {sf.available} since {_clock(changed)}, "
                f"ERP still {erp.available}",
                sku=sf.sku,
            )
        )
    return lags, covered


def lags_from_flows(flows: Iterable[FlowHealth], now: datetime) -> tuple[list[HopLag], list[str]]:
    """Lags the connector's inventory flows imply by themselves, and the hops they cover."""
    lags: list[HopLag] = []
    covered: list[str] = []
    for flow in flows:
        if flow.hop is None:
            continue
        covered.append(hop_key(flow.hop, flow.channel))
        since: datetime | None = None
        why = ""
        if flow.status != "active":
            since = flow.status_since
            why = f"{flow.name} is {flow.status}" + (
                f": {flow.status_reason}" if flow.status_reason else ""
            )
        elif (
            flow.trigger != "event"
            and flow.interval_minutes
            and flow.last_run_at
            and now - flow.last_run_at > timedelta(minutes=flow.interval_minutes)
        ):
            since = flow.last_run_at
            why = (
                f"{flow.name} ({flow.trigger} every {flow.interval_minutes} min) "
                f"last ran {_clock(flow.last_run_at)}"
            )
        if since is None:
            continue
        lags.append(_behind(flow.hop, since, now, why, channel=flow.channel, via=flow.name))
    return lags, covered


# --- breach state -------------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class LatencyState:
    """Open and posted breaches, in the ``latency_breaches`` table of the store's file."""

    def __init__(self, path: Path | str, *, scope: str = "default") -> None:
        self.path = Path(path)
        self.scope = scope
        self._conn = connect(path)
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def record(
        self,
        reading: LatencyReading,
        *,
        threshold: int = THRESHOLD_MINUTES,
        hops: frozenset[str] = ALERTED_HOPS,
    ) -> list[LatencyAlert]:
        """Fold one reading into the state; return every alert not yet posted."""
        now = _iso(reading.observed_at)
        worst = {k: v for k, v in reading.worst().items() if v.hop in hops}
        with write(self._conn) as db:
            open_rows = {
                row[0]: row[1]
                for row in db.execute(
                    "select key, opened_at from latency_breaches "
                    "where scope = ? and status = 'open'",
                    (self.scope,),
                )
            }
            for key, lag in worst.items():
                level = band(lag.lag_minutes, threshold)
                if level < 0:
                    continue
                if key in open_rows:
                    db.execute(
                        "update latency_breaches set band = ?, lag_minutes = ?, worst = ?, "
                        "updated_at = ? where scope = ? and key = ? and opened_at = ?",
                        (
                            level,
                            lag.lag_minutes,
                            lag.model_dump_json(),
                            now,
                            self.scope,
                            key,
                            open_rows.pop(key),
                        ),
                    )
                else:
                    db.execute(
                        "insert into latency_breaches (scope, key, opened_at, hop, channel, "
                        "status, band, lag_minutes, worst, updated_at) "
                        "values (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
                        (
                            self.scope,
                            key,
                            now,
                            lag.hop,
                            lag.channel,
                            level,
                            lag.lag_minutes,
                            lag.model_dump_json(),
                            now,
                        ),
                    )
            # What is left open was not over the threshold this time: recovered if looked at.
            covered = set(reading.covered)
            for key, opened_at in open_rows.items():
                if key in covered:
                    db.execute(
                        "update latency_breaches set status = 'closed', closed_at = ?, "
                        "updated_at = ? where scope = ? and key = ? and opened_at = ?",
                        (now, now, self.scope, key, opened_at),
                    )
            # A breach that opened and closed before it was ever posted is not news.
            db.execute(
                "update latency_breaches set posted_status = 'closed' "
                "where scope = ? and status = 'closed' and posted_status is null",
                (self.scope,),
            )
        return self.pending(threshold)

    def pending(self, threshold: int = THRESHOLD_MINUTES) -> list[LatencyAlert]:
        """Alerts whose state differs from what was last posted."""
        rows = self._conn.execute(
            "select key, opened_at, hop, channel, status, band, lag_minutes, worst, "
            "posted_status, posted_band, posted_lag_minutes from latency_breaches "
            "where scope = ? and (posted_status is null or posted_status != status "
            "or (status = 'open' and posted_band != band)) order by opened_at, key",
            (self.scope,),
        ).fetchall()
        alerts: list[LatencyAlert] = []
        for key, opened, hop, channel, status, _band, lag, worst, posted, _pb, posted_lag in rows:
            kind: AlertKind = (
                "recovered" if status == "closed" else "breach" if posted is None else "changed"
            )
            alerts.append(
                LatencyAlert(
                    kind=kind,
                    key=key,
                    hop=hop,
                    channel=channel,
                    opened_at=datetime.fromisoformat(opened),
                    lag_minutes=lag,
                    previous_lag_minutes=posted_lag,
                    threshold_minutes=threshold,
                    worst=HopLag.model_validate_json(worst),
                )
            )
        return alerts

    def posted(self, alert: LatencyAlert) -> None:
        """Slack accepted ``alert``: remember what it said."""
        with write(self._conn) as db:
            db.execute(
                "update latency_breaches set posted_status = status, posted_band = band, "
                "posted_lag_minutes = lag_minutes "
                "where scope = ? and key = ? and opened_at = ?",
                (self.scope, alert.key, _iso(alert.opened_at)),
            )

    def open_breaches(self) -> list[tuple[str, float, datetime]]:
        """(hop key, lag minutes, opened at) of every open breach (for the map)."""
        return [
            (key, lag, datetime.fromisoformat(opened))
            for key, lag, opened in self._conn.execute(
                "select key, lag_minutes, opened_at from latency_breaches "
                "where scope = ? and status = 'open' order by key",
                (self.scope,),
            )
        ]
