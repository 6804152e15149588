"""Escalation policy (DESIGN §2.4): who owns the verdict, and whether it opens a ticket itself.

A ticket opens automatically only with confirmed evidence and only for IT-owned causes at
Layer 4 or on a hop. A governance decision (``L4.non_inventory_item``) goes to the ops manager
and is offered, not opened: it is not an IT ticket. A contributing cause (a polling window, a
recent change) explains timing rather than naming a fault, so it is offered too. Everything else
is offered as a button. An inconclusive verdict goes to whoever can restore access to the
system that could not be read (its layer's owner).
"""

from __future__ import annotations

from bot.report import Escalation, Verdict
from bot.tree import Owner, Tree

_IT_OWNERS = {"erp_admin", "integration_admin"}
# who can restore access to a layer's system (an inconclusive verdict names that layer)
_RESTORES_ACCESS: dict[object, Owner] = {
    1: "ecommerce_admin",
    2: "channel_manager",
    3: "integration_admin",
    4: "erp_admin",
}


def _layer_words(layer: object) -> str:
    return "hop" if layer == "hop" else f"layer {layer}"


def escalation_for(verdict: Verdict, tree: Tree) -> Escalation:
    if verdict.cause is None:
        if verdict.confidence == "inconclusive":
            owner = _RESTORES_ACCESS.get(verdict.layer, "integration_admin")
            return Escalation(
                owner=owner,
                owner_name=tree.owners[owner],
                auto_escalate=False,
                reason="inconclusive: offered to whoever can restore access to the system that "
                "could not be read, never opened on an unproven cause",
            )
        return Escalation(
            owner=None, owner_name=None, auto_escalate=False, reason="in sync: nothing to escalate"
        )
    cause = tree.causes[verdict.cause]
    owner_name = tree.owners[cause.owner]
    if verdict.confidence != "confirmed":
        return Escalation(
            owner=cause.owner,
            owner_name=owner_name,
            auto_escalate=False,
            reason=f"the evidence is {verdict.confidence}, not confirmed",
        )
    if cause.weight == "contributing":
        return Escalation(
            owner=cause.owner,
            owner_name=owner_name,
            auto_escalate=False,
            reason="a contributing cause (it explains the timing, e.g. a polling window): offered, not opened",
        )
    if cause.owner == "ops_manager":
        return Escalation(
            owner=cause.owner,
            owner_name=owner_name,
            auto_escalate=False,
            reason="a governance decision for the ops manager, not an IT ticket",
        )
    if cause.layer in (4, "hop") and cause.owner in _IT_OWNERS:
        return Escalation(
            owner=cause.owner,
            owner_name=owner_name,
            auto_escalate=True,
            reason=f"confirmed {_layer_words(cause.layer)} cause owned by IT",
        )
    return Escalation(
        owner=cause.owner,
        owner_name=owner_name,
        auto_escalate=False,
        reason=f"{_layer_words(cause.layer)} causes are offered, not opened automatically",
    )
