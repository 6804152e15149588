"""The sandbox over the real adapters and vendor emulators: every scenario of the library gets the
report it gets in memory, its evidence cites the vendor endpoints it was read from, every way a
system can be unreadable is rendered as that vendor's failure, and nothing leaks."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, get_args

import pytest

from bot.engine import triage
from bot.report import Report
from tools.erp.netsuite import NetSuiteErp
from tools.errors import ErrorKind
from tools.marketplace.amazon import AmazonSpApi
from tools.middleware.celigo import CeligoMiddleware
from tools.models import ErpSnapshot
from tools.sandbox.emulated import (
    EMULATED_VENDORS,
    aclose_stack,
    emulated_stack,
    netsuite_config_for,
    open_emulated_stack,
    vendor_of,
)
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, Unreadable, load_library
from tools.storefront.shopify import ShopifyStorefront

LIBRARY = load_library()
SCENARIOS = [LIBRARY[sku] for sku in sorted(LIBRARY)]

# What each emulated vendor's citations must name: the endpoint the fact was read from.
ENDPOINTS = {
    "shopify": "/graphql.json",
    "amazon-sp-api": "/listings/2021-08-01/items",
    "celigo": "GET /v1/flows",
    "netsuite": "/services/rest/query/v1/suiteql",
}
ADAPTERS: dict[str, type] = {
    "shopify": ShopifyStorefront,
    "amazon-sp-api": AmazonSpApi,
    "celigo": CeligoMiddleware,
    "netsuite": NetSuiteErp,
}
# A scenario with every emulated vendor connected, to render each failure kind on each of them.
FULL_STACK = "SKU-1000"


def _states(scenario: Scenario) -> list[object]:
    return [scenario.storefront, *scenario.marketplaces, scenario.middleware, scenario.erp]


def _emulated(scenario: Scenario) -> bool:
    return any(vendor_of(s) in EMULATED_VENDORS for s in _states(scenario))


def summary(report: Report) -> dict[str, Any]:
    """What must not depend on how the systems were read (wording and timings aside)."""
    return {
        "pattern": report.pattern,
        "verdict": (report.verdict.layer, report.verdict.cause, report.verdict.confidence),
        "secondary": [(s.cause, s.layer, s.check, s.confidence) for s in report.secondary],
        "checks": [(c.id, c.status) for c in report.checks],
        "systems": [(r.key, r.system, r.ok, r.error_kind) for r in report.systems],
    }


async def _in_memory(scenario: Scenario) -> Report:
    return await triage(scenario.sku, memory_stack(scenario), now=scenario.clock)


async def _over_emulators(scenario: Scenario) -> Report:
    async with open_emulated_stack(scenario) as stack:
        return await triage(scenario.sku, stack, now=scenario.clock)


# --- the library ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.sku for s in SCENARIOS])
async def test_the_report_over_the_emulators_is_the_report_in_memory(scenario: Scenario) -> None:
    memory = await _in_memory(scenario)
    emulated = await _over_emulators(scenario)
    assert summary(emulated) == summary(memory)
    assert summary(emulated)["verdict"] == (
        scenario.expected.layer,
        scenario.expected.cause,
        scenario.expected.confidence,
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.sku for s in SCENARIOS])
async def test_emulated_vendors_get_their_real_adapter(scenario: Scenario) -> None:
    stack = emulated_stack(scenario)
    await aclose_stack(stack)
    layers: list[tuple[object, object]] = [
        (scenario.storefront, stack.storefront),
        *zip(scenario.marketplaces, stack.marketplaces, strict=True),
        (scenario.middleware, stack.middleware),
        (scenario.erp, stack.erp),
    ]
    for state, adapter in layers:
        vendor = vendor_of(state)
        if vendor in ADAPTERS:
            assert isinstance(adapter, ADAPTERS[vendor]), vendor
            assert getattr(adapter, "system", None) == vendor
        else:
            assert type(adapter).__module__ == "tools.sandbox.memory", vendor


EMULATED = [s for s in SCENARIOS if _emulated(s)]


@pytest.mark.parametrize("scenario", EMULATED, ids=[s.sku for s in EMULATED])
async def test_evidence_cites_the_vendor_endpoint_it_was_read_from(scenario: Scenario) -> None:
    report = await _over_emulators(scenario)
    cited = [(f.id, f.source) for f in report.facts] + [
        (e.id, e.source) for e in report.evidence if e.facts
    ]
    for where, source in cited:
        vendor = source.split(" ", 1)[0]
        if vendor in ENDPOINTS:
            assert ENDPOINTS[vendor] in source, (where, source)
            assert "sandbox" not in source, (where, source)
    readable = {vendor_of(s) for s in _states(scenario) if not isinstance(s, Unreadable)}
    sources = " | ".join(source for _, source in cited)
    # A listing is cited only when a check needs it; every other system always is.
    for vendor in sorted(EMULATED_VENDORS - {"amazon-sp-api"}):
        if vendor in readable:
            assert ENDPOINTS[vendor] in sources, vendor


# --- every failure kind, on every emulated vendor ---------------------------------------------------


def _unreadable(vendor: str, kind: ErrorKind) -> Scenario:
    base = LIBRARY[FULL_STACK]
    failure = Unreadable(
        kind=kind,
        message=f"{vendor} {kind} (scenario's words)",
        status=502 if kind == "server_error" else None,
        system=vendor,
        channel="amazon" if vendor == "amazon-sp-api" else None,
    )
    if vendor == "amazon-sp-api":
        listings = [failure if vendor_of(m) == vendor else m for m in base.marketplaces]
        return base.model_copy(update={"marketplaces": listings})
    layer = {"shopify": "storefront", "celigo": "middleware", "netsuite": "erp"}[vendor]
    return base.model_copy(update={layer: failure})


KINDS = [(v, k) for v in sorted(ENDPOINTS) for k in get_args(ErrorKind)]


@pytest.mark.parametrize(("vendor", "kind"), KINDS, ids=[f"{v}-{k}" for v, k in KINDS])
async def test_an_unreadable_system_fails_as_that_vendor_would(
    vendor: str, kind: ErrorKind
) -> None:
    scenario = _unreadable(vendor, kind)
    memory = await _in_memory(scenario)
    emulated = await _over_emulators(scenario)
    (read,) = [r for r in emulated.systems if r.system == vendor]
    assert (read.ok, read.error_kind) == (False, kind)
    assert summary(emulated) == summary(memory)
    # Retries run (timeouts, 429s and 5xx are retried) but on the sandbox's short budget.
    assert read.seconds < 2.0


# --- credentials and clients ----------------------------------------------------------------------


async def test_credentials_are_the_sandboxs_own_and_the_environment_is_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SHOPIFY_ADMIN_TOKEN", "CELIGO_API_TOKEN", "NETSUITE_TOKEN_SECRET"):
        monkeypatch.setenv(name, "a-real-looking-secret-that-must-not-be-used")
    monkeypatch.delenv("SP_API_REFRESH_TOKEN", raising=False)
    before = dict(os.environ)
    report = await _over_emulators(LIBRARY[FULL_STACK])
    assert all(r.ok for r in report.systems), [r.error for r in report.systems]
    assert dict(os.environ) == before


async def test_closing_the_stack_closes_every_http_client() -> None:
    scenario = LIBRARY[FULL_STACK]
    async with open_emulated_stack(scenario) as stack:
        await stack.storefront.read_sku(scenario.sku)
    with pytest.raises(RuntimeError, match="closed"):
        await stack.storefront.read_sku(scenario.sku)
    for marketplace in stack.marketplaces:
        if isinstance(marketplace, AmazonSpApi):
            with pytest.raises(RuntimeError, match="closed"):
                await marketplace.read_listing(scenario.sku)
    with pytest.raises(RuntimeError, match="closed"):
        await stack.middleware.read_activity(scenario.sku, scenario.clock)
    with pytest.raises(RuntimeError, match="closed"):
        await stack.erp.read_item(scenario.sku, scenario.clock)
    await aclose_stack(stack)  # closing twice is harmless


async def test_latency_is_injected_inside_the_emulators() -> None:
    scenario = LIBRARY[FULL_STACK]
    async with open_emulated_stack(scenario, latency=0.05) as stack:
        report = await triage(scenario.sku, stack, now=scenario.clock)
    seconds = {r.system: r.seconds for r in report.systems}
    for vendor in ENDPOINTS:
        assert seconds[vendor] >= 0.05, vendor


# --- one refused NetSuite statement loses only the checks that need it ------------------------


async def _with_netsuite(scenario: Scenario, **emulator: Any) -> Report:
    assert isinstance(scenario.erp, ErpSnapshot)
    config = netsuite_config_for(scenario.erp)
    erp = NetSuiteErp(
        config,
        transport=NetSuiteEmulator([scenario.erp], config=config, **emulator),
        environ=sandbox_environ(config.env),
        now=lambda: scenario.clock,
    )
    stack = replace(emulated_stack(scenario), erp=erp)
    try:
        return await triage(scenario.sku, stack, now=scenario.clock)
    finally:
        await aclose_stack(stack)


async def test_a_refused_transactions_statement_leaves_the_rest_of_the_erp_read() -> None:
    scenario = LIBRARY["SKU-3101"]  # the ERP is not the culprit: a flow is suspended
    report = await _with_netsuite(scenario, denied_tables=["transactionline"])
    (erp,) = [r for r in report.systems if r.system == "netsuite"]
    assert erp.ok  # one statement lost, not the ERP
    assert (report.verdict.cause, report.verdict.confidence) == (
        scenario.expected.cause,
        scenario.expected.confidence,
    )
    status = {c.id: c for c in report.checks}
    assert status["L4.approval_queue"].status == "unknown"
    assert "the transactions statement was denied" in status["L4.approval_queue"].detail
    assert status["L4.item_type"].status == "pass"


async def test_an_account_without_approvalstatus_cannot_clear_the_approval_queue() -> None:
    scenario = LIBRARY["SKU-1000"]
    report = await _with_netsuite(scenario, absent_columns=["approvalstatus"])
    check = next(c for c in report.checks if c.id == "L4.approval_queue")
    assert check.status == "unknown"
    assert "column t.approvalstatus" in check.detail and "Approval Routing" in check.detail
