"""Layer 4: the ERP trigger / webhook."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from bot.checks.base import (
    Outcome,
    check,
    erp_of,
    failed,
    not_visible,
    passed,
    skipped,
    storefront_of,
    unknown,
    when,
)
from bot.facts import Facts, ref


@check("L4.item_type")
def item_type(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    fact = ref("erp.item.item_type", erp.item.item_type_raw or erp.item.item_type, erp)
    if erp.item.item_type in ("non_inventory", "service"):
        return failed(
            f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}: invisible to inventory triggers",
            fact,
        )
    return passed(
        f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}", fact
    )


@check("L4.item_flags")
def item_flags(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    fact = ref(
        "erp.item.flags",
        {
            "do_not_stock": erp.item.do_not_stock,
            "available_to_fulfil": erp.item.available_to_fulfil,
        },
        erp,
    )
    flags = [
        w
        for w, on in (
            ("do not stock", erp.item.do_not_stock),
            ("not available to fulfil", not erp.item.available_to_fulfil),
        )
        if on
    ]
    if flags:
        return failed(f"item {erp.item.item_id} is flagged {' and '.join(flags)}", fact)
    hidden = not_visible(erp, "item_flags")
    if hidden:
        return unknown(hidden)
    return passed("no do-not-stock or not-available flag", fact)


@check("L4.listener")
def listener(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    listeners = [x for x in erp.listeners if x.listens_for == "inventory_update"]
    if not listeners:
        hidden = not_visible(erp, "listeners")
        if hidden:
            return unknown(hidden)
        return failed("the ERP has no inventory listener", ref("erp.listeners", erp.listeners, erp))
    fact = ref("erp.listeners", listeners, erp)
    active = [x for x in listeners if x.active]
    if not active:
        return failed(f"listener {listeners[0].name} ({listeners[0].id}) is inactive", fact)
    targets = {f.target_endpoint for f in facts.flows("storefront_to_erp") if f.target_endpoint}
    endpoints = {x.endpoint for x in active if x.endpoint}
    if targets and endpoints and not any(same_endpoint(t, e) for t in targets for e in endpoints):
        assert facts.middleware is not None
        return failed(
            f"listener {active[0].name} is at {', '.join(sorted(endpoints))}; the connector delivers to {', '.join(sorted(targets))}",
            fact,
            ref("middleware.flows.target_endpoint", sorted(targets), facts.middleware),
        )
    return passed(f"listener {active[0].name} is active", fact)


def same_endpoint(a: str, b: str) -> bool:
    """Two addresses of one receiver. A RESTlet is named by its script and deployment ids
    (``restlet.nl?script=…&deploy=…``): one side may leave the deployment out."""
    if a == b:
        return True
    ua, ub = urlsplit(a), urlsplit(b)
    if not (ua.path.endswith("restlet.nl") and ub.path.endswith("restlet.nl")):
        return False
    qa, qb = parse_qs(ua.query), parse_qs(ub.query)
    deploys = (qa.get("deploy"), qb.get("deploy"))
    return (
        (ua.netloc, ua.path) == (ub.netloc, ub.path)
        and qa.get("script") == qb.get("script")
        and (None in deploys or deploys[0] == deploys[1])
    )


@check("L4.integration_user")
def integration_user(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    user = erp.integration_user
    if user is None:
        hidden = not_visible(erp, "integration_user")
        return unknown(hidden) if hidden else skipped("the ERP reports no integration user")
    fact = ref("erp.integration_user", user, erp)
    since = facts.change_window_start
    if not user.can_write_inventory:
        return failed(f"{user.name} (role {user.role}) cannot write inventory", fact)
    if user.auth_errors:
        return failed(f"{user.name} is being refused: {user.auth_errors[0]}", fact)
    erp_refused = [
        w
        for w in erp.webhook_log
        if w.status_code in (401, 403) and w.at >= since and w.sku in (facts.sku, None)
    ]
    if erp_refused:
        w = min(erp_refused, key=lambda w: w.at)
        return failed(
            f"{user.name} is being refused: HTTP {w.status_code} {w.message}".strip(), fact
        )
    connector_refused = sorted(
        (
            e
            for e in (facts.middleware.log if facts.middleware else [])
            if e.status_code in (401, 403) and e.at >= since
        ),
        key=lambda e: e.at,
    )
    if connector_refused:
        first = connector_refused[0]
        rotated = _connector_credentials_changed(facts, before=first.at)
        if rotated and not not_visible(erp, "login_audit"):
            # The ERP shows a user that can write and no failed login of its own: the connector
            # presents credentials the ERP no longer knows, which is the change, not the user.
            return passed(
                f"{user.name} (role {user.role}) can write inventory and the ERP logs no failed "
                f"login; the connector's HTTP {first.status_code} follows a {rotated}: see L3.recent_changes",
                fact,
            )
        return failed(
            f"{user.name} is being refused: HTTP {first.status_code} {first.message}".strip(), fact
        )
    return passed(f"{user.name} (role {user.role}) can write inventory", fact)


_CREDENTIAL_CHANGES = {"credential_rotation", "key_refresh", "password_reset"}


def _connector_credentials_changed(facts: Facts, *, before: datetime) -> str | None:
    """The kind of the latest credential change within the window before ``before``, if any."""
    changes = [
        c
        for c in (facts.middleware.changes if facts.middleware else [])
        if c.kind in _CREDENTIAL_CHANGES and facts.change_window_start <= c.at <= before
    ]
    return max(changes, key=lambda c: c.at).kind.replace("_", " ") if changes else None


@check("L4.webhook_log")
def webhook_log(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    since = facts.event_window_start()
    entries = [w for w in erp.webhook_log if w.at >= since and w.sku in (facts.sku, None)]
    fact = ref("erp.webhook_log.window", entries, erp)
    if not entries:
        hidden = not_visible(erp, "webhook_log")
        if hidden:
            return unknown(hidden)
        return skipped("no inventory call for the SKU reached the ERP in the window")
    auth = [w for w in entries if w.status_code in (401, 403)]
    refused = [w for w in entries if 400 <= w.status_code < 500 and w not in auth]
    if refused:
        w = refused[0]
        return failed(
            f"the ERP refused the call at {when(w.at)}: HTTP {w.status_code} {w.message}", fact
        )
    accepted = len(entries) - len(auth)
    if auth:  # a credential problem, not a payload the ERP rejected
        return passed(
            f"{accepted} call(s) accepted; {len(auth)} refused for authentication "
            f"(HTTP {auth[0].status_code}): see L4.integration_user",
            fact,
        )
    return passed(f"{accepted} call(s) accepted", fact)


@check("L4.approval_queue")
def approval_queue(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    pending = [t for t in erp.transactions if t.status == "pending_approval"]
    fact = ref("erp.transactions.pending", pending, erp)
    if pending:
        t = pending[0]
        memo = f" ({t.memo})" if t.memo else ""
        return failed(
            f"{t.kind} of {t.quantity:+d} from {when(t.at)} is waiting for approval{memo}", fact
        )
    if hidden := not_visible(erp, "transactions") or not_visible(erp, "approval_status"):
        return unknown(hidden)
    return passed("no transaction waiting for approval", fact)


@check("L4.threshold_rule")
def threshold_rule(facts: Facts) -> Outcome:
    sf, erp = storefront_of(facts), erp_of(facts)
    rules = [r for r in erp.trigger_rules if r.active]
    if not rules and (hidden := not_visible(erp, "trigger_rules")):
        return unknown(hidden)
    if not rules:
        return passed(
            "no minimum-delta trigger rule", ref("erp.trigger_rules", erp.trigger_rules, erp)
        )
    recent = [a for a in sf.adjustments if a.at >= facts.change_window_start]
    if not recent:
        return skipped("no recent storefront change to weigh against the rule")
    if hidden := not_visible(erp, "transactions"):
        return unknown(hidden)
    change = max(recent, key=lambda a: a.at)
    if any(t.at >= change.at and t.status == "posted" for t in erp.transactions):
        return passed("the ERP posted a transaction for the latest change")
    cites = (ref("erp.trigger_rules", rules, erp), ref("storefront.adjustment.latest", change, sf))
    small = [r for r in rules if abs(change.delta) < r.min_delta]
    if small:
        r = small[0]
        return failed(
            f"rule {r.name} fires on changes of {r.min_delta} or more; the change was {change.before} → {change.after} ({abs(change.delta)})",
            *cites,
        )
    return passed(f"the change ({abs(change.delta)}) meets every rule's minimum", *cites)
