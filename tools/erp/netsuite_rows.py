"""Reading SuiteQL answers: pages, typed columns (SuiteQL leaves null columns out) and codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tools.erp.netsuite_config import (
    ENDPOINT,
    EVENT_KINDS,
    PERMISSION_LEVELS,
    PY_TIME_FORMAT,
    SYSTEM,
    ApprovalStatus,
)
from tools.errors import AdapterError
from tools.models import EventKind

Row = dict[str, Any]


def row_text(row: Row, key: str) -> str | None:
    # SuiteQL leaves null columns out of the row entirely.
    value = row.get(key)
    if value is None or value == "":
        return None
    return str(value)


def row_number(row: Row, key: str, default: int | None = 0) -> int | None:
    value = row_text(row, key)
    if value is None:
        return default
    try:
        return round(float(value))
    except ValueError:
        raise AdapterError(
            SYSTEM, "bad_payload", f"column {key} is not a number: {value!r}", endpoint=ENDPOINT
        ) from None


def row_flag(row: Row, key: str, default: bool = False) -> bool:
    value = row_text(row, key)
    if value is None:
        return default
    return value.upper() in ("T", "TRUE", "Y", "YES", "1")


def row_time(row: Row, key: str, zone: ZoneInfo) -> datetime | None:
    value = row_text(row, key)
    if value is None:
        return None
    try:
        local = datetime.strptime(value, PY_TIME_FORMAT).replace(tzinfo=zone)
    except ValueError:
        raise AdapterError(
            SYSTEM, "bad_payload", f"column {key} is not a time: {value!r}", endpoint=ENDPOINT
        ) from None
    return local.astimezone(UTC)


def row_required_time(row: Row, key: str, zone: ZoneInfo) -> datetime:
    at = row_time(row, key, zone)
    if at is None:
        raise AdapterError(SYSTEM, "bad_payload", f"row without {key}", endpoint=ENDPOINT)
    return at


def page_items(body: Any) -> tuple[list[Row], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise AdapterError(
            SYSTEM, "bad_payload", "SuiteQL answer without an items list", endpoint=ENDPOINT
        )
    items = [row for row in body["items"] if isinstance(row, dict)]
    return items, bool(body.get("hasMore"))


def check_range(rows: list[Row], after: int, until: int | None) -> int:
    """The last id of a catalog page, once every row is checked: an id and an itemid, ids rising
    and inside ``(after, until]`` (a row outside would be read twice or an item skipped)."""
    last = after
    for row in rows:
        item_id, sku = row_text(row, "id"), row_text(row, "itemid")
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


def approval_status_of(value: str | None) -> ApprovalStatus:
    word = (value or "").strip().lower()
    if word in ("1", "pending approval"):
        return "pending_approval"
    if word in ("3", "rejected"):
        return "rejected"
    return "posted"


def permission_level(value: str | None) -> int:
    word = (value or "").strip().lower()
    if word.isdigit():
        return int(word)
    return PERMISSION_LEVELS.get(word, 0)


def event_kind(value: str | None) -> EventKind:
    word = (value or "").strip().lower()
    for kind in EVENT_KINDS:
        if kind == word:
            return kind
    return "other"
