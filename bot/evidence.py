"""The six-item evidence package (DESIGN §2.3) that every verdict ships with.

Each item says what was found, or says plainly that nothing was found where the absence is the
evidence ("no entry: the ERP never received it"). Items cite facts by id, like checks do.
"""

from __future__ import annotations

from bot.checks import when
from bot.facts import FactRef, Facts, ref
from bot.report import EvidenceItem


def _unread(facts: Facts, key: str, title: str, item_id: str) -> EvidenceItem:
    error = facts.errors.get(key)
    reason = error.describe() if error else f"no {key} is connected"
    return EvidenceItem(
        id=item_id,
        title=title,
        statement=f"Could not be read: {reason}.",
        found=False,
        source=key,
        read_at=None,
    )


def build_evidence(facts: Facts) -> tuple[list[EvidenceItem], list[FactRef]]:
    items: list[EvidenceItem] = []
    cited: list[FactRef] = []

    def item(item_id: str, title: str, statement: str, found: bool, fact: FactRef) -> None:
        cited.append(fact)
        items.append(
            EvidenceItem(
                id=item_id,
                title=title,
                statement=statement,
                found=found,
                source=fact.source,
                read_at=fact.read_at,
                facts=[fact.id],
            )
        )

    sf, mw, erp = facts.storefront, facts.middleware, facts.erp

    title = "SKU and product name (ERP record)"
    if erp:
        it = erp.item
        item(
            "E1",
            title,
            f"{facts.sku} — {it.name} (ERP item {it.item_id}, {it.item_type_raw or it.item_type})",
            True,
            ref("erp.item", it, erp),
        )
    else:
        unread = _unread(facts, "erp", title, "E1")
        if sf and sf.title:
            label = f" The storefront calls it “{sf.title}” (not authoritative)."
            unread = unread.model_copy(update={"statement": unread.statement + label})
        items.append(unread)

    title = "Storefront out-of-stock time"
    if sf:
        if sf.out_of_stock and sf.out_of_stock_since:
            field = f" (from {sf.out_of_stock_since_field})" if sf.out_of_stock_since_field else ""
            item(
                "E2",
                title,
                f"Out of stock since {when(sf.out_of_stock_since)}{field}.",
                True,
                ref("storefront.out_of_stock_since", sf.out_of_stock_since, sf),
            )
        elif sf.out_of_stock:
            item(
                "E2",
                title,
                "Out of stock, but the storefront's history gives no time it happened.",
                False,
                ref("storefront.available", sf.available, sf),
            )
        else:
            item(
                "E2",
                title,
                f"Not out of stock on the storefront: {sf.available} available.",
                False,
                ref("storefront.available", sf.available, sf),
            )
    else:
        items.append(_unread(facts, "storefront", title, "E2"))

    title = "ERP last inventory update"
    if erp:
        shows = (
            f"ERP shows {erp.available} available."
            if erp.available is not None
            else "the ERP keeps no quantity for this item."
        )
        since = facts.change_window_start
        recent = [t for t in erp.transactions if t.at >= since]
        if erp.last_inventory_update_at or recent:
            last = max((t for t in recent), key=lambda t: t.at, default=None)
            at = erp.last_inventory_update_at or (last.at if last else None)
            what = f": {last.kind} {last.quantity:+d} ({last.status})" if last else ""
            item(
                "E3",
                title,
                f"Last inventory update {when(at)}{what}; {shows}",
                True,
                ref("erp.last_inventory_update_at", at, erp),
            )
        else:
            item(
                "E3",
                title,
                f"No inventory update at all for this SKU in the last {facts.thresholds.change_window_hours} h; {shows}",
                False,
                ref("erp.last_inventory_update_at", None, erp),
            )
    else:
        items.append(_unread(facts, "erp", title, "E3"))

    title = "Middleware connector status"
    if mw:
        flows = [
            f for f in mw.flows if "inventory_update" in f.carries or "listing_status" in f.carries
        ]
        parts = []
        for f in flows:
            reason = f" — {f.status_reason}" if f.status_reason else ""
            stopped = (
                f" since {when(f.status_since)}" if f.status_since and f.status != "active" else ""
            )
            parts.append(f"{f.name} ({f.id}): {f.status}{stopped}{reason}")
        statement = (
            "; ".join(parts) if parts else "The connector has no flow that carries inventory."
        )
        item("E4", title, statement + ".", bool(parts), ref("middleware.flows", flows, mw))
    else:
        items.append(_unread(facts, "middleware", title, "E4"))

    title = "ERP webhook log for the SKU and event window"
    if erp:
        start = facts.event_window_start()
        entries = [w for w in erp.webhook_log if w.at >= start and w.sku in (facts.sku, None)]
        hidden = next((n for n in erp.not_visible if n.startswith("webhook_log")), None)
        if entries:
            statement = "; ".join(
                f"{when(w.at)} HTTP {w.status_code}" + (f" {w.message}" if w.message else "")
                for w in entries
            )
            item("E5", title, statement + ".", True, ref("erp.webhook_log.window", entries, erp))
        elif hidden:
            item(
                "E5",
                title,
                f"Not visible through the API: {hidden}",
                False,
                ref("erp.webhook_log.window", [], erp),
            )
        else:
            item(
                "E5",
                title,
                f"No entry since {when(start)}: the ERP never received it.",
                False,
                ref("erp.webhook_log.window", [], erp),
            )
    else:
        items.append(_unread(facts, "erp", title, "E5"))

    title = (
        f"Integration and credential changes in the last {facts.thresholds.change_window_hours} h"
    )
    if mw:
        changes = [c for c in mw.changes if c.at >= facts.change_window_start]
        if changes:
            statement = "; ".join(
                f"{when(c.at)} {c.kind.replace('_', ' ')} on {c.system}: {c.description}"
                + (f" (by {c.actor})" if c.actor else "")
                for c in changes
            )
            item("E6", title, statement + ".", True, ref("middleware.changes.72h", changes, mw))
        else:
            item("E6", title, "None found.", False, ref("middleware.changes.72h", [], mw))
    else:
        items.append(_unread(facts, "middleware", title, "E6"))

    return items, cited
