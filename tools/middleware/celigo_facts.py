"""Celigo wire documents → the normalized middleware facts of ``tools.models``.

Pure functions (no I/O) that the adapter (``tools.middleware.celigo``) composes into a
``MiddlewareSnapshot``: flow status and trigger, error and execution-log entries, audit changes,
SKU and location mappings.

What comes from Celigo and what from the adapter's config (``flows`` = flow ``_id`` →
``FlowMapping``; flows not named there are not inventory flows and are not reported):

    Flow.id, name            flow ``_id``, ``name``
    Flow.last_run_at         flow ``lastExecutedAt``
    Flow.status              ``disabled: true`` → disabled; else a connection used by one of the
                             flow's exports/imports with ``offline: true`` → suspended; else the
                             latest flow job (``/flows/{id}/jobs/latest``) ``status: failed`` →
                             error; else active
    Flow.status_reason       disabled: a fixed text (Celigo records no reason); suspended: the
                             newest open error with ``source: connection`` (else the offline
                             connection's name); error: the newest open error without a trace key
                             (a flow-level failure), else the job's error count
    Flow.status_since        disabled: ``lastModified`` (None while it equals ``createdAt``: the
                             flow was never edited, so Celigo has no switch-off time); suspended:
                             that connection error's ``occurredAt``; error: the job's ``endedAt``
    Flow.trigger             the first page generator's export ``type``: ``webhook`` /
                             ``distributed`` (listeners) → event; ``delta`` / ``once`` (picks up
                             changes since the last run) → poll; any other (full) export → batch
    Flow.interval_minutes    the page generator's (else the flow's) ``schedule``, Celigo's
                             6-field cron (``? */15 * * * *`` → 15, ``? 0 2 ? * *`` → 1440); None
                             when the cron has no single period
    Flow.target_endpoint     the first import's connection ``http.baseURI`` + its
                             ``http.relativeURI``; None for non-HTTP imports
    Flow.hop, channel,       config: Celigo does not know what a flow means to the business, nor
    carries, listens_for,    which webhook topics the source sends to a listener (those are set
    listens_for_raw          up in the source system). ``listens_for`` defaults to ``carries``.

    log (the SKU's entries, from max(since, read time − retention) to the read time):
      error / rate_limited   open and resolved flow errors whose ``traceKey`` names the SKU (set
                             the export's trace key template to ``{{sku}}`` or ``{{sku}}|{{event
                             id}}``; the part after ``trace_key_separator`` is the record id →
                             source_id, which pairs an error with a later delivery of the same
                             record); ``code`` (Celigo's text code) → error_code, and → status_code
                             only when it is an HTTP status; ``source`` → error_source (never a
                             numeric code): application/connection on an import → destination,
                             Celigo's mapping/lookup/transformation/filter/hook/internal →
                             connector; ``classification`` "Rate limit" (or a 429) →
                             rate_limited; ``occurredAt`` → at; ``_flowJobId`` → job_id, and that
                             run's ``numSuccess + numError + numIgnore`` / ``numError`` →
                             job_records / job_failed ("1 of 500 failed")
      received / delivered   execution log rows (``/flows/{id}/jobs/{jobId}/logs``) whose
      / filtered             ``traceKey`` is the SKU: rows of an export step → received, of an
                             import step → delivered, rows of an ``inputFilter``/``outputFilter``
                             stage → filtered; ``time`` → at (else the run's ``startedAt``),
                             ``statusCode``, ``message``, the trace key's record id (else
                             ``recordId``) → source_id, the run → job_id / job_records /
                             job_failed. Import rows with
                             a status ≥ 400 are skipped: the same failure is in the error list.
      (not read)             quantity: it is in the record body (``…/logs/data/query``, one call
                             per record); ``dropped``: Celigo drops nothing silently, records it
                             skips are filter results
    log_window_start         read time − ``retention_days`` when that is after ``since``
                             (Celigo keeps execution logs 7, 15, 30, 60 or 180 days, 30 by
                             default: an account setting the API does not expose, so it is
                             configured); later when the bounds above left runs unread, or when a
                             run that processed records (``numSuccess``) has no execution-log
                             rows. Logging is account-level (Basic on by default; Detailed and
                             Debug add per-record context; a flow's ``logging.debugUntil`` arms
                             Debug for up to 60 min), so a run without rows proves nothing either
                             way: not that the SKU was absent, nor that debug was off. The
                             ``not_visible`` line says which run and that whether the SKU was
                             among its records is not known.

    sku_mapping              a static lookup (``lookups[]`` entry with a ``map`` object) on a
                             configured flow's import named ``sku_lookup`` (default ``sku_map``):
                             a non-empty value → active; an empty value → disabled; no row but a
                             ``default`` with ``allowFailures: true`` → overridden (erp_item =
                             default); no row otherwise → missing (without ``allowFailures``
                             Celigo fails the record and ignores ``default``). No such lookup →
                             None (the flow matches on the SKU itself). ``note`` is never set.
    location_mappings        static lookups named ``location_lookup`` (kind location) and
                             ``source_lookup`` (kind msi_source): each row storefront → ERP id
    changes                  ``GET /audit`` from min(since, read time − 72 h): a connection field
                             naming a password → password_reset, a refresh token → key_refresh, a
                             connector version → app_upgrade, any other token/secret/key/auth
                             field → credential_rotation; an integration ``version`` (or an
                             ``upgrade`` event) → app_upgrade; anything else → config_change.
                             The row's ``event`` (create, update, …; ``action`` is only the
                             filter's name) and ``time``; ``fieldChange.fieldPath`` and
                             ``byUser`` are read when present (not found in Celigo's material:
                             without a field path a connection edit is a config_change).
                             system: the connection's ``assistant`` (else its ``type``), "celigo"
                             for other resources; actor: ``byUser.email``; description: made from
                             the resource, field path and source (values are never copied).
                             Edits to exports, imports and flows that no configured flow uses
                             are left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from tools.middleware.celigo_config import FlowMapping
from tools.middleware.celigo_wire import (
    DEFAULT_TRACE_SEPARATOR,
    SYSTEM,
    FlowSteps,
    Job,
    StepError,
    _dicts,
    _str,
    error_side,
    flow_steps,
    http_status,
    interval_from_cron,
    is_rate_limit,
    parse_time,
    split_trace_key,
)
from tools.models import (
    ChangeEvent,
    Flow,
    LocationMapping,
    MiddlewareLogEntry,
    SkuMapping,
)

Trigger = Literal["event", "poll", "batch"]
Stage = Literal["received", "delivered", "error", "filtered", "dropped", "rate_limited"]
ChangeKind = Literal[
    "credential_rotation", "key_refresh", "app_upgrade", "config_change", "password_reset"
]
_LISTENER_EXPORTS = frozenset({"webhook", "distributed"})
_DELTA_EXPORTS = frozenset({"delta", "once"})
_FILTER_STAGES = frozenset({"inputFilter", "outputFilter"})
_STAGE_ORDER = {"received": 0, "filtered": 1, "dropped": 1, "delivered": 2, "rate_limited": 3}
_CREDENTIAL_WORDS = ("token", "secret", "key", "auth", "credential", "certificate")
_PARENT_TYPES = ("flow", "retry", "bulk_retry")  # parent jobs; export/import are their children


def flow_schedule(doc: Mapping[str, Any]) -> str | None:
    for generator in _dicts(doc.get("pageGenerators")):
        if schedule := _str(generator.get("schedule")):
            return schedule
    return _str(doc.get("schedule"))


def trigger_of(export: Mapping[str, Any] | None) -> Trigger:
    kind = export.get("type") if export else None
    if kind in _LISTENER_EXPORTS:
        return "event"
    if kind in _DELTA_EXPORTS:
        return "poll"
    return "batch"


def target_of(
    import_doc: Mapping[str, Any] | None, connection: Mapping[str, Any] | None
) -> str | None:
    http = import_doc.get("http") if import_doc else None
    if not isinstance(http, Mapping):
        return None
    relative = http.get("relativeURI")
    if isinstance(relative, list):
        relative = next((r for r in relative if isinstance(r, str)), None)
    base = connection.get("http", {}).get("baseURI") if connection else None
    if not isinstance(relative, str) or not isinstance(base, str):
        return None
    if relative and not relative.startswith(("/", "?")):
        relative = "/" + relative
    return base.rstrip("/") + relative


def connection_system(connection: Mapping[str, Any] | None) -> str:
    if not connection:
        return SYSTEM
    return _str(connection.get("assistant")) or _str(connection.get("type")) or SYSTEM


def flow_status(
    doc: Mapping[str, Any],
    connections: Sequence[Mapping[str, Any]],
    latest: Job | None,
    errors: Sequence[StepError],
) -> tuple[Literal["active", "suspended", "disabled", "error"], str | None, datetime | None]:
    """Status, reason and since for one flow; see the module docstring for the rules."""
    if doc.get("disabled") is True:
        modified = parse_time(doc.get("lastModified"))
        since = modified if modified != parse_time(doc.get("createdAt")) else None
        return "disabled", "flow is switched off in integrator.io (disabled: true)", since
    offline = [c for c in connections if c.get("offline") is True]
    flow_level = sorted(
        (e for e in errors if e.trace_key is None),
        key=lambda e: e.at or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    if offline:
        hit = next((e for e in flow_level if e.source == "connection"), None)
        if hit is not None:
            return "suspended", hit.message or None, hit.at
        return (
            "suspended",
            f"connection {offline[0].get('name', offline[0].get('_id'))} is offline",
            None,
        )
    if latest is not None and latest.status == "failed":
        hit = next((e for e in flow_level if e.source != "connection"), None)
        reason = hit.message if hit else f"last run failed with {latest.num_error} error(s)"
        return "error", reason or None, latest.ended_at
    return "active", None, None


def parse_flow(
    doc: Mapping[str, Any],
    mapping: FlowMapping,
    *,
    exports: Mapping[str, Mapping[str, Any]] | None = None,
    imports: Mapping[str, Mapping[str, Any]] | None = None,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    latest: Job | None = None,
    errors: Sequence[StepError] = (),
) -> Flow:
    """A flow document (``flow.example*.json`` shape) plus its steps, jobs and errors."""
    exports, imports, connections = exports or {}, imports or {}, connections or {}
    steps = flow_steps(doc)
    export = exports.get(steps.exports[0]) if steps.exports else None
    import_doc = imports.get(steps.imports[0]) if steps.imports else None
    used = [
        connections[cid]
        for step in (
            *(exports.get(e) for e in steps.exports),
            *(imports.get(i) for i in steps.imports),
        )
        if step and isinstance(cid := step.get("_connectionId"), str) and cid in connections
    ]
    status, reason, since = flow_status(doc, used, latest, errors)
    target_connection = connections.get(import_doc.get("_connectionId", "")) if import_doc else None
    return Flow(
        id=str(doc.get("_id", "")),
        name=str(doc.get("name", "")),
        hop=mapping.hop,
        channel=mapping.channel,
        carries=list(mapping.carries),
        status=status,
        status_reason=reason,
        status_since=since,
        trigger=trigger_of(export),
        interval_minutes=interval_from_cron(flow_schedule(doc)),
        listens_for=list(
            mapping.listens_for if mapping.listens_for is not None else mapping.carries
        ),
        listens_for_raw=list(mapping.listens_for_raw),
        target_endpoint=target_of(import_doc, target_connection),
        last_run_at=parse_time(doc.get("lastExecutedAt")),
    )


def error_entry(
    error: StepError,
    flow_id: str,
    *,
    imports: Collection[str] = (),
    jobs: Mapping[str, Job] | None = None,
    separator: str | None = DEFAULT_TRACE_SEPARATOR,
) -> MiddlewareLogEntry | None:
    """A SKU log entry from a flow error with a trace key; None without one or a time.

    ``imports`` are the flow's import steps (an application error there is the target's
    refusal); ``jobs`` the flow's runs by id, for the run's record counts."""
    if error.trace_key is None or error.at is None:
        return None
    sku, record = split_trace_key(error.trace_key, separator)
    job = (jobs or {}).get(error.job_id or "")
    return MiddlewareLogEntry(
        at=error.at,
        flow_id=flow_id,
        sku=sku,
        stage="rate_limited" if is_rate_limit(error) else "error",
        message=error.message,
        status_code=error.status_code,
        source_id=record,
        error_code=error.code,
        error_source=error_side(error.source, error.step_id in imports),
        job_id=error.job_id,
        **_job_counts(job),
    )


def _job_counts(job: Job | None) -> dict[str, int | None]:
    """ "1 of 500 failed": the records a run processed and how many of them failed."""
    if job is None:
        return {"job_records": None, "job_failed": None}
    return {
        "job_records": job.num_success + job.num_error + job.num_ignore,
        "job_failed": job.num_error,
    }


def execution_entry(
    row: Mapping[str, Any],
    flow_id: str,
    steps: FlowSteps,
    job: Job | None,
    separator: str | None = DEFAULT_TRACE_SEPARATOR,
) -> MiddlewareLogEntry | None:
    """A SKU log entry from an execution log row; None when the row says nothing we report."""
    trace_key = _str(row.get("traceKey"))
    step = row.get("_expOrImpId")
    at = parse_time(row.get("time")) or (job.started_at if job else None)
    if trace_key is None or at is None:
        return None
    sku, record = split_trace_key(trace_key, separator)
    status = http_status(row.get("statusCode"))
    stage: Stage
    if row.get("stage") in _FILTER_STAGES:
        stage = "filtered"
    elif step in steps.exports:
        stage = "received"
    elif step in steps.imports:
        if status is not None and status >= 400:
            return None  # the same failure is in the flow's error list, with its message
        stage = "delivered"
    else:
        return None
    message = row.get("message")
    return MiddlewareLogEntry(
        at=at,
        flow_id=flow_id,
        sku=sku,
        stage=stage,
        message=message if isinstance(message, str) else "",
        status_code=status,
        source_id=record or _str(row.get("recordId")),
        job_id=job.id if job else None,
        **_job_counts(job),
    )


def change_kind(resource_type: str, action: str, field_path: str) -> ChangeKind:
    path = field_path.lower()
    if resource_type == "integration" and (action == "upgrade" or path == "version"):
        return "app_upgrade"
    if resource_type == "connection":
        if "version" in path:
            return "app_upgrade"
        if "password" in path:
            return "password_reset"
        if "refresh" in path:
            return "key_refresh"
        if any(word in path for word in _CREDENTIAL_WORDS):
            return "credential_rotation"
    if resource_type == "accesstoken":
        return "credential_rotation"
    return "config_change"


def parse_audit(
    entry: Mapping[str, Any], connections: Mapping[str, Mapping[str, Any]]
) -> ChangeEvent | None:
    """One audit log entry as a change; None when it has no time."""
    at = parse_time(entry.get("time"))
    if at is None:
        return None
    resource_type = str(entry.get("resourceType", ""))
    # Rows carry ``event`` (create, update, delete…); ``action`` is the name of the filter, read
    # only when a row has no ``event``.
    action = str(entry.get("event") or entry.get("action") or "")
    change = entry.get("fieldChange")
    field_path = str(change.get("fieldPath", "")) if isinstance(change, Mapping) else ""
    connection = connections.get(str(entry.get("_resourceId")))
    system = connection_system(connection) if resource_type == "connection" else SYSTEM
    user = entry.get("byUser")
    actor = (
        (_str(user.get("email")) or _str(user.get("name"))) if isinstance(user, Mapping) else None
    )
    name = connection.get("name") if connection else None
    what = (
        f"{resource_type} {name!r}" if name else f"{resource_type} {entry.get('_resourceId', '')}"
    )
    field = f": {field_path}" if field_path else ""
    via = f" (via {entry['source']})" if isinstance(entry.get("source"), str) else ""
    return ChangeEvent(
        at=at,
        system=system,
        kind=change_kind(resource_type, action, field_path),
        description=f"{what} {action}{field}{via}".strip(),
        actor=actor,
    )


def sku_mapping_from(lookup: Mapping[str, Any], sku: str) -> SkuMapping:
    table = lookup.get("map")
    rows = table if isinstance(table, Mapping) else {}
    if sku in rows:
        value = rows[sku]
        if isinstance(value, str | int) and str(value):
            return SkuMapping(storefront_sku=sku, erp_item=str(value), status="active")
        return SkuMapping(storefront_sku=sku, erp_item=None, status="disabled")
    # Celigo falls back to ``default`` only when ``allowFailures`` is true; otherwise a value not
    # in the map fails the record, whatever ``default`` holds.
    default = lookup.get("default")
    if lookup.get("allowFailures") is True and isinstance(default, str | int) and str(default):
        return SkuMapping(storefront_sku=sku, erp_item=str(default), status="overridden")
    return SkuMapping(storefront_sku=sku, erp_item=None, status="missing")


def location_mappings_from(
    lookup: Mapping[str, Any], kind: Literal["location", "msi_source"]
) -> list[LocationMapping]:
    table = lookup.get("map")
    if not isinstance(table, Mapping):
        return []
    return [
        LocationMapping(storefront_location_id=str(k), erp_location_id=str(v), kind=kind)
        for k, v in table.items()
        if isinstance(v, str | int)
    ]


def _processed(job: Job) -> bool:
    """Whether a run picked up or handled any record, or is still going (so it could carry
    the SKU)."""
    counts = job.num_export + job.num_success + job.num_error + job.num_ignore
    return counts > 0 or job.status in ("running", "retrying")


def _run_end(job: Job) -> datetime:
    return job.ended_at or job.started_at or job.created_at or datetime.min.replace(tzinfo=UTC)


def _parents(jobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parent runs (``flow``, ``retry``, ``bulk_retry``, or no type), newest first."""
    found = [j for j in jobs if j.get("type") in (None, *_PARENT_TYPES)]
    return sorted(found, key=lambda j: str(j.get("createdAt", "")), reverse=True)


def log_sort_key(entry: MiddlewareLogEntry) -> tuple[datetime, int, str, str]:
    return (entry.at, _STAGE_ORDER.get(entry.stage, 4), entry.flow_id, entry.source_id or "")
