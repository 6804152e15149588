"""Celigo integrator.io adapter: flows, runs, errors, connections and audit → ``MiddlewareSnapshot``.

Reads the REST API v1 (``https://api.integrator.io/v1``, EU ``https://api.eu.integrator.io/v1``)
with ``Authorization: Bearer <API token>``; the token is read from the environment variable
named in the config at every request, so a rotated token is picked up without a restart. Client
pacing follows Celigo's current published leaky bucket: 1000 requests, draining 300/s
(developer.celigo.com "Rate limits", and the newer ``readme.md`` of ``celigo/integrator-api-docs``;
older versions of that readme said 100 draining 30/s, which Celigo has since replaced).

Paging, as Celigo documents it for each route (VERIFIED-2026-12 §1b, §1c, §2c):

    /flows, /exports, /imports, ``limit=PAGE_LIMIT`` (1000) a page, ``Link: <…>; rel="next"``
      /connections, /audit     followed until it is missing; at most ``MAX_PAGES`` pages, a
                               longer list is an ``AdapterError``, never a silently short one
    /jobs                      no ``Link``, and ``offset`` / ``limit`` are ignored: up to
                               ``JOBS_PAGE`` (1000) runs, newest ``createdAt`` first; the next
                               page is asked for with ``createdAt_lte`` = the last run's
                               ``createdAt`` (its boundary run comes back and is dropped by
                               ``_id``); a shorter page is the last
    step errors, resolved      ``{"errors" | "resolved": […], "nextPageURL"?}``, the body's
                               ``nextPageURL`` followed, at most ``ERROR_PAGES`` pages

Requests per triage are bounded whatever the flow's schedule, in two round trips when nothing
pages: at once ``GET /flows``, ``/exports``, ``/imports``, ``/connections``, ``/audit`` and,
per configured flow (its id is in the config), ``GET /flows/{id}/jobs/latest``,
``/jobs?_flowId=…&createdAt_gte=…`` (no ``type``: a parent-job query without one returns every
parent run, ``flow``, ``retry`` and ``bulk_retry``) and ``/flows/{id}/errors`` (the error
summary); then, each as soon as the answer it needs is in, ``/flows/{id}/{stepId}/errors
?occurredAt_gte=…`` for each step the summary names, ``…/resolved?resolvedAt_gte=…`` for each
step of the flow, and ``/flows/{id}/jobs/{jobId}/logs`` for the newest ``MAX_LOG_RUNS`` (8) runs
that picked up or handled records (``numExport``, ``numSuccess``, ``numError``,
``numIgnore``). Runs are listed since the event window only (``since``, or the retention start),
at most ``TRIAGE_JOB_PAGES`` (2) pages. Per flow of two steps that is at most 1 + 2 + 1 + 2 × 3
+ 2 × 3 + 8 × 3 = 40 requests (each error list and log at most ``ERROR_PAGES`` pages), 14 when
nothing pages: a flow that runs every 5 minutes costs what an hourly one does. What the
bounds leave out is said, never guessed: the snapshot's ``not_visible`` has a ``log_window:``
line for runs not listed, older runs whose logs were not read, and runs whose log had no rows,
and ``log_window_start`` starts the log after them (the step errors are read for the whole
window either way).

A route answering 403 (a token scoped without it) or 404 costs only what needs it, with a
``not_visible`` line naming the endpoint, the status and Celigo's message:

    GET /audit                 changes          (changes left empty; L3.recent_changes unknown)
    GET /imports               mappings         (no SKU or location map: their checks unknown)
    GET /exports, /connections flow_status      (trigger, offline connection not known; a
                               refused /connections also makes a connection's change unowned)
    GET /flows/{id}/jobs/latest flow_status     (the last run taken from the runs listed)
    GET /jobs, …/logs, step    log              (the log is what is left: the checks that would
      errors, …/resolved                        pass, or find nothing, on it say unknown)
    GET /flows/{id}/errors     log_window       (no summary: every step's open errors are read)

A 401, any other status, and ``GET /flows`` itself (without it nothing can be read) still fail
the whole read with an ``AdapterError``.

What comes from Celigo and what from the adapter's config, field by field: the docstring of
``tools.middleware.celigo_facts``, which does that mapping.

Connector health (``flow_health(since)``, the weekly monitor) reads ``GET /flows``, ``/exports``,
``/imports``, ``/connections``, then per flow of the account ``/flows/{id}/jobs/latest``,
``/jobs?_flowId=…&createdAt_gte=since`` (every page, by ``createdAt_lte``, up to ``MAX_PAGES``)
and ``/flows/{id}/errors``, and the open step errors only of a flow that is suspended or in
error (for its reason). A flow that runs every 10 minutes has 1008 runs a week: two pages.

    FlowHealth.status, …     as Flow above (status, reason, since, trigger, interval, last run)
    hop, channel             config; None for a flow the config does not name
    runs, failed_runs        parent runs (flow, retry, bulk_retry) created since ``since``;
                             ``status: failed``
    records_ok / _failed /   the jobs' ``numSuccess`` / ``numError`` / ``numIgnore``, summed
      _ignored
    open_errors              the error summary's ``numError``, summed over the flow's steps
    complete                 False when the jobs ran past ``MAX_PAGES`` pages (a lower bound)

The snapshot's ``raw`` holds the payloads read, with connection documents cut down to id, name,
type, assistant, offline and base URI, and audit entries without their old and new values.

Wire shapes, checked against Celigo's public material as summarised, with evidence and
confidence, in the shared specs' ``VERIFIED-2026-12.md`` (§ numbers below): Celigo's developer
site (developer.celigo.com), its help articles (docs.celigo.com), its own ``celigo`` CLI, and the
repositories ``celigo/ai`` and ``celigo/integrator-api-docs``. Verified:

    ``GET /jobs``: parent jobs are ``flow`` / ``retry`` / ``bulk_retry`` (or     §1 confirmed
      no ``type``), child jobs ``export`` / ``import``; filters ``_flowId``,
      ``createdAt_gte/lte``, ``status`` (one value), ``type_in``
    ``GET /jobs`` paging by ``createdAt_lte``, up to ~1000 a page, newest     §1b confirmed
      first; no ``Link``, ``offset`` ignored
    listings page by ``Link: rel="next"`` until it is missing, ``limit``     §1c confirmed
      accepted; an empty account answers 204
    the ``/flows/{id}/jobs/{jobId}/logs`` path; rows have ``recordId``,      §2 confirmed
      ``groupId``, ``traceKey``, ``_expOrImpId``
    execution logging account-level (Basic by default), retention            §2b likely
      7–180 days (30 by default), ``logging.debugUntil`` ≤ 60 min
    step errors ``{errors, nextPageURL}`` / ``{resolved, nextPageURL}``,     §2c confirmed
      filters ``occurredAt_gte/lte`` (``resolvedAt_*``), ``source``,
      ``_flowJobId``; records ``errorId``, ``occurredAt``, ``source``,
      ``code`` (text), ``message``, ``traceKey``, ``_flowJobId``,
      ``classification``, ``retryDataKey``, ``reqAndResKey``
    ``/jobs/{id}/joberrors`` is legacy (bare array, no trace key): not used   §2d confirmed
    error summary ``{"flowErrors": [{_expOrImpId, numError, lastErrorAt}]}``  §2e confirmed
    error ``source`` values: application, connection, internal, resource,   §2f confirmed
      lookup, transformation, *_filter, mapping, response_mapping, *_hook
    ``GET /audit`` filters ``resourceType``, ``_resourceId``, ``source``,     §3 confirmed
      ``action``, ``from``, ``to``, ``limit``; Link paging; rows ``_id``,
      ``resourceType``, ``event``, ``time``
    flow ``disabled``, ``schedule`` (6-field cron, also on page generators),  §4 confirmed
      ``lastExecutedAt`` (absent until a first run); connection ``offline``
    leaky bucket 1000 / 300 per s; 429 with ``Retry-After`` in whole         §5 confirmed
      seconds; error body ``{"errors": [{code, message}]}``
    lookup ``map`` and ``default`` (used only with ``allowFailures``)        docs import.md

Still not found (read when present, never relied on alone):

    the ``/logs`` envelope and paging (a bare list, or an object holding one list under
      ``logs`` / ``rows`` / ``data`` / ``items``; a ``Link`` or ``nextPageURL`` is followed), and
      the rows' ``time``, ``stage``, ``statusCode``, ``message`` (a row without ``time`` takes
      its run's ``startedAt``)
    the ``/flows/{id}/jobs/latest`` body (one job or a list: both are read)
    the spelling of ``classification`` values on the wire (the UI says "Rate limit": compared
      with letters only)
    audit ``byUser`` and ``fieldChange`` (and whether they could show credential values: only
      ``fieldPath`` is ever kept)
    that the trace key holds the SKU: it is the export's trace key template, which the operator
      sets (``{{sku}}`` or ``{{sku}}|{{event id}}``, the separator is ``trace_key_separator``)
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from tools.clock import Clock, utc_now
from tools.concurrency import gather_fail_fast
from tools.errors import AdapterError
from tools.http import VendorClient
from tools.middleware.celigo_config import CeligoOptions, FlowMapping
from tools.middleware.celigo_facts import (
    _parents,
    _processed,
    _run_end,
    error_entry,
    execution_entry,
    location_mappings_from,
    log_sort_key,
    parse_audit,
    parse_flow,
    sku_mapping_from,
)
from tools.middleware.celigo_wire import (
    DEFAULT_TRACE_SEPARATOR,
    SYSTEM,
    Job,
    StepError,
    _dicts,
    _int,
    _str,
    flow_steps,
    iso,
    parse_error,
    parse_job,
)
from tools.models import (
    ChangeEvent,
    Flow,
    FlowHealth,
    LocationMapping,
    MiddlewareLogEntry,
    MiddlewareSnapshot,
    SkuMapping,
    Source,
)
from tools.ratelimit import LeakyBucket, RateLimiter
from tools.retry import RetryPolicy, Sleep

US_BASE_URL = "https://api.integrator.io/v1"
EU_BASE_URL = "https://api.eu.integrator.io/v1"
DEFAULT_TOKEN_ENV = "CELIGO_API_TOKEN"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
BUCKET_SIZE = 1000.0  # Celigo (developer.celigo.com "Rate limits"): a bucket of 1000 …
LEAK_RATE = 300.0  # … refilled 300 per second (older readme versions: 100 and 30)
CHANGE_WINDOW = timedelta(hours=72)
MAX_PAGES = 50
PAGE_LIMIT = 1000  # ``limit`` sent on the Link-paged listings: the 1000 a call Celigo documents
JOBS_PAGE = 1000  # runs a ``GET /jobs`` page holds ("up to 1001", newest first): shorter = last
# What one triage may cost per flow, whatever the flow's schedule (module docstring):
TRIAGE_JOB_PAGES = 2  # pages of runs listed (the newest 2000 runs of the window)
MAX_LOG_RUNS = 8  # runs whose execution logs are read (the newest that processed records)
ERROR_PAGES = 3  # pages of one step's open or resolved errors, of one run's log rows

# --- the adapter -----------------------------------------------------------------------------


@dataclass
class _Runs:
    """A flow's runs since the window start (newest first) and the execution-log rows of the
    runs whose logs were read (job id → rows; None: not all of its rows could be read)."""

    jobs: list[dict[str, Any]]
    complete: bool  # every run since the window start was listed
    rows: dict[str, list[dict[str, Any]] | None]
    listed: bool = True  # False: GET /jobs refused; nothing is known about the runs
    refused: frozenset[str] = frozenset()  # runs whose /logs route answered 403/404


@dataclass
class _FlowRead:
    doc: dict[str, Any]
    latest: Job | None
    errors: list[StepError]
    runs: _Runs
    facts: list[str]
    raw: dict[str, Any]


_T = TypeVar("_T")
# Statuses that take one route away (a token scoped without it, a route this account lacks), not
# the whole read: the checks that need that route become unknown, the rest still run.
_DEGRADING = frozenset({403, 404})
_ROW_KEYS = ("logs", "rows", "data", "items")  # the /logs envelope is not documented

# The account's flows by id, once ``GET /flows`` has answered (``read_activity``).
_Listed = asyncio.Future[dict[str, dict[str, Any]]]


class CeligoMiddleware:
    """``MiddlewareAdapter`` over the integrator.io REST API v1."""

    system = SYSTEM

    def __init__(
        self,
        flows: Mapping[str, FlowMapping],
        *,
        token_env: str = DEFAULT_TOKEN_ENV,
        base_url: str = US_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        retention_days: float = 30.0,
        sku_lookup: str = "sku_map",
        location_lookup: str = "location_map",
        source_lookup: str = "source_map",
        trace_key_separator: str | None = DEFAULT_TRACE_SEPARATOR,
        clock: Clock = utc_now,
        environ: Mapping[str, str] | None = None,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = MAX_PAGES,
        jobs_page: int = JOBS_PAGE,
        triage_job_pages: int = TRIAGE_JOB_PAGES,
        max_log_runs: int = MAX_LOG_RUNS,
        error_pages: int = ERROR_PAGES,
    ) -> None:
        if min(page_limit, max_pages, jobs_page, triage_job_pages, error_pages) < 1:
            raise ValueError("celigo: page sizes and page caps must be at least 1")
        if max_log_runs < 0:
            raise ValueError("celigo: max_log_runs must not be negative")
        self.flows = dict(flows)
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.jobs_page = jobs_page
        self.triage_job_pages = triage_job_pages
        self.max_log_runs = max_log_runs
        self.error_pages = error_pages
        self.token_env = token_env
        self.retention = timedelta(days=retention_days)
        self.sku_lookup = sku_lookup
        self.location_lookup = location_lookup
        self.source_lookup = source_lookup
        self.trace_key_separator = trace_key_separator
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._base_path = urlsplit(base_url).path.rstrip("/")
        self._client = VendorClient(
            SYSTEM,
            base_url.rstrip("/") + "/",
            timeout=TIMEOUT,
            auth=self._authorize,
            limiter=limiter or LeakyBucket(BUCKET_SIZE, LEAK_RATE, clock=monotonic, sleep=sleep),
            retry=retry,
            transport=transport,
            headers={"Accept": "application/json"},
            sleep=sleep,
            clock=monotonic,
        )

    @classmethod
    def from_settings(
        cls,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> CeligoMiddleware:
        """From a stack config entry: ``credentials.api_token`` (the NAME of the env var holding
        the API token), ``options.flows`` (flow ``_id`` → hop, channel, carries, listens_for,
        listens_for_raw), optional ``options.region`` (us/eu), ``retention_days`` and lookup
        names, and an optional ``base_url`` override."""
        try:
            parsed = CeligoOptions.model_validate(dict(options or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"celigo: options.{where}: {first['msg']}") from None
        region_url = EU_BASE_URL if parsed.region == "eu" else US_BASE_URL
        return cls(
            parsed.flows,
            token_env=(credentials or {}).get("api_token", DEFAULT_TOKEN_ENV),
            base_url=base_url or region_url,
            transport=transport,
            retry=retry,
            retention_days=parsed.retention_days,
            sku_lookup=parsed.sku_lookup,
            location_lookup=parsed.location_lookup,
            source_lookup=parsed.source_lookup,
            trace_key_separator=parsed.trace_key_separator,
            clock=clock or utc_now,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _authorize(self, request: httpx.Request) -> None:
        token = self._environ.get(self.token_env)
        if not token:
            raise AdapterError(
                SYSTEM, "auth", f"environment variable {self.token_env} (API token) is not set"
            )
        request.headers["Authorization"] = f"Bearer {token}"

    # --- HTTP ----------------------------------------------------------------------------------

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        return await self._client.request("GET", path, params=params)

    def _json(self, response: httpx.Response, endpoint: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # Redact before cutting, so a secret is never split by the cut.
            text = self._client.redactor.redact(" ".join(response.text[:10_000].split()))
            snippet = text if len(text) <= 120 else text[:119] + "…"
            raise AdapterError(
                SYSTEM,
                "bad_payload",
                f"invalid JSON: {snippet}",
                status=response.status_code,
                endpoint=endpoint,
            ) from None

    def _next(self, link: str | None) -> tuple[str, dict[str, str]] | None:
        """The ``rel="next"`` target of a Link header as (path under the base URL, params).

        Only the path and query are kept: a next link never sends the token to another host.
        """
        for part in (link or "").split(","):
            match = re.search(r"<([^>]*)>", part)
            if match and re.search(r'rel="?next"?', part):
                return self._relative(match.group(1))
        return None

    def _relative(self, url: str) -> tuple[str, dict[str, str]]:
        target = httpx.URL(url)
        path = target.path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        return path.lstrip("/"), dict(target.params)

    async def _list(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a listing (``_list_pages``); an error, not a silently short list,
        when there are more than ``max_pages`` pages: a cut audit list could hide the very
        change a triage is looking for."""
        items, complete = await self._list_pages(path, params)
        if not complete:
            raise AdapterError(
                SYSTEM,
                "bad_payload",
                f"more than {self.max_pages} pages ({len(items)} items read at "
                f"{self.page_limit} a page); the list was not read to its end",
                endpoint=f"GET /{path}",
            )
        return items

    async def _list_pages(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The items of up to ``max_pages`` pages of a listing (``/flows``, ``/exports``,
        ``/imports``, ``/connections``, ``/audit``), and whether that was all of them.

        Each request asks for ``limit`` items (documented for these listings); the
        ``Link: rel="next"`` header is followed until it is missing, as Celigo documents. An
        empty account answers 204 with no body."""
        request: tuple[str, Mapping[str, str]] | None = (
            path,
            {"limit": str(self.page_limit), **(params or {})},
        )
        items: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            if request is None:
                return items, True
            response = await self._get(*request)
            body = self._json(response, f"GET /{path}")
            if body is None:
                return items, True
            items.extend(self._records(body, path))
            request = self._next(response.headers.get("Link"))
        return items, request is None

    async def _jobs(
        self, fid: str, since: datetime, max_pages: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The flow's parent runs (``flow``, ``retry``, ``bulk_retry``) created since ``since``,
        newest first, from up to ``max_pages`` pages, and whether that was all of them.

        ``GET /jobs`` pages neither by ``Link`` nor by ``offset``: it answers up to
        ``jobs_page`` runs, newest ``createdAt`` first, and the next page is asked for with
        ``createdAt_lte`` set to the last run's ``createdAt`` (the boundary run comes back and
        is dropped by ``_id``). A page shorter than ``jobs_page`` is the last; a full page that
        brings nothing new ends the listing as incomplete, never as a loop. No ``type`` is sent:
        a parent-job query without one returns every parent type, retries included."""
        query = {"_flowId": fid, "createdAt_gte": iso(since)}
        seen: dict[str, dict[str, Any]] = {}
        for number in range(1, max_pages + 1):
            page = self._records(
                self._json(await self._get("jobs", query), "GET /jobs") or [], "jobs"
            )
            fresh = [j for j in page if str(j.get("_id")) not in seen]
            seen.update((str(j.get("_id")), j) for j in fresh)
            if len(page) < self.jobs_page:
                return _parents(seen.values()), True
            cursor = _str(page[-1].get("createdAt"))
            if not fresh or cursor is None or number == max_pages:
                break
            query = {**query, "createdAt_lte": cursor}
        return _parents(seen.values()), False

    async def _error_list(
        self, path: str, key: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], bool]:
        """The errors of a step endpoint (``{"errors": […], "nextPageURL": …}``, or
        ``"resolved"``) from up to ``error_pages`` pages, and whether that was all of them."""
        items: list[dict[str, Any]] = []
        request: tuple[str, Mapping[str, str] | None] | None = (path, params)
        for _ in range(self.error_pages):
            if request is None:
                return items, True
            response = await self._get(*request)
            body = self._json(response, f"GET /{path}")
            if body is None:
                return items, True
            if not isinstance(body, Mapping):
                raise self._shape(path, "an object with an error list")
            items.extend(self._records(body.get(key, []), path))
            next_url = body.get("nextPageURL")
            request = self._relative(next_url) if isinstance(next_url, str) and next_url else None
        return items, request is None

    async def _log_rows(self, fid: str, job_id: str) -> list[dict[str, Any]] | None:
        """One run's execution-log rows, None when there are more than ``error_pages`` pages.

        The envelope is not documented (Celigo's CLI prints the body as it comes): a bare list
        or an object holding one list; a ``Link`` or a ``nextPageURL`` is followed."""
        path = f"flows/{fid}/jobs/{job_id}/logs"
        rows: list[dict[str, Any]] = []
        request: tuple[str, Mapping[str, str] | None] | None = (path, None)
        for _ in range(self.error_pages):
            if request is None:
                return rows
            response = await self._get(*request)
            body = self._json(response, f"GET /{path}")
            next_url = body.get("nextPageURL") if isinstance(body, Mapping) else None
            if isinstance(body, Mapping):
                body = next((body[k] for k in _ROW_KEYS if isinstance(body.get(k), list)), None)
                if body is None:
                    raise self._shape(path, "a list of rows")
            rows.extend(self._records(body or [], path))
            request = self._next(response.headers.get("Link"))
            if request is None and isinstance(next_url, str) and next_url:
                request = self._relative(next_url)
        return rows if request is None else None

    def _where(self, exc: AdapterError) -> str:
        """The refused request as Celigo documents it: ``GET /v1/audit``."""
        method, _, path = (exc.endpoint or "").partition(" ")
        return f"{method} {self._base_path}/{path.lstrip('/')}"

    async def _optional(
        self, read: Awaitable[_T], default: _T, facts: list[str], topic: str, lost: str
    ) -> _T:
        """``read``, or ``default`` and a fact naming what was lost when its route answers 403
        or 404 (scoped token, route missing): one route never takes the whole read down."""
        try:
            return await read
        except AdapterError as exc:
            if exc.status not in _DEGRADING:
                raise
            facts.append(
                f"{topic}: {self._where(exc)} answered HTTP {exc.status} ({exc.message}); {lost}"
            )
            return default

    def _records(self, body: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            raise self._shape(path, "a list of objects")
        return cast(list[dict[str, Any]], body)

    @staticmethod
    def _shape(path: str, expected: str) -> AdapterError:
        return AdapterError(SYSTEM, "bad_payload", f"expected {expected}", endpoint=f"GET /{path}")

    # --- reading -------------------------------------------------------------------------------

    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        now = self._clock()
        log_from = max(since, now - self.retention)
        changes_from = min(since, now - CHANGE_WINDOW)
        facts: list[str] = []
        # The flow ids are in the config: each flow's reads start with the account's lists, and
        # a request waits only for the answer it needs (module docstring).
        listed: _Listed = asyncio.get_running_loop().create_future()
        # A failed list is raised by its own task; no waiter need retrieve it from the future.
        listed.add_done_callback(lambda f: f.cancelled() or f.exception())
        not_read = "the flows' trigger (read as batch) and the source connection are not known"
        by_id, exports, imports, connections, audit, *reads = await gather_fail_fast(
            [
                self._configured_flows(listed),
                self._optional(self._list("exports"), [], facts, "flow_status", not_read),
                self._optional(
                    self._list("imports"), None, facts, "mappings", "SKU and location maps not read"
                ),
                self._optional(
                    self._list("connections"),
                    None,
                    facts,
                    "flow_status",
                    "whether a connection is offline is not known",
                ),
                self._optional(
                    self._list("audit", {"from": iso(changes_from), "to": iso(now)}),
                    None,
                    facts,
                    "changes",
                    "integration and credential changes not read",
                ),
                *(self._read_flow(fid, listed, log_from) for fid in self.flows),
            ]
        )
        export_docs = {str(e.get("_id")): e for e in exports}
        import_docs = {str(i.get("_id")): i for i in imports or []}
        connection_docs = {str(c.get("_id")): c for c in connections or []}
        if connections is None and audit:
            facts.append(
                "changes: GET /connections was refused; which system a connection's change "
                "belongs to is not known"
            )
        model_flows: list[Flow] = []
        log: list[MiddlewareLogEntry] = []
        window_start = log_from if log_from > since else None
        if window_start is not None:
            facts.append(
                f"log_window: Celigo keeps execution logs and errors {self.retention.days} days "
                f"(the account's retention setting, configured as retention_days): the log "
                f"starts at {iso(log_from)}"
            )
        for read, (fid, mapping) in zip(reads, self.flows.items(), strict=True):
            model_flows.append(
                parse_flow(
                    read.doc,
                    mapping,
                    exports=export_docs,
                    imports=import_docs,
                    connections=connection_docs,
                    latest=read.latest,
                    errors=read.errors,
                )
            )
            entries, covered_from = self._flow_log(read, fid, sku, log_from)
            log.extend(entries)
            facts.extend(read.facts)
            if covered_from is not None and (window_start is None or covered_from > window_start):
                window_start = covered_from
        configured = [by_id[fid] for fid in self.flows]
        sku_mapping, locations = (
            self._mappings(configured, import_docs, sku) if imports is not None else (None, [])
        )
        changes = (
            self._changes(audit, connection_docs, configured, changes_from)
            if audit is not None
            else []
        )
        return MiddlewareSnapshot(
            source=Source(system=SYSTEM, endpoint="GET /v1/flows", record=None),
            read_at=now,
            raw={
                "flows": [r.raw for r in reads],
                "exports": [export_docs[e] for e in self._used(reads, "exports", export_docs)],
                "imports": [import_docs[i] for i in self._used(reads, "imports", import_docs)],
                "connections": [_safe_connection(c) for c in connections or []],
                "audit": [_safe_audit(a) for a in audit or []],
            },
            vendor=SYSTEM,
            flows=model_flows,
            log=sorted(log, key=log_sort_key),
            log_window_start=window_start,
            sku_mapping=sku_mapping,
            location_mappings=locations,
            changes=sorted(changes, key=lambda c: c.at),
            not_visible=facts,
        )

    @staticmethod
    def _used(reads: Sequence[_FlowRead], kind: str, docs: Mapping[str, Any]) -> list[str]:
        ids: list[str] = []
        for read in reads:
            steps = flow_steps(read.doc)
            for step in steps.exports if kind == "exports" else steps.imports:
                if step in docs and step not in ids:
                    ids.append(step)
        return ids

    async def _configured_flows(self, listed: _Listed) -> dict[str, dict[str, Any]]:
        """The account's flows by id, also handed to ``listed`` for the flow reads that need a
        flow document; not_found when a flow the config names is not among them. ``listed``
        always ends as this does (result, error or cancellation): a read must never wait on it
        forever, even one whose own cancellation a task group turned into its error."""
        try:
            by_id = {str(f.get("_id")): f for f in await self._list("flows")}
            self._require_configured(by_id)
        except asyncio.CancelledError:
            listed.cancel()
            raise
        except Exception as exc:
            listed.set_exception(exc)
            raise
        listed.set_result(by_id)
        return by_id

    def _require_configured(self, flow_ids: Collection[str]) -> None:
        """not_found when a flow the config names is not among the account's ``flow_ids``."""
        missing = [fid for fid in self.flows if fid not in flow_ids]
        if missing:
            raise AdapterError(
                SYSTEM,
                "not_found",
                f"flow(s) {', '.join(missing)} named in the config are not in this account",
                endpoint="GET /flows",
            )

    async def _read_flow(self, fid: str, listed: _Listed, log_from: datetime) -> _FlowRead:
        """One configured flow, as chains that each wait only for their own answer: its runs
        then the execution logs of the newest few, its error summary then the open errors of
        the steps it names, the flow document (from the flow list) then its steps' resolved
        errors; and the latest run alongside. A route answering 403/404 costs only its part."""
        facts: list[str] = []
        (
            latest_body,
            runs,
            (summary, open_steps, open_lists),
            (doc, all_steps, resolved_lists),
        ) = await gather_fail_fast(
            [
                self._optional(
                    self._latest(fid),
                    None,
                    facts,
                    "flow_status",
                    "the last run's status is taken from the runs in the window",
                ),
                self._runs(fid, log_from, facts),
                self._open_errors(fid, listed, log_from, facts),
                self._resolved(fid, listed, log_from, facts),
            ]
        )
        errors = [
            parse_error(e, step)
            for step, found in zip(open_steps, open_lists, strict=True)
            for e in found
        ]
        resolved = [
            parse_error(e, step)
            for step, found in zip(all_steps, resolved_lists, strict=True)
            for e in found
        ]
        if latest_body is None:
            newest = next((j for j in runs.jobs if j.get("type") in (None, "flow")), None)
            latest_doc = newest
        else:
            latest_doc = latest_body[0] if latest_body else None
        return _FlowRead(
            doc=doc,
            latest=parse_job(latest_doc) if latest_doc else None,
            # Resolved errors still say what happened to the SKU, but not why the flow stands
            # still now: they feed the log only.
            errors=errors + [e for e in resolved if e.trace_key is not None],
            runs=runs,
            facts=facts,
            raw={
                "flow": doc,
                "latestJob": latest_doc,
                "jobs": runs.jobs,
                "errorSummary": summary,
                "errors": {s: found for s, found in zip(open_steps, open_lists, strict=True)},
                "resolved": {
                    s: found for s, found in zip(all_steps, resolved_lists, strict=True) if found
                },
                "executionLogs": {j: rows for j, rows in runs.rows.items() if rows is not None},
            },
        )

    async def _runs(self, fid: str, log_from: datetime, facts: list[str]) -> _Runs:
        """The flow's runs since ``log_from`` (at most ``triage_job_pages`` pages), and the
        execution logs of the newest ``max_log_runs`` runs that processed records: what a
        triage costs does not grow with how often the flow runs."""
        try:
            jobs, complete = await self._jobs(fid, log_from, self.triage_job_pages)
        except AdapterError as exc:
            if exc.status not in _DEGRADING:
                raise
            facts.append(
                f"log: {self._where(exc)} answered HTTP {exc.status} ({exc.message}); the flow's "
                f"runs and their execution logs were not read (its step errors were)"
            )
            return _Runs([], False, {}, listed=False)
        chosen = [str(j.get("_id")) for j in jobs if _processed(parse_job(j))][: self.max_log_runs]
        refused: dict[str, AdapterError] = {}

        async def rows_of(job_id: str) -> list[dict[str, Any]] | None:
            try:
                return await self._log_rows(fid, job_id)
            except AdapterError as exc:
                if exc.status not in _DEGRADING:
                    raise
                refused[job_id] = exc
                return None

        found = await gather_fail_fast([rows_of(j) for j in chosen])
        if refused:
            first = next(iter(refused.values()))
            facts.append(
                f"log: {self._where(first)} answered HTTP {first.status} ({first.message}); "
                f"execution-log rows (received, delivered, filtered) of {len(refused)} run(s) "
                f"of flow {fid} were not read (its step errors were)"
            )
        return _Runs(
            jobs, complete, dict(zip(chosen, found, strict=True)), refused=frozenset(refused)
        )

    async def _open_errors(
        self, fid: str, listed: _Listed, log_from: datetime, facts: list[str]
    ) -> tuple[list[dict[str, Any]], list[str], list[list[dict[str, Any]]]]:
        """The flow's error summary, the steps it names with open errors (every step of the
        flow when the summary is refused), and those steps' errors since ``log_from``."""
        summary = await self._optional(
            self._summary(fid), None, facts, "log_window", "every step's open errors are read"
        )
        if summary is None:
            steps = list(flow_steps((await asyncio.shield(listed))[fid]).all)
        else:
            steps = [
                str(s.get("_expOrImpId"))
                for s in summary
                if _int(s.get("numError")) > 0 and s.get("_expOrImpId")
            ]
        query = {"occurredAt_gte": iso(log_from)}
        lists = await gather_fail_fast(
            [self._step_errors(f"flows/{fid}/{s}/errors", "errors", query, facts) for s in steps]
        )
        return summary or [], steps, lists

    async def _resolved(
        self, fid: str, listed: _Listed, log_from: datetime, facts: list[str]
    ) -> tuple[dict[str, Any], list[str], list[list[dict[str, Any]]]]:
        """The flow document (once the flow list is in), its steps, and the errors resolved
        (by a retry that got through, or by hand) since ``log_from``."""
        # Shielded: a read cancelled while waiting must not cancel the list for the others.
        doc = (await asyncio.shield(listed))[fid]
        steps = list(flow_steps(doc).all)
        query = {"resolvedAt_gte": iso(log_from)}
        lists = await gather_fail_fast(
            [
                self._step_errors(f"flows/{fid}/{s}/resolved", "resolved", query, facts)
                for s in steps
            ]
        )
        return doc, steps, lists

    async def _step_errors(
        self, path: str, key: str, query: Mapping[str, str], facts: list[str]
    ) -> list[dict[str, Any]]:
        """One step's errors; a refused route or a list past the page cap is said as a fact."""
        found = await self._optional(
            self._error_list(path, key, query),
            None,
            facts,
            "log",
            f"the step's {'open' if key == 'errors' else 'resolved'} errors were not read",
        )
        if found is None:
            return []
        items, complete = found
        if not complete:
            facts.append(
                f"log_window: GET /{path} has more than {self.error_pages} pages of {key} "
                f"errors since {query[next(iter(query))]}; {len(items)} were read"
            )
        return items

    async def _latest(self, fid: str) -> list[dict[str, Any]]:
        path = f"flows/{fid}/jobs/latest"
        body = self._json(await self._get(path), f"GET /{path}")
        if body is None:
            return []
        return self._records(body if isinstance(body, list) else [body], path)

    async def _summary(self, fid: str) -> list[dict[str, Any]]:
        path = f"flows/{fid}/errors"
        body = self._json(await self._get(path), f"GET /{path}")
        if body is None:
            return []
        if not isinstance(body, Mapping):
            raise self._shape(path, "an object with flowErrors")
        return self._records(body.get("flowErrors", []), path)

    def _flow_log(
        self, read: _FlowRead, fid: str, sku: str, log_from: datetime
    ) -> tuple[list[MiddlewareLogEntry], datetime | None]:
        """The SKU's entries of one flow, and from when its execution log is complete (None:
        from ``log_from``); what it does not cover is added to the read's facts."""
        steps = flow_steps(read.doc)
        runs = read.runs
        parsed = [parse_job(j) for j in runs.jobs]
        jobs = {job.id: job for job in parsed}
        sep = self.trace_key_separator
        entries = [
            e
            for e in (
                error_entry(err, fid, imports=steps.imports, jobs=jobs, separator=sep)
                for err in read.errors
            )
            if e
        ]
        covered_from: list[datetime] = []
        if not runs.listed:
            covered_from.append(self._clock())
        elif not runs.complete and parsed:
            oldest = min((j.created_at for j in parsed if j.created_at), default=None)
            if oldest is not None:
                covered_from.append(oldest)
                read.facts.append(
                    f"log_window: flow {fid} ran more than {len(parsed)} times since "
                    f"{iso(log_from)}; runs before {iso(oldest)} were not listed "
                    f"(at most {self.triage_job_pages} page(s) of runs a triage)"
                )
        unread = [j for j in parsed if _processed(j) and j.id not in runs.rows]
        if unread:
            newest = max(unread, key=_run_end)
            covered_from.append(_run_end(newest))
            read.facts.append(
                f"log_window: the execution logs of {len(unread)} older run(s) of flow {fid} "
                f"that processed records were not read (at most {self.max_log_runs} runs a "
                f"triage), the newest ended {iso(_run_end(newest))}; the step errors were read "
                f"for the whole window"
            )
        for job in parsed:
            if job.id not in runs.rows:
                continue
            rows = runs.rows[job.id]
            if rows is None or (not rows and job.num_success > 0):
                covered_from.append(_run_end(job))
                if rows is None and job.id not in runs.refused:
                    read.facts.append(
                        f"log_window: the execution log of run {job.id} of flow {fid} has more "
                        f"than {self.error_pages} pages; it was not read to its end"
                    )
                if rows is not None:
                    read.facts.append(
                        f"log_window: run {job.id} of flow {fid} ({iso(_run_end(job))}) "
                        f"processed {job.num_success} record(s) and its execution log has no "
                        f"rows (the account's log level or retention): whether {sku} was among "
                        f"them is not known"
                    )
                continue
            entries.extend(e for e in (execution_entry(r, fid, steps, job, sep) for r in rows) if e)
        start = max(covered_from, default=None)
        return [e for e in entries if e.sku == sku and e.at >= log_from], start

    def _mappings(
        self,
        flows: Sequence[Mapping[str, Any]],
        imports: Mapping[str, Mapping[str, Any]],
        sku: str,
    ) -> tuple[SkuMapping | None, list[LocationMapping]]:
        # The storefront→ERP flows first: their lookups are the ones the ERP side sees.
        ordered = sorted(
            flows, key=lambda f: self.flows[str(f.get("_id"))].hop != "storefront_to_erp"
        )
        sku_mapping: SkuMapping | None = None
        locations: list[LocationMapping] = []
        seen: set[tuple[str, str]] = set()
        for flow in ordered:
            for import_id in flow_steps(flow).imports:
                for lookup in _dicts((imports.get(import_id) or {}).get("lookups")):
                    name = lookup.get("name")
                    if name == self.sku_lookup and sku_mapping is None:
                        sku_mapping = sku_mapping_from(lookup, sku)
                    elif name in (self.location_lookup, self.source_lookup):
                        kind: Literal["location", "msi_source"] = (
                            "location" if name == self.location_lookup else "msi_source"
                        )
                        for row in location_mappings_from(lookup, kind):
                            if (row.storefront_location_id, kind) not in seen:
                                seen.add((row.storefront_location_id, kind))
                                locations.append(row)
        return sku_mapping, locations

    def _changes(
        self,
        audit: Sequence[Mapping[str, Any]],
        connections: Mapping[str, Mapping[str, Any]],
        flows: Sequence[Mapping[str, Any]],
        changes_from: datetime,
    ) -> list[ChangeEvent]:
        steps = {s for f in flows for s in (*flow_steps(f).exports, *flow_steps(f).imports)}
        changes: list[ChangeEvent] = []
        for entry in audit:
            resource = str(entry.get("_resourceId", ""))
            kind = entry.get("resourceType")
            if (kind == "flow" and resource not in self.flows) or (
                kind in ("export", "import") and resource not in steps
            ):
                continue  # an edit to something no configured flow runs
            change = parse_audit(entry, connections)
            if change is not None and change.at >= changes_from:
                changes.append(change)
        return changes

    # --- connector health ----------------------------------------------------------------------

    async def flow_health(self, since: datetime) -> list[FlowHealth]:
        """Every flow of the account: status now, runs since ``since`` (module docstring)."""
        now = self._clock()
        flows, exports, imports, connections = await gather_fail_fast(
            [
                self._list("flows"),
                self._list("exports"),
                self._list("imports"),
                self._list("connections"),
            ]
        )
        self._require_configured({str(f.get("_id")) for f in flows})
        docs = _Docs(
            exports={str(e.get("_id")): e for e in exports},
            imports={str(i.get("_id")): i for i in imports},
            connections={str(c.get("_id")): c for c in connections},
        )
        healths = await gather_fail_fast(
            [self._flow_health(doc, docs, since, now) for doc in flows]
        )
        return cast(list[FlowHealth], healths)

    async def _flow_health(
        self, doc: dict[str, Any], docs: _Docs, since: datetime, now: datetime
    ) -> FlowHealth:
        fid = str(doc.get("_id"))
        latest_body, (job_docs, complete), summary = await gather_fail_fast(
            [self._latest(fid), self._jobs(fid, since, self.max_pages), self._summary(fid)]
        )
        latest = parse_job(latest_body[0]) if latest_body else None
        mapping = self.flows.get(fid)

        def parse(errors: Sequence[StepError]) -> Flow:
            return parse_flow(
                doc,
                mapping or _UNMAPPED,
                exports=docs.exports,
                imports=docs.imports,
                connections=docs.connections,
                latest=latest,
                errors=errors,
            )

        flow = parse(())
        open_steps = [
            str(s.get("_expOrImpId"))
            for s in summary
            if _int(s.get("numError")) > 0 and s.get("_expOrImpId")
        ]
        if flow.status in ("suspended", "error") and open_steps:
            # The reason is in the open errors: read them only for a flow that needs one.
            lists = await gather_fail_fast(
                [self._error_list(f"flows/{fid}/{s}/errors", "errors", {}) for s in open_steps]
            )
            flow = parse(
                [
                    parse_error(e, step)
                    for step, (found, _) in zip(open_steps, lists, strict=True)
                    for e in found
                ]
            )
        jobs = [parse_job(j) for j in job_docs]
        return FlowHealth(
            source=Source(system=SYSTEM, endpoint="GET /v1/jobs", record=fid),
            read_at=now,
            raw={"flow": doc, "latestJob": latest_body[0] if latest_body else None},
            flow_id=flow.id,
            name=flow.name,
            hop=mapping.hop if mapping else None,
            channel=mapping.channel if mapping else None,
            status=flow.status,
            status_reason=flow.status_reason,
            status_since=flow.status_since,
            trigger=flow.trigger,
            interval_minutes=flow.interval_minutes,
            last_run_at=flow.last_run_at,
            window_start=since,
            runs=len(jobs),
            failed_runs=sum(j.status == "failed" for j in jobs),
            records_ok=sum(j.num_success for j in jobs),
            records_failed=sum(j.num_error for j in jobs),
            records_ignored=sum(j.num_ignore for j in jobs),
            open_errors=sum(_int(s.get("numError")) for s in summary),
            complete=complete,
        )


# A flow the config does not name still has a status and a trigger; its hop is reported as None.
_UNMAPPED = FlowMapping(hop="storefront_to_erp")


@dataclass(frozen=True)
class _Docs:
    exports: Mapping[str, Mapping[str, Any]]
    imports: Mapping[str, Mapping[str, Any]]
    connections: Mapping[str, Mapping[str, Any]]


def _safe_connection(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A connection document without anything that could hold a credential."""
    http = doc.get("http")
    keep = {
        k: doc[k]
        for k in ("_id", "name", "type", "assistant", "offline", "lastModified")
        if k in doc
    }
    if isinstance(http, Mapping) and isinstance(http.get("baseURI"), str):
        keep["http"] = {"baseURI": http["baseURI"]}
    return keep


def _safe_audit(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An audit entry without the old and new values (a credential change would carry them)."""
    safe = {k: v for k, v in entry.items() if k != "fieldChange"}
    change = entry.get("fieldChange")
    if isinstance(change, Mapping) and "fieldPath" in change:
        safe["fieldChange"] = {"fieldPath": change["fieldPath"]}
    return safe
