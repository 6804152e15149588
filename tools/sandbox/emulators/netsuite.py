"""A NetSuite account in-process: SuiteQL over HTTP, rendered from normalized ERP snapshots.

``NetSuiteEmulator`` is an ``httpx.AsyncBaseTransport`` that answers
``POST /services/rest/query/v1/suiteql`` as NetSuite does: TBA (OAuth 1.0a, HMAC-SHA256) checked
against its own credentials (bad signature, wrong realm, reused nonce or an expired token →
401 ``INVALID_LOGIN_ATTEMPT``), ``Prefer: transient`` required, ``limit`` ≤ 1000 with offsets
in multiples of it, pages of ``{links, count, hasMore, items, offset, totalResults}``, values as
strings, ``T``/``F`` flags and null columns left out of rows. More requests in flight than the
account's concurrency slots answer 429 with error code ``CONCURRENCY_LIMIT_EXCEEDED`` (the code
Oracle documents for REST web services, section_156570709583).

``catalog=`` (any ``ItemCatalog``, e.g. ``tools.sandbox.catalog``) serves the catalog scan's
statement (``tools.erp.netsuite_queries.catalog_query``: items joined to their locations, summed per
item, keyed on ``item.id >``) lazily, one page of items generated per request; without one, the
snapshots answer it. The scan's bounds statement (``catalog_bounds_query``: MIN, MAX, COUNT of
the kept ids) is answered by bisecting ``count_after``, never by walking the catalog, and a
page's ``item.id <= end`` stops it at its range's end. The sell-through statement
(``sell_through_query``) sums each item's ``CatalogItem.lines`` (a snapshot's transactions, as
CashSale, CustCred, …) of the wanted types from the ``TO_DATE`` bound. Offsets from 100,000 on are refused, as SuiteQL returns no more rows than
that per statement.

It is not a SQL engine: it reads the statement's select list (columns, aliases, ``BUILTIN.DF``,
``TO_CHAR``, ``MAX``) and the ``FROM`` table, pulls the filter values it needs out of the
``WHERE`` clause (an item named by SKU through ``JOIN item ON item.id = tl.item`` as well as by
internal id), knows the adapter's outer joins (item ⋈ inventoryitemlocations, employee ⋈
loginaudit, role ⋈ rolepermissions: the left row once per joined row, or once alone) and
refuses any other join of those tables, and refuses what NetSuite would refuse — an unterminated string literal, an
unknown table or column (``scriptdeployment.url`` included) — with NetSuite's 400 body ("Unknown
identifier 'x'. Available identifiers are: …", ``o:errorQueryParam`` q). ``absent_columns``
removes columns an account lacks (``approvalstatus`` without approval routing) and
``denied_tables`` answers 403 for tables the role may not read. A RESTlet listener's endpoint is
carried by its ids: ``script=`` and ``deploy=`` of the endpoint become ``script.id`` and
``primarykey``. The account's customization (custom
fields and records, listener scripts, integration user and role) is the same ``NetSuiteConfig``
the adapter is built from; ``listener_scripts(snapshots)`` names the scripts listeners are
rendered under (what an operator would put in the adapter's ``listener_scripts``).

Rendering conventions (the reverse of the adapter's mapping, see ``tools.erp.netsuite``):
transaction kinds become CashSale, ItemRcpt, InvAdjst, InvTrnfr, CustCred, ItemShip; an inactive
listener is a deployment in status TESTING; an integration user that cannot write inventory
has View on the inventory permissions; each auth error is a login-audit Failure at
``last_auth_error_at`` (or the read time). Internal ids that are not integers (scenarios written
for other ERPs) get synthetic ones.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from tools.erp.netsuite_auth import (
    SIGNATURE_METHOD,
    TbaCredentials,
    TbaEnv,
    parse_authorization,
    sign,
    signature_base_string,
)
from tools.erp.netsuite_config import ITEM_TYPES, MAX_RESULTS, SUITEQL_PATH, NetSuiteConfig
from tools.models import ErpSnapshot, EventKind, LocationQuantity
from tools.sandbox.emulators.faults import Faults

SANDBOX_CREDENTIALS = TbaCredentials(
    consumer_key="sandbox-consumer-key",
    consumer_secret="sandbox-consumer-secret",
    token_id="sandbox-token-id",
    token_secret="sandbox-token-secret",
)

_KIND_TYPES = {
    "sale": "CashSale",
    "receipt": "ItemRcpt",
    "adjustment": "InvAdjst",
    "transfer": "InvTrnfr",
    "return": "CustCred",
    "fulfilment": "ItemShip",
}
_CANONICAL_ITEM_TYPES = {
    "inventory": "InvtPart",
    "non_inventory": "NonInvtPart",
    "service": "Service",
    "kit": "Kit",
    "other": "OthCharge",
}
_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_STATUS_CODES = {
    400: "INVALID_PARAMETER",
    401: "INVALID_LOGIN_ATTEMPT",
    403: "INSUFFICIENT_PERMISSION",
    429: "CONCURRENCY_LIMIT_EXCEEDED",
}
LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at"
    " Setup > Users/Roles > User Management > View Login Audit Trail."
)
_PY_TIME = "%Y-%m-%d %H:%M:%S"
_LOCATION_COLUMNS = frozenset(
    {"location", "quantityavailable", "quantityonhand", "quantitycommitted"}
)
_LOGIN_COLUMNS = frozenset({"date", "status", "detail"})

Row = dict[str, Any]


def sandbox_environ(
    env: TbaEnv | None = None, creds: TbaCredentials = SANDBOX_CREDENTIALS
) -> dict[str, str]:
    """Environment variables holding the emulator's credentials, under the adapter's names."""
    env = env or TbaEnv()
    return dict(
        zip(
            env.names(),
            (creds.consumer_key, creds.consumer_secret, creds.token_id, creds.token_secret),
            strict=True,
        )
    )


def error_body(status: int, detail: str, code: str | None = None) -> dict[str, Any]:
    """NetSuite's REST error shape (RFC 7807 with ``o:errorDetails``)."""
    section = "rfc6585.html#section-4" if status == 429 else "rfc9110.html#section-15"
    return {
        "type": f"https://www.rfc-editor.org/rfc/{section}",
        "title": _STATUS_TITLES.get(status, "Error"),
        "status": status,
        "o:errorDetails": [
            {"detail": detail, "o:errorCode": code or _STATUS_CODES.get(status, "UNEXPECTED_ERROR")}
        ],
    }


@dataclass(frozen=True, slots=True)
class CatalogLine:
    """One transaction line of an item: the transaction's type and date, the line's quantity
    (signed as NetSuite signs it: a sale takes stock out, so it is negative) and whether it
    affects inventory."""

    type: str
    trandate: date
    quantity: int
    inventory_affecting: bool = True


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One item of a generated catalog: internal id, SKU, (location id, available, on hand)
    per location it is stocked at, and its transaction lines (for the sell-through scan)."""

    item_id: int
    sku: str
    stock: tuple[tuple[str, int, int], ...] = ()
    item_type: str = "InvtPart"
    inactive: bool = False
    lines: tuple[CatalogLine, ...] = ()


class ItemCatalog(Protocol):
    """A catalog the emulator pages through lazily."""

    def items_after(self, item_id: int) -> Iterator[CatalogItem]:
        """Items with an internal id above ``item_id``, in id order."""
        ...

    def count_after(self, item_id: int, keep: Callable[[CatalogItem], bool]) -> int:
        """How many items above ``item_id`` ``keep`` accepts (for ``totalResults``)."""
        ...


class _ListCatalog:
    """An ``ItemCatalog`` over a few items held in a list (the snapshots)."""

    def __init__(self, items: Iterable[CatalogItem]) -> None:
        self.items = sorted(items, key=lambda x: x.item_id)

    def items_after(self, item_id: int) -> Iterator[CatalogItem]:
        return (x for x in self.items if x.item_id > item_id)

    def count_after(self, item_id: int, keep: Callable[[CatalogItem], bool]) -> int:
        return sum(1 for x in self.items_after(item_id) if keep(x))


class QueryError(Exception):
    """The statement is one NetSuite would refuse with 400."""


@dataclass(frozen=True)
class _Table:
    columns: frozenset[str]
    rows: list[Row]
    name: str = ""


# --- a little SuiteQL ------------------------------------------------------------------------


def mask_literals(q: str) -> tuple[str, list[str]]:
    """The statement with each string literal replaced by ``?n``, and the literals' values."""
    out: list[str] = []
    values: list[str] = []
    i = 0
    while i < len(q):
        if q[i] != "'":
            out.append(q[i])
            i += 1
            continue
        j, text = i + 1, []
        while True:
            if j >= len(q):
                raise QueryError("Search error occurred: unterminated string literal")
            if q[j] == "'":
                if j + 1 < len(q) and q[j + 1] == "'":
                    text.append("'")
                    j += 2
                    continue
                break
            text.append(q[j])
            j += 1
        out.append(f"?{len(values)}")
        values.append("".join(text))
        i = j + 1
    return "".join(out), values


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<table>\w+)(?P<rest>.*)$", re.I | re.S
)
_CATALOG = re.compile(
    r"^\s*SELECT\s.+?\sFROM\s+item\s+LEFT OUTER JOIN\s+inventoryitemlocations\s.+\sGROUP BY\s",
    re.I | re.S,
)
_CATALOG_BOUNDS = re.compile(
    r"^\s*SELECT\s+MIN\(item\.id\)\s+AS\s+\w+\s*,\s*MAX\(item\.id\)\s+AS\s+\w+\s*,"
    r"\s*COUNT\(item\.id\)\s+AS\s+\w+\s+FROM\s+item\s+WHERE\s(?:(?!\bJOIN\b|\bGROUP BY\b).)*$",
    re.I | re.S,
)
_SELL_THROUGH = re.compile(
    r"^\s*SELECT\s.+?\sFROM\s+\(SELECT\s+tl\.item\s+AS\s+item\s*,.+\)\s+sold\s+JOIN\s+item\s+ON\s+item\.id\s*=\s*sold\.item\s.+\sGROUP BY\s",
    re.I | re.S,
)
_ALIAS = re.compile(r"^(?P<expr>.+?)\s+AS\s+(?P<alias>\w+)$", re.I | re.S)
_FUNCTION = re.compile(r"^(?P<name>[\w.]+)\((?P<args>.*)\)$", re.S)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, datetime):
        hour = value.hour % 12 or 12
        return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d} {'am' if value.hour < 12 else 'pm'}"
    if isinstance(value, date):
        return f"{value.month}/{value.day}/{value.year}"
    return str(value)


class _Projection:
    """Evaluates one select-list entry against a row."""

    def __init__(self, entry: str, literals: list[str], table: _Table, zone: ZoneInfo) -> None:
        match = _ALIAS.match(entry)
        self.expr = (match["expr"] if match else entry).strip()
        self._literals = literals
        self._table = table
        self._zone = zone
        self.name = (match["alias"] if match else self.expr.rsplit(".", 1)[-1]).lower()
        self._check(self.expr)

    def _check(self, expr: str) -> None:
        call = _FUNCTION.match(expr)
        if call:
            self._check(_split_top(call["args"])[0])
            return
        column = expr.lower()
        if (
            column not in self._table.columns
            and column.rsplit(".", 1)[-1] not in self._table.columns
        ):
            raise QueryError(
                f"Search error occurred: Unknown identifier '{expr}'. Available identifiers are: {{{self._table.name}={self._table.name}}}."
            )

    def value(self, row: Row) -> Any:
        return self._eval(self.expr, row)

    def _eval(self, expr: str, row: Row) -> Any:
        call = _FUNCTION.match(expr)
        if call is None:
            column = expr.lower()
            return row[column] if column in row else row.get(column.rsplit(".", 1)[-1])
        name, args = call["name"].upper(), _split_top(call["args"])
        inner = self._eval(args[0], row)
        if name == "BUILTIN.DF":
            return row.get(args[0].lower().rsplit(".", 1)[-1] + ":display", inner)
        if name in ("MAX", "SUM"):  # aggregates arrive computed in the row
            return inner
        if name == "TO_CHAR" and len(args) == 2:
            fmt = self._literals[int(args[1].strip().lstrip("?"))]
            if isinstance(inner, datetime):
                local = inner.astimezone(self._zone)
                return local.strftime(_PY_TIME if "HH24" in fmt else "%Y-%m-%d")
            if isinstance(inner, date):
                return inner.isoformat()
            return inner
        raise QueryError(f"Search error occurred: unsupported function {name}")


def stocked_locations(snap: ErpSnapshot) -> list[LocationQuantity]:
    """The location rows NetSuite would hold for ``snap``. NetSuite keeps stock by location
    only; a scenario that states just the item's ``available`` gets it at one location. An item
    without a quantity (None: non-inventory, service) has no location rows at all."""
    if snap.locations or snap.available is None:
        return list(snap.locations)
    return [
        LocationQuantity(
            location_id="1", name="Main warehouse", kind="warehouse", available=snap.available
        )
    ]


class NetSuiteEmulator(httpx.AsyncBaseTransport):
    """Answers SuiteQL for the given snapshot(s), e.g. ``NetSuiteEmulator(scenario.erp)``."""

    def __init__(
        self,
        state: ErpSnapshot | Sequence[ErpSnapshot],
        faults: Faults | None = None,
        *,
        config: NetSuiteConfig | None = None,
        credentials: TbaCredentials = SANDBOX_CREDENTIALS,
        concurrency: int = 5,
        catalog: ItemCatalog | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        absent_columns: Iterable[str] = (),
        denied_tables: Iterable[str] = (),
    ) -> None:
        """``absent_columns`` are columns this account does not have (a feature it lacks, e.g.
        ``approvalstatus`` without approval routing): a statement naming one is refused with
        400 "Unknown identifier". ``denied_tables`` are tables the integration role may not read
        (403 INSUFFICIENT_PERMISSION)."""
        self.snapshots = [state] if isinstance(state, ErpSnapshot) else list(state)
        self.catalog = catalog
        self.faults = faults or Faults()
        self.config = config or NetSuiteConfig(account_id="1234567")
        self.credentials = credentials
        self.concurrency = concurrency
        self._sleep = sleep
        self._zone = ZoneInfo(self.config.timezone)
        self._nonces: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[httpx.Request] = []
        self.queries: list[str] = []
        self._ids: dict[str, str] = {}
        self.absent_columns = frozenset(c.lower() for c in absent_columns)
        self.denied_tables = frozenset(t.lower() for t in denied_tables)

    # --- transport -----------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await request.aread()
        if self.in_flight >= self.concurrency:
            # Refused on arrival: a request over the limit never takes a slot.
            detail = "Request rejected: the account's concurrency limit was exceeded."
            return _reply(429, error_body(429, detail))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.faults.latency:
                await self._sleep(self.faults.latency)
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if self.faults.timeout:
            raise httpx.ReadTimeout("emulated NetSuite did not answer", request=request)
        scripted = self.faults.next_status()
        if scripted is not None:
            headers = (
                {} if scripted.retry_after is None else {"Retry-After": f"{scripted.retry_after:g}"}
            )
            detail = (
                "An unexpected error occurred. Error ID: emulated"
                if scripted.status >= 500
                else f"Emulated HTTP {scripted.status}"
            )
            return _reply(scripted.status, error_body(scripted.status, detail), headers)
        if not self._authorized(request) or self.faults.expired_token:
            return _reply(401, error_body(401, LOGIN_DETAIL))
        if request.method != "POST" or request.url.path != SUITEQL_PATH:
            return _reply(
                404,
                error_body(
                    404, f"Record type or path {request.url.path} was not found.", "NONEXISTENT_ID"
                ),
            )
        if request.headers.get("Prefer", "").lower() != "transient":
            return _reply(
                400,
                error_body(
                    400, "SuiteQL requests need the header Prefer: transient.", "INVALID_HEADER"
                ),
            )
        if self.faults.malformed:
            return httpx.Response(
                200,
                text='{"links": [], "items": [{"id": ',
                headers={"Content-Type": "application/json"},
            )
        try:
            q = json.loads(request.content)["q"]
            limit = int(request.url.params.get("limit", "1000"))
            offset = int(request.url.params.get("offset", "0"))
        except (ValueError, KeyError, TypeError):
            return _reply(
                400,
                error_body(
                    400,
                    'Invalid request body: expected {"q": "SELECT …"} and integer limit/offset.',
                ),
            )
        if not 1 <= limit <= 1000 or offset < 0 or offset % limit:
            return _reply(
                400,
                error_body(
                    400,
                    "Invalid limit or offset: limit is 1 to 1000 and offset a multiple of limit.",
                    "INVALID_PARAMETER",
                ),
            )
        if offset >= MAX_RESULTS:
            return _reply(
                400,
                error_body(
                    400,
                    f"Invalid offset {offset}: a SuiteQL query returns at most {MAX_RESULTS} results.",
                    "INVALID_PARAMETER",
                ),
            )
        self.queries.append(q)
        try:
            masked = mask_literals(q)[0]
            if _CATALOG.match(masked):
                return _reply(200, self._catalog_page(request.url, q, limit, offset))
            if _SELL_THROUGH.match(masked):
                return _reply(200, self._page(request.url, self.sell_through(q), limit, offset))
            if _CATALOG_BOUNDS.match(masked):
                return _reply(200, self._page(request.url, self.catalog_bounds(q), limit, offset))
            denied = self._denied(masked)
            if denied is not None:
                detail = f"Permission Violation: you need a higher permission to read {denied}. Contact your account administrator."
                return _reply(403, error_body(403, detail))
            rows = self.run(q)
        except QueryError as exc:
            body = error_body(
                400, f"Invalid search query. Detailed unprocessed description follows. {exc}"
            )
            body["o:errorDetails"][0]["o:errorQueryParam"] = "q"
            return _reply(400, body)
        return _reply(200, self._page(request.url, rows, limit, offset))

    def _catalog_page(self, url: httpx.URL, q: str, limit: int, offset: int) -> dict[str, Any]:
        """One page of the catalog scan, generated for this request only."""
        masked, literals = mask_literals(q)
        match = _SELECT.match(masked)
        assert match is not None  # _CATALOG matched
        where = match["rest"]
        after = int(re.search(r"\bitem\.id > (\d+)", where)[1])  # type: ignore[index]
        upto = re.search(r"\bitem\.id <= (\d+)", where)
        until = int(upto[1]) if upto else None
        wanted = re.search(r"\biil\.location IN \(([^)]*)\)", where)
        locations = {x.strip() for x in wanted[1].split(",")} if wanted else None
        keep = self._catalog_filter(where, literals)
        catalog = self.catalog or _ListCatalog(self._snapshot_items())
        page: list[CatalogItem] = []
        skipped, more = 0, False
        for item in catalog.items_after(after):
            if until is not None and item.item_id > until:
                break
            if not keep(item):
                continue
            if skipped < offset:
                skipped += 1
            elif len(page) < limit:
                page.append(item)
            else:
                more = True
                break
        table = _Table(
            frozenset({"id", "itemid", "item", "location", "quantityavailable", "quantityonhand"}),
            [],
        )
        projections = [
            _Projection(e, literals, table, self._zone) for e in _split_top(match["columns"])
        ]
        items = []
        for item in page:
            counted = [s for s in item.stock if locations is None or s[0] in locations]
            row: Row = {
                "id": item.item_id,
                "itemid": item.sku,
                # SUM over no rows is null, and NetSuite leaves null columns out
                "quantityavailable": sum(s[1] for s in counted) if counted else None,
                "quantityonhand": sum(s[2] for s in counted) if counted else None,
            }
            rendered = {p.name: _as_text(p.value(row)) for p in projections}
            items.append({"links": [], **{k: v for k, v in rendered.items() if v is not None}})
        last = page[-1].item_id if page else after
        beyond = 0 if until is None or not more else catalog.count_after(until, keep)
        total = offset + len(page) + (catalog.count_after(last, keep) - beyond if more else 0)

        def link(rel: str, at: int) -> dict[str, str]:
            return {"rel": rel, "href": str(url.copy_merge_params({"limit": limit, "offset": at}))}

        return {
            "links": [
                link("first", 0),
                *([link("next", offset + limit)] if more else []),
                link("last", max(0, (total - 1) // limit * limit)),
                link("self", offset),
            ],
            "count": len(page),
            "hasMore": more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }

    def _catalog_filter(self, where: str, literals: list[str]) -> Callable[[CatalogItem], bool]:
        """The items a catalog statement's ``WHERE`` keeps (item type, active)."""
        types = set(self._in_literals(where, "item.itemtype", literals)) or None
        active_only = self._equals_literal(where, "item.isinactive", literals) == "F"

        def keep(item: CatalogItem) -> bool:
            return (types is None or item.item_type in types) and not (
                active_only and item.inactive
            )

        return keep

    def catalog_bounds(self, q: str) -> list[Row]:
        """MIN(item.id), MAX(item.id) and COUNT(item.id) of the items the statement keeps,
        found by bisecting ``count_after`` (never by walking the catalog)."""
        masked, literals = mask_literals(q)
        match = _SELECT.match(masked)
        assert match is not None  # _CATALOG_BOUNDS matched
        keep = self._catalog_filter(match["rest"], literals)
        catalog = self.catalog or _ListCatalog(self._snapshot_items())
        names = [_ALIAS.match(e)["alias"].lower() for e in _split_top(match["columns"])]  # type: ignore[index]
        total = catalog.count_after(0, keep)
        if total == 0:
            return [{names[2]: "0"}]  # MIN and MAX over no rows are null: left out
        high = 1
        while catalog.count_after(high, keep):
            high *= 2

        def first(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
            while lo < hi:  # the smallest x in [lo, hi] with ok(x); ok is monotone
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
            return lo

        maxid = first(0, high, lambda x: catalog.count_after(x, keep) == 0)
        minid = first(0, maxid, lambda x: catalog.count_after(x, keep) < total)
        return [{names[0]: str(minid), names[1]: str(maxid), names[2]: str(total)}]

    def sell_through(self, q: str) -> list[Row]:
        """The rows of the sell-through statement (``tools.erp.netsuite_queries.sell_through_query``):
        per kept item above ``tl.item >`` with lines of the wanted types on or after the
        ``TO_DATE`` bound (inventory-affecting ones only when the statement says so), the
        negated sum of their quantities, and the item's available quantity at the locations."""
        masked, literals = mask_literals(q)
        inner = re.search(r"FROM \((SELECT tl\.item .+?) GROUP BY tl\.item\) sold", masked)
        outer = re.search(r"\) sold (JOIN item .+)$", masked)
        if inner is None or outer is None:
            raise QueryError("Search error occurred: unsupported sell-through statement")
        sales, where = inner[1], outer[1]
        after = int(re.search(r"\btl\.item > (\d+)", sales)[1])  # type: ignore[index]
        types = set(self._in_literals(sales, "t.type", literals))
        affecting = self._equals_literal(sales, "tl.isinventoryaffecting", literals) == "T"
        bound = re.search(r"\bt\.trandate >= TO_DATE\(\?(\d+), \?(\d+)\)", sales)
        if bound is None or literals[int(bound[2])] != "YYYY-MM-DD":
            raise QueryError("Search error occurred: trandate needs a TO_DATE bound")
        try:
            since = date.fromisoformat(literals[int(bound[1])])
        except ValueError:
            raise QueryError("Search error occurred: invalid date literal") from None
        wanted = re.search(r"\biil\.location IN \(([^)]*)\)", where)
        locations = {x.strip() for x in wanted[1].split(",")} if wanted else None
        keep = self._catalog_filter(where, literals)
        columns = _split_top(re.match(r"^\s*SELECT\s+(.+?)\s+FROM\s+\(", masked, re.S)[1])  # type: ignore[index]
        table = _Table(frozenset({"id", "itemid", "units", "quantityavailable"}), [])
        projections = [_Projection(e, literals, table, self._zone) for e in columns]
        catalog = self.catalog or _ListCatalog(self._snapshot_items())
        out: list[Row] = []
        for item in catalog.items_after(after):
            sold = [
                line.quantity
                for line in item.lines
                if line.type in types
                and line.trandate >= since
                and (line.inventory_affecting or not affecting)
            ]
            if not sold or not keep(item):
                continue
            counted = [x for x in item.stock if locations is None or x[0] in locations]
            row: Row = {
                "id": item.item_id,
                "itemid": item.sku,
                "units": -sum(sold),
                "quantityavailable": sum(x[1] for x in counted) if counted else None,
            }
            rendered = {p.name: _as_text(p.value(row)) for p in projections}
            out.append({k: v for k, v in rendered.items() if v is not None})
        return out

    def _snapshot_items(self) -> Iterator[CatalogItem]:
        for snap in self.snapshots:
            item = snap.item
            raw_type = item.item_type_raw
            if raw_type is None or ITEM_TYPES.get(raw_type, "other") != item.item_type:
                raw_type = _CANONICAL_ITEM_TYPES[item.item_type]
            yield CatalogItem(
                item_id=int(self.internal_id(item.item_id)),
                sku=item.sku,
                stock=tuple(
                    (loc.location_id, loc.available, loc.on_hand or loc.available)
                    for loc in stocked_locations(snap)
                ),
                item_type=raw_type,
                lines=tuple(
                    CatalogLine(_KIND_TYPES[t.kind], t.at.astimezone(self._zone).date(), t.quantity)
                    for t in snap.transactions
                ),
            )

    def _authorized(self, request: httpx.Request) -> bool:
        params = parse_authorization(request.headers.get("Authorization", ""))
        creds = self.credentials
        expected = {
            "realm": self.config.account_id,
            "oauth_consumer_key": creds.consumer_key,
            "oauth_token": creds.token_id,
            "oauth_signature_method": SIGNATURE_METHOD,
            "oauth_version": "1.0",
        }
        if any(params.get(k) != v for k, v in expected.items()):
            return False
        nonce = params.get("oauth_nonce", "")
        if not nonce or nonce in self._nonces or not params.get("oauth_timestamp"):
            return False
        self._nonces.add(nonce)
        base = signature_base_string(request.method, request.url, params)
        return params.get("oauth_signature") == sign(
            base, creds.consumer_secret, creds.token_secret
        )

    def _page(self, url: httpx.URL, rows: list[Row], limit: int, offset: int) -> dict[str, Any]:
        page = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)

        def link(rel: str, at: int) -> dict[str, str]:
            return {"rel": rel, "href": str(url.copy_merge_params({"limit": limit, "offset": at}))}

        last = max(0, (len(rows) - 1) // limit * limit)
        links = [
            link("first", 0),
            *([link("next", offset + limit)] if has_more else []),
            link("last", last),
            link("self", offset),
        ]
        return {
            "links": links,
            "count": len(page),
            "hasMore": has_more,
            "items": [{"links": [], **row} for row in page],
            "offset": offset,
            "totalResults": len(rows),
        }

    # --- SuiteQL -------------------------------------------------------------------------------

    def _denied(self, masked: str) -> str | None:
        """The first table of the statement the role may not read, if any."""
        for table in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", masked, re.I):
            if table.lower() in self.denied_tables:
                return str(table)
        return None

    def run(self, q: str) -> list[Row]:
        """The rows (as NetSuite would send them) of one SuiteQL statement."""
        masked, literals = mask_literals(q)
        match = _SELECT.match(masked)
        if match is None:
            raise QueryError("Search error occurred: only SELECT … FROM … is supported")
        table = self._table(match["table"].lower(), match["columns"], match["rest"], literals)
        table = _Table(table.columns - self.absent_columns, table.rows, match["table"].lower())
        projections = [
            _Projection(e, literals, table, self._zone) for e in _split_top(match["columns"])
        ]
        out: list[Row] = []
        for row in table.rows:
            rendered: Row = {}
            for p in projections:
                text = _as_text(p.value(row))
                if text is not None:  # NetSuite leaves null columns out
                    rendered[p.name] = text
            out.append(rendered)
        return out

    def _table(self, name: str, columns: str, where: str, literals: list[str]) -> _Table:
        cfg = self.config
        if name == "item":
            return self._item_table(where, literals)
        if name == "inventoryitemlocations":
            return self._locations_table(where)
        if name == "transaction":
            return self._transactions_table(columns, where, literals)
        if name == "scriptdeployment":
            return self._deployments_table(where, literals)
        if name == "location":
            return self._location_list()
        if name == "employee":
            return self._employee_table(where, literals)
        if name == "role":
            return self._role_table(where, literals)
        if name == "rolepermissions":
            return self._permissions_table(where, literals)
        if name == "loginaudit":
            return self._login_audit_table(where, literals)
        if cfg.trigger_rule_record and name == cfg.trigger_rule_record.record:
            return self._trigger_rules_table()
        if cfg.webhook_log_record and name == cfg.webhook_log_record.record:
            return self._webhook_log_table(where, literals)
        if cfg.outbound_event_record and name == cfg.outbound_event_record.record:
            return self._outbound_table(where, literals)
        raise QueryError(f"Search error occurred: Record '{name}' was not found.")

    # --- filters pulled out of WHERE ----------------------------------------------------------

    @staticmethod
    def _equals_literal(where: str, column: str, literals: list[str]) -> str | None:
        match = re.search(rf"\b{re.escape(column)} = \?(\d+)", where)
        return literals[int(match[1])] if match else None

    @staticmethod
    def _equals_number(where: str, column: str) -> str | None:
        match = re.search(rf"\b{re.escape(column)} = (\d+)\b", where)
        return match[1] if match else None

    @staticmethod
    def _in_literals(where: str, column: str, literals: list[str]) -> list[str]:
        match = re.search(rf"\b{re.escape(column)} IN \(([^)]*)\)", where)
        if match is None:
            return []
        return [literals[int(p.strip().lstrip("?"))] for p in match[1].split(",") if p.strip()]

    def _since(self, where: str, literals: list[str]) -> datetime | None:
        match = re.search(r">= TO_TIMESTAMP\(\?(\d+), \?\d+\)", where)
        if match is None:
            return None
        try:
            return datetime.strptime(literals[int(match[1])], _PY_TIME).replace(tzinfo=self._zone)
        except ValueError:
            raise QueryError("Search error occurred: invalid timestamp literal") from None

    # --- ids -----------------------------------------------------------------------------------

    def internal_id(self, value: str, kind: str = "item") -> str:
        """NetSuite ids are integers; a scenario's non-integer id gets a stable synthetic one."""
        if value.isdigit():
            return value
        key = f"{kind}:{value}"
        if key not in self._ids:
            self._ids[key] = str(900_000 + len(self._ids))
        return self._ids[key]

    def _snapshot(self, item_internal_id: str | None) -> ErpSnapshot | None:
        for snap in self.snapshots:
            if (
                item_internal_id is not None
                and self.internal_id(snap.item.item_id) == item_internal_id
            ):
                return snap
        return None

    def _item_snapshot(self, where: str, literals: list[str], column: str) -> ErpSnapshot | None:
        """The snapshot a statement on another table is about: named by internal id
        (``tl.item = 4417``) or by SKU through a join to item (``JOIN item ON item.id = tl.item
        … WHERE item.itemid = 'SKU'``)."""
        sku = self._equals_literal(where, "item.itemid", literals)
        if sku is None:
            return self._snapshot(self._equals_number(where, column))
        if not re.search(rf"\bJOIN item ON item\.id = {re.escape(column)}\b", where):
            raise QueryError(
                "Search error occurred: Field 'itemid' was not found. Reason: item is not joined"
            )
        return next((s for s in self.snapshots if s.item.sku == sku), None)

    @staticmethod
    def _outer_join(where: str, table: str, on: str) -> bool:
        """Whether the statement outer-joins ``table`` ``ON <on>``; any other join of it is
        refused, so a statement the emulator would misread fails loudly."""
        if not re.search(rf"\bJOIN {table}\b", where):
            return False
        if not re.search(rf"\bLEFT OUTER JOIN {table}(?: \w+)? ON {re.escape(on)}\b", where):
            raise QueryError(f"Search error occurred: unsupported join of {table}")
        return True

    # --- tables --------------------------------------------------------------------------------

    def _item_table(self, where: str, literals: list[str]) -> _Table:
        cfg = self.config
        custom = {f for f in (cfg.do_not_stock_field, cfg.available_to_fulfil_field) if f}
        sku = self._equals_literal(where, "itemid", literals)
        # item LEFT OUTER JOIN inventoryitemlocations: the item once per location (or once).
        located = self._outer_join(where, "inventoryitemlocations", "iil.item = item.id")
        rows = []
        for snap in self.snapshots:
            item = snap.item
            if item.sku != sku:
                continue
            raw_type = item.item_type_raw
            if raw_type is None or ITEM_TYPES.get(raw_type, "other") != item.item_type:
                raw_type = None  # another ERP's word (Inventory, HAWA): NetSuite has its own code
            row: Row = {
                "id": self.internal_id(item.item_id),
                "itemid": item.sku,
                "displayname": item.name,
                "itemtype": raw_type or _CANONICAL_ITEM_TYPES[item.item_type],
                "isinactive": False,
            }
            if cfg.do_not_stock_field:
                row[cfg.do_not_stock_field] = item.do_not_stock
            if cfg.available_to_fulfil_field:
                row[cfg.available_to_fulfil_field] = item.available_to_fulfil
            stock = self._location_rows(snap) if located else []
            rows.extend([{**row, **loc} for loc in stock] or [row])
        columns = {"id", "itemid", "displayname", "itemtype", "isinactive", *custom}
        return _Table(frozenset(columns | (_LOCATION_COLUMNS if located else set())), rows)

    def _locations_table(self, where: str) -> _Table:
        snap = self._snapshot(self._equals_number(where, "item"))
        return _Table(_LOCATION_COLUMNS | {"item"}, self._location_rows(snap))

    @staticmethod
    def _location_rows(snap: ErpSnapshot | None) -> list[Row]:
        return [
            {
                "location": loc.location_id,
                "location:display": loc.name,
                "quantityavailable": loc.available,
                "quantityonhand": loc.on_hand,
                "quantitycommitted": loc.committed,
            }
            for loc in (stocked_locations(snap) if snap else [])
        ]

    def _transactions_table(self, columns: str, where: str, literals: list[str]) -> _Table:
        origin = self.config.origin_field
        known = frozenset(
            {
                "id",
                "tranid",
                "type",
                "createddate",
                "trandate",
                "externalid",
                "memo",
                "approvalstatus",
                "quantity",
                "location",
                *([origin] if origin else []),
            }
        )
        snap = self._item_snapshot(where, literals, "tl.item")
        if re.search(r"\bMAX\(", columns, re.I):
            last = snap.last_inventory_update_at if snap else None
            return _Table(known, [{"createddate": last}])
        since = self._since(where, literals)
        found = [t for t in (snap.transactions if snap else []) if since is None or t.at >= since]
        rows = []
        for n, t in enumerate(sorted(found, key=lambda t: t.at), start=1):
            row: Row = {
                "id": str(50_000 + n),
                "tranid": f"{_KIND_TYPES[t.kind][:3].upper()}{n:05d}",
                "type": _KIND_TYPES[t.kind],
                "createddate": t.at,
                "trandate": t.at.astimezone(self._zone).date(),
                "externalid": t.source_id,
                "memo": t.memo,
                "approvalstatus": {"pending_approval": "1", "rejected": "3"}.get(t.status),
                "quantity": t.quantity,
                "location": t.location_id,
            }
            if origin:
                row[origin] = t.origin
            rows.append(row)
        return _Table(known, rows)

    def listener_scripts(self) -> dict[str, EventKind]:
        """The script ids the listeners are rendered under, with what each listens for."""
        return {script_id(x.id): x.listens_for for snap in self.snapshots for x in snap.listeners}

    @staticmethod
    def _script_id(deployment_id: str) -> str:
        name = re.sub(r"[^a-z0-9_]", "_", deployment_id.lower())
        return "customscript_" + name.removeprefix("customdeploy_")

    def _deployments_table(self, where: str, literals: list[str]) -> _Table:
        # The adapter names its scripts; ``oos discover`` asks for every script of some types.
        wanted = set(self._in_literals(where, "script.scriptid", literals))
        types = set(self._in_literals(where, "script.scripttype", literals))
        restlets = self.config.restlet_url.rstrip("/")
        rows, seen = [], set()
        for snap in self.snapshots:
            for n, x in enumerate(snap.listeners, start=1):
                script = script_id(x.id)
                restlet = (x.endpoint or "").startswith(restlets + "/")
                kind = "RESTLET" if restlet else "USEREVENT"
                if (script not in wanted and kind not in types) or x.id in seen:
                    continue
                seen.add(x.id)
                script_no = re.search(r"[?&]script=(\d+)", x.endpoint or "")
                deploy_no = re.search(r"[?&]deploy=(\d+)", x.endpoint or "")
                script_internal = script_no[1] if script_no else self.internal_id(script, "script")
                rows.append(
                    {
                        # As in SuiteQL: scriptdeployment.id is the script's internal id, the
                        # deployment's own internal id is primarykey.
                        "scriptdeployment.primarykey": deploy_no[1] if deploy_no else str(n),
                        "scriptdeployment.id": script_internal,
                        "scriptdeployment.scriptid": x.id,
                        "title": x.name,
                        "status": "RELEASED" if x.active else "TESTING",
                        "isdeployed": True,
                        "script.id": script_internal,
                        "script.scriptid": script,
                        "scripttype": kind,
                    }
                )
        known = frozenset(
            {
                "id",
                "scriptid",
                "title",
                "status",
                "isdeployed",
                "script",
                "scripttype",
                "primarykey",
                "scriptdeployment.primarykey",
                "scriptdeployment.id",
                "scriptdeployment.scriptid",
                "script.id",
                "script.scriptid",
            }
        )
        return _Table(known, rows)

    def _location_list(self) -> _Table:
        """The ``location`` table: every location any snapshot stocks, once."""
        found: dict[str, Row] = {}
        for snap in self.snapshots:
            for loc in stocked_locations(snap):
                row: Row = {"id": loc.location_id, "name": loc.name, "isinactive": False}
                found.setdefault(loc.location_id, row)
        return _Table(frozenset({"id", "name", "fullname", "isinactive"}), list(found.values()))

    def _users(self) -> Iterable[tuple[int, ErpSnapshot]]:
        return ((n, s) for n, s in enumerate(self.snapshots) if s.integration_user is not None)

    def _employee_table(self, where: str, literals: list[str]) -> _Table:
        name = self._equals_literal(where, "entityid", literals)
        # employee LEFT OUTER JOIN loginaudit: the employee once per failed login (or once).
        logins = self._outer_join(where, "loginaudit", "loginaudit.user = employee.id")
        since = self._since(where, literals)
        rows: list[Row] = []
        for n, snap in self._users():
            assert snap.integration_user is not None
            if snap.integration_user.name == name:
                row: Row = {
                    "id": str(2_000 + n),
                    "entityid": name,
                    "isinactive": False,
                    "giveaccess": True,
                }
                failures = self._login_failures(row["id"], since) if logins else []
                rows.extend([{**row, **f} for f in failures] or [row])
                break
        columns = {"id", "entityid", "isinactive", "giveaccess"}
        return _Table(frozenset(columns | (_LOGIN_COLUMNS if logins else set())), rows)

    def _role_table(self, where: str, literals: list[str]) -> _Table:
        name = self._equals_literal(where, "name", literals)
        # role LEFT OUTER JOIN rolepermissions: the role once per permission asked for (or once).
        permissions = self._outer_join(where, "rolepermissions", "rolepermissions.role = role.id")
        keys = self._in_literals(where, "permkey", literals)
        rows: list[Row] = []
        for n, snap in self._users():
            assert snap.integration_user is not None
            if snap.integration_user.role == name:
                row: Row = {"id": str(1_000 + n), "name": name, "isinactive": False}
                levels = self._permissions(row["id"], keys) if permissions else []
                rows.extend([{**row, **level} for level in levels] or [row])
                break
        columns = {"id", "name", "isinactive", *(("permkey", "permlevel") if permissions else ())}
        return _Table(frozenset(columns), rows)

    def _permissions_table(self, where: str, literals: list[str]) -> _Table:
        role = self._equals_number(where, "role")
        keys = self._in_literals(where, "permkey", literals)
        return _Table(frozenset({"role", "permkey", "permlevel"}), self._permissions(role, keys))

    def _permissions(self, role_id: str | None, keys: list[str]) -> list[Row]:
        for n, snap in self._users():
            assert snap.integration_user is not None
            if str(1_000 + n) == role_id:
                level = "4" if snap.integration_user.can_write_inventory else "1"
                return [{"permkey": key, "permlevel": level} for key in keys]
        return []

    def _login_audit_table(self, where: str, literals: list[str]) -> _Table:
        user = self._equals_number(where, "user")
        since = self._since(where, literals)
        return _Table(_LOGIN_COLUMNS | {"user"}, self._login_failures(user, since))

    def _login_failures(self, user_id: str | None, since: datetime | None) -> list[Row]:
        for n, snap in self._users():
            u = snap.integration_user
            assert u is not None
            if str(2_000 + n) != user_id:
                continue
            at = u.last_auth_error_at or snap.read_at
            if since is None or at >= since:
                return [{"date": at, "status": "Failure", "detail": e} for e in u.auth_errors]
            break
        return []

    def _trigger_rules_table(self) -> _Table:
        rec = self.config.trigger_rule_record
        assert rec is not None
        rules = {r.id: r for snap in self.snapshots for r in snap.trigger_rules}
        rows = [
            {"id": r.id, "name": r.name, "isinactive": not r.active, rec.min_delta: r.min_delta}
            for r in rules.values()
        ]
        return _Table(frozenset({"id", "name", "isinactive", "created", rec.min_delta}), rows)

    def _webhook_log_table(self, where: str, literals: list[str]) -> _Table:
        rec = self.config.webhook_log_record
        assert rec is not None
        sku = self._equals_literal(where, f"{rec.record}.{rec.sku}", literals)
        since = self._since(where, literals)
        entries = [
            w
            for snap in self.snapshots
            for w in snap.webhook_log
            if w.sku in (sku, None) and (since is None or w.at >= since)
        ]
        rows = [
            {
                "id": str(n),
                "created": w.at,
                rec.sku: w.sku,
                rec.status_code: w.status_code,
                rec.message: w.message or None,
                rec.source_id: w.source_id,
            }
            for n, w in enumerate(sorted(entries, key=lambda w: w.at), start=1)
        ]
        return _Table(
            frozenset(
                {
                    "id",
                    "name",
                    "isinactive",
                    "created",
                    rec.sku,
                    rec.status_code,
                    rec.message,
                    rec.source_id,
                }
            ),
            rows,
        )

    def _outbound_table(self, where: str, literals: list[str]) -> _Table:
        rec = self.config.outbound_event_record
        assert rec is not None
        sku = self._equals_literal(where, f"{rec.record}.{rec.sku}", literals)
        since = self._since(where, literals)
        events = [
            e
            for snap in self.snapshots
            for e in snap.outbound_events
            if e.sku == sku and (since is None or e.at >= since)
        ]
        rows = [
            {"id": str(n), "created": e.at, rec.kind: e.kind, rec.sku: e.sku, rec.target: e.target}
            for n, e in enumerate(sorted(events, key=lambda e: e.at), start=1)
        ]
        return _Table(
            frozenset({"id", "name", "isinactive", "created", rec.kind, rec.sku, rec.target}), rows
        )


def script_id(deployment_id: str) -> str:
    """The script a listener's deployment is rendered under: customdeploy_x → customscript_x."""
    name = re.sub(r"[^a-z0-9_]", "_", deployment_id.lower())
    return "customscript_" + name.removeprefix("customdeploy_")


def listener_scripts(snapshots: Iterable[ErpSnapshot]) -> dict[str, EventKind]:
    """The script ids the listeners are rendered under, with what each listens for: what an
    operator would put in the adapter's ``listener_scripts``."""
    return {script_id(x.id): x.listens_for for snap in snapshots for x in snap.listeners}


def _reply(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)
