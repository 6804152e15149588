"""Monitoring posts: the daily drift post, the weekly health post, latency alerts, the map."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from bot.monitor.health import HOP_WORDS, flow_summary, minutes, percent, trigger_words
from bot.slack.blocks.common import (
    MAX_SECTION_TEXT,
    Block,
    Blocks,
    Message,
    button,
    esc,
    mrkdwn,
    plain,
    slack_date,
)
from bot.slack.blocks.notices import notice

if TYPE_CHECKING:
    from bot.monitor.drift import DriftItem, DriftResult
    from bot.monitor.health import HealthReport
    from bot.monitor.latency import LatencyAlert
    from bot.monitor.lowstock import LowStock
    from bot.monitor.map import TriggerMap


ACTION_MONITOR_TRIAGE = "oos_monitor_triage"

_PROBLEM_ICON = {
    "suspended": ":red_circle:",
    "error": ":red_circle:",
    "disabled": ":black_circle:",
    "stalled": ":large_orange_circle:",
    "error_rate": ":large_orange_circle:",
}


def _with_button(b: Blocks, text: str, accessory: Block) -> None:
    b.blocks.append(
        {
            "type": "section",
            "text": mrkdwn(b._fit(text, MAX_SECTION_TEXT)),
            "accessory": accessory,
        }
    )


def monitor_triage_button(sku: str) -> Block:
    """Starts ``/oos SKU`` for the listed SKU, in the channel of the post."""
    return button(":mag: Triage", ACTION_MONITOR_TRIAGE, sku)


def _episode(item: DriftItem) -> str:
    if item.status == "new":
        return ":new: new"
    return "open under a day" if item.days_open == 0 else f"open {item.days_open} d"


def drift_post(
    result: DriftResult,
    *,
    worst: int = 10,
    low: LowStock | None = None,
    csv_name: str | None = None,
    low_csv_name: str | None = None,
) -> Message:
    """The daily drift post: how many compared and flagged, new / open / resolved, the worst
    offenders with a Triage button each, low stock, and where the full list is."""
    c = result.counts
    b = Blocks()
    b.header(f"Catalog drift · {result.ran_at.astimezone(UTC):%Y-%m-%d}")
    measure = "on hand" if result.measure == "on_hand" else "available"
    units = "unit" if result.threshold == 1 else "units"
    systems = f"{esc(result.storefront)} vs {esc(result.erp)}, {measure}"
    if c.compared == 0:
        b.section(
            f":warning: *No SKU could be compared* ({systems}): nothing is known about drift "
            "today. The CSV and the server log say what each system returned."
        )
        text = "Catalog drift: no SKU could be compared"
    elif c.flagged == 0:
        b.section(
            f":large_green_circle: *{c.compared:,}* SKUs compared ({systems}): none disagrees "
            f"by more than {result.threshold} {units}."
        )
        text = f"Catalog drift: {c.compared:,} SKUs compared, none over {result.threshold} {units}"
    else:
        b.section(
            f":large_orange_circle: *{c.compared:,}* SKUs compared ({systems}): *{c.flagged:,}* "
            f"disagree by more than {result.threshold} {units}."
        )
        text = (
            f"Catalog drift: {c.flagged:,} of {c.compared:,} SKUs disagree by more than "
            f"{result.threshold} {units} ({c.new} new, {c.open} still open, {c.resolved} resolved)"
        )
    nc = result.not_compared
    skipped = nc.storefront_only + nc.erp_only + nc.untracked + nc.duplicate_skus
    longest = max((i.days_open for i in result.flagged if i.status == "open"), default=None)
    since = f"since {slack_date(result.previous_run_at)}" if result.previous_run_at else "first run"
    fields = [
        f"*New* ({since})\n{c.new:,}",
        f"*Still open*\n{c.open:,}" + (f" (longest {longest} d)" if longest else ""),
        f"*Resolved*\n{c.resolved:,}",
        f"*Not compared*\n{skipped:,}"
        + (
            f" ({nc.storefront_only} storefront only, {nc.erp_only} ERP only, "
            f"{nc.untracked} untracked, {nc.duplicate_skus} duplicate SKUs)"
            if skipped
            else ""
        ),
    ]
    if result.unverified:
        fields.append(f"*Open, not compared today*\n{len(result.unverified):,}")
    b.fields(fields)
    shown = result.worst(worst)
    if shown:
        more = f" (the {len(shown)} largest of {c.flagged:,})" if c.flagged > len(shown) else ""
        b.section(f"*Largest gaps*{more}")
        for item in shown:
            _with_button(
                b,
                f"`{esc(item.sku)}` · storefront *{item.storefront}* · ERP *{item.erp}* · "
                f"gap *{item.gap:+d}* · {_episode(item)}",
                monitor_triage_button(item.sku),
            )
    if result.resolved:
        names = ", ".join(f"`{esc(i.sku)}`" for i in result.resolved[:10])
        rest = f" and {len(result.resolved) - 10:,} more" if len(result.resolved) > 10 else ""
        b.section(f":white_check_mark: *Resolved since the last run:* {names}{rest}")
    if low is not None:
        b.section(_low_stock_text(low, low_csv_name))
    where = f"The full list is in `{esc(csv_name)}` in the thread. " if csv_name else ""
    b.context(f"{where}Run `{result.run_id}` · {result.seconds:.1f} s")
    return b.done(text)


def _low_stock_text(low: LowStock, csv_name: str | None) -> str:
    factor = f"{low.factor:g}"
    if low.low == 0:
        return f":package: *Low stock:* none of {low.checked:,} SKUs is under {factor} × its daily sell-through."
    lines = [
        f":package: *Low stock:* {low.low:,} of {low.checked:,} SKUs are under {factor} × their "
        "average daily sell-through"
    ]
    for item in low.worst[:5]:
        lines.append(
            f"• `{esc(item.sku)}` {item.available} available, sells {item.daily:.1f} a day "
            f"({item.cover_days:.1f} days of cover)"
        )
    if low.low > 5:
        where = f": `{esc(csv_name)}` in the thread lists them" if csv_name else ""
        lines.append(f"…and {low.low - 5:,} more{where}")
    return "\n".join(lines)


def health_post(report: HealthReport) -> Message:
    """The weekly connector-health post: every flow's status, error rates against the bar,
    stopped or erroring flows named with their reason."""
    b = Blocks()
    b.header(f"Connector health · {esc(report.system)} · week to {report.checked_at:%Y-%m-%d}")
    if report.error is not None:
        b.section(
            f":warning: *The connector could not be read*, so its health is unknown: "
            f"{esc(report.error)}"
        )
        return b.done(f"Connector health: {plain(report.system)} could not be read")
    flagged = report.flagged
    rate = percent(report.error_rate)
    total = report.records_ok + report.records_failed
    if flagged:
        b.section(
            f":large_orange_circle: *{len(flagged)} of {len(report.flows)} flows need "
            f"attention* · {total:,} records this week, {rate} failed (bar {percent(report.bar)})"
        )
        text = f"Connector health: {len(flagged)} of {len(report.flows)} flows need attention"
    else:
        b.section(
            f":large_green_circle: *All {len(report.flows)} flows healthy* · {total:,} records "
            f"this week, {rate} failed (bar {percent(report.bar)})"
        )
        text = f"Connector health: all {len(report.flows)} flows healthy"
    for line in flagged[:20]:
        icon = _PROBLEM_ICON[line.problems[0]]
        said = "\n".join(f"• {esc(s)}" for s in flow_summary(line, report.bar))
        b.section(
            f"{icon} *{esc(line.name)}* (`{esc(line.flow_id)}`) · {esc(line.hop_words)} · "
            f"{trigger_words(line)}\n{said}"
        )
    healthy = [f for f in report.flows if not f.flagged]
    if healthy:
        names = ", ".join(f"{esc(f.name)} ({percent(f.error_rate)})" for f in healthy[:15])
        rest = f" and {len(healthy) - 15} more" if len(healthy) > 15 else ""
        b.context(f":white_check_mark: Healthy: {names}{rest}")
    return b.done(text)


def _hop_words(hop: str, channel: str | None) -> str:
    """The hop in words (unescaped: the channel is a vendor's name)."""
    words = HOP_WORDS.get(hop, hop)
    return f"{words} ({channel})" if channel else words


def latency_post(alert: LatencyAlert) -> Message:
    """One latency alert: a breach opened, its lag changed band, or it recovered."""
    words = _hop_words(alert.hop, alert.channel)
    hop = esc(words)
    lag = minutes(timedelta(minutes=alert.lag_minutes))
    over = f"over {alert.threshold_minutes} min"
    b = Blocks()
    if alert.kind == "breach":
        head = f":hourglass_flowing_sand: *Sync latency:* {hop} is *{lag}* behind ({over})"
    elif alert.kind == "changed":
        was = (
            minutes(timedelta(minutes=alert.previous_lag_minutes))
            if alert.previous_lag_minutes is not None
            else "?"
        )
        head = f":arrows_counterclockwise: *Sync latency:* {hop} is now *{lag}* behind (was {was}, {over})"
    else:
        head = (
            f":white_check_mark: *Sync latency:* {hop} is back within {alert.threshold_minutes} min"
        )
    detail = esc(alert.worst.detail)
    via = f" · via {esc(alert.worst.via)}" if alert.worst.via else ""
    body = f"{head}\n{detail}{via}" if alert.kind != "recovered" else head
    if alert.worst.sku and alert.kind != "recovered":
        _with_button(b, body, monitor_triage_button(alert.worst.sku))
    else:
        b.section(body)
    b.context(f"Breach opened {slack_date(alert.opened_at)}")
    hop = plain(words)
    fallback = {
        "breach": f"Sync latency: {hop} is {lag} behind",
        "changed": f"Sync latency: {hop} is now {lag} behind",
        "recovered": f"Sync latency: {hop} is back within {alert.threshold_minutes} min",
    }[alert.kind]
    return b.done(fallback)


def map_comment(m: TriggerMap) -> str:
    """The text that goes with the map's PNG: one line per hop, for search and screen readers."""
    lines = [f"Trigger chain · {plain(m.name)}"]
    for h in m.hops:
        reason = f" ({plain(h.status_reason)})" if h.status_reason else ""
        lines.append(
            f"• {plain(h.source)} → {plain(h.target)}: {plain(h.trigger_words())} · "
            f"{plain(h.lag_words())}{reason}"
        )
    lines += [f":warning: {plain(n)}" for n in m.notes]
    return "\n".join(lines)


def monitor_working(command: str) -> Message:
    words = {
        "drift": "Scanning the catalog for drift",
        "health": "Reading the connector's flows",
        "map": "Drawing the trigger-chain map",
    }.get(command, "Working")
    return notice(f":hourglass_flowing_sand: {words}… the result will be posted in this channel.")


def monitor_failed(command: str, reference: str) -> Message:
    return notice(
        f":warning: `/oos {command}` could not finish. Reference `{reference}` "
        "(the details are in the server log)."
    )
