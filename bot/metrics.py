"""What ``oos serve`` measures, in Prometheus' format at ``GET /metrics`` (prometheus-client).

Counted as things happen: triages (by pattern, cause, confidence) and their latency; every vendor
HTTP attempt (latency, and count by vendor and status — a transport error counts under its
name); Slack rate-limit retries; the agent's model calls, tokens and estimated cost. Read from the
store's SQLite file at each scrape, so they survive restarts: scheduled runs by job and outcome,
and the ticket outbox's depth by state.

Each ``Metrics`` has a registry of its own (tests build several); ``listen`` subscribes it to
``tools.observe`` until the returned function is called.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.report import AgentUsage, Report
from tools import observe

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TRIAGE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120)
_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class LastCall:
    """A vendor's most recent answer, for ``/readyz``."""

    endpoint: str
    status: int | None
    error: str | None
    at: float  # time.time()

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 500 and self.status != 429


class _StoreCollector(Collector):
    """Scheduled runs and the outbox, counted in the store's file at scrape time."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=2) as conn:
                return list(conn.execute(sql).fetchall())
        except sqlite3.Error:  # the table does not exist yet (nothing scheduled, no tickets)
            return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily(
            "oos_scheduled_runs",
            "Scheduled post runs recorded in the store, by job and status (done, failed, skipped, running)",
            labels=["job", "status"],
        )
        for job, status, count in self._rows(
            "select job, status, count(*) from monitor_runs group by job, status"
        ):
            runs.add_metric([job, status], count)
        yield runs
        outbox = GaugeMetricFamily(
            "oos_ticket_outbox",
            "Ticket actions in the outbox, by state (pending is the depth still to send)",
            labels=["state"],
        )
        for state, count in self._rows("select state, count(*) from ticket_outbox group by state"):
            outbox.add_metric([state], count)
        yield outbox


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    last_calls: dict[str, LastCall] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = self.registry
        self.triages = Counter(
            "oos_triages", "Triages finished", ["pattern", "cause", "confidence"], registry=r
        )
        self.triage_seconds = Histogram(
            "oos_triage_seconds", "Wall time of a triage", buckets=_TRIAGE_BUCKETS, registry=r
        )
        self.vendor_seconds = Histogram(
            "oos_vendor_call_seconds",
            "Latency of one vendor HTTP attempt",
            ["vendor"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.vendor_calls = Counter(
            "oos_vendor_calls",
            "Vendor HTTP attempts by status (or transport error)",
            ["vendor", "status"],
            registry=r,
        )
        self.vendor_errors = Counter(
            "oos_vendor_errors",
            "Vendor attempts that failed: 429, 5xx, 401/403 or a transport error",
            ["vendor", "status"],
            registry=r,
        )
        self.slack_retries = Counter(
            "oos_slack_retries", "Slack Web API calls retried", ["method", "status"], registry=r
        )
        self.slack_rate_limited = Counter(
            "oos_slack_rate_limited", "Slack Web API 429 answers", ["method"], registry=r
        )
        self.agent_calls = Counter(
            "oos_agent_model_calls", "LLM agent model calls", ["purpose"], registry=r
        )
        self.agent_tokens = Counter(
            "oos_agent_tokens", "LLM agent tokens", ["purpose", "kind"], registry=r
        )
        self.agent_cost = Counter(
            "oos_agent_cost_usd", "LLM agent cost, estimated from the configured prices", registry=r
        )

    def watch_store(self, db_path: Path) -> None:
        self.registry.register(_StoreCollector(db_path))

    def listen(self) -> Callable[[], None]:
        return observe.subscribe(self.on_event)

    def on_event(self, event: observe.Event) -> None:
        if isinstance(event, observe.SlackRetry):
            self.slack_retries.labels(event.method, str(event.status)).inc()
            if event.status == 429:
                self.slack_rate_limited.labels(event.method).inc()
            return
        status = str(event.status) if event.status is not None else event.error or "error"
        self.vendor_seconds.labels(event.system).observe(event.seconds)
        self.vendor_calls.labels(event.system, status).inc()
        if event.status is None or event.status in (401, 403, 429) or event.status >= 500:
            self.vendor_errors.labels(event.system, status).inc()
        self.last_calls[event.system] = LastCall(
            event.endpoint, event.status, event.error, time.time()
        )

    def triage(self, report: Report) -> None:
        verdict = report.verdict
        self.triages.labels(report.pattern, verdict.cause or "", verdict.confidence).inc()
        self.triage_seconds.observe(report.seconds)

    def agent(self, usage: AgentUsage | None, purpose: str) -> None:
        if usage is None:
            return
        self.agent_calls.labels(purpose).inc(usage.model_calls)
        self.agent_tokens.labels(purpose, "prompt").inc(usage.prompt_tokens)
        self.agent_tokens.labels(purpose, "completion").inc(usage.completion_tokens)
        self.agent_cost.inc(usage.cost_usd)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def vendor_states(self) -> Mapping[str, LastCall]:
        return dict(self.last_calls)
