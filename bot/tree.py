"""The decision tree, loaded from ``tree.yaml`` and validated into models once per process."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

Layer = Literal[1, 2, 3, 4, "hop"]
Need = Literal["storefront", "marketplace", "middleware", "erp", "wms"]
Owner = Literal[
    "ecommerce_admin", "channel_manager", "integration_admin", "erp_admin", "ops_manager"
]

LAYER_ORDER: tuple[Layer, ...] = (1, 2, 3, 4, "hop")
LAYER_NAMES: dict[Layer, str] = {
    1: "Layer 1 · storefront feed",
    2: "Layer 2 · marketplace listing",
    3: "Layer 3 · middleware connector",
    4: "Layer 4 · ERP trigger / webhook",
    "hop": "Hops between systems",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pattern(_Frozen):
    shows: str
    suspects: tuple[Layer, ...]
    not_explained_by: tuple[str, ...] = ()  # causes that cannot explain this disagreement


class Cause(_Frozen):
    layer: Layer
    owner: Owner
    says: str
    next_step: str
    weight: Literal["primary", "contributing"] = "primary"


class CheckSpec(_Frozen):
    id: str
    layer: Layer
    cause: str
    needs: tuple[Need, ...]
    # Systems the check reads only when some condition holds (an ERP-fed listing, a
    # listing-state change): the engine waits for them, and the check itself answers
    # ``unknown`` when it needs one that could not be read — and only then.
    uses: tuple[Need, ...] = ()
    asks: str


class Tree(_Frozen):
    patterns: dict[str, Pattern]
    owners: dict[Owner, str]
    causes: dict[str, Cause]
    checks: tuple[CheckSpec, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Tree:
        ids = [c.id for c in self.checks]
        if len(ids) != len(set(ids)):
            raise ValueError("check ids must be unique")
        for check in self.checks:
            cause = self.causes.get(check.cause)
            if cause is None:
                raise ValueError(f"check {check.id} names unknown cause {check.cause}")
            if cause.layer != check.layer:
                raise ValueError(f"check {check.id} is on layer {check.layer}, its cause is not")
        walked = [LAYER_ORDER.index(c.layer) for c in self.checks]
        if walked != sorted(walked):
            raise ValueError("checks must be listed layer 1 → 4, then hops")
        unchecked = set(self.causes) - {c.cause for c in self.checks}
        if unchecked:
            raise ValueError(f"causes with no check: {sorted(unchecked)}")
        return self

    def check(self, check_id: str) -> CheckSpec:
        return next(c for c in self.checks if c.id == check_id)


@cache
def load_tree() -> Tree:
    text = resources.files("bot").joinpath("tree.yaml").read_text(encoding="utf-8")
    return Tree.model_validate(yaml.safe_load(text))
