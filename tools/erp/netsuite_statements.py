"""One SuiteQL statement's failure as its own fact: refused or denied, which column, what it needs.

NetSuite answers a statement naming a column or table the account does not have with HTTP 400,
``o:errorCode`` ``INVALID_PARAMETER`` and a detail such as ``Search error occurred: Unknown
identifier 'x'. Available identifiers are: {…}`` (or ``Invalid search type: …`` for a table;
the wording is NetSuite's own, see ``../shared/specs/VERIFIED-2026-12.md`` 7b). A role without
the permission a table needs answers 403. Either way only that statement is lost: the adapter
reports it as a ``StatementFault``, and only the checks that need the statement become unknown.

``STATEMENT_NEEDS`` says, per statement and per table or column, which NetSuite feature or role
permission makes it readable, so ``oos check-config`` can name the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tools.errors import AdapterError

SYSTEM = "netsuite"

_IDENTIFIER = (
    re.compile(r"Unknown identifier '([^']+)'", re.I),
    re.compile(r"Field '([^']+)' was not found", re.I),
    re.compile(r"Invalid search type:?\s*'?([\w.]+)'?", re.I),
    re.compile(r"Record '([^']+)' was not found", re.I),
)

# What makes a table or column readable over SuiteQL, for the role of the integration token.
_TABLE_NEEDS = {
    "item": "Lists > Items (View) on the role",
    "inventoryitemlocations": "the Multi-Location Inventory feature and Lists > Items (View) on the role",
    "transaction": "Transactions > Find Transaction (View) on the role, and View on the transaction types read",
    "transactionline": "Transactions > Find Transaction (View) on the role",
    "scriptdeployment": "Customization > SuiteScript (View) on the role",
    "script": "Customization > SuiteScript (View) on the role",
    "employee": "Lists > Employees (View) on the role",
    "loginaudit": "Setup > Login Audit Trail (View) on the role (REST access to it is not documented)",
    "role": "Setup > Manage Roles (View) on the role",
    "rolepermissions": "Setup > Manage Roles (View) on the role",
}
_COLUMN_NEEDS = {
    "approvalstatus": "approval routing for the transaction type (Setup > Accounting > Accounting Preferences > Approval Routing); accounts without it have no approvalstatus column",
    "url": "nothing: scriptdeployment has no url column in SuiteQL",
}
TABLES = frozenset(_TABLE_NEEDS)
# The statement's main table, for a fault whose detail names nothing we can place.
STATEMENT_TABLES = {
    "item": "item",
    "transactions": "transaction",
    "last_update": "transaction",
    "listeners": "scriptdeployment",
    "employee": "employee",
    "role": "role",
}


def needs(statement: str, name: str | None) -> str:
    """The feature or permission that makes ``name`` (a column or table the detail named, or
    None) readable for ``statement``."""
    bare = (name or "").lower().rsplit(".", 1)[-1]
    if bare in _COLUMN_NEEDS:
        return _COLUMN_NEEDS[bare]
    if bare in _TABLE_NEEDS:
        return _TABLE_NEEDS[bare]
    if bare.startswith(("custitem", "custbody", "custcol", "custrecord")):
        return f"the custom field {bare} to exist, apply to the record and be visible to the role (the field's Access tab)"
    if bare.startswith("customrecord"):
        return f"View on the custom record type {bare} for the role (Customization > Lists, Records, & Fields > Record Types > Permissions)"
    table = STATEMENT_TABLES.get(statement)
    if table is None and statement.startswith("customrecord"):
        return needs(statement, statement)
    return _TABLE_NEEDS.get(table or "", "View on the table for the role")


@dataclass(frozen=True)
class StatementFault:
    """A SuiteQL statement NetSuite refused (400) or denied (403)."""

    statement: str  # the adapter's name for it: item, transactions, listeners, …
    kind: Literal["refused", "denied"]
    column: str | None  # the column or table the vendor's detail names, as the statement wrote it
    detail: str  # the vendor's own text (redacted upstream)
    status: int

    @property
    def needs(self) -> str:
        return needs(self.statement, self.column)

    def describe(self) -> str:
        """e.g. 'the transactions statement was refused (column t.approvalstatus: INVALID_PARAMETER: …)'."""
        verb = "refused" if self.kind == "refused" else "denied (no permission)"
        what = (
            f"{'table' if self.column in TABLES else 'column'} {self.column}"
            if self.column
            else "nothing named"
        )
        return (
            f"the {self.statement} statement was {verb} ({what}; HTTP {self.status}: {self.detail})"
        )


def statement_fault(statement: str, q: str, exc: AdapterError) -> StatementFault | None:
    """``exc`` as a fault of this statement alone, or None when it is not one (credentials,
    throttling, an outage: those concern every statement)."""
    if exc.status == 403:
        kind: Literal["refused", "denied"] = "denied"
    elif exc.status == 400 and not _is_paging_fault(exc.message):
        kind = "refused"
    else:
        return None
    return StatementFault(statement, kind, column_in(q, exc.message), exc.message, exc.status)


def _is_paging_fault(message: str) -> bool:
    return "limit" in message.lower() and "offset" in message.lower()


def identifier_in(detail: str) -> str | None:
    """The identifier a NetSuite error detail names, e.g. ``approvalstatus``."""
    for pattern in _IDENTIFIER:
        match = pattern.search(detail)
        if match:
            return match[1]
    return None


def column_in(q: str, detail: str) -> str | None:
    """The column (or table) the detail names, as the statement writes it (``t.approvalstatus``),
    or the bare identifier when the statement does not show it qualified."""
    name = identifier_in(detail)
    if name is None:
        # A denial names no identifier pattern; it may still name one of the statement's tables.
        tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", q, re.I)
        return next((t for t in tables if re.search(rf"\b{t}\b", detail, re.I)), None)
    bare = name.rsplit(".", 1)[-1]
    written = re.search(rf"\b(?:\w+\.)*{re.escape(bare)}\b", q, re.I)
    return written[0] if written else name


class StatementRefused(AdapterError):
    """A statement the adapter cannot do without (the item) was refused or denied."""

    def __init__(self, fault: StatementFault, endpoint: str) -> None:
        self.fault = fault
        super().__init__(
            SYSTEM,
            "bad_payload" if fault.kind == "refused" else "auth",
            f"{fault.describe()}; it needs {fault.needs}",
            status=fault.status,
            endpoint=endpoint,
        )

    def describe(self) -> str:
        # Not "an answer we could not read": NetSuite understood the statement and refused it.
        return f"{self.system} {self.message}"
