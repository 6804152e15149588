"""How ``oos`` logs: to stderr, every line timestamped, as text or as one JSON object per line
(``--log-format json`` or ``OOS_LOG_FORMAT=json``), and the triage a line belongs to.

``triage_context`` sets the triage id (and SKU) in a context variable at the start of a triage;
asyncio copies the context into every task the triage starts, so each line logged on its behalf —
down to every vendor call — carries the same id without passing it around. The formatters read
each record after the loggers' filters ran, so what ``tools.redact`` masked stays masked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

from tools import observe, redact

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

_TRIAGE: ContextVar[tuple[str, str] | None] = ContextVar("oos_triage", default=None)


def new_triage_id() -> str:
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def triage_context(sku: str, triage_id: str | None = None) -> Iterator[str]:
    """Lines logged inside (and in tasks started inside) carry this triage's id and SKU."""
    token = _TRIAGE.set((triage_id or new_triage_id(), sku))
    try:
        yield _TRIAGE.get()[0]  # type: ignore[index]
    finally:
        _TRIAGE.reset(token)


def current_triage() -> tuple[str, str] | None:
    """(triage id, SKU) of the triage this code runs for, if any."""
    return _TRIAGE.get()


class _NotBoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the client
    we hand it (which takes its token from ``authorize``) makes that token unused: true, and
    intended, but it reads like a misconfiguration on every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name.startswith("slack_bolt")
            and str(record.msg).startswith("As you gave `client` as well, `token` will be unused")
        )


class _TriageFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _TRIAGE.get()
        record.triage_id, record.sku = current if current else (None, None)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``2026-11-20T07:00:00.123+00:00 INFO bot.slack.server [triage 3f…] message``."""

    def format(self, record: logging.LogRecord) -> str:
        triage = getattr(record, "triage_id", None)
        where = f" [triage {triage} {getattr(record, 'sku', '')}]" if triage else ""
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name}{where}: {record.getMessage()}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, and ``triage_id`` /
    ``sku`` inside a triage, ``exc`` with a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if triage := getattr(record, "triage_id", None):
            entry["triage_id"] = triage
            entry["sku"] = getattr(record, "sku", None)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def log_format(flag: str | None = None) -> LogFormat:
    """The flag's format, else ``$OOS_LOG_FORMAT``, else text; ``ValueError`` for another word."""
    chosen = (flag or os.environ.get("OOS_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"OOS_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (tests swap it)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


@contextlib.contextmanager
def configured(level: int, fmt: LogFormat = "text") -> Iterator[None]:
    """While inside, the root logger sends records at ``level`` and up to stderr in ``fmt``;
    the root's level and handlers are as before afterwards."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_TriageFilter())
    handler.addFilter(_NotBoltTokenNotice())
    # Every line of every library, with every registered secret (``tools.redact.SECRETS``)
    # and every variable named like one, masked: stderr with -v is as clean as the report.
    redact.install(handler, redact.Redactor.from_env())
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    # bot.calls says the same about every vendor call, with the triage id; httpx's own line
    # (the full URL, every Slack call too) would double the log.
    quiet = logging.getLogger("httpx")
    quiet_before = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    stop_listening = observe.subscribe(log_call)
    try:
        yield
    finally:
        stop_listening()
        quiet.setLevel(quiet_before)
        root.removeHandler(handler)
        root.setLevel(before)


_calls = logging.getLogger("bot.calls")


def log_call(event: observe.Event) -> None:
    """One INFO line per vendor attempt (and per Slack rate-limit retry)."""
    if isinstance(event, observe.VendorCall):
        status = event.status if event.status is not None else event.error
        _calls.info("%s %s -> %s in %.2fs", event.system, event.endpoint, status, event.seconds)
    else:
        _calls.info("slack %s -> %s, retried", event.method, event.status)


def has_handler() -> bool:
    """Whether ``configured`` is in force (``oos serve`` run as a module sets up its own)."""
    return any(isinstance(h, _Stderr) for h in logging.getLogger().handlers)
