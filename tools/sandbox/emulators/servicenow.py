"""An in-process ServiceNow instance: the Table API on ``incident`` and the Attachment API.

``ServiceNowEmulator(faults=Faults(...))`` is an ``httpx.AsyncBaseTransport`` answering as the
notes in ``shared/specs/servicenow/NOTES.md`` describe:

    GET   /api/now/table/incident         ``sysparm_query`` (``field=value`` terms joined by ``^``,
                                          ``ORDERBY``/``ORDERBYDESC``; unknown terms are ignored,
                                          as an instance does by default), ``sysparm_limit``,
                                          ``sysparm_offset``, ``sysparm_fields``;
                                          ``X-Total-Count``; ``{"result": [...]}``
    GET   /api/now/table/incident/{id}    ``{"result": {...}}``; 404 "No Record found"
    POST  /api/now/table/incident         201; number ``INC0010001``…, state 1;
                                          ``assignment_group`` by sys_id, or by name with
                                          ``sysparm_input_display_value=true``
    PATCH /api/now/table/incident/{id}    ``work_notes`` go to the journal (``journal``); state 6
                                          (Resolved) needs ``close_code`` and ``close_notes``
                                          (403 Data Policy Exception otherwise); a Closed (7)
                                          or Canceled (8) incident is read-only (403 ACL
                                          Exception), as the out-of-box state model has it
    POST  /api/now/attachment/file        ``table_name``, ``table_sys_id``, ``file_name``; raw
                                          body with its Content-Type; 201

Errors: ``{"error": {"message", "detail"}, "status": "failure"}``. Auth: HTTP Basic with
``username``/``password``, or ``Authorization: Bearer <token>``. Faults as for the Jira
emulator (the shared ``TicketEmulator``): the shared ``Faults``, ``outage`` and
``lose_responses``; requests are recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from typing import Any

import httpx

from tools.clock import utc_now
from tools.retry import Sleep
from tools.sandbox.emulators.faults import Faults
from tools.sandbox.emulators.ticketing import Refusal, Routed, TicketEmulator

DEFAULT_USER = "oos.bot"
DEFAULT_PASSWORD = "sandbox-servicenow-password"
DEFAULT_TOKEN = "sandbox-servicenow-oauth-token"
DEFAULT_INSTANCE = "https://oos-sandbox.service-now.com"
TABLE_PATH = "/api/now/table/incident"
ATTACHMENT_PATH = "/api/now/attachment/file"

_MESSAGES = {
    400: ("Invalid request", "The request is malformed"),
    401: ("User Not Authenticated", "Required to provide Auth information"),
    404: ("No Record found", "Record doesn't exist or ACL restricts the record retrieval"),
    405: ("Method not Supported", "The method is not supported for this resource"),
    429: ("Too Many Requests", "Rate limit rule exceeded"),
    500: ("Internal Server Error", "An error occurred"),
    502: ("Bad Gateway", "The instance is not reachable"),
    503: ("Service Unavailable", "The instance is hibernating or under maintenance"),
}


class _Answer(Refusal):
    def __init__(self, status: int, message: str | None = None, detail: str | None = None) -> None:
        default = _MESSAGES.get(status, ("Error", ""))
        self.status = status
        self.message = message or default[0]
        self.detail = detail if detail is not None else default[1]

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "detail": self.detail}, "status": "failure"}


class ServiceNowEmulator(TicketEmulator):
    vendor = "ServiceNow"
    created = "incident"
    create_path = TABLE_PATH
    maintenance_page = b"<html>Instance Hibernating page</html>"

    def __init__(
        self,
        *,
        username: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        token: str = DEFAULT_TOKEN,
        groups: dict[str, str] | None = None,
        faults: Faults | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(faults=faults, sleep=sleep)
        self.username = username
        self.password = password
        self.token = token
        # group name → sys_id
        self.groups = dict(groups or {"Integration Support": uuid.uuid4().hex})
        self.incidents: dict[str, dict[str, Any]] = {}
        self.journal: dict[str, list[str]] = {}  # sys_id → work notes, oldest first
        self.attachments: dict[str, list[dict[str, Any]]] = {}  # sys_id → files
        self._number = 10000

    # --- what tests look at ----------------------------------------------------------------

    def by_number(self, number: str) -> dict[str, Any]:
        return next(i for i in self.incidents.values() if i["number"] == number)

    def group_name(self, sys_id: str) -> str | None:
        return next((name for name, gid in self.groups.items() if gid == sys_id), None)

    def resolve_in_servicenow(self, number: str) -> None:
        """The assignment group resolves the incident in ServiceNow itself."""
        self.by_number(number).update(
            state="6", close_code="Solution provided", close_notes="fixed"
        )

    def close_in_servicenow(self, number: str) -> None:
        """The incident goes from Resolved to Closed (the auto-close after some days)."""
        self.by_number(number).update(
            state="7", close_code="Solution provided", close_notes="fixed"
        )

    # --- what the shared transport asks ----------------------------------------------------

    def _refusal(self, status: int, *, outage: bool) -> _Answer:
        return _Answer(status)

    def _authenticate(self, request: httpx.Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        ok = (scheme.lower() == "basic" and value == basic) or (
            scheme.lower() == "bearer" and value == self.token
        )
        if self.faults.expired_token or not ok:
            raise _Answer(401)

    # --- routes ----------------------------------------------------------------------------

    def _route(self, request: httpx.Request, path: str, body: bytes) -> Routed:
        method = request.method
        params = request.url.params
        if path == ATTACHMENT_PATH and method == "POST":
            return 201, {"result": self._attach(request, body)}, {}
        if path == TABLE_PATH and method == "GET":
            records = self._query(params.get("sysparm_query", ""))
            total = len(records)
            offset = int(params.get("sysparm_offset") or 0)
            limit = int(params.get("sysparm_limit") or 10000)
            page = [
                self._fields(r, params.get("sysparm_fields"))
                for r in records[offset : offset + limit]
            ]
            return 200, {"result": page}, {"X-Total-Count": str(total)}
        if path == TABLE_PATH and method == "POST":
            created = self._create(_json(body), params.get("sysparm_input_display_value") == "true")
            return 201, {"result": self._fields(created, params.get("sysparm_fields"))}, {}
        match = re.fullmatch(rf"{TABLE_PATH}/([0-9a-f]{{32}})", path)
        if match is None:
            raise _Answer(400, "Requested URI does not represent any resource", path)
        record = self.incidents.get(match.group(1))
        if record is None:
            raise _Answer(404)
        if method == "GET":
            return 200, {"result": self._fields(record, params.get("sysparm_fields"))}, {}
        if method in ("PATCH", "PUT"):
            self._update(record, _json(body))
            return 200, {"result": self._fields(record, params.get("sysparm_fields"))}, {}
        raise _Answer(405)

    @staticmethod
    def _fields(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return dict(record)
        wanted = [f.strip() for f in fields.split(",") if f.strip()]
        return {f: record.get(f, "") for f in wanted}

    def _query(self, query: str) -> list[dict[str, Any]]:
        records = list(self.incidents.values())
        order: tuple[str, bool] | None = None
        for term in (t for t in query.split("^") if t):
            if term.startswith("ORDERBYDESC"):
                order = (term[len("ORDERBYDESC") :], True)
            elif term.startswith("ORDERBY"):
                order = (term[len("ORDERBY") :], False)
            elif "=" in term and re.match(r"^\w+=", term):
                name, _, value = term.partition("=")
                records = [r for r in records if str(r.get(name, "")) == value]
            # anything else is ignored, as an instance does unless told otherwise
        if order is not None:
            field, desc = order
            records.sort(key=lambda r: (str(r.get(field, "")), r["number"]), reverse=desc)
        return records

    def _create(self, body: Any, display_values: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Answer(400, "Invalid request", "the body must be a JSON object")
        self._number += 1
        sys_id = uuid.uuid4().hex
        now = utc_now().strftime("%Y-%m-%d %H:%M:%S")
        record: dict[str, Any] = {
            "sys_id": sys_id,
            "number": f"INC{self._number:07d}",
            "state": "1",
            "sys_created_on": f"{now}.{self._number:06d}",
            "short_description": "",
            "description": "",
            "correlation_id": "",
            "correlation_display": "",
            "assignment_group": "",
            "close_code": "",
            "close_notes": "",
        }
        notes = body.pop("work_notes", None)
        group = body.pop("assignment_group", None)
        for name, value in body.items():
            record[name] = "" if value is None else str(value)
        if group:
            record["assignment_group"] = self.groups.get(group, "") if display_values else group
        self.incidents[sys_id] = record
        self.journal[sys_id] = [notes] if notes else []
        return record

    def _update(self, record: dict[str, Any], body: Any) -> None:
        if not isinstance(body, dict):
            raise _Answer(400, "Invalid request", "the body must be a JSON object")
        if record.get("state") in ("7", "8"):
            raise _Answer(
                403,
                "ACL Exception Update Failed due to security constraints",
                f"{record['number']} is closed: a closed incident is read-only",
            )
        body = dict(body)
        notes = body.pop("work_notes", None)
        merged = {**record, **{k: str(v) for k, v in body.items()}}
        if merged.get("state") == "6" and not (
            merged.get("close_code") and merged.get("close_notes")
        ):
            raise _Answer(
                403,
                "Operation Failed",
                "Data Policy Exception: \n The following fields are mandatory: Resolution code, Resolution notes\n",
            )
        record.update(merged)
        if notes:
            self.journal[record["sys_id"]].append(str(notes))

    def _attach(self, request: httpx.Request, body: bytes) -> dict[str, Any]:
        params = request.url.params
        table, sys_id, name = (
            params.get("table_name"),
            params.get("table_sys_id"),
            params.get("file_name"),
        )
        if table != "incident" or not sys_id or not name:
            raise _Answer(
                400, "Invalid request", "table_name, table_sys_id and file_name are required"
            )
        if sys_id not in self.incidents:
            raise _Answer(404)
        content_type = request.headers.get("Content-Type", "")
        if not content_type or content_type.startswith("multipart/"):
            raise _Answer(400, "Invalid request", "send the file as the body with its Content-Type")
        attachment = {
            "sys_id": uuid.uuid4().hex,
            "file_name": name,
            "table_name": table,
            "table_sys_id": sys_id,
            "content_type": content_type,
            "size_bytes": str(len(body)),
        }
        self.attachments.setdefault(sys_id, []).append({**attachment, "bytes": body})
        return attachment


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        raise _Answer(400, "Invalid request", "the body is not JSON") from None
