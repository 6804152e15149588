"""Celigo's wire records and the pure parsing of them (jobs, step errors, flow steps, schedules).

No I/O: the adapter (``tools.middleware.celigo``) and the contract tests feed Celigo's own JSON to
these functions. The wire shapes are the ones the adapter's module docstring lists.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

# Error ``source`` values (VERIFIED-2026-12 §2f): Celigo's own steps vs the applications.
_CONNECTOR_SOURCES = frozenset(
    {
        "internal",
        "resource",
        "lookup",
        "transformation",
        "output_filter",
        "input_filter",
        "import_filter",
        "mapping",
        "response_mapping",
    }
)
_APPLICATION_SOURCES = frozenset({"application", "connection"})
_RATE_LIMIT_CODES = frozenset({"rate_limited", "rate_limit", "too_many_requests", "429"})
SYSTEM = "celigo"
DEFAULT_TRACE_SEPARATOR = "|"


# --- parsed wire records ---------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One Celigo job (``GET /jobs``, ``/flows/{id}/jobs/latest``)."""

    id: str
    type: str | None
    status: str | None
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    num_error: int
    num_success: int
    num_ignore: int
    num_export: int = 0  # records the run's exports picked up (``numExport``)


@dataclass(frozen=True)
class StepError:
    """One error of a flow step (``/flows/{id}/{stepId}/errors``, ``…/resolved``), or a legacy
    job error (``/jobs/{id}/joberrors``: no trace key, ``createdAt``)."""

    at: datetime | None
    code: str | None
    status_code: int | None
    message: str
    source: str | None
    trace_key: str | None
    step_id: str | None = None
    classification: str | None = None
    job_id: str | None = None  # ``_flowJobId``: the flow run the record failed in


@dataclass(frozen=True)
class FlowSteps:
    exports: tuple[str, ...]
    imports: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.exports, *self.imports)


# --- pure parsing (the contract tests feed Celigo's own examples to these) -------------------


def parse_time(value: Any) -> datetime | None:
    """Celigo's ISO 8601 timestamps (``2017-06-19T21:27:09.945Z``) as aware UTC datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """A datetime the way Celigo writes it: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def http_status(code: Any) -> int | None:
    """An error ``code`` as an HTTP status when it is one (``"422"``), else None."""
    if isinstance(code, int) and not isinstance(code, bool):
        number = code
    elif isinstance(code, str) and code.strip().isdigit():
        number = int(code.strip())
    else:
        return None
    return number if 100 <= number <= 599 else None


def _field_period(field: str, unit_max: int) -> int | None:
    """The period of one cron field in its own unit: ``*`` 1, ``*/n`` n, ``0,15,30,45`` 15."""
    if field in ("*", "?"):
        return 1
    if field.startswith("*/") and field[2:].isdigit():
        return int(field[2:]) or None
    if re.fullmatch(r"\d+(,\d+)+", field):
        values = sorted(int(v) for v in field.split(","))
        gaps = {b - a for a, b in itertools.pairwise(values)}
        gaps.add(values[0] + unit_max - values[-1])
        return gaps.pop() if len(gaps) == 1 else None
    return None


def interval_from_cron(expression: str | None) -> int | None:
    """Minutes between runs of a Celigo schedule (6 fields: s m h dom month dow), or None.

    Only schedules with one period are read: every n minutes, hourly, every n hours, daily.
    """
    if not expression:
        return None
    fields = expression.split()
    if len(fields) != 6:
        return None
    _, minute, hour, dom, month, dow = fields
    if any(f not in ("*", "?") for f in (dom, month, dow)):
        return None  # weekly, monthly, weekdays only: no single period
    fixed_minute = minute.isdigit()
    if hour in ("*", "?") and not fixed_minute:
        return _field_period(minute, 60)
    if not fixed_minute:
        return None
    if hour in ("*", "?"):
        return 60
    if hour.isdigit():
        return 24 * 60
    hours = _field_period(hour, 24)
    return hours * 60 if hours else None


def cron_from_interval(minutes: int | None) -> str | None:
    """The Celigo schedule that runs every ``minutes``; None when cron cannot say it."""
    if minutes is None or minutes <= 0:
        return None
    if minutes < 60 and 60 % minutes == 0:
        return f"? */{minutes} * * * *"
    if minutes == 60:
        return "? 0 * * * *"
    if minutes % 60 == 0 and minutes < 24 * 60 and 24 % (minutes // 60) == 0:
        return f"? 0 */{minutes // 60} * * *"
    if minutes == 24 * 60:
        return "? 0 0 ? * *"
    return None


def parse_job(doc: Mapping[str, Any]) -> Job:
    """A job document (``job.example1.json`` shape)."""
    return Job(
        id=str(doc.get("_id", "")),
        type=_str(doc.get("type")),
        status=_str(doc.get("status")),
        created_at=parse_time(doc.get("createdAt")),
        started_at=parse_time(doc.get("startedAt")),
        ended_at=parse_time(doc.get("endedAt")),
        num_error=_int(doc.get("numError")),
        num_success=_int(doc.get("numSuccess")),
        num_ignore=_int(doc.get("numIgnore")),
        num_export=_int(doc.get("numExport")),
    )


def parse_error(doc: Mapping[str, Any], step_id: str | None = None) -> StepError:
    """A flow-step error (``occurredAt``, ``traceKey``) or a legacy job error (``createdAt``)."""
    code = doc.get("code")
    message = doc.get("message")
    return StepError(
        at=parse_time(doc.get("occurredAt")) or parse_time(doc.get("createdAt")),
        code=str(code) if code is not None else None,
        status_code=http_status(code),
        message=message if isinstance(message, str) else "",
        source=_str(doc.get("source")),
        trace_key=_str(doc.get("traceKey")),
        step_id=step_id or _str(doc.get("_expOrImpId")),
        classification=_str(doc.get("classification")),
        job_id=_str(doc.get("_flowJobId")),
    )


def split_trace_key(trace_key: str, separator: str | None) -> tuple[str, str | None]:
    """A trace key as (SKU, record id): ``SKU-1|evt-9`` → (``SKU-1``, ``evt-9``) with the
    separator ``|``; a key without the separator is the SKU alone."""
    if separator:
        sku, found, record = trace_key.partition(separator)
        if found and sku:
            return sku, record or None
    return trace_key, None


def error_side(source: str | None, on_import: bool) -> Literal["destination", "connector"] | None:
    """Who failed the record, from the error's ``source`` (never from a numeric code).

    ``application`` / ``connection`` on an import step: the target system refused or could not
    be reached (``destination``); Celigo's own steps (mapping, lookup, transformation, filters,
    hooks, internal): ``connector``; anything else (the source system failing an export) None.
    """
    if source is None:
        return None
    if source in _CONNECTOR_SOURCES or source.endswith("_hook"):
        return "connector"
    if source in _APPLICATION_SOURCES and on_import:
        return "destination"
    return None


def is_rate_limit(error: StepError) -> bool:
    """Celigo's ``classification`` "Rate limit", its ``code`` text, or a legacy numeric 429."""
    kind = re.sub(r"[^a-z]", "", (error.classification or "").lower())
    code = (error.code or "").lower()
    return kind == "ratelimit" or error.status_code == 429 or code in _RATE_LIMIT_CODES


def flow_steps(doc: Mapping[str, Any]) -> FlowSteps:
    """The exports and imports a flow runs, in order (legacy ``_exportId``/``_importId`` too)."""
    exports: list[str] = []
    imports: list[str] = []

    def add(target: list[str], value: Any) -> None:
        if isinstance(value, str) and value and value not in target:
            target.append(value)

    add(exports, doc.get("_exportId"))
    for generator in _dicts(doc.get("pageGenerators")):
        add(exports, generator.get("_exportId"))
    processors = list(_dicts(doc.get("pageProcessors")))
    for router in _dicts(doc.get("routers")):
        for branch in _dicts(router.get("branches")):
            processors.extend(_dicts(branch.get("pageProcessors")))
    for processor in processors:
        if processor.get("type") == "import" or "_importId" in processor:
            add(imports, processor.get("_importId"))
        else:
            add(exports, processor.get("_exportId"))
    add(imports, doc.get("_importId"))
    return FlowSteps(tuple(exports), tuple(imports))


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return (v for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()
