"""One open ticket per SKU + cause (DESIGN §2.4): the fingerprint that says "the same problem".

The fingerprint is the SKU, the location where the cause is about a location (a connector
mapping the wrong storefront location or MSI source: two locations are two problems), and the
cause code. It is stored in our ticket table (a UNIQUE key) and on the ticket itself as
``oos-fp-<hash>`` — a Jira label, a ServiceNow ``correlation_id`` — so it holds across
restarts, across instances and when our own database is lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.report import Report

PREFIX = "oos-fp-"
INCONCLUSIVE = "inconclusive"

# cause → the fact naming where the quantity moved
LOCATION_FACTS = {
    "L3.location_mapping": "storefront.adjustments.locations",
    "L3.source_mapping": "storefront.sources",
}


@dataclass(frozen=True)
class Fingerprint:
    sku: str
    cause: str
    location: str | None = None

    @property
    def value(self) -> str:
        """``oos-fp-`` and 16 hex digits: a valid Jira label and ServiceNow correlation id."""
        raw = "\x1f".join((self.sku, self.location or "", self.cause))
        return PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:16]

    def describe(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.sku}{where} · {self.cause}"


def fingerprint_of(report: Report) -> Fingerprint | None:
    """The report's fingerprint; None when there is nothing to escalate (in sync)."""
    cause = report.verdict.cause
    if cause is None:
        if report.verdict.confidence != INCONCLUSIVE:
            return None
        cause = INCONCLUSIVE
    location = None
    fact_id = LOCATION_FACTS.get(cause)
    if fact_id is not None:
        fact = next((f for f in report.facts if f.id == fact_id), None)
        if fact is not None and fact.value:
            values = fact.value if isinstance(fact.value, list) else [fact.value]
            location = ",".join(sorted(str(v) for v in values))
    return Fingerprint(sku=report.sku.strip(), cause=cause, location=location)
