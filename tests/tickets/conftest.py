"""Fixtures for ticket tests: sandbox reports, a config per ticket system, the emulators, a
service wired to them, and a clock tests move by hand (nothing here sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.compose import Target
from bot.engine import triage
from bot.report import Report
from bot.tickets.config import OWNERS, TicketsConfig
from bot.tickets.service import Outcome, TicketService
from bot.tickets.store import OutboxItem, TicketStore
from tools.errors import AdapterError
from tools.retry import RetryPolicy
from tools.sandbox.emulators import jira as jira_emulator
from tools.sandbox.emulators import servicenow as sn_emulator
from tools.sandbox.emulators.jira import JiraEmulator
from tools.sandbox.emulators.servicenow import ServiceNowEmulator
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import load_library
from tools.ticketing import SYSTEMS
from tools.ticketing.base import TicketDraft, TicketSystem

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SYSTEM_NAMES = ("jira", "servicenow")
# Reads are retried at once: nothing in a ticket test sleeps.
QUICK_RETRY = RetryPolicy(max_attempts=3, total_seconds=60, base_delay=0, max_delay=0)

# One sandbox SKU per owner (and the governance decision that must not go to IT).
SKU_BY_OWNER = {
    "ecommerce_admin": "SKU-1102",
    "channel_manager": "SKU-2104",
    "integration_admin": "SKU-3101",
    "erp_admin": "SKU-4101",
    "ops_manager": "SKU-4104",
}

JIRA_ROUTES = {
    "ecommerce_admin": {"project": "ECOM", "component": "Shopify", "slack_group": "S0ECOM"},
    "channel_manager": {"project": "CHAN", "slack_group": "S0CHAN"},
    "integration_admin": {
        "project": "INT",
        "component": "Celigo",
        "assignee": "5b10a2844c20165700ede21g",
        "slack_group": "S0INTEG",
    },
    "erp_admin": {"project": "ERP", "component": "NetSuite", "slack_group": "S0ERPADM"},
    "ops_manager": {"project": "OPSM", "slack_group": "S0OPSMGR"},
}
SN_GROUPS = {
    "ecommerce_admin": "E-commerce Platform",
    "channel_manager": "Marketplace Channels",
    "integration_admin": "Integration Support",
    "erp_admin": "ERP Support",
    "ops_manager": "Operations Management",
}
JIRA_PROJECTS = {
    "ECOM": {"Shopify"},
    "CHAN": set(),
    "INT": {"Celigo"},
    "ERP": {"NetSuite"},
    "OPSM": set(),
}


def memory_target(sku: str) -> Target:
    """The sandbox scenario of ``sku`` over the in-memory adapters: ticket tests depend on the
    verdicts, not on the vendor adapters' wire code (their own tests cover that)."""
    scenario = load_library()[sku]
    return Target(stack=memory_stack(scenario), clock=scenario.clock)


@cache
def _report_json(sku: str) -> str:
    target = memory_target(sku)
    # A thread of its own: callers are async tests with their own loop running.
    with ThreadPoolExecutor(1) as pool:
        report = pool.submit(
            lambda: asyncio.run(triage(sku, target.stack, now=target.clock))
        ).result()
    return report.model_dump_json()


def report_for(sku: str) -> Report:
    """The sandbox triage of ``sku`` (computed once per test session)."""
    return Report.model_validate_json(_report_json(sku))


def tickets_config(system: str, **overrides: Any) -> TicketsConfig:
    if system == "jira":
        base: dict[str, Any] = {
            "system": "jira",
            "base_url": jira_emulator.DEFAULT_SITE,
            "credentials": {"email": "TEST_JIRA_EMAIL", "api_token": "TEST_JIRA_API_TOKEN"},
            "routes": JIRA_ROUTES,
        }
    else:
        base = {
            "system": "servicenow",
            "base_url": sn_emulator.DEFAULT_INSTANCE,
            "credentials": {"username": "TEST_SN_USER", "password": "TEST_SN_PASSWORD"},
            "routes": {owner: {"assignment_group": SN_GROUPS[owner]} for owner in OWNERS},
        }
    return TicketsConfig.model_validate({**base, **overrides})


class Clock:
    """Now, as tests say it is."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Told:
    """What the service reported (what the Slack notifier would post)."""

    events: list[tuple[OutboxItem, Outcome]] = field(default_factory=list)

    async def __call__(self, item: OutboxItem, outcome: Outcome) -> None:
        self.events.append((item, outcome))

    @property
    def kinds(self) -> list[str]:
        return [o.kind for _i, o in self.events]


Emulator = JiraEmulator | ServiceNowEmulator


@dataclass
class World:
    """One ticket system (emulated) and the services built on it."""

    system: str
    emulator: Emulator
    clock: Clock
    db: Path
    told: Told
    services: list[TicketService] = field(default_factory=list)

    def service(self, *, db: Path | None = None, **overrides: Any) -> TicketService:
        config = tickets_config(self.system, **overrides)
        adapter = SYSTEMS[self.system](
            base_url=config.base_url,
            credentials=config.credentials,
            options=config.options,
            transport=self.emulator,
            retry=QUICK_RETRY,
            sleep=no_sleep,
        )
        service = TicketService(
            config, adapter, TicketStore(db or self.db), clock=self.clock, jitter=lambda: 1.0
        )
        service.notify = self.told
        self.services.append(service)
        return service

    def ticket_count(self) -> int:
        if isinstance(self.emulator, JiraEmulator):
            return len(self.emulator.issues)
        return len(self.emulator.incidents)

    def comments(self, key: str) -> list[str]:
        """Comments (Jira) or work notes (ServiceNow) on the ticket ``key``, as text."""
        if isinstance(self.emulator, JiraEmulator):
            return [_adf_text(c["body"]) for c in self.emulator.issue(key)["comments"]]
        record = self.emulator.by_number(key)
        return list(self.emulator.journal[record["sys_id"]])

    def attachments(self, key: str) -> list[bytes]:
        if isinstance(self.emulator, JiraEmulator):
            return [a["bytes"] for a in self.emulator.issue(key)["attachments"]]
        record = self.emulator.by_number(key)
        return [a["bytes"] for a in self.emulator.attachments.get(record["sys_id"], [])]

    def description(self, key: str) -> str:
        if isinstance(self.emulator, JiraEmulator):
            return _adf_text(self.emulator.issue(key)["fields"]["description"])
        return str(self.emulator.by_number(key)["description"])

    def resolve_in_system(self, key: str) -> None:
        if isinstance(self.emulator, JiraEmulator):
            self.emulator.resolve_in_jira(key)
        else:
            self.emulator.resolve_in_servicenow(key)

    def is_resolved(self, key: str) -> bool:
        if isinstance(self.emulator, JiraEmulator):
            return self.emulator.status_of(key) == "Done"
        return bool(self.emulator.by_number(key)["state"] == "6")


def _adf_text(node: Any) -> str:
    """Every text node of an ADF document, joined (for "does it say X" assertions)."""
    if isinstance(node, dict):
        own = node.get("text", "")
        href = next(
            (m["attrs"]["href"] for m in node.get("marks", []) if m.get("type") == "link"), ""
        )
        inner = "".join(_adf_text(c) for c in node.get("content", []))
        sep = "\n" if node.get("type") in ("paragraph", "heading", "listItem") else ""
        return f"{own}{' ' + href if href and href != own else ''}{inner}{sep}"
    if isinstance(node, list):
        return "".join(_adf_text(n) for n in node)
    return ""


async def no_sleep(_seconds: float) -> None:
    return None


async def assert_create_fails(
    system: TicketSystem, draft: TicketDraft, *, kind: str, says: str, secret: str
) -> None:
    """Creating ``draft`` fails as ``kind`` with ``says`` in the message, and ``secret`` (a
    credential) shows nowhere in the error."""
    with pytest.raises(AdapterError) as caught:
        await system.create(draft)
    assert caught.value.kind == kind and says in caught.value.message
    assert secret not in str(caught.value)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JIRA_EMAIL", jira_emulator.DEFAULT_EMAIL)
    monkeypatch.setenv("TEST_JIRA_API_TOKEN", jira_emulator.DEFAULT_TOKEN)
    monkeypatch.setenv("TEST_SN_USER", sn_emulator.DEFAULT_USER)
    monkeypatch.setenv("TEST_SN_PASSWORD", sn_emulator.DEFAULT_PASSWORD)
    monkeypatch.setenv("TEST_SN_TOKEN", sn_emulator.DEFAULT_TOKEN)


def make_emulator(system: str) -> Emulator:
    if system == "jira":
        return JiraEmulator(projects=JIRA_PROJECTS)
    return ServiceNowEmulator(
        groups={name: f"{i:032x}" for i, name in enumerate(SN_GROUPS.values(), 1)}
    )


WorldFactory = Callable[[str], Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[WorldFactory]:
    worlds: list[World] = []

    async def make(system: str) -> World:
        world = World(system, make_emulator(system), Clock(), tmp_path / "triage.db", Told())
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        for service in world.services:
            await service.aclose()


@pytest.fixture(params=SYSTEM_NAMES)
async def world(request: pytest.FixtureRequest, make_world: WorldFactory) -> World:
    return await make_world(str(request.param))
