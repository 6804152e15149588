"""Weekly connector health: every middleware flow's status, and its error rate against the bar.

The input is the middleware adapter's ``flow_health(since)``: one ``tools.models.FlowHealth``
per flow of the account, with its status now and its runs over the window (default the last
7 days). Each flow is judged on its own:

    suspended / error         flagged, with the reason and since when the vendor shows
    disabled                  flagged when the config names the flow (an inventory hop is off);
                              a switched-off flow the config does not name is listed, not flagged
    error rate ≥ bar          flagged: failed records / (succeeded + failed) over the window,
                              ignored (filtered) records aside; healthy is under 0.5 % (DESIGN §3)
    stalled                   flagged: a polled or batch inventory flow that is active but has
                              not run for more than twice its interval (at least interval + 15 min)

A flow whose runs could not all be read says its counts are a lower bound. When the middleware
cannot be read at all the report carries the error and counts as not healthy: never a false
"all clear".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.clock import utc_now
from tools.errors import AdapterError
from tools.models import FlowHealth, Hop
from tools.protocols import MiddlewareAdapter

ERROR_RATE_BAR = 0.005  # 0.5 %: webhook / job error rate a healthy connector stays under
WINDOW = timedelta(days=7)
STALL_GRACE = timedelta(minutes=15)

Problem = Literal["suspended", "disabled", "error", "error_rate", "stalled"]

HOP_WORDS: dict[str, str] = {
    "storefront_to_erp": "storefront → ERP",
    "erp_to_storefront": "ERP → storefront",
    "storefront_to_marketplace": "storefront → marketplace",
    "erp_to_marketplace": "ERP → marketplace",
    "wms_to_erp": "WMS → ERP",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlowLine(_Model):
    """One flow in the health report: what the vendor shows and what we make of it."""

    flow_id: str
    name: str
    hop: Hop | None
    channel: str | None
    status: Literal["active", "suspended", "disabled", "error"]
    reason: str | None
    since: datetime | None
    trigger: Literal["event", "poll", "batch"]
    interval_minutes: int | None
    last_run_at: datetime | None
    runs: int
    failed_runs: int
    records_ok: int
    records_failed: int
    records_ignored: int
    open_errors: int
    error_rate: float | None
    complete: bool
    problems: list[Problem]
    notes: list[str]

    @property
    def flagged(self) -> bool:
        return bool(self.problems)

    @property
    def hop_words(self) -> str:
        if self.hop is None:
            return "not an inventory flow in the config"
        words = HOP_WORDS.get(self.hop, self.hop)
        return f"{words} ({self.channel})" if self.channel else words


class HealthReport(_Model):
    """The weekly connector-health report (``oos health --json`` prints it)."""

    system: str
    checked_at: datetime
    window_start: datetime
    bar: float
    flows: list[FlowLine] = []
    error: str | None = None  # the middleware could not be read: nothing is known

    @property
    def flagged(self) -> list[FlowLine]:
        return [f for f in self.flows if f.flagged]

    @property
    def healthy(self) -> bool:
        return self.error is None and not self.flagged

    @property
    def records_ok(self) -> int:
        return sum(f.records_ok for f in self.flows)

    @property
    def records_failed(self) -> int:
        return sum(f.records_failed for f in self.flows)

    @property
    def error_rate(self) -> float | None:
        processed = self.records_ok + self.records_failed
        return self.records_failed / processed if processed else None


def _stalled(flow: FlowHealth, now: datetime) -> str | None:
    """Why an active polled/batch inventory flow looks stopped, or None."""
    if flow.hop is None or flow.status != "active" or flow.trigger == "event":
        return None
    if not flow.interval_minutes:
        return None
    every = timedelta(minutes=flow.interval_minutes)
    allowed = max(2 * every, every + STALL_GRACE)
    if flow.last_run_at is None:
        if flow.runs == 0 and now - flow.window_start > allowed:
            return f"no run since {when(flow.window_start)}, scheduled every {minutes(every)}"
        return None
    idle = now - flow.last_run_at
    if idle > allowed:
        return f"last ran {minutes(idle)} ago, scheduled every {minutes(every)}"
    return None


def judge(flow: FlowHealth, *, now: datetime, bar: float = ERROR_RATE_BAR) -> FlowLine:
    """One flow's line: its numbers, and which problems (if any) flag it."""
    problems: list[Problem] = []
    notes: list[str] = []
    if flow.status in ("suspended", "error"):
        problems.append(flow.status)
    elif flow.status == "disabled":
        if flow.hop is not None:
            problems.append("disabled")
        else:
            notes.append("switched off; the config does not name it as an inventory flow")
    rate = flow.error_rate
    if rate is not None and rate >= bar:  # healthy means *under* the bar
        problems.append("error_rate")
    stalled = _stalled(flow, now)
    if stalled:
        problems.append("stalled")
        notes.append(stalled)
    if not flow.complete:
        notes.append("more runs than could be read: the counts are a lower bound")
    return FlowLine(
        flow_id=flow.flow_id,
        name=flow.name,
        hop=flow.hop,
        channel=flow.channel,
        status=flow.status,
        reason=flow.status_reason,
        since=flow.status_since,
        trigger=flow.trigger,
        interval_minutes=flow.interval_minutes,
        last_run_at=flow.last_run_at,
        runs=flow.runs,
        failed_runs=flow.failed_runs,
        records_ok=flow.records_ok,
        records_failed=flow.records_failed,
        records_ignored=flow.records_ignored,
        open_errors=flow.open_errors,
        error_rate=rate,
        complete=flow.complete,
        problems=problems,
        notes=notes,
    )


def _order(line: FlowLine) -> tuple[int, int, str]:
    """Flagged first (stopped flows before high error rates), then inventory flows, by name."""
    rank = {"suspended": 0, "error": 1, "disabled": 2, "stalled": 3, "error_rate": 4}
    worst = min((rank[p] for p in line.problems), default=9)
    return worst, int(line.hop is None), line.name.lower()


def build_report(
    flows: Sequence[FlowHealth],
    *,
    system: str,
    now: datetime,
    window_start: datetime,
    bar: float = ERROR_RATE_BAR,
) -> HealthReport:
    lines = sorted((judge(f, now=now, bar=bar) for f in flows), key=_order)
    return HealthReport(
        system=system, checked_at=now, window_start=window_start, bar=bar, flows=lines
    )


async def check_health(
    middleware: MiddlewareAdapter,
    *,
    now: datetime | None = None,
    window: timedelta = WINDOW,
    bar: float = ERROR_RATE_BAR,
) -> HealthReport:
    """Read every flow's health over ``window`` and judge it. A middleware that cannot be read
    gives a report that carries the error (and is not healthy)."""
    now = now or utc_now()
    since = now - window
    try:
        flows = await middleware.flow_health(since)
    except AdapterError as exc:
        return HealthReport(
            system=middleware.system,
            checked_at=now,
            window_start=since,
            bar=bar,
            error=exc.describe(),
        )
    return build_report(flows, system=middleware.system, now=now, window_start=since, bar=bar)


# --- words ------------------------------------------------------------------------------------


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def minutes(span: timedelta) -> str:
    """A duration in the unit people say: ``45 min``, ``3 h 20 min``, ``2 d 4 h``."""
    total = int(span.total_seconds() // 60)
    if total < 60:
        return f"{total} min"
    hours, mins = divmod(total, 60)
    if hours < 48:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f} %"


PROBLEM_WORDS: dict[str, str] = {
    "suspended": "SUSPENDED",
    "disabled": "DISABLED",
    "error": "ERROR",
    "error_rate": "ERROR RATE",
    "stalled": "STALLED",
}


def trigger_words(line: FlowLine) -> str:
    if line.trigger == "event":
        return "event"
    every = (
        f" every {minutes(timedelta(minutes=line.interval_minutes))}"
        if line.interval_minutes
        else ""
    )
    return f"{line.trigger}{every}"


def flow_summary(line: FlowLine, bar: float) -> list[str]:
    """What to say about one flow, one phrase per fact (shared by the CLI and Slack)."""
    said: list[str] = []
    if line.status != "active":
        since = f" since {when(line.since)}" if line.since else ""
        said.append(f"{line.status}{since}: {line.reason or 'no reason recorded by the vendor'}")
    processed = line.records_ok + line.records_failed
    if processed:
        over = f" — over the {percent(bar)} bar" if "error_rate" in line.problems else ""
        said.append(
            f"{percent(line.error_rate)} of {processed:,} records failed ({line.records_failed:,}){over}"
        )
    else:
        said.append("no records in the window")
    if line.failed_runs:
        said.append(f"{line.failed_runs} of {line.runs} runs failed")
    if line.open_errors:
        said.append(f"{line.open_errors:,} open error(s)")
    said.extend(line.notes)
    return said


def render_text(report: HealthReport) -> str:
    """The report for a terminal (``oos health``)."""
    head = (
        f"Connector health · {report.system} · {when(report.window_start)} → "
        f"{when(report.checked_at)} · error-rate bar {percent(report.bar)}"
    )
    if report.error is not None:
        return f"{head}\n\nNOT CHECKED  the connector could not be read: {report.error}\n"
    flagged = report.flagged
    total = report.records_ok + report.records_failed
    verdict = (
        f"{len(flagged)} of {len(report.flows)} flow(s) need attention"
        if flagged
        else f"all {len(report.flows)} flow(s) healthy"
    )
    out = [head, "", f"{verdict} · {total:,} records, {percent(report.error_rate)} failed", ""]
    for line in report.flows:
        mark = ", ".join(PROBLEM_WORDS[p] for p in line.problems) or "ok"
        out.append(f"{mark:<10}  {line.name} ({line.flow_id})")
        out.append(f"{'':<12}{line.hop_words} · {trigger_words(line)}")
        for phrase in flow_summary(line, report.bar):
            out.append(f"{'':<12}{phrase}")
    return "\n".join(out) + "\n"
