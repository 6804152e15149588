"""Fixtures for the agent tests: the fake OpenAI-compatible server, agents pointed at it, and
sandbox reports to explain. Every server binds 127.0.0.1 and stops with its fixture; every
scripted turn must be used (``assert_consumed`` runs at teardown)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.agent.agent import Agent
from bot.agent.setup import open_agent
from bot.compose import sandbox_target
from bot.config import AgentConfig
from bot.engine import triage
from bot.report import Report
from tests.agent.fake_openai import API_KEY, FakeOpenAI
from tools.protocols import Stack

SKU = "SKU-3101"  # L3.flow_suspended, with L3.recent_change secondary


def config(**overrides: Any) -> AgentConfig:
    """Budgets roomy enough for any scripted test; retries off unless a test wants them."""
    values: dict[str, Any] = {"model": "fake-model", "timeout_seconds": 10, "max_retries": 0}
    values.update(overrides)
    return AgentConfig(**values)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()
    fake.assert_consumed()


AgentFactory = Callable[..., Agent]


@pytest.fixture
async def make_agent(fake_openai: FakeOpenAI) -> AsyncIterator[AgentFactory]:
    made: list[Agent] = []

    def make(**overrides: Any) -> Agent:
        env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": fake_openai.base_url}
        agent, why = open_agent(config(**overrides), env)
        assert agent is not None, why
        made.append(agent)
        return agent

    yield make
    for agent in made:
        await agent.aclose()


class CountingStack:
    """Wraps a stack's adapters and counts the reads each one answers."""

    def __init__(self, stack: Stack) -> None:
        self.reads: dict[str, int] = {}

        def wrap(adapter: Any, key: str) -> Any:
            counts = self.reads

            class Counted:
                system = adapter.system
                channel = getattr(adapter, "channel", None)

                def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
                    method = getattr(adapter, name)

                    async def counted(*args: Any) -> Any:
                        counts[key] = counts.get(key, 0) + 1
                        return await method(*args)

                    return counted

            return Counted()

        self.stack = replace(
            stack,
            storefront=wrap(stack.storefront, "storefront"),
            middleware=wrap(stack.middleware, "middleware"),
            erp=wrap(stack.erp, "erp"),
            marketplaces=tuple(wrap(m, f"marketplace:{m.channel}") for m in stack.marketplaces),
            wms=wrap(stack.wms, "wms") if stack.wms else None,
        )


def sandbox_report(sku: str = SKU) -> Report:
    """The rules engine's report for a sandbox SKU (its own event loop: for sync fixtures)."""

    async def run() -> Report:
        target = sandbox_target(sku)
        try:
            return await triage(sku, target.stack, now=target.clock)
        finally:
            await target.aclose()

    return asyncio.run(run())


@pytest.fixture(scope="session")
def report_3101() -> Report:
    return sandbox_report(SKU)


@pytest.fixture
async def stack_3101() -> AsyncIterator[Stack]:
    target = sandbox_target(SKU)
    yield target.stack
    await target.aclose()
