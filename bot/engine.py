"""The triage engine: read every system concurrently, walk the tree 1 → 4, decide.

All reads start at once; each layer's checks wait only for the systems they need, and a
``progress`` callback hears about each layer as soon as it is walked (Slack updates its
thread from it). A system that cannot be read makes the checks that need it ``unknown``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.checks import CHECKS, Outcome, unknown
from bot.escalation import escalation_for
from bot.evidence import build_evidence
from bot.facts import FactRef, Facts
from bot.privacy import Masker
from bot.report import CheckResult, Report, SystemRead
from bot.settings import Thresholds
from bot.tree import LAYER_ORDER, CheckSpec, Layer, Tree, load_tree
from bot.verdict import classify_pattern, decide
from tools.clock import Clock, utc_now
from tools.errors import AdapterError
from tools.protocols import Stack
from tools.sku import validate_sku

log = logging.getLogger(__name__)

Progress = Callable[[Layer, list[CheckResult]], Awaitable[None]]


@dataclass
class _Read:
    key: str
    system: str
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    task: asyncio.Task[Any] = field(init=False)


async def _timed(r: _Read, read: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await read()
    except AdapterError:
        raise
    except Exception as exc:  # an adapter bug must not take the triage down with it
        log.exception("unexpected error reading %s", r.system)
        raise AdapterError(r.system, "bad_payload", f"unexpected {type(exc).__name__}") from exc
    finally:
        r.seconds = time.perf_counter() - r.started


def _start_reads(sku: str, stack: Stack, since: datetime) -> dict[str, _Read]:
    reads: dict[str, _Read] = {}

    def start(key: str, system: str, read: Callable[[], Awaitable[Any]]) -> None:
        r = _Read(key, system)
        r.task = asyncio.create_task(_timed(r, read))
        reads[key] = r

    storefront, middleware, erp, wms = stack.storefront, stack.middleware, stack.erp, stack.wms
    start("storefront", storefront.system, lambda: storefront.read_sku(sku))
    start("middleware", middleware.system, lambda: middleware.read_activity(sku, since))
    start("erp", erp.system, lambda: erp.read_item(sku, since))
    for market in stack.marketplaces:
        start(f"marketplace:{market.channel}", market.system, partial(market.read_listing, sku))
    if wms is not None:
        start("wms", wms.system, partial(wms.read_sku, sku))
    return reads


def _keys_for(need: str, reads: dict[str, _Read]) -> list[str]:
    if need == "marketplace":
        return [k for k in reads if k.startswith("marketplace:")]
    return [need] if need in reads else []


async def _settle(reads: dict[str, _Read], keys: list[str]) -> None:
    await asyncio.wait([reads[k].task for k in keys]) if keys else None


def _facts(
    sku: str, now: datetime, thresholds: Thresholds, stack: Stack, reads: dict[str, _Read]
) -> Facts:
    values: dict[str, Any] = {}
    errors: dict[str, AdapterError] = {}
    for key, r in reads.items():
        if not r.task.done():
            continue
        exc = r.task.exception()
        if exc is None:
            values[key] = r.task.result()
        else:
            assert isinstance(exc, AdapterError)
            errors[key] = exc
    return Facts(
        sku=sku,
        now=now,
        thresholds=thresholds,
        storefront=values.get("storefront"),
        middleware=values.get("middleware"),
        erp=values.get("erp"),
        wms=values.get("wms"),
        channels=tuple(v for k, v in values.items() if k.startswith("marketplace:")),
        errors=errors,
        marketplaces_configured=len(stack.marketplaces),
        wms_configured=stack.wms is not None,
    )


def _system_keys(need: str, facts: Facts) -> list[str]:
    """The systems a need stands for in these facts: read, or failed to read."""
    if need == "marketplace":
        read = [f"marketplace:{ch.channel}" for ch in facts.channels]
        return read + [k for k in facts.errors if k.startswith("marketplace:")]
    if need == "wms" and not facts.wms_configured:
        return []
    return [need]


_SYSTEM_LAYERS: tuple[tuple[str, Layer], ...] = (
    ("storefront", 1),
    ("marketplace:", 2),
    ("middleware", 3),
    ("erp", 4),
    ("wms", "hop"),
)


def _unread_layer(facts: Facts) -> Layer | None:
    """The layer of the first system (in walk order) that could not be read."""
    for prefix, layer in _SYSTEM_LAYERS:
        if any(key.startswith(prefix) for key in facts.errors):
            return layer
    return None


def judge_check(spec: CheckSpec, facts: Facts) -> Outcome:
    """One check as the engine runs it: ``skipped`` when a system it needs is not connected,
    ``unknown`` when none of them could be read, and never a pass resting on an unread one."""
    needed: list[str] = []
    for need in spec.needs:
        keys = _system_keys(need, facts)
        if not keys:
            return Outcome(
                "skipped", f"no {need.upper() if need in ('erp', 'wms') else need} is connected"
            )
        failed = [facts.errors[k] for k in keys if k in facts.errors]
        if len(failed) == len(keys):
            return unknown("; ".join(e.describe() for e in failed))
        needed += keys
    outcome = CHECKS[spec.id](facts)
    partial = [facts.errors[k].describe() for k in needed if k in facts.errors]
    if partial and outcome.status == "pass":
        return unknown(f"{outcome.detail}, but {'; '.join(partial)}")
    return outcome


async def triage(
    sku: str,
    stack: Stack,
    *,
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress | None = None,
    tree: Tree | None = None,
    clock: Clock = utc_now,
) -> Report:
    """Diagnose one SKU over ``stack``. Raises ``InvalidSku`` before touching any system.

    ``clock`` is the process's one wall clock: it stamps ``started_at``. ``now`` is the moment
    every check judges by; it defaults to the clock's reading (a sandbox scenario pins it).
    """
    sku = validate_sku(sku)
    tree = tree or load_tree()
    thresholds = thresholds or Thresholds()
    started_at = clock()
    clock_now = now or started_at
    t0 = time.perf_counter()
    reads = _start_reads(sku, stack, clock_now - timedelta(hours=thresholds.change_window_hours))
    results: list[CheckResult] = []
    cited: dict[str, FactRef] = {}
    try:
        for layer in LAYER_ORDER:
            specs = [s for s in tree.checks if s.layer == layer]
            await _settle(
                reads,
                sorted(
                    {k for s in specs for n in (*s.needs, *s.uses) for k in _keys_for(n, reads)}
                ),
            )
            facts = _facts(sku, clock_now, thresholds, stack, reads)
            walked = []
            for spec in specs:
                outcome = judge_check(spec, facts)
                for f in outcome.facts:
                    cited.setdefault(f.id, f)
                walked.append(
                    CheckResult(
                        layer=spec.layer,
                        id=spec.id,
                        asks=spec.asks,
                        status=outcome.status,
                        detail=outcome.detail,
                        evidence=[f.id for f in outcome.facts],
                        cause=spec.cause if outcome.status == "fail" else None,
                        confidence=outcome.confidence if outcome.status == "fail" else None,
                        assumed=outcome.assumed and outcome.status == "fail",
                    )
                )
            results += walked
            if progress is not None:
                await progress(layer, walked)
        await _settle(reads, list(reads))
    finally:
        for r in reads.values():
            r.task.cancel()
    facts = _facts(sku, clock_now, thresholds, stack, reads)
    pattern = classify_pattern(facts)
    unread = [e.describe() for e in facts.errors.values()]
    verdict, secondary = decide(results, pattern, unread, tree, unread_layer=_unread_layer(facts))
    evidence, evidence_facts = build_evidence(facts)
    for f in evidence_facts:
        cited.setdefault(f.id, f)
    report = Report(
        sku=sku,
        product=facts.erp.item.name if facts.erp else None,
        pattern=pattern,
        pattern_shows=tree.patterns[pattern].shows,
        verdict=verdict,
        checks=results,
        evidence=evidence,
        escalation=escalation_for(verdict, tree),
        secondary=secondary,
        facts=list(cited.values()),
        systems=[
            SystemRead(
                key=r.key,
                system=r.system,
                ok=r.key not in facts.errors,
                error=facts.errors[r.key].describe() if r.key in facts.errors else None,
                error_kind=facts.errors[r.key].kind if r.key in facts.errors else None,
                seconds=round(r.seconds, 4),
            )
            for r in reads.values()
        ],
        clock=clock_now,
        started_at=started_at,
        seconds=round(time.perf_counter() - t0, 4),
    )
    return mask_report(report)


def mask_report(report: Report, masker: Masker | None = None) -> Report:
    """The report with personal data and secrets masked in every text: vendor free text
    (connector errors, ERP memos, audit lines) is quoted as evidence and may carry either."""
    masked = (masker or Masker()).mask_value(report.model_dump(mode="json"))
    return Report.model_validate(masked)
