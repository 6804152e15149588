"""Composition root: builds the stack, store and settings a command needs. Nothing here
connects to a network at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from bot.tickets.config import TicketsConfig
from bot.tickets.service import TicketService
from bot.tickets.store import TicketStore
from tools.protocols import Stack
from tools.sandbox.emulated import SANDBOX_RETRY, aclose_stack, emulated_stack
from tools.sandbox.emulators import jira as jira_emulator
from tools.sandbox.emulators.jira import JiraEmulator
from tools.sandbox.scenario import Scenario, load_library
from tools.ticketing.jira import JiraTickets


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


# --- the sandbox ticket system ------------------------------------------------------------------

SANDBOX_JIRA_PROJECT = "OOS"
# One component per owner, so the sandbox Jira shows where each verdict would be routed.
SANDBOX_JIRA_COMPONENTS: dict[str, str] = {
    "ecommerce_admin": "E-commerce",
    "channel_manager": "Marketplace channels",
    "integration_admin": "Integration",
    "erp_admin": "ERP",
    "ops_manager": "Operations",
}
# Names the sandbox config gives its credentials; their values live only in the private mapping
# handed to the adapter (``_SANDBOX_JIRA_ENVIRON``), never in ``os.environ``.
_SANDBOX_EMAIL_ENV = "OOS_SANDBOX_JIRA_EMAIL"
_SANDBOX_TOKEN_ENV = "OOS_SANDBOX_JIRA_API_TOKEN"
_SANDBOX_JIRA_ENVIRON = {
    _SANDBOX_EMAIL_ENV: jira_emulator.DEFAULT_EMAIL,
    _SANDBOX_TOKEN_ENV: jira_emulator.DEFAULT_TOKEN,
}


def sandbox_tickets_config() -> TicketsConfig:
    """The ``[tickets]`` table the sandbox runs with: the Jira emulator's site, project ``OOS``
    with a component per owner, and the default policies (auto-open by DESIGN §2.4)."""
    return TicketsConfig.model_validate(
        {
            "system": "jira",
            "base_url": jira_emulator.DEFAULT_SITE,
            "credentials": {"email": _SANDBOX_EMAIL_ENV, "api_token": _SANDBOX_TOKEN_ENV},
            "routes": {
                owner: {"project": SANDBOX_JIRA_PROJECT, "component": component}
                for owner, component in SANDBOX_JIRA_COMPONENTS.items()
            },
        }
    )


def sandbox_jira() -> JiraEmulator:
    """An empty in-process Jira Cloud site (``https://oos-sandbox.atlassian.net``) that knows
    the sandbox project and its components."""
    return JiraEmulator(
        projects={SANDBOX_JIRA_PROJECT: set(SANDBOX_JIRA_COMPONENTS.values())},
    )


def sandbox_tickets(
    *, jira: JiraEmulator | None = None, db_path: Path | str = ":memory:"
) -> TicketService:
    """Escalation tickets for ``oos serve --sandbox``: the real Jira adapter talking to the
    in-process Jira emulator (``jira``, a fresh ``sandbox_jira()`` by default) with the
    emulator's own credentials, handed over privately (``os.environ`` is never read or
    written). Ticket links point at the emulator's site, e.g.
    ``https://oos-sandbox.atlassian.net/browse/OOS-1``.

    The emulator's issues live as long as the process, and so do the ticket rows by default
    (an in-memory ticket store): a restarted sandbox never takes an issue id the new emulator
    hands out again for one it knew before, and sandbox tickets never mix with real ones in a
    shared ``OOS_DB``. The caller closes the service (``aclose``)."""
    config = sandbox_tickets_config()
    adapter = JiraTickets.from_settings(
        base_url=config.base_url,
        credentials=config.credentials,
        options=config.options,
        transport=jira if jira is not None else sandbox_jira(),
        retry=SANDBOX_RETRY,
        environ=_SANDBOX_JIRA_ENVIRON,
    )
    return TicketService(config, adapter, TicketStore(db_path))
