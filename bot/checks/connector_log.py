"""Reading a connector's log the way an integration admin does (DESIGN §2.5).

- A **transient** fault (a timeout, 408, 429, a 5xx, a rate-limit hit) is the connector's to
  retry; it is not the ERP refusing the record.
- A **refusal** is the destination answering 4xx (other than 408 and 429): the ERP said no.
  401/403 (or a permission error code) is an **auth refusal**.
- A **mapping error** is the connector's own: no item mapping, or a location it does not map.
  Its words or its vendor code say so, whether the mapping is a static table or a lookup. An
  ERP answering 4xx "item not found" is the ERP refusing, not a connector map.
- A fault has **healed** when the same record got through afterwards: the connector delivered
  the same source id later, or the ERP applied that source id. Without ids, a transient fault
  followed by a delivery on the same flow for the same SKU healed too (the connector retries in
  order). Retrying a healed record again would apply it twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from tools.models import ErpSnapshot, MiddlewareLogEntry

MappingKind = Literal["sku", "location"]

_TRANSIENT_STATUS = {408, 429}
_AUTH_STATUS = {401, 403}
_AUTH_CODES = re.compile(
    r"PERMISSION|FORBIDDEN|UNAUTHORI[SZ]ED|ACCESS_DENIED|INVALID_LOGIN|HMAC|SIGNATURE"
    r"|INVALID_TOKEN|TOKEN_(?:EXPIRED|REVOKED)",
    re.IGNORECASE,
)
# codes of faults a connector retries: no answer, or "not now"
_TRANSIENT_CODES = re.compile(
    r"TIME[D_ ]?OUT|ETIMEDOUT|ECONNRESET|ECONNREFUSED|REQUEST_LIMIT|RATE_?LIMIT|CONCURRENCY"
    r"|TOO_MANY|UNAVAILABLE|QUOTA|THROTTL",
    re.IGNORECASE,
)
# "400 Bad Request: …" — connectors that keep one code field put the HTTP status in the text
_LEADING_STATUS = re.compile(r"^\s*(?:HTTP\s*)?([1-5]\d\d)\b")
_SKU_MAPPING = re.compile(
    r"no item mapping|item mapping (?:not found|missing)|no (?:item|product) (?:found|match)"
    r"|item (?:not found|lookup (?:failed|returned 0))|lookup\b.*\breturned 0|sku (?:is )?not mapped"
    r"|unmapped (?:item|sku)|NO_ITEM_MAPPING|ITEM_NOT_(?:FOUND|MAPPED)|SKU_NOT_MAPPED|INVALID_KEY_OR_REF",
    re.IGNORECASE,
)
_LOCATION_MAPPING = re.compile(
    r"location (?:is )?not mapped|no location mapping|unmapped location|location mapping (?:not found|missing)"
    r"|LOCATION_NOT_MAPPED|NO_LOCATION_MAPPING",
    re.IGNORECASE,
)


def mapping_error(e: MiddlewareLogEntry) -> MappingKind | None:
    """Which mapping the connector says it could not resolve for this entry, if any."""
    if e.stage not in ("error", "dropped", "filtered") or e.error_source == "destination":
        return None  # the ERP's own "not found" is a refusal by the ERP, not a connector map
    status = status_of(e)
    if status is not None and 400 <= status < 500:
        return None
    words = f"{e.error_code or ''} {e.message}"
    if _LOCATION_MAPPING.search(words):
        return "location"
    if _SKU_MAPPING.search(words):
        return "sku"
    return None


def status_of(e: MiddlewareLogEntry) -> int | None:
    """The HTTP status of an entry: its own, else one its message starts with."""
    if e.status_code is not None:
        return e.status_code
    m = _LEADING_STATUS.match(e.message)
    return int(m.group(1)) if m else None


def auth_refusal(e: MiddlewareLogEntry) -> bool:
    """Credentials or permission refused (401/403, or a code that says so) — by the ERP, or by
    the connector checking an inbound call's signature (``error_source`` tells which)."""
    if e.stage != "error" or mapping_error(e):
        return False
    if status_of(e) in _AUTH_STATUS:
        return True
    return bool(_AUTH_CODES.search(e.error_code or ""))


def refusal(e: MiddlewareLogEntry) -> bool:
    """A refusal: 4xx other than 408 / 429, an auth refusal, or the destination answering with
    an error code that is not a transient one."""
    if e.stage != "error" or mapping_error(e):
        return False
    status = status_of(e)
    if status is not None:
        return 400 <= status < 500 and status not in _TRANSIENT_STATUS
    if auth_refusal(e):
        return True
    code = e.error_code or ""
    return e.error_source == "destination" and bool(code) and not _TRANSIENT_CODES.search(code)


def transient(e: MiddlewareLogEntry) -> bool:
    """A fault the connector retries: rate limits, timeouts, 408, 429 and 5xx."""
    if e.stage == "rate_limited":
        return True
    if e.stage != "error" or mapping_error(e) or refusal(e):
        return False
    status = status_of(e)
    if status is None:
        # no answer at all (a timeout), or a code that says "not now"
        return e.error_source != "connector" or bool(_TRANSIENT_CODES.search(e.error_code or ""))
    return status in _TRANSIENT_STATUS or status >= 500


def applied_by_erp(source_id: str | None, erp: ErpSnapshot | None) -> bool:
    """Did the ERP apply (or accept) the record with this id?"""
    if source_id is None or erp is None:
        return False
    return any(t.source_id == source_id and t.status == "posted" for t in erp.transactions) or any(
        w.source_id == source_id and 200 <= w.status_code < 300 for w in erp.webhook_log
    )


def healed(
    e: MiddlewareLogEntry, log: Sequence[MiddlewareLogEntry], erp: ErpSnapshot | None
) -> str | None:
    """How the record of a fault got through afterwards, in words, or None if it did not."""
    later = [x for x in log if x.stage == "delivered" and x.sku == e.sku and x.at >= e.at]
    if e.source_id is not None:
        if any(x.source_id == e.source_id for x in later):
            return f"record {e.source_id} was delivered on retry"
        if applied_by_erp(e.source_id, erp):
            return f"the ERP applied record {e.source_id}"
        return None
    if transient(e) and any(x.flow_id == e.flow_id for x in later):
        return "a later delivery on the same flow got through"
    return None
