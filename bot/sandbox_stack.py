"""A sandbox scenario's four systems as vendor emulators, with the partial config an operator
would start ``oos discover`` from: what ``oos discover --sandbox`` and ``oos check-config
--sandbox`` run against, and what the tests drive.

The emulators' credentials are the sandbox's own (never real ones), under ``OOS_SANDBOX_*``
variable names so a real ``SHOPIFY_ADMIN_TOKEN`` in the environment is never shadowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.compose import sandbox_jira, sandbox_tickets_config
from tools.clock import utc_now
from tools.models import ChannelListing, ErpSnapshot, MiddlewareSnapshot, StorefrontSnapshot
from tools.sandbox.emulated import netsuite_config_for
from tools.sandbox.emulators.amazon import AmazonEmulator, LwaCredentials
from tools.sandbox.emulators.celigo import CeligoEmulator
from tools.sandbox.emulators.jira import DEFAULT_EMAIL as JIRA_EMAIL
from tools.sandbox.emulators.jira import DEFAULT_TOKEN as JIRA_TOKEN
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.sandbox.scenario import load_library

SANDBOX_SKU = "SKU-3101"  # Shopify + Amazon + Celigo + NetSuite, every system readable

_NETSUITE_ENV = {
    "consumer_key": "OOS_SANDBOX_NETSUITE_CONSUMER_KEY",
    "consumer_secret": "OOS_SANDBOX_NETSUITE_CONSUMER_SECRET",
    "token_id": "OOS_SANDBOX_NETSUITE_TOKEN_ID",
    "token_secret": "OOS_SANDBOX_NETSUITE_TOKEN_SECRET",
}


@dataclass
class SandboxSystems:
    partial: dict[str, Any]  # a partial stack config (TOML data): vendors, variables, ids
    transports: dict[str, httpx.AsyncBaseTransport]  # system key → its emulator
    environ: dict[str, str]  # variable name → the emulator's sandbox credential
    netsuite: NetSuiteEmulator
    celigo: CeligoEmulator
    jira: httpx.AsyncBaseTransport  # the [tickets] site


def current_shopify_release(now: datetime) -> str:
    """The quarterly Admin API release out at ``now`` (``2026-10``): the sandbox pins it, so
    check-config never warns of a retiring version there, whatever the date."""
    return f"{now.year}-{(now.month - 1) // 3 * 3 + 1:02d}"


def sandbox_systems(sku: str = SANDBOX_SKU, now: datetime | None = None) -> SandboxSystems:
    scenario = load_library()[sku]
    storefront, middleware, erp = scenario.storefront, scenario.middleware, scenario.erp
    listing = scenario.marketplaces[0] if scenario.marketplaces else None
    if not (
        isinstance(storefront, StorefrontSnapshot)
        and isinstance(middleware, MiddlewareSnapshot)
        and isinstance(erp, ErpSnapshot)
        and isinstance(listing, ChannelListing)
    ):
        raise ValueError(f"{sku}: not a scenario with all four systems readable")
    shop = ShopifyEmulator(storefront)
    lwa = LwaCredentials()
    amazon = AmazonEmulator([listing], credentials=lwa)
    celigo = CeligoEmulator(middleware)
    emulated = netsuite_config_for(erp)
    config = emulated.model_copy(update={f"{role}_env": n for role, n in _NETSUITE_ENV.items()})
    netsuite = NetSuiteEmulator([erp], config=config)
    environ = {
        "OOS_SANDBOX_SHOPIFY_TOKEN": shop.token,
        "OOS_SANDBOX_SP_API_CLIENT_ID": lwa.client_id,
        "OOS_SANDBOX_SP_API_CLIENT_SECRET": lwa.client_secret,
        "OOS_SANDBOX_SP_API_REFRESH_TOKEN": lwa.refresh_token,
        "OOS_SANDBOX_CELIGO_TOKEN": celigo.token,
        **sandbox_environ(config.env),
    }
    erp_options: dict[str, Any] = {"account_id": config.account_id, "timezone": config.timezone}
    if config.integration_user:
        erp_options["integration_user"] = config.integration_user
    if config.integration_role:
        erp_options["integration_role"] = config.integration_role
    partial: dict[str, Any] = {
        "name": "sandbox",
        "storefront": {
            "vendor": "shopify",
            "credentials": {"access_token": "OOS_SANDBOX_SHOPIFY_TOKEN"},
            "options": {
                "shop": shop.shop,
                "api_version": current_shopify_release(now or utc_now()),
            },
        },
        "marketplaces": [
            {
                "vendor": "amazon",
                "channel": "amazon",
                "credentials": {
                    "client_id": "OOS_SANDBOX_SP_API_CLIENT_ID",
                    "client_secret": "OOS_SANDBOX_SP_API_CLIENT_SECRET",
                    "refresh_token": "OOS_SANDBOX_SP_API_REFRESH_TOKEN",
                },
                "options": {"seller_id": amazon.seller_id, "region": "na"},
            }
        ],
        "middleware": {
            "vendor": "celigo",
            "credentials": {"api_token": "OOS_SANDBOX_CELIGO_TOKEN"},
            "options": {"region": "us"},
        },
        "erp": {"vendor": "netsuite", "credentials": dict(_NETSUITE_ENV), "options": erp_options},
        "tickets": sandbox_tickets_config().model_dump(mode="json", exclude_defaults=True),
    }
    environ |= {"OOS_SANDBOX_JIRA_EMAIL": JIRA_EMAIL, "OOS_SANDBOX_JIRA_API_TOKEN": JIRA_TOKEN}
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "storefront": shop,
        "marketplace:amazon": amazon,
        "middleware": celigo,
        "erp": netsuite,
    }
    return SandboxSystems(partial, transports, environ, netsuite, celigo, sandbox_jira())
