"""A stack config over the vendor emulators: the registry, `from_settings`, `open_stack` and
`check_stack` exercised exactly as `oos triage --config` and `oos check-config` use them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.config import StackConfig
from bot.engine import triage
from bot.live import check_stack, open_stack
from tools.models import ChannelListing, ErpSnapshot, MiddlewareSnapshot, StorefrontSnapshot
from tools.sandbox.emulated import netsuite_config_for
from tools.sandbox.emulators.amazon import AmazonEmulator, LwaCredentials
from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.sandbox.scenario import Scenario, load_library

SKU = "SKU-3101"


def _scenario() -> Scenario:
    scenario = load_library()[SKU]
    assert isinstance(scenario.storefront, StorefrontSnapshot)
    assert isinstance(scenario.middleware, MiddlewareSnapshot)
    assert isinstance(scenario.erp, ErpSnapshot)
    return scenario


def _stack(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[StackConfig, dict[str, httpx.AsyncBaseTransport]]:
    """The scenario's four systems as emulators, and the config an operator would write for
    them, with the credentials exported the way the config names them."""
    scenario = _scenario()
    storefront, middleware, erp = scenario.storefront, scenario.middleware, scenario.erp
    assert isinstance(storefront, StorefrontSnapshot)
    assert isinstance(middleware, MiddlewareSnapshot)
    assert isinstance(erp, ErpSnapshot)
    listing = scenario.marketplaces[0]
    assert isinstance(listing, ChannelListing)

    shop = ShopifyEmulator(storefront)
    lwa = LwaCredentials()
    amazon = AmazonEmulator([listing], credentials=lwa)
    celigo = CeligoEmulator(middleware)
    netsuite_config = netsuite_config_for(erp)
    netsuite = NetSuiteEmulator([erp], config=netsuite_config)

    env = {
        "SHOPIFY_ADMIN_TOKEN": shop.token,
        "SP_API_CLIENT_ID": lwa.client_id,
        "SP_API_CLIENT_SECRET": lwa.client_secret,
        "SP_API_REFRESH_TOKEN": lwa.refresh_token,
        "CELIGO_API_TOKEN": celigo.token,
        **sandbox_environ(netsuite_config.env),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    flows: dict[str, Any] = {
        flow_id: mapping.model_dump() for flow_id, mapping in flow_mappings_for(middleware).items()
    }
    netsuite_options = netsuite_config.model_dump(
        exclude={"consumer_key_env", "consumer_secret_env", "token_id_env", "token_secret_env"},
        exclude_none=True,
    )
    config = StackConfig.model_validate(
        {
            "storefront": {
                "vendor": "shopify",
                "options": {"shop": shop.shop},
                "credentials": {"access_token": "SHOPIFY_ADMIN_TOKEN"},
            },
            "marketplaces": [
                {
                    "vendor": "amazon",
                    "channel": "amazon",
                    "options": {
                        "seller_id": amazon.seller_id,
                        "marketplace_id": amazon.marketplace_id,
                    },
                    "credentials": {
                        "client_id": "SP_API_CLIENT_ID",
                        "client_secret": "SP_API_CLIENT_SECRET",
                        "refresh_token": "SP_API_REFRESH_TOKEN",
                    },
                }
            ],
            "middleware": {
                "vendor": "celigo",
                "options": {"flows": flows},
                "credentials": {"api_token": "CELIGO_API_TOKEN"},
            },
            "erp": {
                "vendor": "netsuite",
                "options": netsuite_options,
                "credentials": {
                    "consumer_key": netsuite_config.consumer_key_env,
                    "consumer_secret": netsuite_config.consumer_secret_env,
                    "token_id": netsuite_config.token_id_env,
                    "token_secret": netsuite_config.token_secret_env,
                },
            },
        }
    )
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "storefront": shop,
        "marketplace:amazon": amazon,
        "middleware": celigo,
        "erp": netsuite,
    }
    return config, transports


async def test_a_configured_stack_triages_like_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    config, transports = _stack(monkeypatch)
    scenario = _scenario()
    async with open_stack(config, transports=transports) as stack:
        report = await triage(SKU, stack, now=scenario.clock, thresholds=config.thresholds)
    assert (report.pattern, report.verdict.cause, report.verdict.confidence) == (
        scenario.expected.pattern,
        scenario.expected.cause,
        scenario.expected.confidence,
    )
    assert all(system.ok for system in report.systems)
    assert any("suiteql" in fact.source for fact in report.facts)


async def test_check_config_reaches_every_system(monkeypatch: pytest.MonkeyPatch) -> None:
    config, transports = _stack(monkeypatch)
    results = await check_stack(config, transports=transports)
    assert [(r.key, r.ok) for r in results] == [
        ("storefront", True),
        ("marketplace:amazon", True),
        ("middleware", True),
        ("erp", True),
    ]


async def test_check_config_says_which_system_refused_our_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, transports = _stack(monkeypatch)
    monkeypatch.setenv("CELIGO_API_TOKEN", "a-token-celigo-never-issued")
    results = {r.key: r for r in await check_stack(config, transports=transports)}
    assert not results["middleware"].ok
    assert "refused our credentials" in results["middleware"].message
    assert "credentials" in results["middleware"].message.split(":")[-1]
    assert "a-token-celigo-never-issued" not in results["middleware"].line()
    assert all(results[k].ok for k in ("storefront", "marketplace:amazon", "erp"))


async def test_check_config_names_each_refused_statement_its_column_and_what_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, transports = _stack(monkeypatch)
    erp = _scenario().erp
    assert isinstance(erp, ErpSnapshot)
    transports["erp"] = NetSuiteEmulator(
        [erp],
        config=netsuite_config_for(erp),
        absent_columns=["approvalstatus"],
        denied_tables=["loginaudit"],
    )
    results = await check_stack(config, transports=transports)
    erp_lines = [r for r in results if r.key.startswith("erp")]
    assert [(r.key, r.ok, r.warning) for r in erp_lines] == [
        ("erp", True, False),
        ("erp:transactions", True, True),
        ("erp:employee", True, True),
    ]
    transactions, employee = erp_lines[1].line(), erp_lines[2].line()
    assert transactions.startswith("WARN  erp:transactions")
    assert "the transactions statement was refused (column t.approvalstatus;" in transactions
    assert "Unknown identifier 't.approvalstatus'" in transactions
    assert "it needs approval routing for the transaction type" in transactions
    assert "the employee statement was denied (no permission)" in employee
    assert "it needs Setup > Login Audit Trail (View) on the role" in employee
    # every statement went out once for the check (one page each), besides the probe's own
    statements = [q for q in transports["erp"].queries if "OOS-TRIAGE-CHECK-CONFIG-PROBE" in q]
    assert len(statements) >= 5


async def test_check_config_warns_of_a_shopify_version_near_retirement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, transports = _stack(monkeypatch)
    near = datetime(2027, 8, 15, tzinfo=UTC)  # the default 2026-10 retires about 2027-10-01
    results = {r.key: r for r in await check_stack(config, transports=transports, now=near)}
    storefront = results["storefront"]
    assert (storefront.ok, storefront.warning) == (True, True)
    assert storefront.line().startswith("WARN  storefront")
    assert "Shopify API version 2026-10 is retired about 2027-10-01" in storefront.message
    fine = datetime(2027, 1, 1, tzinfo=UTC)
    results = {r.key: r for r in await check_stack(config, transports=transports, now=fine)}
    assert not results["storefront"].warning
