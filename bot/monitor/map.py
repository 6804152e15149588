"""The trigger-chain map: each hop between the connected systems, classified event / poll /
batch with its interval and the lag observed, drawn as a picture (PNG) — people read a chain
faster than a table.

Hops, and where each one's classification comes from:

    storefront → (connector) → ERP     the connector's ``storefront_to_erp`` flows
    ERP → (connector) → storefront     its ``erp_to_storefront`` flows
    storefront → each marketplace      its ``storefront_to_marketplace`` flows for that channel;
                                       with none, the channel is fed some other way (a channel
                                       app, a repricer) and the hop is drawn dashed, "not via the
                                       connector"
    ERP → marketplace                  its ``erp_to_marketplace`` flows, when there are any
    WMS → ERP                          its ``wms_to_erp`` flows, or, where a WMS is configured
                                       without one, a batch of unknown interval

A hop several flows carry is classified by the slowest active one (batch over poll over event,
then the longest interval): that is what bounds its lag. The lag is the worst one a latency
reading saw on the hop (``bot.monitor.latency``); a hop looked at with nothing behind shows
"in step", one not looked at "not observed". A stopped flow says so in red.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict

from bot.monitor.health import minutes
from bot.monitor.latency import THRESHOLD_MINUTES, LatencyReading, hop_key
from tools.models import FlowHealth, Hop

Trigger = Literal["event", "poll", "batch", "unknown"]
HopStatus = Literal["active", "suspended", "disabled", "error", "none"]

VENDOR_NAMES = {
    "shopify": "Shopify",
    "amazon-sp-api": "Amazon",
    "amazon": "Amazon",
    "celigo": "Celigo",
    "netsuite": "NetSuite",
    "walmart": "Walmart",
    "ebay": "eBay",
    "bigcommerce": "BigCommerce",
    "magento": "Magento",
    "boomi": "Boomi",
    "patchworks": "Patchworks",
    "business-central": "Business Central",
    "sap": "SAP",
}
_SLOWNESS = {"event": 0, "poll": 1, "batch": 2, "unknown": 3}
_STOPPED_RANK = {"suspended": 0, "error": 1, "disabled": 2}


def display(vendor: str) -> str:
    return VENDOR_NAMES.get(vendor.lower(), vendor.replace("-", " ").replace("_", " ").title())


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Systems(_Model):
    """The connected systems by vendor: what the map draws as boxes."""

    storefront: str
    middleware: str
    erp: str
    marketplaces: list[tuple[str, str]] = []  # (channel, vendor)
    wms: str | None = None


class MapHop(_Model):
    hop: Hop
    channel: str | None = None
    source: str
    target: str
    via_connector: bool
    flows: list[str] = []
    trigger: Trigger
    interval_minutes: int | None = None
    status: HopStatus
    status_reason: str | None = None
    lag_minutes: float | None = None
    observed: bool = False
    lag_over: bool = False

    @property
    def key(self) -> str:
        return hop_key(self.hop, self.channel)

    def trigger_words(self) -> str:
        if self.trigger == "unknown":
            return (
                "trigger unknown"
                if self.via_connector or self.hop == "wms_to_erp"
                else "not via the connector"
            )
        if self.trigger == "event":
            return "event"
        every = (
            minutes(timedelta(minutes=self.interval_minutes))
            if self.interval_minutes
            else "interval unknown"
        )
        return f"{self.trigger} · {every}"

    def lag_words(self) -> str:
        if self.status in _STOPPED_RANK:
            return self.status.upper()
        if not self.observed:
            return "lag not observed"
        if self.lag_minutes is None:
            return "in step"
        return f"lag {minutes(timedelta(minutes=self.lag_minutes))}"


class TriggerMap(_Model):
    """The map as data (``oos map --json``) — the PNG is drawn from it."""

    name: str
    drawn_at: datetime
    threshold_minutes: int
    systems: Systems
    hops: list[MapHop]
    notes: list[str] = []  # what could not be read


def _classify(flows: Sequence[FlowHealth]) -> tuple[Trigger, int | None, HopStatus, str | None]:
    """Trigger, interval, status and reason of a hop from the flows that carry it."""
    if not flows:
        return "unknown", None, "none", None
    active = [f for f in flows if f.status == "active"]
    if not active:
        worst = min(flows, key=lambda f: _STOPPED_RANK.get(f.status, 9))
        return worst.trigger, worst.interval_minutes, worst.status, worst.status_reason
    slowest = max(active, key=lambda f: (_SLOWNESS[f.trigger], f.interval_minutes or 0))
    return slowest.trigger, slowest.interval_minutes, "active", None


def build_map(
    systems: Systems,
    flows: Sequence[FlowHealth],
    reading: LatencyReading | None,
    *,
    now: datetime,
    name: str = "stack",
    threshold_minutes: int = THRESHOLD_MINUTES,
    notes: Sequence[str] = (),
) -> TriggerMap:
    inventory = [f for f in flows if f.hop is not None]
    worst = reading.worst() if reading else {}
    covered = set(reading.covered) if reading else set()
    sf, mw, erp = display(systems.storefront), display(systems.middleware), display(systems.erp)

    def make(hop: Hop, channel: str | None, source: str, target: str, direct_ok: bool) -> MapHop:
        carrying = [
            f for f in inventory if f.hop == hop and (channel is None or f.channel == channel)
        ]
        trigger, interval, status, reason = _classify(carrying)
        if not carrying and hop == "wms_to_erp":
            trigger = "batch"
        key = hop_key(hop, channel)
        lag = worst.get(key)
        return MapHop(
            hop=hop,
            channel=channel,
            source=source,
            target=target,
            via_connector=bool(carrying) or not direct_ok,
            flows=[f.name for f in carrying],
            trigger=trigger,
            interval_minutes=interval,
            status=status,
            status_reason=reason,
            lag_minutes=lag.lag_minutes if lag else None,
            observed=key in covered or lag is not None,
            lag_over=lag is not None and lag.lag_minutes > threshold_minutes,
        )

    hops = [
        make("storefront_to_erp", None, sf, erp, False),
        make("erp_to_storefront", None, erp, sf, False),
    ]
    for channel, vendor in systems.marketplaces:
        hops.append(make("storefront_to_marketplace", channel, sf, display(vendor), True))
        if any(f.hop == "erp_to_marketplace" and f.channel == channel for f in inventory):
            hops.append(make("erp_to_marketplace", channel, erp, display(vendor), True))
    if systems.wms is not None or any(f.hop == "wms_to_erp" for f in inventory):
        wms = display(systems.wms) if systems.wms else "WMS"
        hops.append(make("wms_to_erp", None, wms, erp, True))
    del mw  # the connector is drawn as the box the flows pass through
    return TriggerMap(
        name=name,
        drawn_at=now,
        threshold_minutes=threshold_minutes,
        systems=systems,
        hops=hops,
        notes=list(notes),
    )


def render_text(m: TriggerMap) -> str:
    """The map as lines, for a terminal (``oos map`` prints it beside writing the PNG)."""
    out = [f"Trigger chain · {m.name} · {m.drawn_at.astimezone(UTC):%Y-%m-%d %H:%M UTC}", ""]
    for h in m.hops:
        via = f" via {display(m.systems.middleware)}" if h.via_connector and h.flows else ""
        flows = f" ({', '.join(h.flows)})" if h.flows else ""
        reason = f": {h.status_reason}" if h.status_reason else ""
        out.append(
            f"{h.source} → {h.target}{via}  ·  {h.trigger_words()}  ·  {h.lag_words()}{reason}{flows}"
        )
    out += [f"note: {n}" for n in m.notes]
    return "\n".join(out) + "\n"


# --- drawing ------------------------------------------------------------------------------------

WIDTH, HEIGHT = 1600, 1060
BOX_W, BOX_H = 280, 110
INK = (33, 37, 41)
MUTED = (108, 117, 125)
PAPER = (255, 255, 255)
BOX_FILL = (241, 243, 245)
CONNECTOR_FILL = (231, 240, 255)
GREEN = (25, 135, 84)
RED = (200, 35, 51)
AMBER = (204, 122, 0)
GREY = (150, 156, 162)

Point = tuple[float, float]
Colour = tuple[int, int, int]
Line = tuple[str, Colour, bool]  # text, colour, bold


@cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(name, size)
    except OSError:
        # No DejaVu on this machine: Pillow's own scalable font reads just as well.
        return ImageFont.load_default(size=size)


def _colour(h: MapHop) -> Colour:
    if h.status in _STOPPED_RANK:
        return RED
    if h.lag_over:
        return AMBER if h.lag_minutes is not None and h.lag_minutes < 2 * 60 else RED
    if not h.via_connector and h.status == "none":
        return GREY
    return GREEN if h.observed else INK


def _box(
    draw: ImageDraw.ImageDraw,
    centre: Point,
    size: Point,
    title: str,
    subtitle: str,
    fill: Colour = BOX_FILL,
) -> None:
    (cx, cy), (w, h) = centre, size
    draw.rounded_rectangle(
        (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), radius=16, fill=fill, outline=INK, width=3
    )
    draw.text((cx, cy - 12), title, font=_font(28, bold=True), fill=INK, anchor="mm")
    draw.text((cx, cy + 24), subtitle, font=_font(18), fill=MUTED, anchor="mm")


def _segment(
    draw: ImageDraw.ImageDraw, a: Point, b: Point, colour: Colour, dashed: bool, width: int = 5
) -> None:
    if not dashed:
        draw.line((*a, *b), fill=colour, width=width)
        return
    steps = max(1, int(math.dist(a, b) // 16))
    for i in range(0, steps, 2):
        s, e = i / steps, min((i + 1) / steps, 1.0)
        draw.line(
            (
                a[0] + (b[0] - a[0]) * s,
                a[1] + (b[1] - a[1]) * s,
                a[0] + (b[0] - a[0]) * e,
                a[1] + (b[1] - a[1]) * e,
            ),
            fill=colour,
            width=width,
        )


def _path(
    draw: ImageDraw.ImageDraw,
    points: Sequence[Point],
    colour: Colour,
    *,
    dashed: bool = False,
    head: bool = True,
) -> None:
    """A polyline through ``points`` with an arrowhead at the last one."""
    *body, before, tip = points
    angle = math.atan2(tip[1] - before[1], tip[0] - before[0])
    end = (tip[0] - 18 * math.cos(angle), tip[1] - 18 * math.sin(angle)) if head else tip
    route = [*body, before, end]
    for a, b in itertools.pairwise(route):
        _segment(draw, a, b, colour, dashed)
    if head:
        left = (tip[0] - 24 * math.cos(angle - 0.45), tip[1] - 24 * math.sin(angle - 0.45))
        right = (tip[0] - 24 * math.cos(angle + 0.45), tip[1] - 24 * math.sin(angle + 0.45))
        draw.polygon((tip, left, right), fill=colour)


def _label(draw: ImageDraw.ImageDraw, at: Point, lines: Sequence[Line]) -> None:
    """Lines of text centred on ``at``, on a white pad so they stay readable over lines."""
    fonts = [_font(19, bold=bold) for _, _, bold in lines]
    boxes = [draw.textbbox((0, 0), t, font=f) for (t, _, _), f in zip(lines, fonts, strict=True)]
    heights = [b[3] - b[1] for b in boxes]
    width = max(b[2] - b[0] for b in boxes) + 20
    height = sum(heights) + 8 * (len(lines) - 1) + 16
    x0, y0 = at[0] - width / 2, at[1] - height / 2
    draw.rounded_rectangle(
        (x0, y0, x0 + width, y0 + height), radius=8, fill=PAPER, outline=(206, 212, 218)
    )
    y = y0 + 8
    for (text, colour, _), font, h in zip(lines, fonts, heights, strict=True):
        draw.text((at[0], y + h / 2), text, font=font, fill=colour, anchor="mm")
        y += h + 8


def _hop_label(h: MapHop, *, title: bool = False) -> list[Line]:
    lines: list[Line] = [(f"{h.source} → {h.target}", MUTED, False)] if title else []
    lines += [(h.trigger_words(), INK, True), (h.lag_words(), _colour(h), True)]
    if h.status_reason:
        reason = h.status_reason if len(h.status_reason) <= 34 else h.status_reason[:33] + "…"
        lines.append((reason, RED, False))
    return lines


def render_png(m: TriggerMap) -> bytes:
    """Draw the map: a box per system, an arrow per hop labelled with its trigger and lag."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.text((60, 36), f"Trigger chain · {m.name}", font=_font(36, bold=True), fill=INK)
    draw.text(
        (60, 88),
        f"drawn {m.drawn_at.astimezone(UTC):%Y-%m-%d %H:%M UTC} · a lag over "
        f"{m.threshold_minutes} min is a breach",
        font=_font(20),
        fill=MUTED,
    )
    for i, note in enumerate(m.notes[:3]):
        draw.text((60, 124 + 28 * i), f"! {note}", font=_font(19), fill=RED)

    by_hop = {h.key: h for h in m.hops}
    row = 420.0
    sf, mw, erp = (200.0, row), (800.0, row), (1400.0, row)
    size = (float(BOX_W), float(BOX_H))
    _box(draw, sf, size, display(m.systems.storefront), "storefront")
    _box(draw, mw, size, display(m.systems.middleware), "connector", CONNECTOR_FILL)
    _box(draw, erp, size, display(m.systems.erp), "ERP")
    half = BOX_W / 2

    # Storefront → connector → ERP on the upper lane, ERP → connector → storefront on the lower.
    for h, y, leftward, label_y in (
        (by_hop["storefront_to_erp"], row - 28, False, row - 110),
        (by_hop["erp_to_storefront"], row + 28, True, row + 110),
    ):
        ends = [(sf[0] + half, y), (mw[0] - half, y), (mw[0] + half, y), (erp[0] - half, y)]
        if leftward:
            ends.reverse()
        dashed = h.status != "active"
        _path(draw, ends[:2], _colour(h), dashed=dashed, head=False)
        _path(draw, ends[2:], _colour(h), dashed=dashed)
        _label(draw, ((ends[0][0] + ends[1][0]) / 2, label_y), _hop_label(h, title=True))

    # Marketplaces along the bottom, each fed by its own elbow from the connector (or, when no
    # connector flow carries it, from the storefront: dashed, "not via the connector").
    channels = [h for h in m.hops if h.hop == "storefront_to_marketplace"]
    top = 880.0
    if channels:
        n = len(channels)
        left, right = 360.0, WIDTH - 40.0
        slot = (right - left) / n
        box_w = min(float(BOX_W), slot - 24)
        for i, h in enumerate(channels):
            cx = left + slot * (i + 0.5)
            _box(draw, (cx, top + 50), (box_w, 100.0), h.target, f"marketplace · {h.channel}")
            # Lanes stack bottom-up left to right, so no elbow crosses another's path.
            lane = row + half - 40 + 150 + 24 * (n - 1 - i)
            if h.via_connector:
                x0 = mw[0] + (i - (n - 1) / 2) * 36
                start = (x0, row + BOX_H / 2)
            else:
                x0 = sf[0] + (i - (n - 1) / 2) * 36
                start = (x0, row + BOX_H / 2)
            _path(
                draw,
                [start, (x0, lane), (cx, lane), (cx, top)],
                _colour(h),
                dashed=h.status != "active",
            )
            _label(draw, (cx, top - 70), _hop_label(h))

    wms = by_hop.get("wms_to_erp")
    if wms is not None:
        centre = (erp[0], 200.0)
        _box(draw, centre, (float(BOX_W), 90.0), wms.source, "WMS")
        x = erp[0]
        _path(
            draw,
            [(x, centre[1] + 45), (x, row - BOX_H / 2)],
            _colour(wms),
            dashed=wms.status not in ("active", "none"),
        )
        _label(draw, (x - 200, (centre[1] + 45 + row - BOX_H / 2) / 2), _hop_label(wms, title=True))

    for i, h in enumerate(hop for hop in m.hops if hop.hop == "erp_to_marketplace"):
        draw.text(
            (erp[0] - half, row + BOX_H / 2 + 16 + 24 * i),
            f"ERP → {h.target}: {h.trigger_words()}, {h.lag_words()}",
            font=_font(18),
            fill=_colour(h),
        )

    draw.text(
        (60, HEIGHT - 44),
        "event: pushed as it happens · poll: pulled every interval · batch: sent in bulk on a "
        "schedule · dashed: stopped, or not via the connector",
        font=_font(18),
        fill=MUTED,
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
