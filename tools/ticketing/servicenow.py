"""ServiceNow (Table API, ``incident``) as a ``TicketSystem``.

Requests (``{base_url}`` is the instance, such as ``https://acme.service-now.com``):

    get       GET   /api/now/table/incident/{sys_id}?sysparm_fields=…                  (retried)
    find      GET   /api/now/table/incident?sysparm_query=correlation_id=<fp>^ORDERBYDESCsys_created_on
                    &sysparm_limit=1&sysparm_fields=…&sysparm_exclude_reference_link=true  (retried)
    create    POST  /api/now/table/incident  {short_description, description, correlation_id,
                    correlation_display, assignment_group, work_notes?}
    comment   PATCH /api/now/table/incident/{sys_id}  {"work_notes": …}
    attach    POST  /api/now/attachment/file?table_name=incident&table_sys_id=…&file_name=…
                    with the file as the raw body and its own Content-Type
    resolve   PATCH /api/now/table/incident/{sys_id}  {state, close_code, close_notes}
    reopen    PATCH /api/now/table/incident/{sys_id}  {state, work_notes}

Records come back wrapped in ``{"result": …}``; errors as ``{"error": {"message", "detail"},
"status": "failure"}``. Auth is HTTP Basic (roles ``username`` and ``password``) or an OAuth
bearer token (role ``token``), read from the environment at every request.

State model (out of box): a Resolved incident (6) can be reopened; a Closed (7) or Canceled (8)
one is read-only and cannot — ``can_reopen`` says so, and the caller opens a new incident that
names the closed one instead of reporting a reopen that did not happen.

Text limits: the dictionary gives ``short_description`` 160 characters and ``description``,
``work_notes`` and ``close_notes`` 4,000. The platform stores longer strings (KB0685779: max_length
is not enforced), but forms, lists and integrations reading the dictionary cut them silently, so
texts are cut here, said in the text, with the full report attached (``text_limit`` option).

Choice values are per instance (see the shared notes): the ``state`` numbers used here are the
out-of-box ones (1 New, 2 In Progress, 6 Resolved, 7 Closed, 8 Canceled) and, like
``close_code``, can be changed in ``[tickets.options]``. An ``assignment_group`` that is not a
32-character sys_id is sent as a display value (``sysparm_input_display_value=true``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from tools.errors import AdapterError
from tools.ratelimit import RateLimiter
from tools.retry import RetryPolicy, Sleep
from tools.ticketing.base import Attachment, Doc, Ticket, TicketDraft, cut_note, fit
from tools.ticketing.client import check_options, env_secret, set_basic_auth, ticket_client

SYSTEM = "servicenow"
TABLE = "incident"
SHORT_DESCRIPTION_LIMIT = 160
CORRELATION_LIMIT = 100
TEXT_LIMIT = 4_000
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_FIELDS = "sys_id,number,state,correlation_id,short_description"
_OPTIONS = {
    "resolved_state",
    "reopen_state",
    "closed_states",
    "close_code",
    "category",
    "caller_id",
    "api_version",
    "text_limit",
}


class ServiceNowTickets:
    """Incidents in one ServiceNow instance."""

    system = SYSTEM
    # A Table API query reads the table itself: a record is found as soon as it is created.
    search_lag_seconds = 0.0

    def __init__(
        self,
        base_url: str,
        *,
        username_env: str | None = None,
        password_env: str | None = None,
        token_env: str | None = None,
        resolved_state: str = "6",
        reopen_state: str = "2",
        closed_states: tuple[str, ...] = ("6", "7", "8"),
        close_code: str = "Solution provided",
        category: str | None = None,
        caller_id: str | None = None,
        api_version: str | None = None,
        text_limit: int = TEXT_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be the instance URL, like https://acme.service-now.com")
        if token_env is None and (username_env is None or password_env is None):
            raise ValueError("credentials need username and password, or token")
        self.instance = base_url.rstrip("/")
        self._username_env = username_env
        self._password_env = password_env
        self._token_env = token_env
        self.resolved_state = resolved_state
        self.reopen_state = reopen_state
        self.closed_states = frozenset(closed_states) | {resolved_state}
        self.close_code = close_code
        self.category = category
        self.caller_id = caller_id
        self.text_limit = text_limit
        prefix = f"/api/now/{api_version}" if api_version else "/api/now"
        self._table = f"{prefix}/table/{TABLE}"
        self._attachment = f"{prefix}/attachment/file"
        self._http = ticket_client(
            SYSTEM,
            self.instance,
            auth=self._authorize,
            transport=transport,
            retry=retry,
            limiter=limiter,
            sleep=sleep,
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
        sleep: Sleep | None = None,
    ) -> ServiceNowTickets:
        credentials = credentials or {}
        options = dict(options or {})
        if not base_url:
            raise ValueError("base_url is required (https://your-instance.service-now.com)")
        check_options(options, _OPTIONS)
        closed = options.pop("closed_states", None)
        limit = options.pop("text_limit", None)
        kwargs: dict[str, Any] = {k: str(v) for k, v in options.items()}
        if limit is not None:
            kwargs["text_limit"] = int(limit)
        if closed is not None:
            kwargs["closed_states"] = tuple(str(s) for s in closed)
        return cls(
            base_url,
            username_env=credentials.get("username"),
            password_env=credentials.get("password"),
            token_env=credentials.get("token"),
            transport=transport,
            retry=retry,
            sleep=sleep,
            **kwargs,
        )

    async def _authorize(self, request: httpx.Request) -> None:
        if self._token_env is not None:
            request.headers["Authorization"] = f"Bearer {env_secret(SYSTEM, self._token_env)}"
            return
        assert self._username_env is not None and self._password_env is not None
        set_basic_auth(SYSTEM, request, self._username_env, self._password_env)

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, sys_id: str) -> str:
        return f"{self.instance}/nav_to.do?uri={quote(f'{TABLE}.do?sys_id={sys_id}', safe='')}"

    def _ticket(self, record: Any) -> Ticket:
        if not isinstance(record, dict) or not record.get("sys_id"):
            raise AdapterError(SYSTEM, "bad_payload", "an incident without a sys_id")
        sys_id = str(record["sys_id"])
        state = str(record.get("state") or "")
        return Ticket(
            system=SYSTEM,
            id=sys_id,
            key=str(record.get("number") or sys_id),
            url=self.url(sys_id),
            state="resolved" if state in self.closed_states else "open",
            status=f"state {state}" if state else "unknown",
        )

    @staticmethod
    def _result(body: Any) -> Any:
        if not isinstance(body, dict) or "result" not in body:
            raise AdapterError(SYSTEM, "bad_payload", "an answer without a result")
        return body["result"]

    async def find(self, fingerprint: str, *, known: Sequence[str] = ()) -> Ticket | None:
        query = f"correlation_id={fingerprint[:CORRELATION_LIMIT]}^ORDERBYDESCsys_created_on"
        body = await self._http.get_json(
            self._table,
            params={
                "sysparm_query": query,
                "sysparm_fields": _FIELDS,
                "sysparm_limit": 1,
                "sysparm_exclude_reference_link": "true",
            },
        )
        records = self._result(body)
        if not isinstance(records, list):
            raise AdapterError(SYSTEM, "bad_payload", "a list query answered without a list")
        return self._ticket(records[0]) if records else None

    async def get(self, ticket_id: str) -> Ticket | None:
        try:
            body = await self._http.get_json(
                f"{self._table}/{ticket_id}", params={"sysparm_fields": _FIELDS}
            )
        except AdapterError as exc:
            if exc.kind == "not_found":
                return None
            raise
        return self._ticket(self._result(body))

    async def create(self, draft: TicketDraft) -> Ticket:
        record: dict[str, Any] = {
            "short_description": draft.summary[:SHORT_DESCRIPTION_LIMIT],
            "description": self._text(draft.body),
            "correlation_id": draft.fingerprint[:CORRELATION_LIMIT],
            "correlation_display": "oos-triage",
        }
        params: dict[str, str] = {"sysparm_fields": _FIELDS}
        group = draft.routing.assignment_group
        if group:
            record["assignment_group"] = group
            if not _SYS_ID.match(group):
                params["sysparm_input_display_value"] = "true"
        if self.category:
            record["category"] = self.category
        if self.caller_id:
            record["caller_id"] = self.caller_id
        body = await self._http.post_json(self._table, record, params=params)
        return self._ticket(self._result(body))

    async def attach(self, ticket: Ticket, attachment: Attachment) -> None:
        await self._http.request(
            "POST",
            self._attachment,
            params={
                "table_name": TABLE,
                "table_sys_id": ticket.id,
                "file_name": attachment.filename,
            },
            content=attachment.content,
            headers={"Content-Type": attachment.content_type},
        )

    async def _patch(self, ticket: Ticket, fields: dict[str, Any]) -> Ticket:
        response = await self._http.request(
            "PATCH",
            f"{self._table}/{ticket.id}",
            params={"sysparm_fields": _FIELDS},
            json=fields,
        )
        try:
            body = response.json()
        except ValueError:
            raise AdapterError(SYSTEM, "bad_payload", "an update answered without JSON") from None
        return self._ticket(self._result(body))

    async def comment(self, ticket: Ticket, body: Doc) -> None:
        await self._patch(ticket, {"work_notes": self._text(body)})

    async def resolve(self, ticket: Ticket, note: Doc) -> Ticket:
        return await self._patch(
            ticket,
            {
                "state": self.resolved_state,
                "close_code": self.close_code,
                "close_notes": self._text(note),
            },
        )

    def can_reopen(self, ticket: Ticket) -> bool:
        """Only a Resolved incident reopens; Closed and Canceled ones are read-only."""
        return ticket.status == f"state {self.resolved_state}"

    async def reopen(self, ticket: Ticket, note: Doc) -> Ticket:
        if not self.can_reopen(ticket):
            raise AdapterError(
                SYSTEM,
                "bad_payload",
                f"{ticket.key} is closed ({ticket.status}): it cannot be reopened",
            )
        return await self._patch(
            ticket, {"state": self.reopen_state, "work_notes": self._text(note)}
        )

    def _text(self, doc: Doc) -> str:
        limit = self.text_limit
        return fit(doc, limit, lambda d: len(d.plain()), cut_note("ServiceNow", limit)).plain()
