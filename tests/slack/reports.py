"""Reports for the pure tests: the real SKU-3101 walk, and one blown up past every Slack limit."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.compose import sandbox_target
from bot.engine import triage
from bot.report import CheckResult, EvidenceItem, Report, SecondaryCause, SystemRead


def sku_3101() -> Report:
    target = sandbox_target("SKU-3101")
    return asyncio.run(triage("SKU-3101", target.stack, now=target.clock))


async def huge_triage(
    sku: str, stack: Any, *, now: datetime | None = None, progress: Any = None
) -> Report:
    """The engine, its report blown up by ``huge``: a runner engine for the overflow paths."""
    return huge(await triage(sku, stack, now=now, progress=progress))


def huge(base: Report) -> Report:
    """Every text far longer and every list far bigger than a Slack message can hold."""
    long = "x" * 20_000
    verdict = base.verdict.model_copy(
        update={"summary": "S" * 10_000, "says": "W" * 5_000, "next_step": "N" * 5_000}
    )
    evidence = [
        EvidenceItem(
            id=f"E{i}",
            title="T" * 500,
            statement=f"statement {i} " + long,
            found=bool(i % 2),
            source="s" * 3_000,
            read_at=base.clock,
        )
        for i in range(1, 9)
    ]
    checks = [
        CheckResult(
            layer=layer,
            id=f"L{layer}.check_{n}",
            asks="?" * 300,
            status="fail" if n % 2 else "unknown",
            detail="d" * 5_000,
            evidence=[],
            cause="L3.flow_suspended" if n % 2 else None,
        )
        for layer in (1, 2, 3, 4)
        for n in range(75)
    ]
    secondary = [
        SecondaryCause(
            cause="L3.recent_change",
            layer=3,
            check="L3.recent_changes",
            detail="r" * 2_000,
            confidence="likely",
        )
        for _ in range(200)
    ]
    systems = [
        SystemRead(key=f"k{i}", system="sys", ok=False, error="e" * 2_000, seconds=1.0)
        for i in range(50)
    ]
    return base.model_copy(
        update={
            "sku": "S" * 64,
            "verdict": verdict,
            "evidence": evidence,
            "checks": checks,
            "secondary": secondary,
            "systems": systems,
            "pattern_shows": "p" * 3_000,
        }
    )
