"""Composition root: builds the stack, store and settings a command needs. Nothing here
connects to a network at import time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tools.protocols import Stack
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import load_library


class UnknownSku(LookupError):
    """The SKU is not in the catalog being triaged (the sandbox library, for --sandbox)."""


@dataclass(frozen=True)
class Target:
    """What a triage runs against: the stack, and the clock its checks judge by (None: now)."""

    stack: Stack
    clock: datetime | None


def sandbox_target(sku: str, latency: float = 0.0) -> Target:
    """The sandbox catalog: every scenario of the library, found by its SKU."""
    library = load_library()
    scenario = library.get(sku)
    if scenario is None:
        sample = ", ".join(sorted(library)[:3])
        raise UnknownSku(
            f"{sku} is not in the sandbox catalog (try {sample}…; `oos scenarios` lists all)"
        )
    return Target(stack=memory_stack(scenario, latency), clock=scenario.clock)
