"""The SuiteQL statements the NetSuite adapter sends, built whole so tests can read them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tools.erp.netsuite_config import (
    ITEM_TYPES,
    PY_TIME_FORMAT,
    SALES_TYPES,
    SYSTEM,
    TIME_FORMAT,
    NetSuiteConfig,
    OutboundEventRecord,
    TriggerRuleRecord,
    WebhookLogRecord,
)
from tools.errors import AdapterError


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
    return f"TO_TIMESTAMP({literal(local.strftime(PY_TIME_FORMAT))}, '{TIME_FORMAT}')"


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
