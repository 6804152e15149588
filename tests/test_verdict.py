"""The verdict (``bot.verdict.decide``) and the escalation policy (``bot.escalation``).

Check results are built by hand from the tree, so each test states exactly which checks
failed, how confidently, and for which entry pattern.
"""

from __future__ import annotations

from typing import Literal

import pytest

from bot.escalation import escalation_for
from bot.report import CheckResult, Verdict
from bot.tree import load_tree
from bot.verdict import decide

TREE = load_tree()


def result(
    check_id: str,
    status: Literal["pass", "fail", "unknown", "skipped"] = "fail",
    confidence: Literal["confirmed", "likely"] = "confirmed",
    detail: str | None = None,
) -> CheckResult:
    spec = TREE.check(check_id)
    failing = status == "fail"
    return CheckResult(
        layer=spec.layer,
        id=spec.id,
        asks=spec.asks,
        status=status,
        detail=detail or f"{check_id} {status}",
        evidence=[f"{check_id}.fact"] if failing else [],
        cause=spec.cause if failing else None,
        confidence=confidence if failing else None,
    )


def walk(*failing: CheckResult) -> list[CheckResult]:
    """Every check of the tree in walk order: the given results, every other check passing."""
    given = {r.id: r for r in failing}
    return [given.get(spec.id) or result(spec.id, "pass") for spec in TREE.checks]


# --- ranking ------------------------------------------------------------------------------

ONE_PER_LAYER = {
    1: "L1.inventory_hold",
    2: "L2.buffer",
    3: "L3.sku_mapping",
    4: "L4.approval_queue",
    "hop": "B.duplicates",
}


@pytest.mark.parametrize("pattern", sorted(TREE.patterns))
def test_the_patterns_first_suspect_layer_wins(pattern: str) -> None:
    checks = walk(*(result(c) for c in ONE_PER_LAYER.values()))
    verdict, secondary = decide(checks, pattern, [], TREE)
    suspects = TREE.patterns[pattern].suspects
    assert verdict.layer == suspects[0]
    assert verdict.check == ONE_PER_LAYER[suspects[0]]
    # the rest follow in the pattern's suspect order
    assert [s.layer for s in secondary] == list(suspects[1:])


def test_the_same_failures_give_different_verdicts_under_different_patterns() -> None:
    checks = walk(result("L1.inventory_hold"), result("L3.flow_status"))
    assert decide(checks, "storefront_ok_channels_zero", [], TREE)[0].cause == "L3.flow_suspended"
    assert decide(checks, "all_channels_oos_erp_stock", [], TREE)[0].cause == "L1.inventory_hold"


def test_a_gap_that_starts_at_the_storefront_follows_the_event_first_break_wins() -> None:
    checks = walk(result("L1.inventory_hold"), result("L4.listener"))
    verdict, secondary = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.cause == "L1.inventory_hold"
    assert [s.cause for s in secondary] == ["L4.listener_inactive"]


def test_a_cause_that_cannot_explain_the_pattern_is_only_ever_secondary() -> None:
    # do-not-stock makes channels suppress; it does not stop a storefront sale reaching the ERP,
    # so even a contributing cause that does explain it (a recent change) comes first
    checks = walk(result("L3.recent_changes"), result("L4.item_flags"))
    verdict, secondary = decide(checks, "all_channels_oos_erp_stock", [], TREE)
    assert verdict.cause == "L3.recent_change"
    assert [s.cause for s in secondary] == ["L4.do_not_stock"]
    verdict, _ = decide(checks, "storefront_ok_channels_zero", [], TREE)
    assert verdict.cause == "L4.do_not_stock"


def test_a_failure_resting_on_an_assumption_never_outranks_an_evidenced_one() -> None:
    assumed = result("L4.listener", confidence="likely").model_copy(update={"assumed": True})
    checks = walk(assumed, result("B.restock"))
    verdict, secondary = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.cause == "B.restock_not_propagated"
    assert [s.cause for s in secondary] == ["L4.listener_inactive"]


def test_a_contributing_cause_never_beats_a_primary_one() -> None:
    # L3 is the first suspect and the change is confirmed; the L1 failure is only likely and L1
    # is a late suspect — still, a change only explains another failure.
    checks = walk(
        result("L1.feed_fired", confidence="likely"),
        result("L3.recent_changes"),
        result("B.poll_window", confidence="likely"),
    )
    verdict, secondary = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.cause == "L1.feed_did_not_fire"
    assert verdict.confidence == "likely"
    assert [s.cause for s in secondary] == ["L3.recent_change", "B.poll_interval"]


def test_contributing_causes_rank_among_themselves_by_suspect_order() -> None:
    checks = walk(result("L3.recent_changes"), result("B.poll_window", confidence="likely"))
    verdict, secondary = decide(checks, "erp_oos_storefront_available", [], TREE)
    assert verdict.cause == "B.poll_interval"  # hop is this pattern's first suspect
    assert [s.cause for s in secondary] == ["L3.recent_change"]


def test_a_contributing_cause_is_the_verdict_when_nothing_primary_fails() -> None:
    verdict, secondary = decide(
        walk(result("L3.recent_changes")), "storefront_oos_erp_stock", [], TREE
    )
    assert (verdict.layer, verdict.cause, verdict.confidence) == (
        3,
        "L3.recent_change",
        "confirmed",
    )
    assert secondary == []


def test_confirmed_beats_likely_within_a_layer_even_when_walked_later() -> None:
    checks = walk(result("L3.event_delivery", confidence="likely"), result("L3.listing_state_sync"))
    verdict, secondary = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.cause == "L3.listing_state_not_synced"
    assert [(s.cause, s.confidence) for s in secondary] == [("L3.event_not_forwarded", "likely")]


def test_the_suspect_layer_outranks_confidence() -> None:
    checks = walk(result("L3.event_delivery", confidence="likely"), result("L4.webhook_log"))
    verdict, _ = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert (verdict.cause, verdict.confidence) == ("L3.event_not_forwarded", "likely")
    verdict, _ = decide(checks, "storefront_ok_channels_zero", [], TREE)
    assert (verdict.cause, verdict.confidence) == ("L4.webhook_rejected", "confirmed")


def test_walk_order_breaks_the_remaining_ties() -> None:
    checks = walk(result("L4.threshold_rule"), result("L4.integration_user"))
    verdict, secondary = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.cause == "L4.integration_user_permissions"
    assert [s.cause for s in secondary] == ["L4.threshold_delta"]


# --- what the verdict says ----------------------------------------------------------------


def test_the_verdict_names_the_cause_in_words_with_the_proof_and_next_step() -> None:
    checks = walk(result("L4.item_flags", detail="item 9307 is flagged do not stock"))
    verdict, secondary = decide(checks, "storefront_ok_channels_zero", [], TREE)
    cause = TREE.causes["L4.do_not_stock"]
    assert verdict.check == "L4.item_flags"
    assert verdict.says == cause.says
    assert verdict.next_step == cause.next_step
    assert verdict.summary == f"{cause.says} Item 9307 is flagged do not stock."
    assert secondary == []


def test_secondary_lists_every_other_failure_and_nothing_else() -> None:
    checks = walk(
        result("L2.buffer", detail="walmart hides the listing at ≤ 3"),
        result("L4.item_flags"),
        result("L3.recent_changes"),
        result("L1.inventory_hold", "unknown"),
        result("L3.sku_mapping", "skipped"),
    )
    verdict, secondary = decide(checks, "storefront_ok_channels_zero", [], TREE)
    assert verdict.cause == "L4.do_not_stock"
    assert [(s.cause, s.layer, s.check) for s in secondary] == [
        ("L2.buffer_threshold", 2, "L2.buffer"),
        ("L3.recent_change", 3, "L3.recent_changes"),
    ]
    assert secondary[0].detail == "walmart hides the listing at ≤ 3"
    assert secondary[0].confidence == "confirmed"


def test_a_verdict_despite_unknowns_says_how_many_checks_could_not_be_verified() -> None:
    checks = walk(result("L3.flow_status"), result("L2.listing_status", "unknown"))
    verdict, _ = decide(checks, "storefront_oos_erp_stock", ["amazon did not answer in time"], TREE)
    assert (verdict.cause, verdict.confidence) == ("L3.flow_suspended", "confirmed")
    assert verdict.summary.endswith("(1 check(s) could not be verified)")


# --- no failure ---------------------------------------------------------------------------


def test_nothing_fails_but_a_check_is_unknown_is_inconclusive() -> None:
    checks = walk(result("L4.listener", "unknown", detail="netsuite did not answer in time"))
    verdict, secondary = decide(checks, "in_sync", ["netsuite did not answer in time"], TREE)
    assert (verdict.cause, verdict.confidence, verdict.layer) == (None, "inconclusive", 4)
    assert "1 check(s) could not be verified" in verdict.summary
    assert "netsuite did not answer in time" in verdict.summary
    assert "do not treat this SKU as in sync" in (verdict.next_step or "")
    assert secondary == []


def test_surfaces_agree_but_unshown_configuration_is_in_sync_only_likely() -> None:
    hidden = "trigger_rules: NetSuite has no standard trigger-rule record"
    checks = walk(result("L4.threshold_rule", "unknown", detail=hidden))
    verdict, secondary = decide(checks, "in_sync", [], TREE)
    assert (verdict.cause, verdict.confidence) == (None, "likely")
    assert "1 check(s) could not be verified" in verdict.summary and hidden in verdict.summary
    assert secondary == []


def test_surfaces_disagree_with_unshown_configuration_is_inconclusive() -> None:
    checks = walk(result("L4.threshold_rule", "unknown", detail="not visible"))
    verdict, _ = decide(checks, "storefront_oos_erp_stock", [], TREE)
    assert verdict.confidence == "inconclusive"


def test_nothing_fails_but_a_system_was_unread_is_inconclusive() -> None:
    verdict, _ = decide(walk(), "in_sync", ["celigo refused our credentials (HTTP 401)"], TREE)
    assert (verdict.cause, verdict.confidence, verdict.layer) == (None, "inconclusive", None)
    assert "celigo refused our credentials (HTTP 401)" in verdict.summary


def test_surfaces_disagree_and_no_check_explains_it_is_inconclusive() -> None:
    verdict, _ = decide(walk(), "storefront_oos_erp_stock", [], TREE)
    assert (verdict.cause, verdict.confidence) == (None, "inconclusive")
    assert "no check explains it" in verdict.summary


def test_in_sync_only_when_every_surface_agrees_and_every_check_ran() -> None:
    checks = walk(result("L2.buffer", "skipped"), result("B.wms_batch", "skipped"))
    verdict, secondary = decide(checks, "in_sync", [], TREE)
    assert (verdict.layer, verdict.cause, verdict.confidence) == (None, None, "confirmed")
    assert verdict.summary.startswith("In sync")
    assert secondary == []


# --- escalation ---------------------------------------------------------------------------


OWNER_NAMES: dict[str | None, str | None] = {None: None, **TREE.owners}


def verdict_for(cause: str | None, confidence: str = "confirmed") -> Verdict:
    layer = TREE.causes[cause].layer if cause else None
    return Verdict.model_validate(
        {"layer": layer, "cause": cause, "confidence": confidence, "summary": "…"}
    )


# (cause, confidence) → (owner, opens a ticket by itself)
POLICY = [
    ("L1.feed_did_not_fire", "confirmed", "ecommerce_admin", False),
    ("L1.manual_zero", "confirmed", "ops_manager", False),
    ("L2.listing_suppressed", "confirmed", "channel_manager", False),
    ("L3.flow_suspended", "confirmed", "integration_admin", False),
    ("L3.recent_change", "confirmed", "integration_admin", False),
    ("L4.listener_inactive", "confirmed", "erp_admin", True),
    ("L4.webhook_rejected", "confirmed", "erp_admin", True),
    ("L4.integration_user_permissions", "confirmed", "erp_admin", True),
    ("L4.non_inventory_item", "confirmed", "ops_manager", False),
    ("B.erp_not_broadcasting", "confirmed", "integration_admin", True),
    ("L4.listener_inactive", "likely", "erp_admin", False),
    ("B.poll_interval", "likely", "integration_admin", False),
    # a contributing cause explains timing: offered even when confirmed
    ("B.poll_interval", "confirmed", "integration_admin", False),
    ("L3.event_not_forwarded", "likely", "integration_admin", False),
    (None, "inconclusive", "integration_admin", False),
    (None, "confirmed", None, False),  # in sync
]


@pytest.mark.parametrize(("cause", "confidence", "owner", "auto"), POLICY)
def test_escalation_policy(
    cause: str | None, confidence: str, owner: str | None, auto: bool
) -> None:
    escalation = escalation_for(verdict_for(cause, confidence), TREE)
    assert (escalation.owner, escalation.auto_escalate) == (owner, auto)
    assert escalation.owner_name == OWNER_NAMES[owner]
    assert escalation.reason
    assert escalation.ticket is None


@pytest.mark.parametrize(
    ("layer", "owner"),
    [(1, "ecommerce_admin"), (2, "channel_manager"), (3, "integration_admin"), (4, "erp_admin")],
)
def test_an_inconclusive_verdict_goes_to_whoever_can_restore_access(layer: int, owner: str) -> None:
    verdict = Verdict.model_validate(
        {"layer": layer, "cause": None, "confidence": "inconclusive", "summary": "…"}
    )
    escalation = escalation_for(verdict, TREE)
    assert (escalation.owner, escalation.auto_escalate) == (owner, False)


def test_the_policy_table_reaches_every_owner() -> None:
    assert {owner for _, _, owner, _ in POLICY if owner} == set(TREE.owners)


@pytest.mark.parametrize("cause", sorted(TREE.causes))
def test_every_cause_goes_to_its_owner_and_only_confirmed_layer_4_or_hop_it_opens_itself(
    cause: str,
) -> None:
    spec = TREE.causes[cause]
    confirmed = escalation_for(verdict_for(cause), TREE)
    likely = escalation_for(verdict_for(cause, "likely"), TREE)
    assert confirmed.owner == likely.owner == spec.owner
    assert likely.auto_escalate is False
    it_owned = spec.owner in ("erp_admin", "integration_admin")
    fault = spec.weight == "primary"
    assert confirmed.auto_escalate is (spec.layer in (4, "hop") and it_owned and fault)


def test_every_layer_4_cause_but_the_governance_one_opens_a_ticket_for_the_erp_admin() -> None:
    for code, spec in TREE.causes.items():
        if spec.layer != 4:
            continue
        escalation = escalation_for(verdict_for(code), TREE)
        if code == "L4.non_inventory_item":
            assert (escalation.owner, escalation.auto_escalate) == ("ops_manager", False)
            assert "governance" in escalation.reason
        else:
            assert (escalation.owner, escalation.auto_escalate) == ("erp_admin", True), code


def test_decide_and_escalate_together() -> None:
    checks = walk(result("L4.item_type"), result("L4.webhook_log", confidence="likely"))
    verdict, secondary = decide(checks, "storefront_ok_channels_zero", [], TREE)
    escalation = escalation_for(verdict, TREE)
    assert verdict.cause == "L4.non_inventory_item"
    assert [s.cause for s in secondary] == ["L4.webhook_rejected"]
    assert (escalation.owner, escalation.owner_name, escalation.auto_escalate) == (
        "ops_manager",
        "Ops manager",
        False,
    )
