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
    unread,
    when,
)
from bot.checks.connector_log import auth_refusal, healed, refusal, status_of
from bot.facts import Facts, ref
from tools.models import Flow, MiddlewareLogEntry


@check("L4.item_type")
def item_type(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    fact = ref("erp.item.item_type", erp.item.item_type_raw or erp.item.item_type, erp)
    sf = facts.storefront
    if erp.item.item_type in ("non_inventory", "service") and sf is not None and not sf.tracked:
        return passed(
            f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}, and the "
            "storefront does not track its stock either: nothing is stocked, nothing can run out",
            fact,
            ref("storefront.tracked", sf.tracked, sf),
        )
    if erp.item.item_type in ("non_inventory", "service"):
        return failed(
            f"item {erp.item.item_id} is {erp.item.item_type_raw or erp.item.item_type}: invisible to inventory triggers"
            + (
                ""
                if sf
                else " (the storefront could not be read: whether it counts stock is not known)"
            ),
            fact,
            confidence="confirmed" if sf else "likely",
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


def _pushes_inventory(facts: Facts) -> list[Flow] | None:
    """The storefront→ERP flows that push quantity changes (None: the connector was not read).
    An order-driven stack has none: the ERP decrements stock from the orders itself."""
    if facts.middleware is None:
        return None
    return facts.flows("storefront_to_erp")


@check("L4.listener")
def listener(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    listeners = [x for x in erp.listeners if x.listens_for == "inventory_update"]
    pushes = _pushes_inventory(facts)
    if pushes == []:
        assert facts.middleware is not None
        carried = sorted(
            {k for f in facts.flows("storefront_to_erp", carrying=None) for k in f.carries}
        )
        what = f"carry only {', '.join(carried)}" if carried else "do not exist"
        return passed(
            f"no inventory listener is needed: the storefront→ERP flows {what}, so the ERP "
            "takes stock from the orders itself (an order-driven stack)",
            ref("erp.listeners", erp.listeners, erp),
            ref("middleware.flows.storefront_to_erp.carries", carried, facts.middleware),
        )
    if not listeners:
        hidden = not_visible(erp, "listeners")
        if hidden:
            return unknown(hidden)
        fact = ref("erp.listeners", erp.listeners, erp)
        if pushes is None:
            why = unread(facts, "middleware") or "the connector was not read"
            return failed(
                f"the ERP has no inventory listener; whether the stack pushes inventory to it "
                f"could not be told ({why})",
                fact,
                assumed=True,
            )
        assert facts.middleware is not None
        delivered = [
            e
            for e in facts.middleware.log
            if e.stage == "delivered" and e.flow_id in {f.id for f in pushes}
        ]
        if delivered:
            return passed(
                f"the ERP has no inventory listener, but {pushes[0].name} delivers to it "
                f"(last at {when(max(e.at for e in delivered))}): the connector writes directly",
                fact,
            )
        return failed(
            f"the ERP has no inventory listener, and {pushes[0].name} pushes inventory updates",
            fact,
            assumed=True,
        )
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


def _connector_auth_refusals(facts: Facts) -> list[MiddlewareLogEntry]:
    """The connector's calls the ERP refused for authentication or permission, in the window
    (any SKU: a credential problem is not the SKU's own), oldest first."""
    if facts.middleware is None:
        return []
    log = facts.middleware.log
    return sorted(
        (
            e
            for e in log
            # the connector refusing an inbound call (a webhook signature) is not the ERP's user
            if auth_refusal(e)
            and e.error_source != "connector"
            and e.at >= facts.change_window_start
            and not healed(e, log, facts.erp)
        ),
        key=lambda e: e.at,
    )


def _permission_refusal(e: MiddlewareLogEntry) -> bool:
    """403 or a permission code: the ERP knows the caller and refuses it the write (a 401 is
    a credential the ERP does not accept, which a rotation explains)."""
    return status_of(e) == 403 or "PERMISSION" in (e.error_code or "").upper()


def _refused_words(e: MiddlewareLogEntry) -> str:
    code = (
        " ".join(
            x for x in (f"HTTP {e.status_code}" if e.status_code else "", e.error_code or "") if x
        )
        or "refused"
    )
    job = (
        f" ({e.job_failed} of {e.job_records} record(s) failed)"
        if e.job_failed is not None and e.job_records is not None
        else ""
    )
    return f"{code} {e.message}".strip() + job


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
    connector_refused = _connector_auth_refusals(facts)
    erp = facts.erp
    if erp is None:
        # the ERP cannot be read: the connector's log can still show the ERP refusing it, but
        # without the user's record nothing can be confirmed
        why = unread(facts, "erp") or "the ERP was not read"
        outcome = _judged_from_the_connector(facts, connector_refused, why)
        if outcome.status == "fail":
            return failed(
                f"{outcome.detail} (the ERP itself: {why})", *outcome.facts, confidence="likely"
            )
        return outcome
    user = erp.integration_user
    if user is None:
        hidden = not_visible(erp, "integration_user")
        return _judged_from_the_connector(facts, connector_refused, hidden)
    fact = ref("erp.integration_user", user, erp)
    since = facts.change_window_start
    if not user.can_write_inventory:
        return failed(f"{user.name} (role {user.role}) cannot write inventory", fact)
    first_failure = min(
        [t for t in (user.last_auth_error_at,) if t] + [e.at for e in connector_refused],
        default=None,
    )
    rotated = _connector_credentials_changed(facts, before=first_failure) if first_failure else None
    token_rotated = (
        _connector_credentials_changed(facts, before=first_failure, kinds=_TOKEN_CHANGES)
        if first_failure
        else None
    )
    if user.auth_errors:
        if facts.middleware is None:
            # whether a token rotation explains the failed logins cannot be told
            return failed(
                f"{user.name} is being refused: {user.auth_errors[0]} (the connector could not "
                "be read: a credential rotation cannot be ruled out)",
                fact,
                confidence="likely",
            )
        if token_rotated and not any(_permission_refusal(e) for e in connector_refused):
            # The user still holds the permission; the ERP logs failed logins against it
            # because the connector presents the token that was rotated away.
            return passed(
                f"{user.name} (role {user.role}) can write inventory; its failed logins "
                f"({user.auth_errors[0]}) follow a {token_rotated}: see L3.recent_changes",
                fact,
            )
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
    if connector_refused:
        first = connector_refused[0]
        if rotated and not not_visible(erp, "login_audit") and not _permission_refusal(first):
            # The ERP shows a user that can write and no failed login of its own: the connector
            # presents credentials the ERP no longer knows, which is the change, not the user.
            return passed(
                f"{user.name} (role {user.role}) can write inventory and the ERP logs no failed "
                f"login; the connector's HTTP {first.status_code} follows a {rotated}: see L3.recent_changes",
                fact,
            )
        return failed(f"{user.name} is being refused: {_refused_words(first)}", fact)
    return passed(f"{user.name} (role {user.role}) can write inventory", fact)


def _judged_from_the_connector(
    facts: Facts, refused: list[MiddlewareLogEntry], hidden: str | None
) -> Outcome:
    """The integration user cannot be read (often the live case: NetSuite's integration user
    and role options are optional). The connector's log may still show the ERP refusing."""
    if not refused:
        if facts.middleware is None and hidden:
            return unknown(f"{hidden}; and the connector could not be read either")
        return unknown(hidden) if hidden else skipped("the ERP reports no integration user")
    assert facts.middleware is not None
    cite = ref("middleware.log.auth_refusals", refused, facts.middleware)
    first = refused[0]
    rotated = _connector_credentials_changed(facts, before=first.at, kinds=_TOKEN_CHANGES)
    permission = [e for e in refused if _permission_refusal(e)]
    if permission:
        e = permission[0]
        return failed(
            f"the ERP refuses the connector's writes: {_refused_words(e)} at {when(e.at)} — "
            "the integration user's permission, seen from the connector's log",
            cite,
        )
    if rotated:
        return unknown(
            f"the integration user cannot be read; the connector's HTTP {first.status_code} "
            f"follows a {rotated}: see L3.recent_changes"
        )
    return failed(
        f"the ERP refuses the connector's credentials: {_refused_words(first)} at {when(first.at)}",
        cite,
        confidence="likely",
    )


_CREDENTIAL_CHANGES = {"credential_rotation", "key_refresh", "password_reset"}


_TOKEN_CHANGES = {"credential_rotation", "key_refresh"}  # not the user's own password


def _connector_credentials_changed(
    facts: Facts, *, before: datetime, kinds: set[str] = _CREDENTIAL_CHANGES
) -> str | None:
    """The kind of the latest credential change within the window before ``before``, if any."""
    changes = [
        c
        for c in (facts.middleware.changes if facts.middleware else [])
        if c.kind in kinds and facts.change_window_start <= c.at <= before
    ]
    return max(changes, key=lambda c: c.at).kind.replace("_", " ") if changes else None


@check("L4.webhook_log")
def webhook_log(facts: Facts) -> Outcome:
    erp = erp_of(facts)
    since = facts.event_window_start()
    entries = [w for w in erp.webhook_log if w.at >= since and w.sku in (facts.sku, None)]
    fact = ref("erp.webhook_log.window", entries, erp)
    if not entries:
        # Many ERP endpoints (a RESTlet answering 400) keep no log of what they refused; the
        # connector logged the ERP's answer, and that is the ERP's refusal seen from outside.
        seen = _refused_in_the_connector_log(facts, since)
        hidden = not_visible(erp, "webhook_log")
        down = _listener_down(facts)
        if seen and down:
            # an endpoint that is off answers every call with an error: the listener's
            # consequence, not a refusal of the data
            return skipped(
                f"the ERP answered {_refused_words(seen[0])}, because {down}: see L4.listener"
            )
        if seen:
            assert facts.middleware is not None
            e = seen[0]
            own_log = f" ({hidden})" if hidden else ", and the ERP's own log has no entry for it"
            return failed(
                f"the ERP refused the connector's call at {when(e.at)}: {_refused_words(e)} — "
                f"seen in the connector's log{own_log}",
                fact,
                ref("middleware.log.erp_refusals", seen, facts.middleware),
            )
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


def _listener_down(facts: Facts) -> str | None:
    """Why the ERP's inventory listener is off, when its config shows it (inactive, or pointed
    at another endpoint than the connector calls)."""
    erp = erp_of(facts)
    listeners = [x for x in erp.listeners if x.listens_for == "inventory_update"]
    if not listeners:
        return None
    active = [x for x in listeners if x.active]
    if not active:
        return f"listener {listeners[0].name} is inactive"
    targets = {f.target_endpoint for f in facts.flows("storefront_to_erp") if f.target_endpoint}
    endpoints = {x.endpoint for x in active if x.endpoint}
    if targets and endpoints and not any(same_endpoint(t, e) for t in targets for e in endpoints):
        return f"listener {active[0].name} is at another endpoint than the connector calls"
    return None


def _refused_in_the_connector_log(facts: Facts, since: datetime) -> list[MiddlewareLogEntry]:
    """The ERP's 4xx answers (not for credentials) to the connector's calls for the SKU."""
    if facts.middleware is None:
        return []
    log = facts.middleware.log
    return [
        e
        for e in log
        if e.sku == facts.sku
        and e.at >= since
        and refusal(e)
        and not auth_refusal(e)
        and e.error_source != "connector"
        and not healed(e, log, facts.erp)
    ]


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
