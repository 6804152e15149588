"""Composition root: builds the stack, store and settings a command needs. Nothing here
connects to a network at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from tools.protocols import Stack
from tools.sandbox.emulated import aclose_stack, emulated_stack
from tools.sandbox.scenario import Scenario, load_library


class UnknownSku(LookupError):
    """The SKU is not in the catalog being triaged (the sandbox library, for --sandbox)."""


@dataclass(frozen=True)
class Target:
    """What a triage runs against: the stack, the clock its checks judge by (None: now), and
    how to release the stack's HTTP clients once the triage is done (None: kept open)."""

    stack: Stack
    clock: datetime | None
    close: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        if self.close is not None:
            await self.close()


def scenario_target(scenario: Scenario, latency: float = 0.0) -> Target:
    """A scenario's systems through the real vendor adapters over their emulators (in-memory
    adapters for vendors that have no emulator yet), judged at the scenario's clock."""
    stack = emulated_stack(scenario, latency)
    return Target(stack=stack, clock=scenario.clock, close=partial(aclose_stack, stack))


def sandbox_target(sku: str, latency: float = 0.0) -> Target:
    """The sandbox catalog: every scenario of the library, found by its SKU."""
    library = load_library()
    scenario = library.get(sku)
    if scenario is None:
        sample = ", ".join(sorted(library)[:3])
        raise UnknownSku(
            f"{sku} is not in the sandbox catalog (try {sample}…; `oos scenarios` lists all)"
        )
    return scenario_target(scenario, latency)
