"""From facts and check results to the entry pattern and the verdict (pure functions)."""

from __future__ import annotations

from bot.facts import Facts
from bot.report import CheckResult, SecondaryCause, Verdict
from bot.tree import LAYER_ORDER, Layer, Tree


def classify_pattern(facts: Facts) -> str:
    """Which surfaces disagree (DESIGN §2.1). Orders the suspects; never replaces the walk.

    Beyond the design's six: ``quantity_mismatch`` when every surface sells but a quantity
    differs (storefront vs ERP, or a channel vs the storefront), and ``undetermined`` when the
    storefront or the ERP could not be read, or the ERP keeps no quantity for the item and the
    storefront and channels alone do not show a pattern.
    """
    sf, erp = facts.storefront, facts.erp
    if sf is None or erp is None:
        return "undetermined"
    channels = facts.channels
    # A figure a system does not keep (None: a non-inventory item, a listing without a seller
    # quantity) is unknown: never zero, and never "agrees".
    erp_zero = (erp.available is not None and erp.available <= 0) or (
        facts.wms is not None and facts.wms.on_hand <= 0
    )
    anything_selling = sf.selling or any(not ch.out_of_stock for ch in channels)
    if erp_zero and anything_selling:
        return "erp_oos_storefront_available"
    erp_unknown = erp.available is None and not erp_zero
    sf_quantity = sf.available if sf.tracked else None
    if not sf.selling and not erp_zero and not erp_unknown:
        if channels and all(ch.out_of_stock for ch in channels):
            return "all_channels_oos_erp_stock"
        return "storefront_oos_erp_stock"
    oos = [ch for ch in channels if ch.out_of_stock]
    if sf.selling and oos:
        if len(oos) == len(channels) and len(channels) > 1:
            return "storefront_ok_channels_zero"
        return "one_channel_oos"
    tolerance = facts.thresholds.quantity_tolerance
    if sf.selling and (
        (
            erp.available is not None
            and sf_quantity is not None
            and abs(sf_quantity - erp.available) > tolerance
        )
        or any(
            ch.quantity is not None
            and sf_quantity is not None
            and abs(ch.quantity - max(sf_quantity, 0)) > tolerance
            for ch in channels
        )
    ):
        return "quantity_mismatch"
    if erp_unknown and sf_quantity is not None:
        # the storefront counts stock the ERP keeps no figure for: nothing to compare it with,
        # so neither "ERP has stock" nor "all agree" (neither keeping a figure is agreement)
        return "undetermined"
    if any(k.startswith("marketplace:") or k == "wms" for k in facts.errors):
        return "undetermined"  # a surface that could not be read cannot be said to agree
    return "in_sync"


def _rank(
    check: CheckResult, pattern: str, tree: Tree, walk: list[str]
) -> tuple[int, int, int, int, int]:
    assert check.cause is not None
    cause = tree.causes[check.cause]
    suspects = tree.patterns[pattern].suspects
    return (
        check.cause in tree.patterns[pattern].not_explained_by,
        cause.weight == "contributing" or check.assumed,
        suspects.index(check.layer) if check.layer in suspects else len(LAYER_ORDER),
        check.confidence != "confirmed",
        walk.index(check.id),
    )


def decide(
    checks: list[CheckResult],
    pattern: str,
    unread: list[str],
    tree: Tree,
    *,
    unread_layer: Layer | None = None,
) -> tuple[Verdict, list[SecondaryCause]]:
    """The verdict: the most telling failure for this pattern, the rest as ``secondary``.

    With no failure the verdict is ``in_sync`` only when every surface agrees and every check
    could run; otherwise it is inconclusive and says what could not be verified — at the layer
    of the system that could not be read (``unread_layer``), so its owner can restore access.
    """
    walk = [c.id for c in checks]
    failures = sorted(
        (c for c in checks if c.status == "fail"), key=lambda c: _rank(c, pattern, tree, walk)
    )
    unknowns = [c for c in checks if c.status == "unknown"]
    if failures:
        primary, rest = failures[0], failures[1:]
        assert primary.cause is not None and primary.confidence is not None
        cause = tree.causes[primary.cause]
        caveat = f" ({len(unknowns)} check(s) could not be verified)" if unknowns else ""
        verdict = Verdict(
            layer=primary.layer,
            cause=primary.cause,
            confidence=primary.confidence,
            summary=f"{cause.says} {primary.detail[:1].upper()}{primary.detail[1:]}.{caveat}",
            says=cause.says,
            next_step=cause.next_step,
            check=primary.id,
        )
        secondary = [
            SecondaryCause(
                cause=c.cause, layer=c.layer, check=c.id, detail=c.detail, confidence=c.confidence
            )
            for c in rest
            if c.cause is not None and c.confidence is not None
        ]
        return verdict, secondary
    if unknowns and not unread and pattern == "in_sync":
        # Every surface was read and agrees; only checks of configuration the vendor's API
        # cannot show are unverified. Say so rather than call it all clear or inconclusive.
        return Verdict(
            layer=None,
            cause=None,
            confidence="likely",
            summary=f"In sync: every surface agrees, but {len(unknowns)} check(s) could not be verified — "
            + "; ".join(f"{c.id}: {c.detail}" for c in unknowns)
            + ".",
        ), []
    if unknowns or unread:
        first = unknowns[0] if unknowns else None
        why = "; ".join(unread) if unread else (first.detail if first else "")
        return Verdict(
            layer=unread_layer if unread_layer is not None else (first.layer if first else None),
            cause=None,
            confidence="inconclusive",
            summary=f"Not all clear: {len(unknowns)} check(s) could not be verified — {why}.",
            next_step="Restore access to the system named above and run the triage again; do not treat this SKU as in sync.",
        ), []
    if pattern != "in_sync":
        return Verdict(
            layer=None,
            cause=None,
            confidence="inconclusive",
            summary=f"The surfaces disagree ({tree.patterns[pattern].shows}) but no check explains it.",
            next_step="Escalate to the integration admin with the evidence below; the gap has a cause this checklist does not know yet.",
        ), []
    return Verdict(
        layer=None,
        cause=None,
        confidence="confirmed",
        summary="In sync: every surface agrees and every check passed.",
    ), []
