"""NetSuite ERP adapter: SuiteQL over the SuiteTalk REST web services, signed with TBA.

Every read is one SuiteQL ``SELECT`` sent as ``POST /services/rest/query/v1/suiteql`` with
``Prefer: transient``, body ``{"q": …}`` and ``limit``/``offset`` in the URL; answers are pages of
``{items, hasMore, count, offset, totalResults, links}`` and are read until ``hasMore`` is false
(offsets step by the page size, at most 100,000 rows). The module-level ``*_query`` functions
build every statement the adapter sends, so tests can see them whole. Requests are signed by
``tools.erp.netsuite_auth`` (OAuth 1.0a, HMAC-SHA256, ``realm`` = account id) and paced by
``ConcurrencySlots`` (NetSuite limits concurrent requests per account, not requests per minute).

``read_item`` costs ⌈statements / ``concurrency``⌉ round trips, not one per statement: every
statement names the item by its SKU (``item.itemid``, joined to item where the table holds an
item id), so none waits for another's answer, and all go out at once. There are at most nine:
item ⋈ locations, transactions, last update, listeners, the three custom records, employee ⋈
failed logins and role ⋈ permissions, so two rounds with the default five slots (the slots are
shared with every other integration of the account, the one being triaged included, so the
default stays at the lowest tier's; an account with more can set ``concurrency``). A paged
answer adds its pages' round trips to its own statement.

Where each normalized field comes from (names still UNVERIFIED are marked ``?``; confirm them in
the account's Records Catalog; see "Evidence" below for what the rest rests on):

    item.item_id, sku, name       item.id, item.itemid, item.displayname (itemid when empty)
    item.item_type / _raw         item.itemtype: InvtPart, Assembly → inventory; NonInvtPart →
                                  non_inventory; Service? → service; Kit? → kit; else other
    item.do_not_stock             the custom checkbox named by ``do_not_stock_field`` (no
    item.available_to_fulfil      standard field exists); ``available_to_fulfil_field`` likewise.
                                  Unset: the defaults (False / True) and an ``item_flags`` note
    locations                     inventoryitemlocations: location, BUILTIN.DF(location),
                                  quantityavailable, quantityonhand, quantitycommitted; every
                                  NetSuite location is reported as kind "warehouse"
    available                     the sum of the locations' quantityavailable (item-level
                                  aggregates are unreliable over SuiteQL); None (unknown, not 0)
                                  for a non-inventory item with no location rows
    transactions                  transaction ⋈ transactionline for the item, createddate ≥ since:
                                  at = createddate; kind from type (InvAdjst/InvWksht/InvCount →
                                  adjustment, ItemRcpt → receipt, ItemShip → fulfilment,
                                  CashSale/CustInvc/SalesOrd → sale, InvTrnfr/TrnfrOrd →
                                  transfer, RtnAuth/CustCred/CashRfnd → return, other →
                                  adjustment; codes other than ItemRcpt/RtnAuth/CustInvc
                                  unverified); quantity = transactionline.quantity (NetSuite
                                  signs it: negative takes stock out); location_id =
                                  transactionline.location; source_id = externalid (what
                                  integrations set to the upstream event id)?; memo = memo;
                                  status from approvalstatus? (1 pending_approval, 3 rejected, else
                                  posted); origin = the body field named by ``origin_field`` (none
                                  is standard), else None
    last_inventory_update_at      MAX(createddate) of the item's lines with isinventoryaffecting
    listeners                     scriptdeployment ⋈ script where script.scriptid is a key of
                                  ``listener_scripts`` (its value is what the script listens for):
                                  id = deployment scriptid, name = title, active = isdeployed and
                                  status RELEASED (TESTING? runs for the script owner only), the
                                  deployment's internal id = primarykey (not id: see Evidence),
                                  endpoint = for a RESTlet (script.scripttype RESTLET) the URL
                                  built from the ids on the RESTlet domain,
                                  restlet.nl?script={script.id}&deploy={primarykey}; no url column
                                  is selected (none exists in any public SuiteQL), other scripts
                                  have no address
    trigger_rules                 the custom record ``trigger_rule_record`` (name, isinactive, a
    webhook_log                   min-delta field); ``webhook_log_record`` and
    outbound_events               ``outbound_event_record`` likewise. NetSuite has none of these
                                  as standard records: unset, the fact is listed in not_visible.
                                  A logged call without a status code is left out (neither
                                  accepted nor refused); a deployment without isdeployed or status
                                  is not an inactive listener: both become not_visible
    integration_user              employee (entityid? = ``integration_user``) and role (name =
                                  ``integration_role``); can_write_inventory = rolepermissions
                                  permlevel ≥ 2 (Create) on ``inventory_permissions``; auth_errors =
                                  loginaudit rows with status Failure since ``since`` (plus an
                                  inactive employee or role, or an employee without access)

``NetSuiteErp.catalog_stock()`` (``tools.protocols.CatalogSource``, for monitoring scans) reads
every active inventory item (itemtype InvtPart or Assembly, isinactive F) with its quantities
summed over the wanted locations in SuiteQL (``catalog_query``: item LEFT JOIN
inventoryitemlocations, GROUP BY item): sku = itemid, record = id, quantity =
SUM(quantityavailable) or SUM(quantityonhand), 0 for an item with no row at those locations.
SuiteQL returns at most 100,000 rows per statement, so pages are keyed on the internal id
(``item.id > last id ORDER BY item.id``, offset 0) rather than offset. One statement
(``catalog_bounds_query``: MIN, MAX and COUNT of the ids) comes first; the id span is cut into up
to ``concurrency`` contiguous ranges (``id_ranges``), each paged on its own (``item.id > last AND
item.id <= range end``), all at once: 1 + the sum over ranges of ⌈items in the range / ``page_size``⌉
requests, at most ⌈items / ``page_size``⌉ + the ranges. Sparse ids make ranges uneven (the
fullest range sets the wall time).

``NetSuiteErp.sell_through()`` (``tools.protocols.SellThroughSource``, for low stock): per
active inventory item, ``-SUM(tl.quantity)`` of the inventory-affecting lines
(``tl.isinventoryaffecting = 'T'``) of ``sales_types`` transactions (default CustInvc,
CashSale) with ``t.trandate`` from ``days`` ago, grouped per item in an inline view and joined to
the item's available quantity at the wanted locations (``sell_through_query``), keyed on the
item id like the catalog. UNVERIFIED: the inline view (subquery in FROM) and TO_DATE in SuiteQL;
with Advanced Shipping the item fulfilment (ItemShip), not the invoice, may carry the inventory
effect — such an account adds its codes to ``sales_types``.

Datetimes: SuiteQL shows and compares them in the integration user's time-zone preference, so
every datetime is read through ``TO_CHAR(…, 'YYYY-MM-DD HH24:MI:SS')`` and every bound written
with ``TO_TIMESTAMP``, both in ``timezone`` (set it to that preference). String literals are
escaped (``'`` doubled); identifiers from the config must be plain ``[a-z0-9_]`` names.
Facts a query cannot show (optional records, a role without permission to a table) become a
``not_visible`` line that starts with the fact's name and says where to look in NetSuite.

Each statement stands alone (``tools.erp.netsuite_statements``): NetSuite refusing one (400
``INVALID_PARAMETER``, "Unknown identifier 'x'") or denying it (403) loses only the facts it
reads — transactions, last_update, listeners, the custom records, the integration user — as a
``not_visible`` line naming the statement, the column, the vendor's detail and the feature or
permission it needs; only the checks that need those facts become unknown. A refusal naming an
optional column (``approvalstatus``, the origin field, the custom item flags) sends the
statement again without it, losing that column's topic only (``approval_status``, ``origin``,
``item_flags``). Only the item statement is required: without the item there is nothing to
triage. ``check_statements`` (for ``oos check-config``) sends every configured statement once
and returns the refused or denied ones.

Evidence (checked against stored public material; facts only, nothing copied):

* Oracle Help Center (mirrored in nicb-houseblendio/netsuite-docs, corpus/suitetalk-web-services):
  ``Prefer: transient`` is required and ``limit``/``offset`` go in the URL (section_157909186990,
  which also caps SuiteQL at 100,000 results); pages carry ``links``, ``count``, ``hasMore``,
  ``items``, ``offset``, ``totalResults``, 1000 per page by default, and the offset must be a
  multiple of the limit (section_156414087576); a request over the concurrency limit answers 429
  with ``o:errorCode`` CONCURRENCY_LIMIT_EXCEEDED (section_156570709583), the limit being one
  per account shared by REST web services and RESTlets (subsect_1559222360).
* Oracle "SuiteQL Supported and Unsupported Functions" (section_158513731864) lists TO_CHAR and
  TO_TIMESTAMP; public SuiteQL uses the ``'YYYY-MM-DD HH24:MI:SS'`` format with both
  (lumapps/tap-netsuitesuiteql streams.py, mattplant/SuiteTools, and a RESTlet filtering
  ``t.createddate >= TO_TIMESTAMP(…)`` with ``t.type`` ItemRcpt/RtnAuth).
* Tables: inventoryitemlocations, transactionline, loginaudit, role, rolepermissions, script and
  scriptdeployment are all in Tim Dietrich's SuiteQL table list (as exported in
  iloveitaly/netsuite-permissions output/tim_table.csv); LoginAudit is also in the Records
  Catalog export there (output/netsuite_record_catalog.csv).
* Columns, from public SuiteQL code: inventoryitemlocations item, location, quantityavailable,
  quantityonhand, quantitycommitted (several integrations joining it to item and
  transactionline); transaction type, trandate, createddate, memo (swishbi/dbt_netsuite_source
  stg_netsuite__transactions.sql); transactionline transaction, item, location, quantity, mainline
  and isinventoryaffecting ('T'/'F'; fivetran/dbt_netsuite_source netsuite2 columns and
  QuickFind-Limited/claude_code_api TRANSACTION_SCHEMA.md); role name, isinactive and
  rolepermissions role, permkey, name, permlevel (1 View, 2 Create, 3 Edit, 4 Full; Tim Dietrich's
  published employees/roles/permissions query and other clients); employee isinactive,
  giveaccess (same query); loginaudit date, status ('Success'/'Failure'), user, role, detail
  (mattplant/SuiteTools); scriptdeployment script, scriptid, title, status ('RELEASED'),
  isdeployed ('T'), and script scriptid, scripttype; item.itemtype InvtPart, Assembly, NonInvtPart.
* Contradicted and fixed: ``scriptdeployment.id`` is the *script's* internal id in SuiteQL; the
  deployment's own internal id is ``primarykey`` (public SuiteQL selects
  ``sd.primarykey AS deployid``; two SuiteQL tool guides say so outright), so
  ``listeners_query`` reads ``primarykey``.
* Confirmed or likely since (``../shared/specs/VERIFIED-2026-12.md`` 6a–6f, 7b): itemtype Service
  and Kit; transaction codes InvAdjst, InvWksht, InvCount, ItemShip, InvTrnfr, TrnfrOrd,
  CashSale, SalesOrd, CustCred, CashRfnd; transaction.externalid; employee.entityid;
  script.scripttype RESTLET (likely); deployment status TESTING; inline views and TO_DATE; the
  400 body for an unknown identifier. ``scriptdeployment.url`` was found nowhere and is no
  longer selected.
* Still UNVERIFIED (no public evidence found): approvalstatus and its 1/3 values (an account
  without the column loses the approval status only, see above); that SuiteQL shows datetimes in
  the user's time-zone preference; the REST permission LoginAudit needs; the default of five
  slots as the lowest tier's limit.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
)
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools import redact
from tools.clock import utc_now
from tools.concurrency import gather_fail_fast
from tools.erp.netsuite_auth import TbaEnv, TbaSigner
from tools.erp.netsuite_statements import StatementFault, StatementRefused, statement_fault
from tools.errors import AdapterError
from tools.http import AsyncClosing, VendorClient
from tools.models import (
    CatalogStock,
    ErpItem,
    ErpListener,
    ErpSnapshot,
    EventKind,
    IntegrationUser,
    InventoryTransaction,
    LocationQuantity,
    OutboundEvent,
    QuantityKind,
    SellThrough,
    Source,
    TriggerRule,
    WebhookLogEntry,
)
from tools.ratelimit import ConcurrencySlots, RateLimiter
from tools.retry import Clock, Jitter, RetryPolicy, Sleep, full_jitter

SYSTEM = "netsuite"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
ENDPOINT = f"POST {SUITEQL_PATH}"
MAX_PAGE_SIZE = 1000
MAX_RESULTS = 100_000
TIME_FORMAT = "YYYY-MM-DD HH24:MI:SS"
_PY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_]+$")
_TYPE_CODE = re.compile(r"^[A-Za-z]+$")
SALES_TYPES = ("CustInvc", "CashSale")
_EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

NOT_VISIBLE = {
    "item_flags": "item_flags: no do-not-stock / available-to-fulfil custom fields are configured for NetSuite; look on the item record (Lists > Accounting > Items) for the account's own checkboxes",
    "listeners": "listeners: no inventory listener scripts are configured for NetSuite (listener_scripts); look in Customization > Scripting > Script Deployments for the RESTlet or user event script that receives inventory updates",
    "trigger_rules": "trigger_rules: NetSuite has no standard minimum-change trigger rule; look in Customization > Workflow > Workflows and in the inventory scripts' deployment parameters (Customization > Scripting > Script Deployments)",
    "webhook_log": "webhook_log: NetSuite keeps no inbound-call log by default; look in Customization > Scripting > Script Deployments > Execution Log",
    "outbound_events": "outbound_events: NetSuite keeps no log of outbound inventory events by default; look in the Execution Log of the script that pushes inventory (Customization > Scripting > Script Deployments > Execution Log)",
    "integration_user": "integration_user: the integration's user and role are not configured for NetSuite (integration_user, integration_role); look in Setup > Users/Roles > Manage Roles and Setup > Users/Roles > User Management > View Login Audit Trail",
}
# Where to look in NetSuite when a statement the triage needs was refused.
LOOK_INSTEAD = {
    "item_flags": "look on the item record (Lists > Accounting > Items) for the account's own checkboxes",
    "transactions": "look at the item's transactions in NetSuite (Transactions > Management > Search Transactions, filtered on the item)",
    "last_update": "look at the item's latest inventory-affecting transaction in NetSuite (Transactions > Management > Search Transactions)",
    "approval_status": "look for adjustments waiting for approval in Transactions > Inventory > Adjust Inventory > List",
    "origin": "look at the transactions' source field on each transaction in NetSuite",
    "login_audit": "look in Setup > Users/Roles > User Management > View Login Audit Trail",
    **{topic: line.partition("; ")[2] for topic, line in NOT_VISIBLE.items()},
}
_TOPIC_ORDER = (
    "item_flags",
    "transactions",
    "approval_status",
    "origin",
    "last_update",
    "listeners",
    "trigger_rules",
    "webhook_log",
    "outbound_events",
    "integration_user",
    "login_audit",
)

ItemType = Literal["inventory", "non_inventory", "service", "kit", "other"]
TransactionKind = Literal["sale", "receipt", "adjustment", "transfer", "return", "fulfilment"]
ApprovalStatus = Literal["posted", "pending_approval", "rejected"]

ITEM_TYPES: dict[str, ItemType] = {
    "InvtPart": "inventory",
    "Assembly": "inventory",
    "NonInvtPart": "non_inventory",
    "Service": "service",
    "Kit": "kit",
}
TRANSACTION_KINDS: dict[str, TransactionKind] = {
    "InvAdjst": "adjustment",
    "InvWksht": "adjustment",
    "InvCount": "adjustment",
    "ItemRcpt": "receipt",
    "ItemShip": "fulfilment",
    "CashSale": "sale",
    "CustInvc": "sale",
    "SalesOrd": "sale",
    "InvTrnfr": "transfer",
    "TrnfrOrd": "transfer",
    "RtnAuth": "return",
    "CustCred": "return",
    "CashRfnd": "return",
}
_PERMISSION_LEVELS = {"none": 0, "view": 1, "create": 2, "edit": 3, "full": 4}
_CREATE = 2


# --- configuration -----------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _identifier(value: str) -> str:
    value = value.strip().lower()
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a NetSuite field, record or script id ([a-z0-9_])")
    return value


class TriggerRuleRecord(_Config):
    """A custom record holding minimum-change trigger rules (one row per rule)."""

    record: str = "customrecord_oos_trigger_rule"
    min_delta: str = "custrecord_oos_min_delta"

    _ids = field_validator("record", "min_delta")(_identifier)


class WebhookLogRecord(_Config):
    """A custom record the inventory RESTlet writes one row to per inbound call."""

    record: str = "customrecord_oos_webhook_log"
    sku: str = "custrecord_oos_sku"
    status_code: str = "custrecord_oos_status_code"
    message: str = "custrecord_oos_message"
    source_id: str = "custrecord_oos_source_id"

    _ids = field_validator("record", "sku", "status_code", "message", "source_id")(_identifier)


class OutboundEventRecord(_Config):
    """A custom record a user event script writes one row to per event it sends out."""

    record: str = "customrecord_oos_outbound_event"
    kind: str = "custrecord_oos_kind"
    sku: str = "custrecord_oos_sku"
    target: str = "custrecord_oos_target"

    _ids = field_validator("record", "kind", "sku", "target")(_identifier)


class NetSuiteConfig(_Config):
    """One NetSuite account as the stack config describes it. No credential values: only the
    names of the environment variables that hold them."""

    account_id: str = Field(description="e.g. 1234567 or 1234567_SB1 (the TBA realm)")
    base_url: str | None = Field(
        None, description="default https://{account}.suitetalk.api.netsuite.com"
    )
    restlet_base_url: str | None = Field(
        None, description="default https://{account}.restlets.api.netsuite.com"
    )
    consumer_key_env: str = "NETSUITE_CONSUMER_KEY"
    consumer_secret_env: str = "NETSUITE_CONSUMER_SECRET"
    token_id_env: str = "NETSUITE_TOKEN_ID"
    token_secret_env: str = "NETSUITE_TOKEN_SECRET"
    timezone: str = Field("UTC", description="the integration user's time-zone preference")
    timeout_seconds: float = Field(20.0, gt=0)
    page_size: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    concurrency: int = Field(5, ge=1, description="the account's concurrency limit to respect")
    do_not_stock_field: str | None = None
    available_to_fulfil_field: str | None = None
    origin_field: str | None = None
    listener_scripts: dict[str, EventKind] = {}
    integration_user: str | None = Field(None, description="the employee's entity id")
    integration_role: str | None = Field(None, description="the token's role, by name")
    inventory_permissions: tuple[str, ...] = ("TRAN_INVADJST",)
    sales_types: tuple[str, ...] = Field(
        SALES_TYPES, description="transaction types whose inventory-affecting lines are sales"
    )
    trigger_rule_record: TriggerRuleRecord | None = None
    webhook_log_record: WebhookLogRecord | None = None
    outbound_event_record: OutboundEventRecord | None = None

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT.match(value):
            raise ValueError("account id is letters, digits and '_' (e.g. 1234567_SB1)")
        return value.upper()

    @field_validator("do_not_stock_field", "available_to_fulfil_field", "origin_field")
    @classmethod
    def _field_id(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value)

    @field_validator("sales_types")
    @classmethod
    def _sales_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(_TYPE_CODE.match(v) for v in value):
            raise ValueError("sales_types names transaction type codes, e.g. CustInvc, CashSale")
        return value

    @field_validator("listener_scripts")
    @classmethod
    def _script_ids(cls, value: dict[str, EventKind]) -> dict[str, EventKind]:
        return {_identifier(k): v for k, v in value.items()}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def host_account(self) -> str:
        return self.account_id.lower().replace("_", "-")

    @property
    def suitetalk_url(self) -> str:
        return self.base_url or f"https://{self.host_account}.suitetalk.api.netsuite.com"

    @property
    def restlet_url(self) -> str:
        return self.restlet_base_url or f"https://{self.host_account}.restlets.api.netsuite.com"

    @property
    def env(self) -> TbaEnv:
        return TbaEnv(
            self.consumer_key_env,
            self.consumer_secret_env,
            self.token_id_env,
            self.token_secret_env,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- SuiteQL statements ------------------------------------------------------------------------


def literal(value: str) -> str:
    """A SuiteQL string literal: quotes doubled, so a SKU like O'Brien stays one value."""
    return "'" + value.replace("'", "''") + "'"


def id_literal(value: str) -> str:
    """An internal id (always an integer in NetSuite) as a number literal."""
    if not value.isdigit():
        raise AdapterError(SYSTEM, "bad_payload", f"{value!r} is not a NetSuite internal id")
    return value


def timestamp_literal(at: datetime, zone: ZoneInfo) -> str:
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)
    return f"TO_TIMESTAMP({literal(local.strftime(_PY_TIME_FORMAT))}, '{TIME_FORMAT}')"


def _as_text(column: str) -> str:
    return f"TO_CHAR({column}, '{TIME_FORMAT}')"


def item_query(sku: str, config: NetSuiteConfig, omit: Collection[str] = ()) -> str:
    """The item with its quantities per location: one row per location (item columns repeated),
    or one row without the location columns for an item stocked nowhere. ``omit`` names custom
    flag fields NetSuite refused, left out of a second try."""
    columns = ["item.id", "item.itemid", "item.displayname", "item.itemtype", "item.isinactive"]
    if config.do_not_stock_field and config.do_not_stock_field not in omit:
        columns.append(f"item.{config.do_not_stock_field} AS donotstock")
    if config.available_to_fulfil_field and config.available_to_fulfil_field not in omit:
        columns.append(f"item.{config.available_to_fulfil_field} AS availabletofulfil")
    columns += [
        "iil.location",
        "BUILTIN.DF(iil.location) AS locationname",
        "iil.quantityavailable",
        "iil.quantityonhand",
        "iil.quantitycommitted",
    ]
    return (
        f"SELECT {', '.join(columns)} FROM item"
        " LEFT OUTER JOIN inventoryitemlocations iil ON iil.item = item.id"
        f" WHERE item.itemid = {literal(sku)} ORDER BY iil.location"
    )


def transactions_query(
    sku: str, since: datetime, config: NetSuiteConfig, omit: Collection[str] = ()
) -> str:
    """The item's transaction lines since ``since``. ``omit`` names optional columns NetSuite
    refused (``approvalstatus``, the origin field), left out of a second try."""
    columns = [
        "t.id",
        "t.tranid",
        "t.type",
        f"{_as_text('t.createddate')} AS createdat",
        "TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate",
        "t.externalid",
        "t.memo",
        "t.approvalstatus",
        "tl.quantity",
        "tl.location",
    ]
    if "approvalstatus" in omit:
        columns.remove("t.approvalstatus")
    if config.origin_field and config.origin_field not in omit:
        columns.append(f"t.{config.origin_field} AS origin")
    return (
        f"SELECT {', '.join(columns)} FROM transaction t"
        " JOIN transactionline tl ON tl.transaction = t.id JOIN item ON item.id = tl.item"
        f" WHERE item.itemid = {literal(sku)}"
        f" AND t.createddate >= {timestamp_literal(since, config.zone)}"
        " ORDER BY t.createddate, t.id, tl.id"
    )


def last_update_query(sku: str) -> str:
    return (
        f"SELECT {_as_text('MAX(t.createddate)')} AS lastupdate FROM transaction t"
        " JOIN transactionline tl ON tl.transaction = t.id JOIN item ON item.id = tl.item"
        f" WHERE item.itemid = {literal(sku)} AND tl.isinventoryaffecting = 'T'"
    )


def listeners_query(script_ids: list[str]) -> str:
    """The deployments of the listed scripts. In SuiteQL ``scriptdeployment.id`` holds the
    *script's* internal id; the deployment's own internal id is ``primarykey`` (read as ``id``).
    No ``url``: no public SuiteQL selects one, so a RESTlet's address is built from the ids."""
    scripts = ", ".join(literal(s) for s in script_ids)
    return (
        "SELECT scriptdeployment.primarykey AS id, scriptdeployment.scriptid,"
        " scriptdeployment.title, scriptdeployment.status, scriptdeployment.isdeployed,"
        " script.id AS scriptinternalid, script.scriptid AS script,"
        " script.scripttype FROM scriptdeployment JOIN script ON script.id = scriptdeployment.script"
        f" WHERE script.scriptid IN ({scripts}) ORDER BY scriptdeployment.primarykey"
    )


def employee_query(entity_id: str) -> str:
    return (
        "SELECT employee.id, employee.entityid, employee.isinactive, employee.giveaccess"
        f" FROM employee WHERE employee.entityid = {literal(entity_id)}"
    )


def employee_logins_query(entity_id: str, since: datetime, zone: ZoneInfo) -> str:
    """The employee with its failed logins since ``since``: one row per failure (employee
    columns repeated), or one row without the login columns."""
    return (
        "SELECT employee.id, employee.entityid, employee.isinactive, employee.giveaccess,"
        f" {_as_text('loginaudit.date')} AS at, loginaudit.status, loginaudit.detail"
        " FROM employee LEFT OUTER JOIN loginaudit ON loginaudit.user = employee.id"
        " AND loginaudit.status = 'Failure'"
        f" AND loginaudit.date >= {timestamp_literal(since, zone)}"
        f" WHERE employee.entityid = {literal(entity_id)} ORDER BY loginaudit.date DESC"
    )


def role_query(name: str, keys: tuple[str, ...]) -> str:
    """The role with its level on each of ``keys``: one row per permission it has (role columns
    repeated), or one row without the permission columns."""
    wanted = ", ".join(literal(k) for k in keys)
    return (
        "SELECT role.id, role.name, role.isinactive, rolepermissions.permkey,"
        " rolepermissions.permlevel FROM role LEFT OUTER JOIN rolepermissions"
        f" ON rolepermissions.role = role.id AND rolepermissions.permkey IN ({wanted})"
        f" WHERE role.name = {literal(name)}"
    )


def trigger_rules_query(rec: TriggerRuleRecord) -> str:
    r = rec.record
    return (
        f"SELECT {r}.id, {r}.name, {r}.isinactive, {r}.{rec.min_delta} AS mindelta"
        f" FROM {r} ORDER BY {r}.id"
    )


def webhook_log_query(rec: WebhookLogRecord, sku: str, since: datetime, zone: ZoneInfo) -> str:
    r = rec.record
    return (
        f"SELECT {r}.id, {_as_text(f'{r}.created')} AS createdat, {r}.{rec.sku} AS sku,"
        f" {r}.{rec.status_code} AS statuscode, {r}.{rec.message} AS message,"
        f" {r}.{rec.source_id} AS sourceid FROM {r}"
        f" WHERE {r}.created >= {timestamp_literal(since, zone)}"
        f" AND ({r}.{rec.sku} = {literal(sku)} OR {r}.{rec.sku} IS NULL)"
        f" ORDER BY {r}.created, {r}.id"
    )


def outbound_events_query(
    rec: OutboundEventRecord, sku: str, since: datetime, zone: ZoneInfo
) -> str:
    r = rec.record
    return (
        f"SELECT {r}.id, {_as_text(f'{r}.created')} AS createdat, {r}.{rec.kind} AS kind,"
        f" {r}.{rec.sku} AS sku, {r}.{rec.target} AS target FROM {r}"
        f" WHERE {r}.created >= {timestamp_literal(since, zone)} AND {r}.{rec.sku} = {literal(sku)}"
        f" ORDER BY {r}.created, {r}.id"
    )


def _inventory_types() -> str:
    return ", ".join(literal(t) for t, kind in ITEM_TYPES.items() if kind == "inventory")


def catalog_bounds_query() -> str:
    """The catalog scan's first statement: the lowest and highest internal id of the active
    inventory items and how many there are, so the id space can be cut into ranges."""
    return (
        "SELECT MIN(item.id) AS minid, MAX(item.id) AS maxid, COUNT(item.id) AS items FROM item"
        f" WHERE item.isinactive = 'F' AND item.itemtype IN ({_inventory_types()})"
    )


def catalog_query(
    after: int, locations: Collection[str] | None = None, until: int | None = None
) -> str:
    """One keyset page of the catalog scan: active inventory items with id above ``after`` (and
    at most ``until``, when given), their available and on-hand quantities summed over
    ``locations`` (None: every location)."""
    on = "iil.item = item.id"
    if locations is not None:
        if not locations:
            raise ValueError("locations is None (every location) or names at least one")
        on += f" AND iil.location IN ({', '.join(id_literal(x) for x in sorted(locations))})"
    upto = "" if until is None else f" AND item.id <= {until}"
    return (
        "SELECT item.id, item.itemid, SUM(iil.quantityavailable) AS available,"
        " SUM(iil.quantityonhand) AS onhand"
        f" FROM item LEFT OUTER JOIN inventoryitemlocations iil ON {on}"
        f" WHERE item.id > {after}{upto} AND item.isinactive = 'F'"
        f" AND item.itemtype IN ({_inventory_types()})"
        " GROUP BY item.id, item.itemid ORDER BY item.id"
    )


def sell_through_query(
    after: int,
    since: date,
    locations: Collection[str] | None = None,
    types: Collection[str] = SALES_TYPES,
) -> str:
    """One keyset page of the sell-through scan: per active inventory item with id above
    ``after`` that sold since ``since`` (a transaction date, inclusive), the units sold —
    ``-SUM(quantity)`` of the inventory-affecting lines of sales transactions (``types``;
    NetSuite signs a sale's line quantity negative) — and the quantity available now, summed
    over ``locations`` (None: every location). The sales are grouped per item in an inline
    view, so joining the item's location rows does not count a sale once per location."""
    on = "iil.item = item.id"
    if locations is not None:
        if not locations:
            raise ValueError("locations is None (every location) or names at least one")
        on += f" AND iil.location IN ({', '.join(id_literal(x) for x in sorted(locations))})"
    kinds = ", ".join(literal(t) for t in types)
    day = literal(since.isoformat())
    return (
        "SELECT item.id, item.itemid, sold.units AS sold,"
        " SUM(iil.quantityavailable) AS available"
        " FROM (SELECT tl.item AS item, -SUM(tl.quantity) AS units FROM transactionline tl"
        " JOIN transaction t ON t.id = tl.transaction"
        f" WHERE tl.item > {after} AND tl.isinventoryaffecting = 'T' AND t.type IN ({kinds})"
        f" AND t.trandate >= TO_DATE({day}, 'YYYY-MM-DD') GROUP BY tl.item) sold"
        f" JOIN item ON item.id = sold.item LEFT OUTER JOIN inventoryitemlocations iil ON {on}"
        f" WHERE item.isinactive = 'F' AND item.itemtype IN ({_inventory_types()})"
        " GROUP BY item.id, item.itemid, sold.units ORDER BY item.id"
    )


def id_ranges(
    lowest: int, highest: int, count: int, slots: int, page_size: int
) -> list[tuple[int, int | None]]:
    """The catalog's id space cut into contiguous ranges ``(after, until]``, one per slot the
    scan may use (fewer when the items fit in fewer pages; none for an empty catalog). The
    first starts just below ``lowest``; the last is open-ended (``until`` None), so an item
    created while the scan runs is still read, as a sequential scan would read it."""
    if count <= 0 or highest < lowest:
        return []
    n = max(1, min(slots, -(-count // page_size), highest - lowest + 1))
    span = highest - lowest + 1
    cuts = [lowest - 1 + span * k // n for k in range(n + 1)]
    return [(cuts[k], cuts[k + 1] if k + 1 < n else None) for k in range(n)]


# --- reading SuiteQL answers -------------------------------------------------------------------

Row = dict[str, Any]


def _text(row: Row, key: str) -> str | None:
    # SuiteQL leaves null columns out of the row entirely.
    value = row.get(key)
    if value is None or value == "":
        return None
    return str(value)


def _number(row: Row, key: str, default: int | None = 0) -> int | None:
    value = _text(row, key)
    if value is None:
        return default
    try:
        return round(float(value))
    except ValueError:
        raise AdapterError(
            SYSTEM, "bad_payload", f"column {key} is not a number: {value!r}", endpoint=ENDPOINT
        ) from None


def _flag(row: Row, key: str, default: bool = False) -> bool:
    value = _text(row, key)
    if value is None:
        return default
    return value.upper() in ("T", "TRUE", "Y", "YES", "1")


def _time(row: Row, key: str, zone: ZoneInfo) -> datetime | None:
    value = _text(row, key)
    if value is None:
        return None
    try:
        local = datetime.strptime(value, _PY_TIME_FORMAT).replace(tzinfo=zone)
    except ValueError:
        raise AdapterError(
            SYSTEM, "bad_payload", f"column {key} is not a time: {value!r}", endpoint=ENDPOINT
        ) from None
    return local.astimezone(UTC)


def _required_time(row: Row, key: str, zone: ZoneInfo) -> datetime:
    at = _time(row, key, zone)
    if at is None:
        raise AdapterError(SYSTEM, "bad_payload", f"row without {key}", endpoint=ENDPOINT)
    return at


def _page_items(body: Any) -> tuple[list[Row], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise AdapterError(
            SYSTEM, "bad_payload", "SuiteQL answer without an items list", endpoint=ENDPOINT
        )
    items = [row for row in body["items"] if isinstance(row, dict)]
    return items, bool(body.get("hasMore"))


def _check_range(rows: list[Row], after: int, until: int | None) -> int:
    """The last id of a catalog page, once every row is checked: an id and an itemid, ids rising
    and inside ``(after, until]`` (a row outside would be read twice or an item skipped)."""
    last = after
    for row in rows:
        item_id, sku = _text(row, "id"), _text(row, "itemid")
        if item_id is None or not item_id.isdigit() or sku is None:
            raise AdapterError(
                SYSTEM, "bad_payload", f"catalog row without id or itemid: {row}", endpoint=ENDPOINT
            )
        number = int(item_id)
        if number <= last or (until is not None and number > until):
            raise AdapterError(
                SYSTEM,
                "bad_payload",
                f"catalog page not ordered by item id within ({after}, {until}]: id {number}",
                endpoint=ENDPOINT,
            )
        last = number
    return last


def _approval(value: str | None) -> ApprovalStatus:
    word = (value or "").strip().lower()
    if word in ("1", "pending approval"):
        return "pending_approval"
    if word in ("3", "rejected"):
        return "rejected"
    return "posted"


def _permission_level(value: str | None) -> int:
    word = (value or "").strip().lower()
    if word.isdigit():
        return int(word)
    return _PERMISSION_LEVELS.get(word, 0)


def _event_kind(value: str | None) -> EventKind:
    word = (value or "").strip().lower()
    for kind in _EVENT_KINDS:
        if kind == word:
            return kind
    return "other"


# --- the adapter -------------------------------------------------------------------------------


@dataclass
class _Parts:
    """What the concurrent reads fill in, each its own field."""

    raw: dict[str, Any] = field(default_factory=dict)
    item: ErpItem | None = None
    locations: list[LocationQuantity] = field(default_factory=list)
    transactions: list[InventoryTransaction] = field(default_factory=list)
    last_update: datetime | None = None
    listeners: list[ErpListener] = field(default_factory=list)
    trigger_rules: list[TriggerRule] = field(default_factory=list)
    webhook_log: list[WebhookLogEntry] = field(default_factory=list)
    outbound_events: list[OutboundEvent] = field(default_factory=list)
    user: IntegrationUser | None = None
    not_visible: dict[str, str] = field(default_factory=dict)
    faults: list[StatementFault] = field(default_factory=list)

    def lose(self, topic: str, fault: StatementFault) -> None:
        """``topic`` is unknown because of ``fault``: said with the statement, the column, what
        it needs and where to look instead."""
        self.faults.append(fault)
        self.raw.setdefault("refused", {})[fault.statement] = fault.describe()
        self.not_visible[topic] = (
            f"{topic}: NetSuite did not show it: {fault.describe()}; it needs {fault.needs}; "
            + LOOK_INSTEAD[topic]
        )


class NetSuiteErp(AsyncClosing):
    """``ErpAdapter`` for one NetSuite account, e.g. ``NetSuiteErp(NetSuiteConfig(account_id=…))``."""

    system = SYSTEM

    def __init__(
        self,
        config: NetSuiteConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        jitter: Jitter = full_jitter,
        nonce: Callable[[], str] | None = None,
        timestamp: Callable[[], str] | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        signer_options: dict[str, Callable[[], str]] = {}
        if nonce is not None:
            signer_options["nonce"] = nonce
        if timestamp is not None:
            signer_options["timestamp"] = timestamp
        self.signer = TbaSigner(
            config.account_id, config.env, system=SYSTEM, environ=environ, **signer_options
        )
        self._now = now
        self._client = VendorClient(
            SYSTEM,
            config.suitetalk_url,
            timeout=httpx.Timeout(config.timeout_seconds, connect=min(5.0, config.timeout_seconds)),
            auth=self.signer,
            limiter=limiter or ConcurrencySlots(config.concurrency),
            retry=retry,
            transport=transport,
            headers={"Accept": "application/json"},
            redactor=redact.Redactor.from_env(config.env.names(), environ),
            sleep=sleep,
            clock=clock,
            jitter=jitter,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> NetSuiteErp:
        """From the ``[erp]`` table of a stack config (see ``NetSuiteConfig`` for the keys)."""
        config = NetSuiteConfig.model_validate(dict(settings))
        return cls(config, transport=transport, retry=retry, environ=environ, now=clock or utc_now)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def suiteql(self, q: str) -> tuple[list[Row], list[Any]]:
        """Every row of a SuiteQL statement, and the page bodies as NetSuite sent them."""
        rows: list[Row] = []
        pages: list[Any] = []
        limit = self.config.page_size
        offset = 0
        while offset < MAX_RESULTS:
            body = await self._client.post_json(
                SUITEQL_PATH,
                {"q": q},
                params={"limit": limit, "offset": offset},
                headers={"Prefer": "transient"},
                idempotent=True,
            )
            items, has_more = _page_items(body)
            pages.append(body)
            rows.extend(items)
            if not has_more or not items:
                break
            offset += limit  # NetSuite wants offsets that are multiples of the limit
        return rows, pages

    async def catalog_stock(
        self,
        *,
        measure: QuantityKind = "available",
        locations: Collection[str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[CatalogStock]:
        """Every active inventory item's ``measure`` summed over ``locations`` (internal ids;
        None: every location), page by page as NetSuite sends them (see ``catalog_query``).

        One statement (``catalog_bounds_query``) finds the ids' range and count; the range is
        cut into up to ``concurrency`` contiguous id ranges (``id_ranges``), each paged on its
        own (``item.id > last AND item.id <= end``), all at once. Rows arrive in id order within
        a range, not across ranges. At most one page per range waits to be consumed (a
        bounded queue), so memory stays flat; a failure in any range cancels the others."""
        policy = retry or RetryPolicy.scan()
        column = "available" if measure == "available" else "onhand"
        scope = "every location" if locations is None else f"locations {sorted(locations)}"
        source = Source(system=SYSTEM, endpoint=ENDPOINT, record=f"catalog, {measure} at {scope}")
        if locations is not None:
            catalog_query(0, locations)  # refuse bad locations before any request
        body = await self._client.post_json(
            SUITEQL_PATH,
            {"q": catalog_bounds_query()},
            params={"limit": 1, "offset": 0},
            headers={"Prefer": "transient"},
            idempotent=True,
            retry=policy,
        )
        rows, _ = _page_items(body)
        bounds = rows[0] if rows else {}
        count = _number(bounds, "items") or 0
        lowest, highest = _number(bounds, "minid", None), _number(bounds, "maxid", None)
        if count and (lowest is None or highest is None):
            raise AdapterError(
                SYSTEM, "bad_payload", f"catalog bounds without ids: {bounds}", endpoint=ENDPOINT
            )
        ranges = id_ranges(
            lowest or 0, highest or 0, count, self.config.concurrency, self.config.page_size
        )
        if not ranges:
            return
        pages: asyncio.Queue[list[Row] | BaseException | None] = asyncio.Queue(len(ranges))

        async def stream(after: int, until: int | None) -> None:
            try:
                while True:
                    body = await self._client.post_json(
                        SUITEQL_PATH,
                        {"q": catalog_query(after, locations, until)},
                        params={"limit": self.config.page_size, "offset": 0},
                        headers={"Prefer": "transient"},
                        idempotent=True,
                        retry=policy,
                    )
                    rows, has_more = _page_items(body)
                    last = _check_range(rows, after, until)
                    await pages.put(rows)
                    if not has_more or not rows:
                        break
                    after = last
            except Exception as exc:  # handed to the consumer, which raises it
                await pages.put(exc)
            else:
                await pages.put(None)

        tasks = [asyncio.create_task(stream(after, until)) for after, until in ranges]
        try:
            running = len(tasks)
            while running:
                page = await pages.get()
                if page is None:
                    running -= 1
                    continue
                if isinstance(page, BaseException):
                    raise page
                read_at = self._now()
                for row in page:
                    yield CatalogStock(
                        source=source,
                        read_at=read_at,
                        sku=_text(row, "itemid") or "",
                        quantity=_number(row, column) or 0,
                        measure=measure,
                        record=_text(row, "id"),
                    )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def sell_through(
        self,
        *,
        days: int = 28,
        locations: Collection[str] | None = None,
        now: datetime | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[SellThrough]:
        """``tools.protocols.SellThroughSource``: each active inventory item that sold over the
        last ``days`` days (transaction dates from ``days`` ago in ``timezone``, today
        included), with the units sold and the quantity available now at ``locations`` (None:
        every location), page by page (``sell_through_query``, keyed on the item id). Items
        that sold nothing are left out (the protocol allows it: they are never low). ``now``
        (default: the adapter's clock) is the moment the window ends."""
        policy = retry or RetryPolicy.scan()
        since = ((now or self._now()).astimezone(self.config.zone) - timedelta(days=days)).date()
        scope = "every location" if locations is None else f"locations {sorted(locations)}"
        source = Source(
            system=SYSTEM,
            endpoint=ENDPOINT,
            record=f"sales since {since.isoformat()} ({', '.join(self.config.sales_types)}), available at {scope}",
        )
        after = 0
        while True:
            q = sell_through_query(after, since, locations, self.config.sales_types)
            body = await self._client.post_json(
                SUITEQL_PATH,
                {"q": q},
                params={"limit": self.config.page_size, "offset": 0},
                headers={"Prefer": "transient"},
                idempotent=True,
                retry=policy,
            )
            rows, has_more = _page_items(body)
            last = _check_range(rows, after, None)
            read_at = self._now()
            for row in rows:
                yield SellThrough(
                    source=source,
                    read_at=read_at,
                    sku=_text(row, "itemid") or "",
                    available=_number(row, "available") or 0,
                    sold=max(0, _number(row, "sold") or 0),
                    days=float(days),
                )
            if not has_more or not rows:
                return
            after = last

    def statements(self, sku: str, since: datetime) -> dict[str, str]:
        """Every statement a triage of ``sku`` would send, by name (the configured ones only)."""
        cfg = self.config
        found = {
            "item": item_query(sku, cfg),
            "transactions": transactions_query(sku, since, cfg),
            "last_update": last_update_query(sku),
        }
        if cfg.listener_scripts:
            found["listeners"] = listeners_query(sorted(cfg.listener_scripts))
        if cfg.trigger_rule_record:
            found["trigger_rules"] = trigger_rules_query(cfg.trigger_rule_record)
        if cfg.webhook_log_record:
            found["webhook_log"] = webhook_log_query(cfg.webhook_log_record, sku, since, cfg.zone)
        if cfg.outbound_event_record:
            q = outbound_events_query(cfg.outbound_event_record, sku, since, cfg.zone)
            found["outbound_events"] = q
        if cfg.integration_user:
            found["employee"] = employee_logins_query(cfg.integration_user, since, cfg.zone)
        if cfg.integration_role:
            found["role"] = role_query(cfg.integration_role, cfg.inventory_permissions)
        return found

    async def check_statements(self, sku: str, since: datetime) -> list[StatementFault]:
        """``oos check-config``: send every statement once (all at once, one page each) and
        return the ones NetSuite refused or denied, in statement order. Faults that concern
        every statement (credentials, outages) raise as they came."""
        statements = self.statements(sku, since)

        async def one(name: str, q: str) -> StatementFault | None:
            try:
                await self._client.post_json(
                    SUITEQL_PATH,
                    {"q": q},
                    params={"limit": 1, "offset": 0},
                    headers={"Prefer": "transient"},
                    idempotent=True,
                )
            except AdapterError as exc:
                fault = statement_fault(name, q, exc)
                if fault is None:
                    raise
                return fault
            return None

        found = await gather_fail_fast([one(name, q) for name, q in statements.items()])
        return [fault for fault in found if fault is not None]

    async def _rows(self, parts: _Parts, name: str, q: str) -> list[Row]:
        rows, pages = await self.suiteql(q)
        parts.raw[name] = {"q": q, "pages": pages}
        return rows

    async def read_item(self, sku: str, since: datetime) -> ErpSnapshot:
        parts = _Parts()
        cfg = self.config
        if not (cfg.do_not_stock_field or cfg.available_to_fulfil_field):
            parts.not_visible["item_flags"] = NOT_VISIBLE["item_flags"]
        # Every statement names the item by its SKU (joined to item where it needs the item), so
        # none waits for another's answer: all go out at once, queued only by the account's
        # concurrency slots, required facts first. The first failure cancels the rest.
        await gather_fail_fast(
            [
                self._item(parts, sku),
                self._degradable(parts, "transactions", self._transactions(parts, sku, since)),
                self._degradable(parts, "last_update", self._last_update(parts, sku)),
                self._optional(parts, "listeners", lambda: self._listeners(parts)),
                self._optional(parts, "trigger_rules", lambda: self._trigger_rules(parts)),
                self._optional(parts, "webhook_log", lambda: self._webhook_log(parts, sku, since)),
                self._optional(
                    parts, "outbound_events", lambda: self._outbound_events(parts, sku, since)
                ),
                self._optional(
                    parts, "integration_user", lambda: self._integration_user(parts, since)
                ),
            ]
        )
        item = parts.item
        assert item is not None  # _item raised otherwise

        return ErpSnapshot(
            source=Source(system=SYSTEM, endpoint=ENDPOINT, record=f"item {item.item_id}"),
            read_at=self._now(),
            raw=parts.raw,
            vendor=SYSTEM,
            item=item,
            # an item NetSuite keeps no stock for (no location rows, not an inventory item) has
            # no quantity: unknown, not 0
            available=(
                sum(loc.available for loc in parts.locations)
                if parts.locations or item.item_type == "inventory"
                else None
            ),
            locations=parts.locations,
            transactions=parts.transactions,
            last_inventory_update_at=parts.last_update,
            listeners=parts.listeners,
            trigger_rules=parts.trigger_rules,
            webhook_log=parts.webhook_log,
            outbound_events=parts.outbound_events,
            integration_user=parts.user,
            not_visible=[
                parts.not_visible[topic] for topic in _TOPIC_ORDER if topic in parts.not_visible
            ],
        )

    async def _statement(
        self,
        parts: _Parts,
        name: str,
        build: Callable[[frozenset[str]], str],
        optional: Mapping[str, str] | None = None,
    ) -> list[Row]:
        """The rows of one statement. A refusal naming one of ``optional``'s columns (column →
        the topic it shows) loses that topic only: the statement goes again without the column
        (one more request, only then). Any other refusal or denial of the statement raises
        ``StatementRefused``, its own fact; credentials, throttling and outages raise as they
        came (they concern every statement)."""
        optional = optional or {}
        omit: set[str] = set()
        while True:
            q = build(frozenset(omit))
            try:
                return await self._rows(parts, name, q)
            except AdapterError as exc:
                fault = statement_fault(name, q, exc)
                if fault is None:
                    raise
            bare = (fault.column or "").lower().rsplit(".", 1)[-1]
            if bare in optional and bare not in omit:
                omit.add(bare)
                parts.lose(optional[bare], fault)
                continue
            raise StatementRefused(fault, ENDPOINT)

    async def _degradable(self, parts: _Parts, topic: str, read: Awaitable[None]) -> None:
        """A statement the triage can do without: refused or denied, only ``topic`` is lost."""
        try:
            await read
        except StatementRefused as exc:
            parts.lose(topic, exc.fault)

    async def _optional(
        self, parts: _Parts, topic: str, read: Callable[[], Awaitable[None]]
    ) -> None:
        """Optional facts never sink the whole read: a refusal becomes a not_visible line.
        (``read`` is called here, so a read cancelled before it starts leaves no coroutine.)"""
        try:
            await read()
        except StatementRefused as exc:
            parts.lose(topic, exc.fault)
        except AdapterError as exc:
            parts.not_visible[topic] = (
                f"{topic}: NetSuite did not show it ({exc.describe()}); "
                + NOT_VISIBLE[topic].partition("; ")[2]
            )

    async def _item(self, parts: _Parts, sku: str) -> None:
        cfg = self.config
        flags = {
            f: "item_flags" for f in (cfg.do_not_stock_field, cfg.available_to_fulfil_field) if f
        }
        rows = await self._statement(parts, "item", lambda omit: item_query(sku, cfg, omit), flags)
        if not rows:
            raise AdapterError(
                SYSTEM, "not_found", f"no item with itemid {sku!r}", endpoint=ENDPOINT
            )
        row = rows[0]
        item_id = _text(row, "id") or ""
        id_literal(item_id)
        item_type_raw = _text(row, "itemtype")
        parts.item = ErpItem(
            item_id=item_id,
            sku=_text(row, "itemid") or sku,
            name=_text(row, "displayname") or _text(row, "itemid") or sku,
            item_type=ITEM_TYPES.get(item_type_raw or "", "other"),
            item_type_raw=item_type_raw,
            do_not_stock=_flag(row, "donotstock"),
            available_to_fulfil=_flag(row, "availabletofulfil", default=True),
        )
        for row in rows:
            location_id = _text(row, "location")
            if location_id is None or _text(row, "id") != item_id:
                continue  # an item stocked nowhere: the outer join's row without a location
            parts.locations.append(
                LocationQuantity(
                    location_id=location_id,
                    name=_text(row, "locationname") or location_id,
                    kind="warehouse",
                    available=_number(row, "quantityavailable") or 0,
                    on_hand=_number(row, "quantityonhand", None),
                    committed=_number(row, "quantitycommitted", None),
                )
            )

    async def _transactions(self, parts: _Parts, sku: str, since: datetime) -> None:
        cfg = self.config
        zone = cfg.zone
        optional = {"approvalstatus": "approval_status"}
        if cfg.origin_field:
            optional[cfg.origin_field] = "origin"
        rows = await self._statement(
            parts, "transactions", lambda omit: transactions_query(sku, since, cfg, omit), optional
        )
        for row in rows:
            parts.transactions.append(
                InventoryTransaction(
                    at=_required_time(row, "createdat", zone),
                    kind=TRANSACTION_KINDS.get(_text(row, "type") or "", "adjustment"),
                    quantity=_number(row, "quantity") or 0,
                    location_id=_text(row, "location"),
                    source_id=_text(row, "externalid"),
                    origin=(_text(row, "origin") or "").lower() or None,
                    status=_approval(_text(row, "approvalstatus")),
                    memo=_text(row, "memo"),
                )
            )

    async def _last_update(self, parts: _Parts, sku: str) -> None:
        rows = await self._statement(parts, "last_update", lambda _: last_update_query(sku))
        parts.last_update = _time(rows[0], "lastupdate", self.config.zone) if rows else None

    async def _listeners(self, parts: _Parts) -> None:
        scripts = self.config.listener_scripts
        if not scripts:
            parts.not_visible["listeners"] = NOT_VISIBLE["listeners"]
            return
        q = listeners_query(sorted(scripts))
        unknown: list[str] = []
        for row in await self._statement(parts, "listeners", lambda _: q):
            script = (_text(row, "script") or "").lower()
            deployed, status = _text(row, "isdeployed"), _text(row, "status")
            if deployed is None or status is None:
                # absent is not "not deployed": this deployment's state is unknown
                unknown.append(_text(row, "scriptid") or _text(row, "id") or "?")
                continue
            parts.listeners.append(
                ErpListener(
                    id=_text(row, "scriptid") or _text(row, "id") or "",
                    name=_text(row, "title") or _text(row, "scriptid") or "",
                    listens_for=scripts.get(script, "inventory_update"),
                    active=_flag(row, "isdeployed") and status.upper() == "RELEASED",
                    endpoint=self._endpoint(row),
                )
            )
        if unknown and not any(x.active for x in parts.listeners):
            # an inactive listener next to one whose state is unknown proves nothing
            parts.listeners.clear()
            parts.not_visible["listeners"] = (
                f"listeners: NetSuite did not show whether deployment(s) {', '.join(unknown)} "
                "are deployed and released; look in Customization > Scripting > Script Deployments"
            )

    def _endpoint(self, row: Row) -> str | None:
        """A RESTlet's external URL, built from the script's and the deployment's internal ids
        on the account's RESTlet domain; other scripts have no address of their own."""
        if (_text(row, "scripttype") or "").upper() != "RESTLET":
            return None
        script, deploy = _text(row, "scriptinternalid"), _text(row, "id")
        return (
            f"{self.config.restlet_url}/app/site/hosting/restlet.nl?script={script}&deploy={deploy}"
        )

    async def _trigger_rules(self, parts: _Parts) -> None:
        rec = self.config.trigger_rule_record
        if rec is None:
            parts.not_visible["trigger_rules"] = NOT_VISIBLE["trigger_rules"]
            return
        q = trigger_rules_query(rec)
        for row in await self._statement(parts, "trigger_rules", lambda _: q):
            parts.trigger_rules.append(
                TriggerRule(
                    id=_text(row, "id") or "",
                    name=_text(row, "name") or "",
                    min_delta=_number(row, "mindelta") or 0,
                    active=not _flag(row, "isinactive"),
                )
            )

    async def _webhook_log(self, parts: _Parts, sku: str, since: datetime) -> None:
        rec = self.config.webhook_log_record
        if rec is None:
            parts.not_visible["webhook_log"] = NOT_VISIBLE["webhook_log"]
            return
        zone = self.config.zone
        q = webhook_log_query(rec, sku, since, zone)
        unstated = 0
        for row in await self._statement(parts, "webhook_log", lambda _: q):
            status = _number(row, "statuscode", None)
            if status is None:
                unstated += 1  # a call whose answer was not logged: neither accepted nor refused
                continue
            parts.webhook_log.append(
                WebhookLogEntry(
                    at=_required_time(row, "createdat", zone),
                    sku=_text(row, "sku"),
                    status_code=status,
                    message=_text(row, "message") or "",
                    source_id=_text(row, "sourceid"),
                )
            )
        if unstated and not parts.webhook_log:
            parts.not_visible["webhook_log"] = (
                f"webhook_log: {unstated} logged call(s) carry no status code in "
                f"{rec.record}.{rec.status_code}; look in Customization > Scripting > Script "
                "Deployments > Execution Log"
            )

    async def _outbound_events(self, parts: _Parts, sku: str, since: datetime) -> None:
        rec = self.config.outbound_event_record
        if rec is None:
            parts.not_visible["outbound_events"] = NOT_VISIBLE["outbound_events"]
            return
        zone = self.config.zone
        q = outbound_events_query(rec, sku, since, zone)
        for row in await self._statement(parts, "outbound_events", lambda _: q):
            parts.outbound_events.append(
                OutboundEvent(
                    at=_required_time(row, "createdat", zone),
                    kind=_event_kind(_text(row, "kind")),
                    sku=_text(row, "sku") or sku,
                    target=_text(row, "target"),
                )
            )

    async def _integration_user(self, parts: _Parts, since: datetime) -> None:
        cfg = self.config
        if not (cfg.integration_user and cfg.integration_role):
            parts.not_visible["integration_user"] = NOT_VISIBLE["integration_user"]
            return
        employees, roles = await gather_fail_fast(
            [
                self._employee(parts, cfg.integration_user, since),
                self._statement(
                    parts,
                    "role",
                    lambda _: role_query(cfg.integration_role or "", cfg.inventory_permissions),
                ),
            ]
        )
        missing = [
            f"no {what} {name!r}"
            for what, name, rows in (
                ("employee with entity id", cfg.integration_user, employees),
                ("role named", cfg.integration_role, roles),
            )
            if not rows
        ]
        if missing:
            parts.not_visible["integration_user"] = (
                f"integration_user: NetSuite has {' and '.join(missing)}; check integration_user and integration_role in the config against Setup > Users/Roles > Manage Roles and User Management"
            )
            return
        employee, role = employees[0], roles[0]
        # The outer joins repeat the employee (role) on each failed login (permission) row.
        permissions = [
            p for p in roles if _text(p, "id") == _text(role, "id") and _text(p, "permkey")
        ]
        level = max((_permission_level(_text(p, "permlevel")) for p in permissions), default=0)
        errors: list[str] = []
        if _flag(employee, "isinactive") or not _flag(employee, "giveaccess", default=True):
            errors.append(f"employee {cfg.integration_user} is inactive or has no access")
        if _flag(role, "isinactive"):
            errors.append(f"role {cfg.integration_role} is inactive")
        last_error: datetime | None = None
        for failure in employees:
            if _text(failure, "id") != _text(employee, "id") or not _text(failure, "status"):
                continue  # the outer join's row for an employee without failed logins
            errors.append(_text(failure, "detail") or _text(failure, "status") or "Failure")
            at = _time(failure, "at", cfg.zone)
            if at is not None and (last_error is None or at > last_error):
                last_error = at
        parts.user = IntegrationUser(
            name=_text(employee, "entityid") or cfg.integration_user,
            role=_text(role, "name") or cfg.integration_role,
            can_write_inventory=level >= _CREATE,
            auth_errors=errors,
            last_auth_error_at=last_error,
        )

    async def _employee(self, parts: _Parts, entity_id: str, since: datetime) -> list[Row]:
        """The employee's rows with its failed logins. A role may see employees but not the login
        audit trail: when NetSuite refuses the joined statement (400 or 403), the employee alone
        is read again and the trail is listed as not visible (one more request, only then)."""
        q = employee_logins_query(entity_id, since, self.config.zone)
        try:
            return await self._rows(parts, "employee", q)
        except AdapterError as exc:
            fault = statement_fault("employee", q, exc)
            if fault is None:
                raise
        rows = await self._statement(parts, "employee", lambda _: employee_query(entity_id))
        parts.lose("login_audit", fault)
        return rows
