"""The agent's tools: the engine's own reads and checks, and the saved report. Read-only.

Each read forwards to the layer protocol the engine uses (``tools.protocols``) and returns the
same normalized model, so the model sees exactly what the rules engine judged — minus the
vendor's raw payload, masked on the way out by the toolbox. ``run_check`` runs a check of
``bot.checks.CHECKS`` over fresh reads, the way the engine does; ``get_evidence`` looks items,
checks and facts up in the saved report. There is no tool that writes anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from bot.agent.tools import NoData, Tool, ToolError, tool
from bot.checks import CHECKS
from bot.engine import judge_check
from bot.facts import Facts
from bot.report import Report
from bot.settings import Thresholds
from bot.tree import Tree
from tools.errors import AdapterError
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    MiddlewareSnapshot,
    StorefrontSnapshot,
    WmsSnapshot,
)
from tools.protocols import (
    ErpAdapter,
    MarketplaceAdapter,
    MiddlewareAdapter,
    Stack,
    StorefrontAdapter,
    WmsAdapter,
)


@dataclass
class ToolContext:
    """What one agent run may look at: the triaged SKU's stack, its saved report, the clock."""

    report: Report
    stack: Stack | None
    tree: Tree
    now: datetime
    thresholds: Thresholds = field(default_factory=Thresholds)
    _reads: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    @property
    def sku(self) -> str:
        return self.report.sku

    @property
    def since(self) -> datetime:
        return self.now - timedelta(hours=self.thresholds.change_window_hours)

    def _stack(self) -> Stack:
        if self.stack is None:
            raise NoData("no live reads here: only the saved report (use get_evidence)")
        return self.stack

    async def read(self, key: str) -> Any:
        """One read per system per run, shared by every tool that needs it."""
        if key not in self._reads:
            self._reads[key] = asyncio.ensure_future(self._start(key))
        return await asyncio.shield(self._reads[key])

    async def _start(self, key: str) -> Any:
        stack, sku = self._stack(), self.sku
        if key == "storefront":
            return await stack.storefront.read_sku(sku)
        if key == "middleware":
            return await stack.middleware.read_activity(sku, self.since)
        if key == "erp":
            return await stack.erp.read_item(sku, self.since)
        if key == "wms":
            if stack.wms is None:
                raise NoData("no WMS is connected")
            return await stack.wms.read_sku(sku)
        channel = key.removeprefix("marketplace:")
        market = next((m for m in stack.marketplaces if m.channel == channel), None)
        if market is None:
            connected = ", ".join(m.channel for m in stack.marketplaces) or "none"
            raise ToolError(f"no marketplace {channel!r} is connected (connected: {connected})")
        return await market.read_listing(sku)

    def channels(self) -> list[str]:
        return [m.channel for m in self.stack.marketplaces] if self.stack else []


@tool(doc_from=StorefrontAdapter.read_sku)
async def read_storefront(ctx: ToolContext) -> StorefrontSnapshot:
    snapshot: StorefrontSnapshot = await ctx.read("storefront")
    return snapshot


@tool(doc_from=MarketplaceAdapter.read_listing)
async def read_listing(
    ctx: ToolContext,
    channel: Annotated[str, Field(description="the marketplace, e.g. amazon or walmart")],
) -> ChannelListing:
    listing: ChannelListing = await ctx.read(f"marketplace:{channel.strip().lower()}")
    return listing


@tool(doc_from=MiddlewareAdapter.read_activity)
async def read_middleware(ctx: ToolContext) -> MiddlewareSnapshot:
    snapshot: MiddlewareSnapshot = await ctx.read("middleware")
    return snapshot


@tool(doc_from=ErpAdapter.read_item)
async def read_erp(ctx: ToolContext) -> ErpSnapshot:
    snapshot: ErpSnapshot = await ctx.read("erp")
    return snapshot


@tool(doc_from=WmsAdapter.read_sku)
async def read_wms(ctx: ToolContext) -> WmsSnapshot:
    snapshot: WmsSnapshot = await ctx.read("wms")
    return snapshot


async def _facts(ctx: ToolContext) -> Facts:
    stack = ctx._stack()
    keys = ["storefront", "middleware", "erp"] + [f"marketplace:{c}" for c in ctx.channels()]
    if stack.wms is not None:
        keys.append("wms")
    got = await asyncio.gather(*(ctx.read(k) for k in keys), return_exceptions=True)
    values: dict[str, Any] = {}
    errors: dict[str, AdapterError] = {}
    for key, value in zip(keys, got, strict=True):
        if isinstance(value, AdapterError):
            errors[key] = value
        elif isinstance(value, BaseException):
            raise value
        else:
            values[key] = value
    return Facts(
        sku=ctx.sku,
        now=ctx.now,
        thresholds=ctx.thresholds,
        storefront=values.get("storefront"),
        middleware=values.get("middleware"),
        erp=values.get("erp"),
        wms=values.get("wms"),
        channels=tuple(v for k, v in values.items() if k.startswith("marketplace:")),
        errors=errors,
        marketplaces_configured=len(stack.marketplaces),
        wms_configured=stack.wms is not None,
    )


@tool()
async def run_check(
    ctx: ToolContext,
    check_id: Annotated[
        str,
        Field(
            description="a check id of the decision tree",
            json_schema_extra={"enum": sorted(CHECKS)},
        ),
    ],
) -> dict[str, Any]:
    """Run one check of the decision tree over fresh reads of every system, exactly as the
    rules engine does, and return its status (pass, fail, unknown, skipped), what it found,
    the cause it proves when it fails, and the facts it rests on (each with an id to cite)."""
    if check_id not in CHECKS:
        raise ToolError(f"no check {check_id!r}; the checks are: {', '.join(sorted(CHECKS))}")
    spec = ctx.tree.check(check_id)
    outcome = judge_check(spec, await _facts(ctx))
    return {
        "check_id": check_id,
        "asks": spec.asks,
        "status": outcome.status,
        "detail": outcome.detail,
        "cause": spec.cause if outcome.status == "fail" else None,
        "confidence": outcome.confidence if outcome.status == "fail" else None,
        "facts": list(outcome.facts),
    }


@tool()
async def get_evidence(
    ctx: ToolContext,
    ids: Annotated[
        list[str],
        Field(
            description="evidence item ids (E1-E6), check ids (L3.flow_status) or fact ids "
            "(storefront.out_of_stock_since); empty for the whole evidence package",
            max_length=20,
        ),
    ] = [],  # noqa: B006 - pydantic copies defaults; this is the schema's default
) -> dict[str, Any]:
    """Look up items of the saved triage report: evidence items with their statement, source
    and read time; checks with their status, detail and the fact ids they rest on; facts with
    their value, source and read time."""
    report = ctx.report
    if not ids:
        return {"evidence": list(report.evidence)}
    found: dict[str, Any] = {"evidence": [], "checks": [], "facts": [], "unknown_ids": []}
    for wanted in ids:
        w = wanted.strip()
        if item := next((e for e in report.evidence if e.id.lower() == w.lower()), None):
            found["evidence"].append(item)
        elif check := next((c for c in report.checks if c.id == w), None):
            found["checks"].append(check)
        elif fact := next((f for f in report.facts if f.id == w), None):
            found["facts"].append(fact)
        else:
            found["unknown_ids"].append(w)
    return {k: v for k, v in found.items() if v}


def build_tools(ctx: ToolContext) -> list[Tool]:
    """The tools for one run: reads of what is connected, the checks, the saved report."""
    tools: list[Tool] = [get_evidence]
    if ctx.stack is None:
        return tools
    tools += [read_storefront, read_middleware, read_erp]
    if ctx.stack.marketplaces:
        tools.append(read_listing.described(f"Connected channels: {', '.join(ctx.channels())}."))
    if ctx.stack.wms is not None:
        tools.append(read_wms)
    tools.append(run_check)
    return tools
