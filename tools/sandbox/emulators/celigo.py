"""An in-process integrator.io: renders a normalized ``MiddlewareSnapshot`` as a Celigo account.

``CeligoEmulator(state, faults=Faults(...))`` is an ``httpx.AsyncBaseTransport`` answering the
GET endpoints ``tools.middleware.celigo`` reads, in Celigo's wire shapes, following the
conventions written in that module's docstring (the adapter reads back what this renders):

    each Flow            a flow document, one export (type webhook / delta / full for event /
                         poll / batch) on a source connection, one import on a target connection
                         (``http.baseURI`` + ``relativeURI`` = target_endpoint); ``schedule`` from
                         interval_minutes when cron can say it; each connection's
                         ``assistant`` is the application its side of the hop names
                         (storefront shopify, erp netsuite, marketplace amazonsellercentral)
    integrations         one, ``GET /integrations`` (what ``oos discover`` lists)
    status disabled      ``disabled: true``, ``lastModified`` = status_since
    status suspended     the target connection ``offline: true`` and an open flow error with
                         ``source: connection`` (message = reason, ``occurredAt`` = since)
    status error         a failed latest job (``endedAt`` = since) and an open flow-level error
    log entries          grouped into completed runs by their ``job_id`` (else one run per
                         (flow, source_id)), with ``numExport`` / ``numSuccess`` / ``numError`` /
                         ``numIgnore`` from the entries (or their job_records / job_failed); a
                         run carrying a record an earlier run failed is ``type: retry``.
                         received, delivered and filtered entries become execution-log rows,
                         error and rate_limited entries open step errors on the import step:
                         ``traceKey`` = ``SKU|source_id`` (the SKU alone without an id),
                         ``_flowJobId``, ``code`` = error_code (else the HTTP status as text),
                         ``source`` = ``mapping`` for a connector-side failure, else
                         ``application``; ``classification: rate_limit`` for a rate limit. An
                         error whose record a later run delivered is resolved (``…/resolved``,
                         ``resolvedAt`` = that delivery), as Celigo does after a retry
    sku / location maps  static lookups on the first storefront→ERP flow's import (an
                         overridden SKU: no row, a ``default`` and ``allowFailures: true``)
    changes              audit entries on connections (credential kinds, connector version) or
                         the integration (version, settings)
    runs (optional)      ``FlowHealth`` per flow: its ``runs`` as completed flow jobs spread over
                         the window, the first ``failed_runs`` of them failed, the records split
                         over them (``numSuccess`` / ``numError`` / ``numIgnore``), and
                         ``open_errors`` record-level errors on the import step. Those jobs carry
                         no execution-log rows, so a triage over the same emulator sees its log
                         window start after them (as it would in Celigo): give runs only to an
                         emulator that serves connector health.

It enforces the bearer token (401 with Celigo's error body otherwise); pages the listings
(``/flows``, ``/exports``, ``/imports``, ``/connections``, ``/audit``, ``/integrations``, and
the execution-log rows) ``limit`` items at a time (at most ``page_size``, the server's cap)
with ``Link: <…?skip=…&limit=…>; rel="next"``; answers ``GET /jobs`` as Celigo does: up to
``jobs_page_size`` (1000) runs newest ``createdAt`` first, filtered by ``_flowId``, ``type`` /
``type_in`` (parent types when neither is sent), ``status`` and inclusive ``createdAt_gte`` /
``createdAt_lte``, with no ``Link`` and ``offset`` / ``skip`` / ``limit`` ignored, so a client
paging by ``offset`` gets the same page back forever; filters step errors by
``occurredAt_gte/lte`` (``resolvedAt_*`` on ``…/resolved``), ``_flowJobId`` and ``source`` and
pages them with ``nextPageURL``; throttles with a leaky bucket (429 with ``Retry-After`` in whole
seconds; 1000 requests draining 300/s, Celigo's published figures); and injects the ``Faults``
it is given.

Which of these wire shapes Celigo documents is listed under "Wire shapes" in
``tools.middleware.celigo`` (from the shared specs' ``VERIFIED-2026-12.md``). Still not found,
and rendered the way the adapter reads them: the execution-log envelope (a bare list) and its
rows' ``time`` / ``stage`` / ``statusCode`` / ``message``, the ``jobs/latest`` body (a list),
the ``classification`` spelling, and audit entries' ``byUser`` / ``fieldChange``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from tools.middleware.celigo import US_BASE_URL
from tools.middleware.celigo_config import FlowMapping
from tools.middleware.celigo_wire import cron_from_interval, iso, parse_time
from tools.models import ChangeEvent, Flow, FlowHealth, MiddlewareLogEntry, MiddlewareSnapshot
from tools.retry import Sleep
from tools.sandbox.emulators.faults import Faults

DEFAULT_TOKEN = "sandbox-celigo-api-token"
INTEGRATION_ID = "int-sandbox"
JOBS_PAGE = 1000  # GET /jobs: up to this many runs, newest createdAt first, no Link, no offset
_PARENT_TYPES = ("flow", "retry", "bulk_retry")
INTEGRATION_NAME = "Sandbox store sync"
# The application each side of a flow connects to, by the layer its hop names (a connection's
# ``assistant``): what ``oos discover`` guesses the hop back from.
_ASSISTANTS = {
    "storefront": "shopify",
    "erp": "netsuite",
    "marketplace": "amazonsellercentral",
    "wms": "shipbob",
}
SKU_LOOKUP = "sku_map"
LOCATION_LOOKUP = "location_map"
SOURCE_LOOKUP = "source_map"

_EXPORT_TYPES = {"event": "webhook", "poll": "delta"}  # batch: a full export has no type
_ROW_STAGES = frozenset({"received", "delivered", "filtered", "dropped"})
_STATUS_TEXT = {
    400: ("bad_request", "The request is invalid"),
    401: ("unauthorized", "Unauthorized"),
    404: ("not_found", "Resource not found"),
    405: ("method_not_allowed", "Only GET is emulated"),
    429: ("too_many_requests", "Rate limit exceeded, please retry later"),
    500: ("internal_server_error", "Something went wrong, please try again"),
    502: ("bad_gateway", "Bad gateway"),
    503: ("service_unavailable", "integrator.io is temporarily unavailable"),
    504: ("gateway_timeout", "Gateway timeout"),
}


def flow_mappings_for(state: MiddlewareSnapshot) -> dict[str, FlowMapping]:
    """The adapter config an operator would write for the flows of ``state``."""
    return {
        flow.id: FlowMapping(
            hop=flow.hop,
            channel=flow.channel,
            carries=list(flow.carries),
            listens_for=list(flow.listens_for),
            listens_for_raw=list(flow.listens_for_raw),
        )
        for flow in state.flows
    }


@dataclass
class Account:
    """What one integrator.io account holds, as Celigo documents (dicts in wire shape)."""

    flows: list[dict[str, Any]] = field(default_factory=list)
    exports: list[dict[str, Any]] = field(default_factory=list)
    imports: list[dict[str, Any]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # flow id → job
    errors: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    resolved: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # job id → rows
    audit: list[dict[str, Any]] = field(default_factory=list)


def render(state: MiddlewareSnapshot, runs: Sequence[FlowHealth] = ()) -> Account:
    """``state`` (and optionally each flow's ``runs``) as the documents of a Celigo account."""
    account = Account()
    created = state.read_at - timedelta(days=400)
    for flow in state.flows:
        _render_flow(account, flow, state.read_at, created)
    _render_log(account, state)
    _resolve_retried(account, state)
    for health in runs:
        _render_runs(account, health)
    _render_lookups(account, state)
    for n, change in enumerate(state.changes):
        _render_change(account, change, n)
    return account


def _render_flow(account: Account, flow: Flow, now: datetime, created: datetime) -> None:
    fid = flow.id
    export_id, import_id = f"exp-{fid}", f"imp-{fid}"
    source_id, target_id = f"conn-{fid}-source", f"conn-{fid}-target"
    source_layer, _, target_layer = flow.hop.partition("_to_")
    export: dict[str, Any] = {
        "_id": export_id,
        "name": f"{flow.name} · source",
        "_connectionId": source_id,
        "adaptorType": "WebhookExport" if flow.trigger == "event" else "HTTPExport",
    }
    if flow.trigger in _EXPORT_TYPES:
        export["type"] = _EXPORT_TYPES[flow.trigger]
    target: dict[str, Any] = {
        "_id": target_id,
        "name": f"{flow.name} · target",
        "type": "http",
        "assistant": _ASSISTANTS[target_layer],
        "offline": flow.status == "suspended",
        "lastModified": iso(created),
    }
    import_doc: dict[str, Any] = {"_id": import_id, "name": f"{flow.name} · target"}
    import_doc["_connectionId"] = target_id
    if flow.target_endpoint:
        parts = urlsplit(flow.target_endpoint)
        relative = parts.path + (f"?{parts.query}" if parts.query else "")
        target["http"] = {"baseURI": f"{parts.scheme}://{parts.netloc}"}
        import_doc |= {
            "adaptorType": "HTTPImport",
            "http": {"method": ["POST"], "relativeURI": [relative]},
        }
    else:
        import_doc["adaptorType"] = "NetSuiteDistributedImport"
    account.exports.append(export)
    account.imports.append(import_doc)
    account.connections.append(
        {
            "_id": source_id,
            "name": f"{flow.name} · source",
            "type": "http",
            "assistant": _ASSISTANTS[source_layer],
            "offline": False,
        }
    )
    account.connections.append(target)

    disabled_since = flow.status_since if flow.status == "disabled" else None
    doc: dict[str, Any] = {
        "_id": fid,
        "name": flow.name,
        "disabled": flow.status == "disabled",
        "_integrationId": INTEGRATION_ID,
        "timezone": "UTC",
        "skipRetries": False,
        "logging": {"debugUntil": iso(now + timedelta(minutes=60))},
        "pageGenerators": [{"_exportId": export_id}],
        "pageProcessors": [
            {
                "type": "import",
                "_importId": import_id,
                "responseMapping": {"lists": [], "fields": []},
            }
        ],
        "createdAt": iso(created),
        "lastModified": iso(disabled_since or created),
    }
    if schedule := cron_from_interval(flow.interval_minutes):
        doc["schedule"] = schedule
    if flow.last_run_at:
        doc["lastExecutedAt"] = iso(flow.last_run_at)
    account.flows.append(doc)

    at = flow.status_since or now
    if flow.status == "suspended" and flow.status_reason:
        _add_error(account, fid, import_id, at, flow.status_reason, "connection", None, None)
    if flow.status == "error":
        job = _job(f"job-{fid}-failed", fid, at, at, "failed", errors=1)
        if flow.status_since is None:
            del job["endedAt"]
        account.jobs.append(job)
        account.latest[fid] = job
        if flow.status_reason:
            _add_error(account, fid, export_id, at, flow.status_reason, "application", None, None)


def _job(
    job_id: str,
    flow_id: str,
    start: datetime,
    end: datetime,
    status: str,
    *,
    success: int = 0,
    errors: int = 0,
    ignored: int = 0,
    exported: int | None = None,
) -> dict[str, Any]:
    return {
        "_id": job_id,
        "type": "flow",
        "_flowId": flow_id,
        "_integrationId": INTEGRATION_ID,
        "status": status,
        "startedAt": iso(start),
        "endedAt": iso(end),
        "numError": errors,
        "numSuccess": success,
        "numIgnore": ignored,
        "numExport": success + errors + ignored if exported is None else exported,
        "numPagesGenerated": 1,
        "numPagesProcessed": 1,
        "retriable": errors > 0,
        "createdAt": iso(start),
        "lastModified": iso(end),
    }


def _add_error(
    account: Account,
    flow_id: str,
    step_id: str,
    at: datetime,
    message: str,
    source: str,
    code: str | None,
    trace_key: str | None,
    job_id: str | None = None,
    classification: str | None = None,
) -> None:
    errors = account.errors.setdefault((flow_id, step_id), [])
    error: dict[str, Any] = {
        "errorId": f"err-{flow_id}-{step_id}-{len(errors)}",
        "message": message,
        "source": source,
        "occurredAt": iso(at),
        "retryDataKey": f"retry-{flow_id}-{len(errors)}",
        "reqAndResKey": f"req-{flow_id}-{len(errors)}",
    }
    if code is not None:
        error["code"] = code
    if trace_key is not None:
        error["traceKey"] = trace_key
    if job_id is not None:
        error["_flowJobId"] = job_id
    if classification is not None:
        error["classification"] = classification
    errors.append(error)


def trace_key(entry: MiddlewareLogEntry) -> str:
    """The export's trace key template ``{{sku}}|{{event id}}`` (just the SKU without an id)."""
    return f"{entry.sku}|{entry.source_id}" if entry.source_id else entry.sku


def _render_log(account: Account, state: MiddlewareSnapshot) -> None:
    """Entries grouped into flow runs: by their ``job_id``, else one run per (flow, record)."""
    flow_ids = {f.id for f in state.flows}
    # A receipt without a run belongs to the run its record is first named in (a record's
    # receipt and its error are one run); a later delivery of the record is its retry.
    runs_of: dict[tuple[str, str], str] = {}
    for entry in state.log:
        if entry.job_id and entry.source_id:
            runs_of.setdefault((entry.flow_id, entry.source_id), entry.job_id)
    groups: dict[tuple[str, str], list[MiddlewareLogEntry]] = {}
    for entry in state.log:
        if entry.flow_id in flow_ids:
            run = entry.job_id or (
                runs_of.get((entry.flow_id, entry.source_id or ""))
                if entry.stage == "received"
                else None
            )
            key = run or entry.source_id or f"at-{iso(entry.at)}"
            groups.setdefault((entry.flow_id, key), []).append(entry)
    failed_records: set[tuple[str, str]] = set()
    for n, ((fid, _), entries) in enumerate(groups.items()):
        job_id = next((e.job_id for e in entries if e.job_id), None) or f"job-{fid}-{n}"
        carried = {(fid, e.source_id) for e in entries if e.source_id}
        # A run that carries a record an earlier run failed is Celigo's retry of it.
        retry = bool(carried & failed_records)
        failed_records |= {
            (fid, e.source_id) for e in entries if e.source_id and e.stage == "error"
        }
        start, end = min(e.at for e in entries), max(e.at for e in entries)
        ignored = sum(e.stage in ("filtered", "dropped") for e in entries)
        failed = next((e.job_failed for e in entries if e.job_failed is not None), None)
        records = next((e.job_records for e in entries if e.job_records is not None), None)
        if failed is None:
            failed = sum(e.stage in ("error", "rate_limited") for e in entries)
        success = sum(e.stage == "delivered" for e in entries)
        if records is not None:
            success = max(records - failed - ignored, 0)
        received = sum(e.stage == "received" for e in entries)
        job = _job(
            job_id,
            fid,
            start,
            end,
            "completed",
            success=success,
            errors=failed,
            ignored=ignored,
            exported=max(received, success + failed + ignored),
        )
        if retry:
            job["type"] = "retry"
        account.jobs.append(job)
        current = account.latest.get(fid)
        # A failed run stays the latest: it is what makes the flow's status "error".
        if current is None or (
            current["status"] != "failed" and current["createdAt"] < job["createdAt"]
        ):
            account.latest[fid] = job
        rows = account.logs.setdefault(job_id, [])
        for entry in entries:
            if entry.stage in _ROW_STAGES:
                rows.append(_row(entry, job_id, len(rows)))
            else:
                _render_error(account, fid, entry, job_id)


def _resolve_retried(account: Account, state: MiddlewareSnapshot) -> None:
    """A record error whose record a later run delivered was resolved by that retry: Celigo
    moves it from the open errors to ``…/resolved``, with ``resolvedAt``."""
    delivered: dict[tuple[str, str], list[str]] = {}
    for entry in state.log:
        if entry.stage == "delivered" and entry.source_id:
            delivered.setdefault((entry.flow_id, trace_key(entry)), []).append(iso(entry.at))
    for (fid, step), errors in account.errors.items():
        still_open = []
        for error in errors:
            later = sorted(
                t
                for t in delivered.get((fid, str(error.get("traceKey"))), [])
                if t > error["occurredAt"]
            )
            if later and error.get("_flowJobId"):
                account.resolved.setdefault((fid, step), []).append(
                    error | {"resolvedAt": later[0]}
                )
            else:
                still_open.append(error)
        errors[:] = still_open


def _render_error(account: Account, fid: str, entry: MiddlewareLogEntry, job_id: str) -> None:
    """A record error on the import step, in Celigo's error record shape: ``source`` says who
    failed it (the target application, or Celigo's own mapping), ``code`` is the vendor's text
    code (else the HTTP status), a rate limit is ``classification: rate_limit``."""
    status = entry.status_code or (429 if entry.stage == "rate_limited" else None)
    code = entry.error_code or (str(status) if status is not None else None)
    _add_error(
        account,
        fid,
        f"imp-{fid}",
        entry.at,
        entry.message,
        "mapping" if entry.error_source == "connector" else "application",
        code,
        trace_key(entry),
        job_id,
        "rate_limit" if entry.stage == "rate_limited" else None,
    )


def _render_runs(account: Account, health: FlowHealth) -> None:
    """A flow's runs over its window: failed ones first, so a completed run stays the latest."""
    fid, n = health.flow_id, health.runs
    if n <= 0:
        return
    span = (health.read_at - health.window_start) / (n + 1)

    def share(total: int, i: int) -> int:
        return total // n + (1 if i < total % n else 0)

    for i in range(n):
        start = health.window_start + span * (i + 1)
        failed = i < health.failed_runs
        job = _job(
            f"job-{fid}-run-{i}",
            fid,
            start,
            start + min(span / 2, timedelta(minutes=5)),
            "failed" if failed else "completed",
            success=share(health.records_ok, i),
            errors=share(health.records_failed, i),
            ignored=share(health.records_ignored, i),
        )
        account.jobs.append(job)
        current = account.latest.get(fid)
        # The run that makes the flow's status "error" stays the latest; otherwise the newest.
        if current is None or (
            current["_id"] != f"job-{fid}-failed" and current["createdAt"] < job["createdAt"]
        ):
            account.latest[fid] = job
    for i in range(health.open_errors):
        at = health.window_start + span * (1 + i % n)
        _add_error(
            account,
            fid,
            f"imp-{fid}",
            at,
            "Record failed validation in the target system",
            "application",
            "422",
            f"record-{i}",
            f"job-{fid}-run-{i % n}",
        )


def _row(entry: MiddlewareLogEntry, job_id: str, n: int) -> dict[str, Any]:
    filtered = entry.stage in ("filtered", "dropped")
    step = f"imp-{entry.flow_id}" if entry.stage == "delivered" else f"exp-{entry.flow_id}"
    row: dict[str, Any] = {
        "_id": f"{job_id}-row-{n}",
        "_expOrImpId": step,
        "traceKey": trace_key(entry),
        "groupId": f"{job_id}-group",
        "stage": "outputFilter" if filtered else "apiCall",
        "time": iso(entry.at),
    }
    if entry.source_id is not None:
        row["recordId"] = entry.source_id
    if entry.status_code is not None:
        row["statusCode"] = entry.status_code
    if entry.message:
        row["message"] = entry.message
    return row


def _render_lookups(account: Account, state: MiddlewareSnapshot) -> None:
    if not state.flows:
        return
    holder = next((f for f in state.flows if f.hop == "storefront_to_erp"), state.flows[0])
    import_doc = next(i for i in account.imports if i["_id"] == f"imp-{holder.id}")
    lookups: list[dict[str, Any]] = []
    mapping = state.sku_mapping
    if mapping is not None:
        lookup: dict[str, Any] = {"name": SKU_LOOKUP, "map": {}, "allowFailures": False}
        if mapping.status == "overridden" and mapping.erp_item:
            # Celigo uses the default only for a lookup that allows failures.
            lookup |= {"default": mapping.erp_item, "allowFailures": True}
        elif mapping.status == "active":
            lookup["map"][mapping.storefront_sku] = mapping.erp_item or ""
        elif mapping.status == "disabled":
            lookup["map"][mapping.storefront_sku] = ""
        lookups.append(lookup)
    for name, kind in ((LOCATION_LOOKUP, "location"), (SOURCE_LOOKUP, "msi_source")):
        rows = {
            m.storefront_location_id: m.erp_location_id
            for m in state.location_mappings
            if m.kind == kind
        }
        if rows:
            lookups.append({"name": name, "map": rows, "allowFailures": False})
    if lookups:
        import_doc["lookups"] = lookups


_FIELD_PATHS = {
    "credential_rotation": ("netsuite.tokenSecret", "http.auth.token.token"),
    "password_reset": ("netsuite.password", "http.auth.basic.password"),
    "key_refresh": ("netsuite.refreshToken", "http.auth.token.refreshToken"),
    "app_upgrade": ("netsuite._connectorVersionId", "http._httpConnectorVersionId"),
    "config_change": ("netsuite.concurrencyLevel", "http.concurrencyLevel"),
}


def _render_change(account: Account, change: ChangeEvent, n: int) -> None:
    entry: dict[str, Any] = {
        "_id": f"audit-{n}",
        "time": iso(change.at),
        "event": "update",
        "source": "ui" if change.actor else "system",
    }
    if change.actor:
        entry["byUser"] = {"_id": f"user-{change.actor}", "email": change.actor}
    if change.system == "celigo" and change.kind in ("app_upgrade", "config_change"):
        field_path = "version" if change.kind == "app_upgrade" else "settings"
        entry |= {"resourceType": "integration", "_resourceId": INTEGRATION_ID}
    else:
        connection_id = f"conn-{change.system}"
        if not any(c["_id"] == connection_id for c in account.connections):
            connection: dict[str, Any] = {
                "_id": connection_id,
                "name": change.system,
                "offline": False,
            }
            if change.system == "netsuite":
                connection["type"] = "netsuite"
            else:
                connection |= {"type": "http", "assistant": change.system}
            account.connections.append(connection)
        netsuite, http = _FIELD_PATHS[change.kind]
        field_path = netsuite if change.system == "netsuite" else http
        entry |= {"resourceType": "connection", "_resourceId": connection_id}
    entry["fieldChange"] = {"fieldPath": field_path, "oldValue": "********", "newValue": "********"}
    account.audit.append(entry)


class _Answer(Exception):
    """Raised inside routing to answer at once with a Celigo error."""

    def __init__(self, status: int, message: str | None = None, code: str | None = None) -> None:
        default_code, default_message = _STATUS_TEXT.get(status, ("error", "Error"))
        self.status = status
        self.body = {
            "errors": [{"code": code or default_code, "message": message or default_message}]
        }
        super().__init__(message)


class CeligoEmulator(httpx.AsyncBaseTransport):
    """integrator.io's REST API v1 (the GETs the adapter uses) over a rendered account."""

    def __init__(
        self,
        state: MiddlewareSnapshot,
        faults: Faults | None = None,
        *,
        runs: Sequence[FlowHealth] = (),
        token: str = DEFAULT_TOKEN,
        base_url: str = US_BASE_URL,
        page_size: int = 3,
        jobs_page_size: int = JOBS_PAGE,
        error_page_size: int = 2,
        bucket_size: float = 1000.0,
        leak_rate: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.state = state
        self.faults = faults or Faults()
        self.token = token
        self.account = render(state, runs)
        self.calls: list[str] = []
        self._base_path = urlsplit(base_url).path.rstrip("/")
        self._page_size = page_size
        self._jobs_page_size = jobs_page_size
        self._error_page_size = error_page_size
        self._bucket_size = bucket_size
        self._leak_rate = leak_rate
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._stamp = clock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.raw_path.decode()}")
        if self.faults.latency:
            await self._sleep(self.faults.latency)
        if self.faults.timeout:
            raise httpx.ReadTimeout("emulated Celigo timeout", request=request)
        try:
            scripted = self.faults.next_status()
            if scripted is not None and scripted.status >= 400:
                return self._error(_Answer(scripted.status), retry_after=scripted.retry_after)
            self._authenticate(request)
            if (wait := self._throttle()) is not None:
                return self._error(_Answer(429), retry_after=wait)
            if request.method != "GET":
                raise _Answer(405)
            if self.faults.malformed:
                return httpx.Response(
                    200, content=b"<html>integrator.io is upgrading", request=request
                )
            body, link = self._route(request)
        except _Answer as answer:
            return self._error(answer)
        headers = {"Content-Type": "application/json"}
        if link:
            headers["Link"] = f'<{link}>; rel="next"'
        return httpx.Response(
            200, headers=headers, content=json.dumps(body).encode(), request=request
        )

    # --- auth, throttle, errors ----------------------------------------------------------------

    def _authenticate(self, request: httpx.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if self.faults.expired_token:
            raise _Answer(401, "The API token has expired or was revoked", "invalid_token")
        if scheme.lower() != "bearer" or token != self.token:
            raise _Answer(401)

    def _throttle(self) -> float | None:
        """Leaky bucket: each request adds one; the bucket drains ``leak_rate`` per second."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._stamp) * self._leak_rate)
        self._stamp = now
        if self._level + 1 > self._bucket_size:
            return float(math.ceil((self._level + 1 - self._bucket_size) / self._leak_rate))
        self._level += 1
        return None

    @staticmethod
    def _error(answer: _Answer, retry_after: float | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
        return httpx.Response(
            answer.status, headers=headers, content=json.dumps(answer.body).encode()
        )

    # --- routing -------------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> tuple[Any, str | None]:
        path = request.url.path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :]
        parts = [p for p in path.split("/") if p]
        params = request.url.params
        account = self.account
        lists: dict[str, list[dict[str, Any]]] = {
            "flows": account.flows,
            "exports": account.exports,
            "imports": account.imports,
            "connections": account.connections,
        }
        match parts:
            case ["tokenInfo"]:
                return {"_userId": "user-sandbox", "scope": "*"}, None
            case ["integrations"]:
                return self._page(request, [{"_id": INTEGRATION_ID, "name": INTEGRATION_NAME}])
            case [name] if name in lists:
                return self._page(request, lists[name])
            case ["flows" | "exports" | "imports" | "connections" as name, rid]:
                return self._one(lists[name], rid), None
            case ["audit"]:
                return self._page(request, self._audit(params))
            case ["jobs"]:
                # No Link and no offset: the newest page again unless createdAt_lte moves on.
                return self._jobs(params)[: self._jobs_page_size], None
            case ["jobs", job_id]:
                return self._one(account.jobs, job_id), None
            case ["flows", fid, "jobs", "latest"]:
                self._one(account.flows, fid)
                latest = account.latest.get(fid)
                return ([latest] if latest else []), None
            case ["flows", fid, "jobs", job_id, "logs"]:
                self._one(account.flows, fid)
                return self._page(request, account.logs.get(job_id, []))
            case ["flows", fid, "errors"]:
                self._one(account.flows, fid)
                return {"flowErrors": self._summary(fid)}, None
            case ["flows", fid, step, "errors"]:
                self._one(account.flows, fid)
                found = _filtered(account.errors.get((fid, step), []), params, "occurredAt")
                return self._error_page(request, "errors", found), None
            case ["flows", fid, step, "resolved"]:
                self._one(account.flows, fid)
                found = _filtered(account.resolved.get((fid, step), []), params, "resolvedAt")
                return self._error_page(request, "resolved", found), None
        raise _Answer(404)

    @staticmethod
    def _one(items: list[dict[str, Any]], rid: str) -> dict[str, Any]:
        for item in items:
            if item.get("_id") == rid:
                return item
        raise _Answer(404)

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> tuple[Any, str | None]:
        """One page of a listing: ``limit`` items (at most ``page_size``, the server's cap; that
        many without a ``limit``) from ``skip``, with a ``Link`` to the next page while there
        is one (Celigo's documented paging of its listings)."""
        params = request.url.params
        raw_limit = params.get("limit", "")
        size = min(int(raw_limit), self._page_size) if raw_limit.isdigit() else self._page_size
        if size < 1:
            raise _Answer(400, "limit must be at least 1", "invalid_query_params")
        raw_start = params.get("skip", "0")
        start = int(raw_start) if raw_start.isdigit() else 0
        end = start + size
        link = None
        if end < len(items):
            link = str(request.url.copy_set_param("skip", str(end)).copy_set_param("limit", size))
        return items[start:end], link

    def _error_page(
        self, request: httpx.Request, key: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        raw_after = request.url.params.get("after", "0")
        start = int(raw_after) if raw_after.isdigit() else 0
        end = start + self._error_page_size
        body: dict[str, Any] = {key: items[start:end]}
        if end < len(items):
            body["nextPageURL"] = str(request.url.copy_set_param("after", str(end)))
        return body

    def _summary(self, fid: str) -> list[dict[str, Any]]:
        return [
            {
                "_expOrImpId": step,
                "numError": len(errors),
                "lastErrorAt": max(e["occurredAt"] for e in errors),
            }
            for (flow_id, step), errors in self.account.errors.items()
            if flow_id == fid and errors
        ]

    def _jobs(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        """Jobs as ``GET /jobs`` filters them: parent jobs (no ``type``, or ``flow`` / ``retry``
        / ``bulk_retry``) need a flow, integration or time filter; ``createdAt_gte`` /
        ``createdAt_lte`` are inclusive; newest first. ``offset``, ``skip`` and ``limit`` are
        ignored, as Celigo ignores them on this route."""
        keys = ("_flowId", "_integrationId", "_exportId", "_importId", "_flowJobId")
        if not any(params.get(k) for k in (*keys, "createdAt_gte", "createdAt_lte")):
            raise _Answer(
                400,
                "One of _integrationId, _flowId, _exportId, _importId, _flowJobId or createdAt "
                "is required",
                "invalid_query_params",
            )
        wanted = params.get("type")
        types = (
            (wanted,)
            if wanted
            else tuple(params.get("type_in", "").split(","))
            if params.get("type_in")
            else _PARENT_TYPES
        )
        since = parse_time(params.get("createdAt_gte"))
        until = parse_time(params.get("createdAt_lte"))
        jobs = [
            j
            for j in self.account.jobs
            if _matches(j, params, "_flowId")
            and j.get("type", "flow") in types
            and _matches(j, params, "status")
            and (since is None or _after(j["createdAt"], since))
            and (until is None or not _after(j["createdAt"], until + timedelta(milliseconds=1)))
        ]
        return sorted(jobs, key=lambda j: str(j["createdAt"]), reverse=True)

    def _audit(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        start, end = parse_time(params.get("from")), parse_time(params.get("to"))
        entries = [
            e
            for e in self.account.audit
            if (start is None or _after(e["time"], start))
            and (end is None or not _after(e["time"], end + timedelta(microseconds=1)))
            and _matches(e, params, "resourceType")
        ]
        return sorted(entries, key=lambda e: str(e["time"]), reverse=True)


def _filtered(
    errors: list[dict[str, Any]], params: httpx.QueryParams, time_field: str
) -> list[dict[str, Any]]:
    """Step errors as the error endpoints filter them: ``{time_field}_gte`` / ``_lte``,
    ``_flowJobId`` and ``source``."""
    start = parse_time(params.get(f"{time_field}_gte"))
    end = parse_time(params.get(f"{time_field}_lte"))
    return [
        e
        for e in errors
        if (start is None or _after(e.get(time_field), start))
        and (end is None or not _after(e.get(time_field), end + timedelta(milliseconds=1)))
        and _matches(e, params, "_flowJobId")
        and _matches(e, params, "source")
    ]


def _matches(doc: Mapping[str, Any], params: httpx.QueryParams, key: str) -> bool:
    wanted = params.get(key)
    return wanted is None or doc.get(key) == wanted


def _after(value: Any, moment: datetime) -> bool:
    parsed = parse_time(value)
    return parsed is not None and parsed >= moment
