"""NetSuite ERP adapter: SuiteQL over the SuiteTalk REST web services, signed with TBA.

Every read is one SuiteQL ``SELECT`` sent as ``POST /services/rest/query/v1/suiteql`` with
``Prefer: transient``, body ``{"q": …}`` and ``limit``/``offset`` in the URL; answers are pages of
``{items, hasMore, count, offset, totalResults, links}`` and are read until ``hasMore`` is false
(offsets step by the page size, at most 100,000 rows). The ``*_query`` functions of
``tools.erp.netsuite_queries`` build every statement the adapter sends, so tests can see them
whole; ``tools.erp.netsuite_config`` holds the settings and wire constants and
``tools.erp.netsuite_rows`` reads the answers' columns. Requests are signed by
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
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
)
from datetime import datetime, timedelta
from typing import Any

import httpx

from tools import redact
from tools.clock import utc_now
from tools.concurrency import gather_fail_fast
from tools.erp.netsuite_auth import TbaSigner
from tools.erp.netsuite_config import (
    CREATE_LEVEL,
    ENDPOINT,
    ITEM_TYPES,
    MAX_RESULTS,
    SUITEQL_PATH,
    SYSTEM,
    TRANSACTION_KINDS,
    NetSuiteConfig,
)
from tools.erp.netsuite_degradation import NOT_VISIBLE, TOPIC_ORDER, ReadParts
from tools.erp.netsuite_queries import (
    catalog_bounds_query,
    catalog_query,
    employee_logins_query,
    employee_query,
    id_literal,
    id_ranges,
    item_query,
    last_update_query,
    listeners_query,
    outbound_events_query,
    role_query,
    sell_through_query,
    transactions_query,
    trigger_rules_query,
    webhook_log_query,
)
from tools.erp.netsuite_rows import (
    Row,
    approval_status_of,
    check_range,
    event_kind,
    page_items,
    permission_level,
    row_flag,
    row_number,
    row_required_time,
    row_text,
    row_time,
)
from tools.erp.netsuite_statements import StatementFault, StatementRefused, statement_fault
from tools.errors import AdapterError
from tools.http import AsyncClosing, VendorClient
from tools.models import (
    CatalogStock,
    ErpItem,
    ErpListener,
    ErpSnapshot,
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
            items, has_more = page_items(body)
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
        rows, _ = page_items(body)
        bounds = rows[0] if rows else {}
        count = row_number(bounds, "items") or 0
        lowest, highest = row_number(bounds, "minid", None), row_number(bounds, "maxid", None)
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
                    rows, has_more = page_items(body)
                    last = check_range(rows, after, until)
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
                        sku=row_text(row, "itemid") or "",
                        quantity=row_number(row, column) or 0,
                        measure=measure,
                        record=row_text(row, "id"),
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
            rows, has_more = page_items(body)
            last = check_range(rows, after, None)
            read_at = self._now()
            for row in rows:
                yield SellThrough(
                    source=source,
                    read_at=read_at,
                    sku=row_text(row, "itemid") or "",
                    available=row_number(row, "available") or 0,
                    sold=max(0, row_number(row, "sold") or 0),
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

    async def _rows(self, parts: ReadParts, name: str, q: str) -> list[Row]:
        rows, pages = await self.suiteql(q)
        parts.raw[name] = {"q": q, "pages": pages}
        return rows

    async def read_item(self, sku: str, since: datetime) -> ErpSnapshot:
        parts = ReadParts()
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
                parts.not_visible[topic] for topic in TOPIC_ORDER if topic in parts.not_visible
            ],
        )

    async def _statement(
        self,
        parts: ReadParts,
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

    async def _degradable(self, parts: ReadParts, topic: str, read: Awaitable[None]) -> None:
        """A statement the triage can do without: refused or denied, only ``topic`` is lost."""
        try:
            await read
        except StatementRefused as exc:
            parts.lose(topic, exc.fault)

    async def _optional(
        self, parts: ReadParts, topic: str, read: Callable[[], Awaitable[None]]
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

    async def _item(self, parts: ReadParts, sku: str) -> None:
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
        item_id = row_text(row, "id") or ""
        id_literal(item_id)
        item_type_raw = row_text(row, "itemtype")
        parts.item = ErpItem(
            item_id=item_id,
            sku=row_text(row, "itemid") or sku,
            name=row_text(row, "displayname") or row_text(row, "itemid") or sku,
            item_type=ITEM_TYPES.get(item_type_raw or "", "other"),
            item_type_raw=item_type_raw,
            do_not_stock=row_flag(row, "donotstock"),
            available_to_fulfil=row_flag(row, "availabletofulfil", default=True),
        )
        for row in rows:
            location_id = row_text(row, "location")
            if location_id is None or row_text(row, "id") != item_id:
                continue  # an item stocked nowhere: the outer join's row without a location
            parts.locations.append(
                LocationQuantity(
                    location_id=location_id,
                    name=row_text(row, "locationname") or location_id,
                    kind="warehouse",
                    available=row_number(row, "quantityavailable") or 0,
                    on_hand=row_number(row, "quantityonhand", None),
                    committed=row_number(row, "quantitycommitted", None),
                )
            )

    async def _transactions(self, parts: ReadParts, sku: str, since: datetime) -> None:
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
                    at=row_required_time(row, "createdat", zone),
                    kind=TRANSACTION_KINDS.get(row_text(row, "type") or "", "adjustment"),
                    quantity=row_number(row, "quantity") or 0,
                    location_id=row_text(row, "location"),
                    source_id=row_text(row, "externalid"),
                    origin=(row_text(row, "origin") or "").lower() or None,
                    status=approval_status_of(row_text(row, "approvalstatus")),
                    memo=row_text(row, "memo"),
                )
            )

    async def _last_update(self, parts: ReadParts, sku: str) -> None:
        rows = await self._statement(parts, "last_update", lambda _: last_update_query(sku))
        parts.last_update = row_time(rows[0], "lastupdate", self.config.zone) if rows else None

    async def _listeners(self, parts: ReadParts) -> None:
        scripts = self.config.listener_scripts
        if not scripts:
            parts.not_visible["listeners"] = NOT_VISIBLE["listeners"]
            return
        q = listeners_query(sorted(scripts))
        unknown: list[str] = []
        for row in await self._statement(parts, "listeners", lambda _: q):
            script = (row_text(row, "script") or "").lower()
            deployed, status = row_text(row, "isdeployed"), row_text(row, "status")
            if deployed is None or status is None:
                # absent is not "not deployed": this deployment's state is unknown
                unknown.append(row_text(row, "scriptid") or row_text(row, "id") or "?")
                continue
            parts.listeners.append(
                ErpListener(
                    id=row_text(row, "scriptid") or row_text(row, "id") or "",
                    name=row_text(row, "title") or row_text(row, "scriptid") or "",
                    listens_for=scripts.get(script, "inventory_update"),
                    active=row_flag(row, "isdeployed") and status.upper() == "RELEASED",
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
        if (row_text(row, "scripttype") or "").upper() != "RESTLET":
            return None
        script, deploy = row_text(row, "scriptinternalid"), row_text(row, "id")
        return (
            f"{self.config.restlet_url}/app/site/hosting/restlet.nl?script={script}&deploy={deploy}"
        )

    async def _trigger_rules(self, parts: ReadParts) -> None:
        rec = self.config.trigger_rule_record
        if rec is None:
            parts.not_visible["trigger_rules"] = NOT_VISIBLE["trigger_rules"]
            return
        q = trigger_rules_query(rec)
        for row in await self._statement(parts, "trigger_rules", lambda _: q):
            parts.trigger_rules.append(
                TriggerRule(
                    id=row_text(row, "id") or "",
                    name=row_text(row, "name") or "",
                    min_delta=row_number(row, "mindelta") or 0,
                    active=not row_flag(row, "isinactive"),
                )
            )

    async def _webhook_log(self, parts: ReadParts, sku: str, since: datetime) -> None:
        rec = self.config.webhook_log_record
        if rec is None:
            parts.not_visible["webhook_log"] = NOT_VISIBLE["webhook_log"]
            return
        zone = self.config.zone
        q = webhook_log_query(rec, sku, since, zone)
        unstated = 0
        for row in await self._statement(parts, "webhook_log", lambda _: q):
            status = row_number(row, "statuscode", None)
            if status is None:
                unstated += 1  # a call whose answer was not logged: neither accepted nor refused
                continue
            parts.webhook_log.append(
                WebhookLogEntry(
                    at=row_required_time(row, "createdat", zone),
                    sku=row_text(row, "sku"),
                    status_code=status,
                    message=row_text(row, "message") or "",
                    source_id=row_text(row, "sourceid"),
                )
            )
        if unstated and not parts.webhook_log:
            parts.not_visible["webhook_log"] = (
                f"webhook_log: {unstated} logged call(s) carry no status code in "
                f"{rec.record}.{rec.status_code}; look in Customization > Scripting > Script "
                "Deployments > Execution Log"
            )

    async def _outbound_events(self, parts: ReadParts, sku: str, since: datetime) -> None:
        rec = self.config.outbound_event_record
        if rec is None:
            parts.not_visible["outbound_events"] = NOT_VISIBLE["outbound_events"]
            return
        zone = self.config.zone
        q = outbound_events_query(rec, sku, since, zone)
        for row in await self._statement(parts, "outbound_events", lambda _: q):
            parts.outbound_events.append(
                OutboundEvent(
                    at=row_required_time(row, "createdat", zone),
                    kind=event_kind(row_text(row, "kind")),
                    sku=row_text(row, "sku") or sku,
                    target=row_text(row, "target"),
                )
            )

    async def _integration_user(self, parts: ReadParts, since: datetime) -> None:
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
            p for p in roles if row_text(p, "id") == row_text(role, "id") and row_text(p, "permkey")
        ]
        level = max((permission_level(row_text(p, "permlevel")) for p in permissions), default=0)
        errors: list[str] = []
        if row_flag(employee, "isinactive") or not row_flag(employee, "giveaccess", default=True):
            errors.append(f"employee {cfg.integration_user} is inactive or has no access")
        if row_flag(role, "isinactive"):
            errors.append(f"role {cfg.integration_role} is inactive")
        last_error: datetime | None = None
        for failure in employees:
            if row_text(failure, "id") != row_text(employee, "id") or not row_text(
                failure, "status"
            ):
                continue  # the outer join's row for an employee without failed logins
            errors.append(row_text(failure, "detail") or row_text(failure, "status") or "Failure")
            at = row_time(failure, "at", cfg.zone)
            if at is not None and (last_error is None or at > last_error):
                last_error = at
        parts.user = IntegrationUser(
            name=row_text(employee, "entityid") or cfg.integration_user,
            role=row_text(role, "name") or cfg.integration_role,
            can_write_inventory=level >= CREATE_LEVEL,
            auth_errors=errors,
            last_auth_error_at=last_error,
        )

    async def _employee(self, parts: ReadParts, entity_id: str, since: datetime) -> list[Row]:
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
